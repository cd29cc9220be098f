# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_op (documented in plugins/modules/frame_op.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
)

OPERATIONS = ('rerun', 'init', 'force_init', 'skip', 'pause', 'release', 'stop', 'force_start', 'resume', 'record')
# operations after which the frame goes on: the playbook drives it right away
DRIVING = frozenset(('rerun', 'release', 'force_start', 'resume'))


class ActionModule(JobnetAction):

    _supports_check_mode = True   # under --check: the decision on the records as they are, nothing written

    _VALID_ARGS = frozenset(('operation', 'frame', 'operation_date', 'path', 'kill', 'store', 'lease_ttl', 'jobs'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_op', {
            'operation': {'type': 'str', 'required': True, 'choices': list(OPERATIONS)},
            'frame': {'type': 'str', 'required': True},
            'operation_date': {'type': 'str'},
            'path': {'type': 'str'},
            'kill': {'type': 'bool'},
            'store': {'type': 'str'},
            'lease_ttl': {'type': 'float'},
            'jobs': {'type': 'list', 'elements': 'dict'},
        }))
        op = args['operation']
        date = self.check_date(args.get('operation_date') or self.today())
        iid = _engine.instance_id(args['frame'], date)
        store = self.open_store(task_vars)
        engine = self.engine(store, task_vars, op)
        try:
            instance = store.get_instance(iid)
            if instance is None:
                known = [i['id'] for i in store.list_instances()][:10]
                raise AnsibleActionFail('no frame instance %s in the store %s (known: %s)'
                                        % (iid, getattr(store, 'url', ''), ', '.join(known) or 'none'))
            hosts = list(instance['definition'].get('hosts', []))
            # skip / pause of a whole frame: it waits for its start time, so the playbook drives it there
            driving = op in DRIVING or (op in ('skip', 'pause') and not args.get('path'))
            if driving:
                self.check_forks(hosts)
                self.max_running(task_vars, hosts)   # a bad jobnet_max_running is refused before anything changes
            if self._task.check_mode:
                return self.preview(store, engine, iid, op, args, result)
            lease = engine.acquire(iid)
            try:
                outcome = engine.operate(iid, op, path=args.get('path'), lease=lease, jobs=args.get('jobs'))
            except Exception:
                store.release_lease(lease)
                raise
        except _engine.EngineError as exc:
            raise AnsibleActionFail('%s refused: %s' % (op, exc))
        except _store.StoreError as exc:
            raise AnsibleActionFail('%s failed: %s' % (op, exc))
        finally:
            store.close()
        stops = outcome['stop'] if (op == 'force_init' or (op == 'stop' and args['kill'])) else {}
        where = (' ' + args['path']) if args.get('path') else ''
        say('jobnet: %s of %s%s done; frame state %s' % (op, iid, where, outcome['state']))
        result.update({
            'changed': True,
            'operation': op,
            'instances': [iid],
            'leases': {iid: lease.to_dict()},
            'hosts': hosts if driving else [],
            'stop_hosts': sorted(stops),
            'stop': stops,
            'state': outcome['state'],
            'events': engine.events[-EVENTS_RETURNED:],
        })
        return result

    @staticmethod
    def preview(store, engine, iid, op, args, result):
        """Check mode: say what the operation would do (or why it would be refused); record and start nothing."""
        current = store.get_lease(iid)
        if current is not None and current.token and not current.expired \
                and not _store.owner_is_dead(current.owner):
            raise _engine.EngineError(str(_store.LeaseHeld(iid, current.owner, current.expires)))
        outcome = engine.operate(iid, op, path=args.get('path'), jobs=args.get('jobs'), preview=True)
        where = (' ' + args['path']) if args.get('path') else ''
        moves = ['%s %s -> %s' % (e.get('path') or 'frame', e.get('from'), e.get('to')) for e in outcome['events']]
        say('jobnet: check mode: %s of %s%s would leave the frame %s%s' % (
            op, iid, where, outcome['state'], (': ' + ', '.join(moves[:20])) if moves else ': no change'))
        stops = outcome['stop'] if (op == 'force_init' or (op == 'stop' and args['kill'])) else {}
        for host, ids in sorted(stops.items()):
            say('jobnet: check mode: would stop %s on %s' % (', '.join(ids), host))
        result.update({'changed': bool(moves or stops), 'operation': op, 'instances': [], 'leases': {},
                       'hosts': [], 'stop_hosts': [], 'stop': {}, 'would_stop': stops, 'state': outcome['state'],
                       'would': moves, 'events': []})
        return result
