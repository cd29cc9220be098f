# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_recover (documented in plugins/modules/frame_recover.py).

``phase: plan`` takes the lease of every instance to recover and says which attempt ids to ask each host about
(one ``job_info`` call per host, made by the playbook's next play); ``phase: apply`` applies the recovery tables
to every instance, per operation date and frames in name order, with the answers, stops the jobs that were
running on the manager node, and (auto rerun) hands the recovered instances to the drive play.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _recovery, _recovery_run, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
)

#: the recovery options (task arguments and jobnet settings): the fields of RecoveryOptions
OPTION_NAMES = _recovery.RecoveryOptions.names()


class ActionModule(JobnetAction):

    # under --check: what would be recovered and how (the hosts are asked, read-only); nothing leased or written
    _supports_check_mode = True

    _requires_connection = True  # phase poll talks to the task's host; plan and apply run on localhost
    _VALID_ARGS = frozenset(('phase', 'plan', 'polls', 'store', 'lease_ttl', 'operation_date', 'frame',
                             'manager_hosts', 'manager_root', 'root', 'unreachable_retries', 'unreachable_delay')
                            + OPTION_NAMES)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        spec = {
            'phase': {'type': 'str', 'choices': ['plan', 'poll', 'apply']},
            'manager_root': {'type': 'str'},
            'root': {'type': 'str'},
            'unreachable_retries': {'type': 'int'},
            'unreachable_delay': {'type': 'float'},
            'plan': {'type': 'dict'},
            'polls': {'type': 'dict'},
            'store': {'type': 'str'},
            'lease_ttl': {'type': 'float'},
            'operation_date': {'type': 'str'},
            'frame': {'type': 'str'},
            'manager_hosts': {'type': 'list', 'elements': 'str'},
        }
        for name in OPTION_NAMES:
            spec[name] = {'type': 'bool'}
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_recover', spec))
        if args.get('operation_date'):
            args['operation_date'] = self.check_date(args['operation_date'])
        if args['phase'] == 'poll':
            result.update(self.poll(args, task_vars))
            return result
        store = self.open_store(task_vars)
        if args['phase'] == 'plan':
            self.warn_durability(store)
        try:
            if args['phase'] == 'plan':
                result.update(self.plan(store, args, task_vars))
            else:
                result.update(self.apply(store, args, task_vars))
        except (_store.StoreError, _engine.EngineError) as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        return result

    # ------------------------------------------------------------------ options
    def base_options(self, args, task_vars):
        """Play-level recovery options: vars jobnet_<name> > env JOBNET_<NAME> > ini [jobnet] <name> > the default the
        doc fragment jobnet.scheduler.options documents."""
        values = {name: self.option(name, task_vars) if args.get(name) is None else None for name in OPTION_NAMES}
        return _recovery.RecoveryOptions.from_mapping(values, where='jobnet_* variables / environment / ansible.cfg')

    @staticmethod
    def options_for(instance, base, args):
        """Frame options override the play-level ones; an explicit task argument (-e) overrides both."""
        return _recovery_run.options_for(instance, base, _explicit(args))

    # ------------------------------------------------------------------ plan
    def recovery_run(self, store, args, task_vars):
        return _recovery_run.RecoveryRun(store, self.engine(store, task_vars, 'recover'), say=say,
                                         manager_hosts=args['manager_hosts'], check_mode=self._task.check_mode)

    def plan(self, store, args, task_vars):
        run = self.recovery_run(store, args, task_vars)
        plan = run.plan(base=self.base_options(args, task_vars), explicit=_explicit(args),
                        operation_date=args.get('operation_date'), frame=args.get('frame'),
                        live_days=self.option('live_days', task_vars))
        hosts = plan.pop('hosts')
        self.check_forks(sorted(set(hosts) | set(plan['polls'])))
        self.max_running(task_vars, hosts)
        return plan

    # ------------------------------------------------------------------ poll (on each host)
    def poll(self, args, task_vars):
        """One job_info call with every attempt id this host must be asked about; bounded retries."""
        host = task_vars.get('inventory_hostname')
        ids = ((args.get('plan') or {}).get('polls') or {}).get(host) or []
        retries = int(self.option('unreachable_retries', task_vars))
        delay = float(self.option('unreachable_delay', task_vars))
        margs = {'ids': ids, 'missing': 'ignore', 'output': False}
        files = ((args.get('plan') or {}).get('files') or {}).get(host) or []
        if files:
            margs['files'] = files
        if args.get('root'):
            margs['root'] = args['root']
        last = 'no answer'
        for attempt in range(1, max(1, retries) + 1):
            try:
                out = self._execute_module(module_name='jobnet.scheduler.job_info', module_args=margs,
                                           task_vars=task_vars)
            except AnsibleConnectionFailure as exc:
                out = {'unreachable': True, 'msg': str(exc)}
            if not out.get('unreachable'):
                if out.get('failed'):
                    return {'failed': True, 'msg': 'job_info on %s failed: %s' % (host, out.get('msg')),
                            'host': host, 'asked': len(ids)}
                return {'host': host, 'asked': len(ids), 'jobs': out.get('jobs', []),
                        'missing': out.get('missing', []), 'attempts': attempt, 'files': out.get('files') or []}
            last = out.get('msg') or last
            if attempt < retries:
                time.sleep(delay)
        return {'host': host, 'asked': len(ids), 'host_unreachable': True, 'attempts': retries,
                'msg': '%s unreachable after %d attempts: %s' % (host, retries, str(last).strip()[:300])}

    # ------------------------------------------------------------------ apply
    def apply(self, store, args, task_vars):
        plan = args.get('plan') or {}
        fetched, unreachable, files = {}, set(), {}
        hostvars = task_vars.get('hostvars') or {}
        for host in plan.get('poll_hosts') or []:
            poll = (args.get('polls') or {}).get(host)
            if poll is None:
                try:
                    poll = hostvars[host].get('jobnet_poll')
                except (KeyError, AttributeError):
                    poll = None
            if not isinstance(poll, dict) or poll.get('unreachable') or poll.get('host_unreachable') \
                    or poll.get('failed') or 'jobs' not in poll:
                unreachable.add(host)
                why = (poll or {}).get('msg', 'no answer') if isinstance(poll, dict) else 'no answer'
                say('jobnet: %s could not be reached during recovery (%s): its jobs become queuing_env_down'
                    % (host, str(why).splitlines()[0][:200] if why else 'no answer'))
                continue
            for job in poll.get('jobs') or []:
                fetched[job['id']] = job
            for seen in poll.get('files') or []:
                if isinstance(seen, dict) and seen.get('path'):
                    files[(host, seen['path'])] = seen

        def stop_on_manager(host, ids):
            margs = {'state': 'stopped', 'ids': ids}
            if args.get('manager_root'):
                margs['root'] = args['manager_root']
            return self._execute_module(module_name='jobnet.scheduler.job', module_args=margs, task_vars=task_vars)

        whole = args.get('frame') is None and args.get('operation_date') is None
        out = self.recovery_run(store, args, task_vars).apply(
            plan, fetched=fetched, unreachable=unreachable, lease_ttl=self.option('lease_ttl', task_vars),
            stop_on_manager=stop_on_manager, days=whole, base=self.base_options(args, task_vars),
            explicit=_explicit(args), files=files)
        out['events'] = out['events'][-EVENTS_RETURNED:]
        out['implicit_localhost'] = 'localhost' in out['hosts'] and \
            'localhost' not in (task_vars.get('groups') or {}).get('all', [])
        return out


def _explicit(args):
    """The recovery options given as task arguments (-e)."""
    return {name: args.get(name) for name in OPTION_NAMES if args.get(name) is not None}
