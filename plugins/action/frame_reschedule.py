# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_reschedule (documented in plugins/modules/frame_reschedule.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
)


class ActionModule(JobnetAction):

    _supports_check_mode = True   # under --check: the new start time is worked out and checked, nothing written

    _VALID_ARGS = frozenset(('frame', 'operation_date', 'start_at', 'store'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_reschedule', {
            'frame': {'type': 'str', 'required': True},
            'operation_date': {'type': 'str'},
            'start_at': {'type': 'str', 'required': True},
            'store': {'type': 'str', 'no_log': False},
        }))
        date = self.check_date(args['operation_date']) if args.get('operation_date') else None
        store = self.open_store(task_vars)
        engine = self.engine(store, task_vars, 'reschedule')
        try:
            if date is not None:
                iid = _engine.instance_id(args['frame'], date)
            else:
                # the frame's one standby instance (a schedule's operation date need not be today's date)
                iid = _day.standby_instance(store, args['frame']) or _engine.instance_id(args['frame'], self.today())
            old, new = _day.reschedule(store, engine, iid, args['start_at'], preview=self._task.check_mode)
        except _day.DayError as exc:
            raise AnsibleActionFail('reschedule refused: %s' % exc)
        except (_store.StoreError, _engine.EngineError) as exc:
            raise AnsibleActionFail('reschedule failed: %s' % exc)
        finally:
            store.close()
        mode = 'check mode: ' if self._task.check_mode else ''
        say('jobnet: %s%s starts at %s (was %s)' % (mode, iid, new, old or 'no start time'))
        result.update({'changed': old != new, 'instance': iid, 'start_at': new, 'was': old,
                       'events': engine.events[-EVENTS_RETURNED:]})
        return result
