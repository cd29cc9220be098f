# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_submit (documented in plugins/modules/frame_submit.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _secrets, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import EVENTS_RETURNED, JobnetAction, say


class ActionModule(JobnetAction):

    # under --check it checks everything and says what it would submit, recording nothing
    _supports_check_mode = True

    _VALID_ARGS = frozenset(('frame_file', 'frame', 'operation_date', 'store', 'lease_ttl'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec={
            'frame_file': {'type': 'path'},
            'frame': {'type': 'dict'},
            'operation_date': {'type': 'str'},
            'store': {'type': 'str', 'no_log': False},
            'lease_ttl': {'type': 'float'},
        }, mutually_exclusive=[('frame_file', 'frame')])
        # Everything is checked before the store is opened: the command line, the frame, the host limits.
        if args.get('frame_file') is None and args.get('frame') is None:
            raise AnsibleActionFail('give the frame file: ansible-playbook jobnet.scheduler.run -e frame_file=PATH '
                                    '(or the frame argument of frame_submit)')
        if args.get('frame_file') is not None and not str(args['frame_file']).strip():
            raise AnsibleActionFail('frame_file is empty: give the path of the frame file (-e frame_file=PATH)')
        if args.get('operation_date') is None:
            date = self.today()
        elif not str(args['operation_date']).strip():
            raise AnsibleActionFail('operation_date is empty: give a date of the form YYYY-MM-DD, or leave it out '
                                    'for today')
        else:
            date = self.check_date(args['operation_date'])
        hosts = self.inventory_hosts(task_vars)
        source = args['frame_file'] if args.get('frame_file') is not None else 'frame argument'
        try:
            if args.get('frame_file') is not None:
                raw = _model.load_frame_file(args['frame_file'])
                defn = _model.normalise(raw, hosts=hosts, source=args['frame_file'])
            else:
                defn = _model.normalise(args['frame'], hosts=hosts, source=source)
        except _model.FrameError as exc:
            raise AnsibleActionFail('invalid frame: %s' % exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # a last guard: the checks must never let a Python error through instead of a message
            raise AnsibleActionFail('invalid frame: %s: it cannot be checked (%s: %s)'
                                    % (source, type(exc).__name__, exc))
        frame_hosts = list(defn['hosts'])
        unknown_secrets = _secrets.missing(defn, task_vars.get('hostvars') or {})
        if unknown_secrets:
            raise AnsibleActionFail('invalid frame: %s: %s' % (source, '; '.join(unknown_secrets)))
        self.check_forks(frame_hosts)
        limits = self.max_running(task_vars, frame_hosts)
        # a bad setting is refused before the store is opened, too
        self.option('lease_ttl', task_vars)
        implicit_localhost = 'localhost' in frame_hosts and 'localhost' not in (task_vars.get('groups') or {}).get('all', [])
        if self._task.check_mode:
            return self._would_submit(result, task_vars, defn, date, frame_hosts, limits)
        store = self.open_store(task_vars)
        self.warn_durability(store)
        engine = self.engine(store, task_vars, 'run')
        try:
            instance, lease = engine.submit(defn, date)
        except _engine.EngineError as exc:
            raise AnsibleActionFail(str(exc))
        except _store.StoreError as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        say('jobnet: frame instance %s submitted (%s) on %s'
            % (instance['id'], instance['state'], ', '.join(frame_hosts)))
        result.update({
            'changed': True,
            'instances': [instance['id']],
            'leases': {instance['id']: lease.to_dict()},
            'hosts': frame_hosts,
            'implicit_localhost': implicit_localhost,
            'state': instance['state'],
            'operation_date': date,
            'events': engine.events[-EVENTS_RETURNED:],
        })
        return result

    def _would_submit(self, result, task_vars, defn, date, frame_hosts, limits):
        """Check mode: say what a run would submit; read the store (if there is one) but write nothing."""
        iid = _engine.instance_id(defn['frame'], date)
        jobs = sum(1 for item in defn['items'] if item['kind'] == 'job')
        nets = len(defn['items']) - jobs
        existing = self.read_store_if_any(task_vars, lambda store: store.get_instance(iid))
        problems = self.resource_problems(task_vars, [defn])
        if problems:
            raise AnsibleActionFail('invalid frame %s: %s' % (defn['frame'], '; '.join(problems)))
        refused = None
        if existing is not None and existing.get('state') != 'not_submitted':
            refused = ('check mode: frame instance %s is already submitted (state %s): a run would be refused (see '
                       'jobnet.scheduler.rerun, init and recover)' % (iid, existing.get('state')))
            say('jobnet: ' + refused)
        else:
            say('jobnet: check mode: frame instance %s would be submitted: %s, %s on %s; nothing recorded'
                % (iid, _count(jobs, 'job'), _count(nets, 'net'), ', '.join(frame_hosts)))
        would = {
            'instance': iid,
            'frame': defn['frame'],
            'operation_date': date,
            'hosts': frame_hosts,
            'jobs': jobs,
            'nets': nets,
            'limits': {host: limit for host, limit in limits.items() if limit is not None},
            'resubmit': existing is not None,
        }
        submitted = 'check mode: %s would be submitted (%s on %s); nothing was recorded' % (
            iid, _count(jobs, 'job'), _count(len(frame_hosts), 'host'))
        result.update({
            'changed': refused is None,
            'instances': [],
            'leases': {},
            'hosts': [],
            'implicit_localhost': False,
            'operation_date': date,
            'events': [],
            'would_submit': None if refused else would,
            'msg': refused or submitted,
        })
        if refused:
            result['would_refuse'] = refused
        return result


def _count(number, noun):
    return '%d %s%s' % (number, noun, '' if number == 1 else 's')
