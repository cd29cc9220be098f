# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_purge (documented in plugins/modules/frame_purge.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import JobnetAction, documented_spec, say


class ActionModule(JobnetAction):

    _supports_check_mode = True   # under --check: what would be removed; nothing is

    _VALID_ARGS = frozenset(('before', 'frame', 'store'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_purge', {
            'before': {'type': 'str', 'required': True},
            'frame': {'type': 'str'},
            'store': {'type': 'str', 'no_log': False},
        }))
        before = self.check_date(args['before'])
        if before > self.today():
            raise AnsibleActionFail('before is %s, a date to come: give a date up to today (%s); only history '
                                    'is removed' % (before, self.today()))
        store = self.open_store(task_vars)
        engine = self.engine(store, task_vars, 'purge')
        try:
            out = _day.purge(store, engine, before, frame=args.get('frame'), preview=self._task.check_mode)
        except (_store.StoreError, _engine.EngineError) as exc:
            raise AnsibleActionFail('purge failed: %s' % exc)
        finally:
            store.close()
        verb = 'would remove' if self._task.check_mode else 'removed'
        mode = 'check mode: ' if self._task.check_mode else ''
        say('jobnet: %s%s %d ended or never submitted instance(s) and %d day schedule(s) of operation dates before %s'
            % (mode, verb, len(out['removed']), len(out['days']), before))
        for iid in out['removed'][:200]:
            say('jobnet: %s%s %s' % (mode, verb, iid))
        for key in out['days'][:200]:
            say('jobnet: %s%s day schedule %s' % (mode, verb, key[len(_day.DAY_PREFIX):]))
        for iid, why in out['kept']:
            say('jobnet: %s kept: %s' % (iid, why))
        result.update({'changed': bool(out['removed'] or out['days']), 'removed': out['removed'],
                       'kept': [{'instance': iid, 'msg': why} for iid, why in out['kept']], 'days': out['days']})
        return result
