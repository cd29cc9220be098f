# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operator reads: the status document and table, and the lines a run prints as its jobs start and end.

Pure formatting over store records (no Ansible, no I/O beyond the store reads of :func:`status_document`).
"""

from __future__ import annotations

import datetime as _dt

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store
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


# ---------------------------------------------------------------------- lines of a run
#: at most this many lines of a failed job's stderr are printed with its end
STDERR_LINES = 5
#: and at most this many bytes of them are read from its host
STDERR_BYTES = 2048


def _parse_time(text):
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(str(text).replace('Z', '+00:00'))
    except ValueError:
        return None


def duration(started, ended):
    """Seconds between two ISO-8601 times, or None."""
    a, b = _parse_time(started), _parse_time(ended)
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def _seconds(value):
    if value is None:
        return '?'
    if value < 60:
        return '%.1f s' % value
    minutes, sec = divmod(int(round(value)), 60)
    hours, minutes = divmod(minutes, 60)
    return '%dh%02dm%02ds' % (hours, minutes, sec) if hours else '%dm%02ds' % (minutes, sec)


def start_line(iid, item):
    """``jobnet: START <instance> <path> on <host> (attempt N)``"""
    return 'jobnet: START %s %s on %s (attempt %s)' % (iid, item['path'], item.get('host'), item.get('attempt'))


def outcome_text(item):
    """``rc 0`` / ``signal 9`` / ``timeout`` ... as the item records it."""
    if item.get('signal') is not None:
        return 'signal %s' % item['signal']
    if item.get('rc') is not None:
        return 'rc %s' % item['rc']
    return 'no rc'


def end_line(iid, item, stderr_tail=None):
    """``jobnet: END <instance> <path> on <host>: <state> <rc or signal> after <duration> (attempt N)[: reason]``,
    then, for a failure, the last lines of its stderr, each as ``jobnet:   stderr| <line>``."""
    state = item['state']
    took = duration(item.get('started'), item.get('ended'))
    if not item.get('started'):
        text = 'jobnet: END %s %s on %s: %s, not started (attempt %s)' % (
            iid, item['path'], item.get('host'), state, item.get('attempt'))
    else:
        text = 'jobnet: END %s %s on %s: %s %s after %s (attempt %s)' % (
            iid, item['path'], item.get('host'), state, outcome_text(item), _seconds(took), item.get('attempt'))
    if state != State.NORMAL_END.value and item.get('message'):
        text += ': %s' % ' '.join(str(item['message']).split())
    lines = [text]
    for line in (stderr_tail or '').splitlines()[-STDERR_LINES:]:
        lines.append('jobnet:   stderr| %s' % line.rstrip()[:300])
    return lines


def progress_line(iid, summary):
    """``jobnet: <instance> <state>: N/M ended, R running, Q queued, W waiting, E errors``"""
    counts = summary.get('counts') or {}
    ended = sum(counts.get(s, 0) for s in ('normal_end', 'skip_end', 'abnormal_end'))
    total = sum(counts.values())
    queued = sum(counts.get(s, 0) for s in ('queuing', 'queuing_env_down'))
    waiting = sum(counts.get(s, 0) for s in ('waiting', 'skip_wait', 'pause_wait', 'paused'))
    return ('jobnet: %s %s: %d/%d ended, %d running, %d queued, %d waiting, %d errors'
            % (iid, summary.get('state'), ended, total, counts.get('running', 0), queued, waiting,
               counts.get('abnormal_end', 0)))


def failure_summary(doc, iids=None):
    """{host: [one text per job of ``iids`` that ended abnormal_end on it]} from a status document."""
    out = {}
    for fr in doc['frames']:
        if iids is not None and fr['id'] not in iids:
            continue
        for it in fr['items']:
            if it['kind'] != 'job' or it['state'] != State.ABNORMAL_END.value:
                continue
            text = '%s %s: abnormal_end %s' % (fr['id'], it['path'], outcome_text(it))
            if it.get('message'):
                text += ': %s' % ' '.join(str(it['message']).split())
            out.setdefault(it['host'] or 'localhost', []).append(text)
    return out
