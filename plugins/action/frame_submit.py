# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_submit (documented in plugins/modules/frame_submit.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import EVENTS_RETURNED, JobnetAction, say


class ActionModule(JobnetAction):

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
        }, mutually_exclusive=[('frame_file', 'frame')], required_one_of=[('frame_file', 'frame')])
        date = self.check_date(args.get('operation_date') or self.today())
        hosts = self.inventory_hosts(task_vars)
        try:
            if args.get('frame_file'):
                raw = _model.load_frame_file(args['frame_file'])
                defn = _model.normalise(raw, hosts=hosts, source=args['frame_file'])
            else:
                defn = _model.normalise(args['frame'], hosts=hosts, source='frame argument')
        except _model.FrameError as exc:
            raise AnsibleActionFail('invalid frame: %s' % exc)
        frame_hosts = list(defn['hosts'])
        self.check_forks(frame_hosts)
        store = self.open_store(task_vars)
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
        implicit_localhost = 'localhost' in frame_hosts and 'localhost' not in (task_vars.get('groups') or {}).get('all', [])
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
