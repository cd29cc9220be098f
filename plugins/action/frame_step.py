# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_step (documented in plugins/modules/frame_step.py)."""

from __future__ import annotations

import os

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _secrets, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import JobnetAction, say
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._report import chart_folder


class ActionModule(JobnetAction):

    _requires_connection = True
    _VALID_ARGS = frozenset(('instances', 'leases', 'store', 'root', 'limit', 'poll_interval', 'step_seconds',
                             'lease_ttl', 'unreachable_retries', 'unreachable_delay', 'progress_interval',
                             'chart_dir'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec={
            'instances': {'type': 'list', 'elements': 'str', 'required': True},
            'leases': {'type': 'dict', 'required': True},
            'store': {'type': 'str'},
            'root': {'type': 'str'},
            'limit': {'type': 'int'},
            'poll_interval': {'type': 'float'},
            'step_seconds': {'type': 'float'},
            'lease_ttl': {'type': 'float'},
            'unreachable_retries': {'type': 'int'},
            'unreachable_delay': {'type': 'float'},
            'progress_interval': {'type': 'float'},
            'chart_dir': {'type': 'str'},
        })
        host = task_vars.get('inventory_hostname')
        store = self.open_store(task_vars)
        leases = {iid: args['leases'][iid] for iid in args['instances'] if iid in args['leases']}
        missing = [iid for iid in args['instances'] if iid not in leases]
        if missing:
            store.close()
            result.update(failed=True, done=True, msg='no lease given for frame instance(s) %s' % ', '.join(missing))
            return result
        opts = {name: self.option(name, task_vars) for name in _engine.DEFAULTS}   # defaults: the doc fragment's
        driver = None
        try:
            driver = _engine.HostDriver(
                store, _store, host, leases, self.module_runner(task_vars),
                limit=args.get('limit'), root=args.get('root'),
                poll_interval=opts['poll_interval'], lease_ttl=opts['lease_ttl'],
                unreachable_retries=opts['unreachable_retries'], unreachable_delay=opts['unreachable_delay'],
                say=say, progress_interval=opts['progress_interval'], chart_dir=chart_folder(self.option(
                    'chart_dir', task_vars, None)),
                secrets=_secrets.Resolver(host, task_vars, self._templar), trigger_timeout=opts['trigger_timeout'])
            seconds = float(opts['step_seconds'] or 0)
            summary = driver.run(seconds if seconds > 0 else None)
        except _engine.ControllerGone:
            # Nobody reads this worker's result any more: its sibling workers keep the result pipe open, so a
            # result would block this process for ever. It ends here; the next controller's recovery takes over.
            store.close()
            os._exit(3)  # pylint: disable=protected-access
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # fatal for this host's driver: stop stepping (done), say why, and end the whole run: the leases are
            # given up so that the other hosts' drivers stop at their next transaction (new launches stop; the
            # instance is left for jobnet.scheduler.recover)
            if isinstance(exc, (_engine.EngineError, _store.StoreError)):
                why = str(exc)
            else:
                why = 'unexpected %s: %s' % (type(exc).__name__, exc)
            lost = 'is no longer leased by this run' in why
            if not lost:
                _engine.release_leases(store, _store, leases)
            msg = why if lost else 'the driver of %s stopped: %s' % (host, why)
            result.update(failed=True, done=True, error=msg, msg=msg, driver_failed=not lost, stopped_with_run=lost,
                          events=driver.events[-500:] if driver else [])
            return result
        finally:
            store.close()
        result.update(summary)
        result['changed'] = bool(summary.get('launched'))
        if summary.get('down'):
            result['error'] = '%s could not be reached; its jobs are queuing_env_down' % host
        return result
