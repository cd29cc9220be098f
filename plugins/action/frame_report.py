# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_report (documented in plugins/modules/frame_report.py)."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import JobnetAction, say
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._engine import lease_from_dict
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State

COLUMNS = ('frame', 'net', 'job', 'host', 'state', 'started', 'ended', 'rc', 'reason')
#: a longer reason is cut in the table (the status JSON and the item's message keep it whole)
REASON_WIDTH = 80


def status_document(store, iids):
    frames = []
    for iid in iids:
        try:
            instance, items = store.load(iid)
        except (_store.CorruptRecord, _store.InvalidRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
            # a damaged record refuses only its own instance: the others are still shown
            frame, _sep, date = str(iid).partition('@')
            frames.append({'frame': frame, 'operation_date': date, 'id': iid, 'state': 'corrupt', 'started': None,
                           'ended': None, 'items': [], 'problem': str(exc)})
            continue
        order = {d['path']: i for i, d in enumerate(instance['definition'].get('items', []))}
        rows = []
        for path in sorted(items, key=lambda p: order.get(p, len(order))):
            item = items[path]
            rows.append({'kind': item['kind'], 'path': path, 'host': item.get('host'), 'state': item['state'],
                         'started': item.get('started'), 'ended': item.get('ended'), 'rc': item.get('rc'),
                         'signal': item.get('signal'), 'attempt': item.get('attempt'),
                         'attempt_id': item.get('attempt_id'), 'message': item.get('message') or ''})
        frames.append({'frame': instance['frame'], 'operation_date': instance['operation_date'], 'id': iid,
                       'state': instance['state'], 'started': instance.get('started'),
                       'ended': instance.get('ended'), 'items': rows})
    return {'frames': frames}


def _cut(text):
    text = ' '.join(str(text).split())
    return text if len(text) <= REASON_WIDTH else text[:REASON_WIDTH - 3] + '...'


def table(doc):
    lines = []
    for fr in doc['frames']:
        rows = [(fr['frame'], '', '', '', fr['state'], fr.get('started') or '', fr.get('ended') or '', '',
                 _cut(fr.get('problem') or ''))]
        for it in fr['items']:
            net, _sep, name = it['path'].rpartition('/')
            if it['kind'] == 'net':
                net, name = it['path'], ''
            rc = '' if it['rc'] is None else str(it['rc'])
            if it.get('signal'):
                rc = (rc + ' ' if rc else '') + 'sig %s' % it['signal']
            reason = '' if it['state'] == State.NORMAL_END.value else _cut(it.get('message') or '')
            rows.append(('', net, name, it['host'] or '', it['state'], it['started'] or '', it['ended'] or '', rc,
                         reason))
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
        lines.append('  '.join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip())
        for r in rows:
            lines.append('  '.join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        lines.append('')
    return '\n'.join(lines)


class ActionModule(JobnetAction):

    _supports_check_mode = True   # it reads the store; under --check it writes no status_json and releases nothing

    _VALID_ARGS = frozenset(('instances', 'frame', 'operation_date', 'leases', 'status_json', 'fail_on_abnormal',
                             'store', 'steps', 'quiet', 'check_instances', 'problems'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec={
            'instances': {'type': 'list', 'elements': 'str'},
            'frame': {'type': 'str'},
            'operation_date': {'type': 'str'},
            'leases': {'type': 'dict'},
            'status_json': {'type': 'path'},
            'fail_on_abnormal': {'type': 'bool', 'default': False},
            'store': {'type': 'str'},
            'steps': {'type': 'list', 'elements': 'raw'},
            'quiet': {'type': 'bool', 'default': False},
            'check_instances': {'type': 'list', 'elements': 'str'},
            'problems': {'type': 'list', 'elements': 'str', 'default': []},
        })
        store = self.open_store(task_vars)
        try:
            if args.get('instances') is not None:
                iids = list(args['instances'])
            else:
                date = self.check_date(args['operation_date']) if args.get('operation_date') else None
                iids = [i['id'] for i in store.list_instances(date)
                        if not args.get('frame') or i['frame'] == args['frame']]
            doc = status_document(store, iids)
            for data in ((args.get('leases') or {}) if not self._task.check_mode else {}).values():
                try:
                    store.release_lease(lease_from_dict(_store, data))
                except _store.StoreError:
                    pass
        except _store.StoreError as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        if args.get('status_json') and self._task.check_mode:
            say('jobnet: check mode: %s is not written' % args['status_json'])
        elif args.get('status_json'):
            path = args['status_json']
            tmp_path = '%s.tmp.%d' % (path, os.getpid())
            with open(tmp_path, 'w', encoding='utf-8') as f:
                json.dump(doc, f, indent=2, sort_keys=True)
                f.write('\n')
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
        if not args['quiet']:
            say(table(doc) if doc['frames'] else 'jobnet: no frame instances')
        steps = args.get('steps')
        if steps is None:
            steps = []
            hostvars = task_vars.get('hostvars') or {}
            for host in (task_vars.get('groups') or {}).get('jobnet_drive', []):
                try:
                    step = hostvars[host].get('jobnet_step')
                except (KeyError, AttributeError):
                    step = None
                if isinstance(step, dict):
                    steps.append(dict(step, host=step.get('host', host)))
        errors = list(args['problems'])
        root_cause = any(isinstance(step, dict) and step.get('driver_failed') for step in steps)
        for step in steps:
            if root_cause and step.get('stopped_with_run'):
                continue  # stopped because another host's driver failed: that failure is the error
            if isinstance(step, dict) and (step.get('error') or step.get('unreachable')):
                errors.append('host driver %s: %s' % (step.get('host', '?'), step.get('error') or step.get('msg')))
        result.update({'changed': False, 'status': doc, 'errors': errors})
        check = args.get('check_instances')
        abnormal = [f['id'] for f in doc['frames'] if f['state'] == State.ABNORMAL_END.value
                    and (check is None or f['id'] in check)]
        errors.extend('frame instance %s cannot be read: %s' % (f['id'], f['problem']) for f in doc['frames']
                      if f.get('problem') and check is not None and f['id'] in check)
        if args['fail_on_abnormal'] and (abnormal or errors):
            parts = []
            if abnormal:
                parts.append('frame instance(s) ended abnormal_end: %s' % ', '.join(abnormal))
            if errors:
                parts.append('; '.join(errors))
            result.update(failed=True, msg='; '.join(parts))
            result.pop('status', None)  # printed as the table above; status_json has it
        return result
