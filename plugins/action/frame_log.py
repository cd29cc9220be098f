# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_log (documented in plugins/modules/frame_log.py).

``phase: find`` (on the controller) finds a job's host and attempt id in the state store; ``phase: read`` (on the
job's host, by delegation) reads the attempt's output there with ``job_info`` and prints it. The output never
leaves its host otherwise: this is ``Receive-Job -Keep``, readable as often as wanted.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _monitor, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import JobnetAction, documented_spec, say

STREAMS = ('stdout', 'stderr')
#: bytes read per job_info call, and at most in all (without tail); a longer output is cut with a note
PAGE = 1024 * 1024
MAX_TOTAL = 16 * 1024 * 1024
#: most lines a tail may ask for
MAX_TAIL = 100000


class ActionModule(JobnetAction):

    _requires_connection = True   # phase read runs on the job's host
    _supports_check_mode = True   # it only reads

    _VALID_ARGS = frozenset(('phase', 'frame', 'path', 'action', 'operation_date', 'attempt', 'stream', 'tail',
                             'found', 'root', 'store', 'quiet'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_log', {
            'phase': {'type': 'str', 'choices': ['find', 'read']},
            'frame': {'type': 'str'},
            'path': {'type': 'str'},
            'action': {'type': 'str'},
            'operation_date': {'type': 'str'},
            'attempt': {'type': 'int'},
            'stream': {'type': 'str', 'choices': ['stdout', 'stderr', 'both']},
            'tail': {'type': 'int'},
            'found': {'type': 'dict'},
            'root': {'type': 'str'},
            'store': {'type': 'str'},
            'quiet': {'type': 'bool'},
        }))
        tail = args.get('tail')
        if tail is not None and not 0 < tail <= MAX_TAIL:
            raise AnsibleActionFail('tail must be a number of lines from 1 to %d, got %d' % (MAX_TAIL, tail))
        if args['phase'] == 'find':
            result.update(self.find(args, task_vars))
        else:
            result.update(self.read(args, task_vars))
        # a job's own exit status is data here, not this task's failure (Ansible fails a result with rc != 0)
        result.update(changed=False, failed=False)
        return result

    # ------------------------------------------------------------------ find (controller)
    @staticmethod
    def _find_action(instance, path, name):
        """A delay action or an end command (``-e action=delay:duration``, ``end:normal_end``): an attempt like a
        job's, on its own host."""
        actions = instance.get('actions') or {}
        try:
            key = _monitor.find_action(actions, path, name)
        except _monitor.MonitorError as exc:
            raise AnsibleActionFail('frame instance %s: %s' % (instance['id'], exc))
        act = actions[key]
        if not act.get('attempt_id') or act.get('state') in ('not_executed', 'launching'):
            raise AnsibleActionFail('the %s of frame instance %s has no output (%s%s)' % (
                _monitor.describe(key), instance['id'], act.get('state'),
                ': ' + act['message'] if act.get('message') else ''))
        return {'instance': instance['id'], 'path': _monitor.describe(key), 'host': act['host'], 'attempt': 1,
                'attempt_id': act['attempt_id'], 'state': act.get('state')}

    def find(self, args, task_vars):
        for name in ('frame', 'path'):
            if not args.get(name) and not (name == 'path' and args.get('action')):
                raise AnsibleActionFail('%s is required: -e frame=NAME -e path=NET/JOB' % name)
        store = self.open_store(task_vars)
        try:
            if args.get('operation_date'):
                date = self.check_date(args['operation_date'])
            else:
                dates = sorted(i['operation_date'] for i in store.list_instances(frame=args['frame']))
                if not dates:
                    raise AnsibleActionFail('no instance of frame %s in the state store %s'
                                            % (args['frame'], getattr(store, 'url', '')))
                date = dates[-1]   # the newest instance of the frame
            iid = _engine.instance_id(args['frame'], date)
            if store.get_instance(iid) is None:
                known = sorted(i['id'] for i in store.list_instances(frame=args['frame']))[-10:]
                raise AnsibleActionFail('no frame instance %s in the state store (instances of %s: %s)'
                                        % (iid, args['frame'], ', '.join(known) or 'none'))
            instance, items = store.load(iid)
        except _store.StoreError as exc:
            raise AnsibleActionFail('cannot read the state store: %s' % exc)
        finally:
            store.close()
        path = (args.get('path') or '').strip('/')
        if args.get('action'):
            return self._find_action(instance, path, args['action'])
        item = items.get(path)
        if item is None:
            jobs = sorted(p for p, it in items.items() if it.get('kind') == 'job')
            raise AnsibleActionFail("frame instance %s has no job '%s' (jobs: %s)"
                                    % (iid, path, ', '.join(jobs[:20]) or 'none'))
        if item.get('kind') != 'job':
            raise AnsibleActionFail("'%s' of frame instance %s is a net: give the path of one of its jobs" % (path, iid))
        last = int(item.get('attempt') or 0)
        if not last or not item.get('attempt_id'):
            raise AnsibleActionFail("job '%s' of frame instance %s has not started (state %s): it has no output yet"
                                    % (path, iid, item.get('state')))
        attempt = args.get('attempt') or last
        if not 1 <= attempt <= last:
            raise AnsibleActionFail("job '%s' of frame instance %s has attempts 1 to %d, not %d"
                                    % (path, iid, last, attempt))
        if attempt == last:
            aid = item['attempt_id']
        else:
            aid = _model.attempt_id(instance['frame'], instance['operation_date'], instance['uid'], path, attempt)
        return {'instance': iid, 'path': path, 'host': item['host'], 'attempt': attempt, 'attempt_id': aid,
                'state': item.get('state') if attempt == last else None}

    # ------------------------------------------------------------------ read (on the job's host)
    def _job_info(self, task_vars, root, aid, **extra):
        margs = dict({'ids': [aid], 'missing': 'ignore'}, **extra)
        if root:
            margs['root'] = root
        try:
            out = self._execute_module(module_name='jobnet.scheduler.job_info', module_args=margs,
                                       task_vars=task_vars)
        except AnsibleConnectionFailure as exc:
            raise AnsibleActionFail('cannot reach %s: %s' % (task_vars.get('inventory_hostname'), exc))
        if out.get('unreachable') or out.get('failed'):
            raise AnsibleActionFail('job_info on %s failed: %s'
                                    % (task_vars.get('inventory_hostname'), out.get('msg', 'no answer')))
        jobs = out.get('jobs') or []
        return jobs[0] if jobs else None

    def read(self, args, task_vars):
        found = args.get('found') or {}
        aid = found.get('attempt_id')
        host = found.get('host') or task_vars.get('inventory_hostname')
        if not aid:
            raise AnsibleActionFail('found: give the result of phase find')
        root = args.get('root')
        view = self._job_info(task_vars, root, aid, output=False)
        if view is None:
            raise AnsibleActionFail('attempt %s of %s is not on %s (removed, or another job root): its output is gone'
                                    % (aid, found.get('path'), host))
        streams = STREAMS if args['stream'] == 'both' else (args['stream'],)
        out = {'instance': found.get('instance'), 'path': found.get('path'), 'host': host,
               'attempt': found.get('attempt'), 'attempt_id': aid, 'state': view.get('state'), 'rc': view.get('rc'),
               'signal': view.get('signal'), 'started': view.get('started'), 'ended': view.get('ended')}
        notes = []
        for stream in streams:
            size = int(view.get('%s_size' % stream) or 0)
            text, note = self._read_stream(task_vars, root, aid, stream, view, args.get('tail'))
            out[stream] = text
            out['%s_size' % stream] = size
            if note:
                notes.append(note)
        if not args['quiet']:
            end = ''
            if view.get('state') != 'running':
                end = ', rc %s' % view.get('rc') if view.get('signal') is None else ', signal %s' % view.get('signal')
            say('jobnet: %s %s attempt %s on %s (%s, %s%s)'
                % (found.get('instance'), found.get('path'), found.get('attempt'), host, aid, view.get('state'), end))
            for stream in streams:
                text = out[stream]
                say('--- %s (%d bytes%s)' % (stream, out['%s_size' % stream],
                                             ', last %d lines' % args['tail'] if args.get('tail') else ''))
                if text:
                    say(text[:-1] if text.endswith('\n') else text)
            for note in notes:
                say('jobnet: ' + note)
        out['notes'] = notes
        return out

    def _read_stream(self, task_vars, root, aid, stream, view, tail):
        size = int(view.get('%s_size' % stream) or 0)
        other_stream = 'stderr' if stream == 'stdout' else 'stdout'
        other = '%s_offset' % other_stream
        skip = int(view.get('%s_size' % other_stream) or 0)   # the other stream is not read again
        if tail:
            chunk = max(64 * 1024, tail * 256)
            while True:
                offset = max(0, size - chunk)
                view = self._job_info(task_vars, root, aid, output=True, max_bytes=min(size - offset, MAX_TOTAL) or 4,
                                      **{'%s_offset' % stream: offset, other: skip})
                data = (view or {}).get(stream) or ''
                lines = data.splitlines(True)
                if offset > 0 and len(lines) > tail:
                    lines = lines[1:]   # the first line may be cut
                if len(lines) >= tail or offset == 0 or chunk >= MAX_TOTAL:
                    return ''.join(lines[-tail:]), None
                chunk *= 4
        parts, offset, note = [], 0, None
        while offset < size:
            if offset >= MAX_TOTAL:
                note = ('%s of %s is %d bytes: only the first %d are shown; use -e tail=LINES, or read it by offset '
                        'with jobnet.scheduler.job_info' % (stream, aid, size, MAX_TOTAL))
                break
            view = self._job_info(task_vars, root, aid, output=True, max_bytes=PAGE,
                                  **{'%s_offset' % stream: offset, other: skip})
            if view is None:
                break
            parts.append(view.get(stream) or '')
            nxt = int((view.get('next_offset') or {}).get(stream, offset))
            if nxt <= offset:
                break
            offset = nxt
        return ''.join(parts), note
