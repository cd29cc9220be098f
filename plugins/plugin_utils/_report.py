# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operator reads: the status document and table, and the lines a run prints as its jobs start and end.

Pure formatting over store records (no Ansible, no I/O beyond the store reads of :func:`status_document`).
"""

from __future__ import annotations

import datetime as _dt

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _monitor, _resources, _store, _time, _triggers
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
            waiting = item.get('waiting')
            if item['state'] == State.QUEUING.value and isinstance(waiting, dict) and waiting.get('for'):
                rows[-1]['waiting_for'] = list(waiting['for'])   # resource names, and "slot" for the host's limit
            if item.get('needs') and _resources.entry_of(iid, item) is not None:
                rows[-1]['resources'] = dict(item['needs'])   # what its attempt holds now
            if item.get('late'):
                rows[-1]['late'] = [k for k in _monitor.LATE_KINDS if k in item['late']]
                rows[-1]['delays'] = dict(item['late'])
        frame = {'frame': instance['frame'], 'operation_date': instance['operation_date'], 'id': iid,
                 'state': instance['state'], 'started': instance.get('started'),
                 'ended': instance.get('ended'), 'items': rows}
        try:
            frame['driver'] = store.lease_info(iid)   # who drives it now and since when (None: nobody)
        except (_store.StoreError, ValueError):
            frame['driver'] = None
        if instance['definition'].get('triggers'):
            frame['triggers'] = trigger_rows(instance, items, rows)
        if instance.get('late'):
            frame['late'] = [k for k in _monitor.LATE_KINDS if k in instance['late']]
            frame['delays'] = dict(instance['late'])
        if instance.get('actions'):
            frame['actions'] = action_rows(instance['actions'])
        if instance.get('notices'):
            frame['notices'] = [{'id': n.get('id'), 'event': (n.get('document') or {}).get('event'),
                                 'what': (n.get('document') or {}).get('what'),
                                 'path': (n.get('document') or {}).get('path'), 'target': _monitor.target(n.get('url')),
                                 'state': n.get('state'), 'tries': n.get('tries'), 'error': n.get('error'),
                                 'sent': n.get('sent')} for n in instance['notices']]
        frames.append(frame)
    return {'frames': frames}


_WAITING_STATES = frozenset(('waiting', 'skip_wait', 'pause_wait'))


def action_rows(actions):
    """The delay actions and end commands of an instance, in the order they were decided."""
    rows = []
    for key, act in sorted(actions.items(), key=lambda kv: (kv[1].get('decided') or '', kv[0])):
        path, name = _monitor.public_name(key)
        rows.append({'action': name, 'path': path, 'what': _monitor.describe(key), 'host': act.get('host'),
                     'state': act.get('state'), 'attempt_id': act.get('attempt_id'), 'decided': act.get('decided'),
                     'started': act.get('started'), 'ended': act.get('ended'), 'rc': act.get('rc'),
                     'message': act.get('message') or ''})
    return rows


def trigger_rows(instance, items, rows):
    """The triggers of an instance for the status (state, sender, last update, who waits for it); the item rows
    that wait for a trigger that is not ON get ``waiting_for_triggers``."""
    defn = instance['definition']
    records = _triggers.records_of(instance)
    waiting = {}
    if defn.get('wait_for') and not instance.get('opened') and instance['state'] in _WAITING_STATES | {'standby'}:
        for name in defn['wait_for']:
            waiting.setdefault(name, []).append('(the frame)')
    by_path = {r['path']: r for r in rows}
    for d in defn.get('items') or []:
        item = items.get(d['path']) or {}
        if not d.get('wait_for') or item.get('state') not in _WAITING_STATES:
            continue
        for name in d['wait_for']:
            waiting.setdefault(name, []).append(d['path'])
        off = [n for n in d['wait_for'] if not _triggers.is_on(records, n)]
        if off and d['path'] in by_path:
            by_path[d['path']]['waiting_for_triggers'] = off
    return _triggers.status(defn, records, waiting)


def _cut(text):
    text = ' '.join(str(text).split())
    return text if len(text) <= REASON_WIDTH else text[:REASON_WIDTH - 3] + '...'


def table(doc, drivers=True):
    """The status table; ``drivers``: a line naming the controller that drives each instance (the status listing,
    not the report at the end of a run, whose own controller it would name)."""
    lines = []
    for fr in doc['frames']:
        rows = [(fr['frame'], '', '', '', fr['state'], fr.get('started') or '', fr.get('ended') or '', '',
                 _cut(_with_late(fr.get('problem') or '', fr.get('late'))))]
        for it in fr['items']:
            net, _sep, name = it['path'].rpartition('/')
            if it['kind'] == 'net':
                net, name = it['path'], ''
            rc = '' if it['rc'] is None else str(it['rc'])
            if it.get('signal'):
                rc = (rc + ' ' if rc else '') + 'sig %s' % it['signal']
            reason = '' if it['state'] == State.NORMAL_END.value else (it.get('message') or '')
            reason = _cut(_with_late(reason, it.get('late')))
            rows.append(('', net, name, it['host'] or '', it['state'], it['started'] or '', it['ended'] or '', rc,
                         reason))
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
        lines.append('  '.join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip())
        for r in rows:
            lines.append('  '.join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        driver = fr.get('driver')
        if drivers and driver and driver.get('live'):
            lines.append('driven by %s since %s (lease until %s)' % (driver['driver'], driver.get('since'),
                                                                     driver.get('expires')))
        lines.extend(trigger_table(fr.get('triggers')))
        for act in fr.get('actions') or []:
            rc = '' if act.get('rc') is None else ' rc %s' % act['rc']
            lines.append('action %s on %s: %s%s%s' % (act['what'], act['host'], act['state'], rc,
                                                      ' - %s' % _cut(act['message']) if act.get('message') else ''))
        for n in fr.get('notices') or []:
            lines.append('notify %s %s of %s to %s: %s after %s tr%s%s' % (
                n['event'], n['what'], n['path'] or 'the frame', n['target'], n['state'], n['tries'] or 0,
                'y' if n['tries'] == 1 else 'ies', ' (%s)' % n['error'] if n.get('error') else ''))
        lines.append('')
    return '\n'.join(lines)


def _with_late(reason, late):
    if not late:
        return reason
    text = 'late: %s' % ', '.join(late)
    return '%s; %s' % (text, reason) if reason else text


def trigger_table(triggers):
    """One line per trigger: its state, what it waits for, who set it when, and who waits for it."""
    lines = []
    for t in triggers or []:
        manual = ' (set by hand)' if t.get('manual') else ''
        by = ' by %s' % t['sender'] if t.get('sender') else ''
        at = ' at %s' % t['updated'] if t.get('updated') else ''
        extra = ''
        if t.get('mtime'):
            extra = ' (file mtime %s)' % t['mtime']
        if t.get('on_at'):
            extra += ' (ON at %s)' % t['on_at']
        waits = ', '.join(t['waiting']) if t.get('waiting') else 'nobody'
        lines.append('trigger %s  %s%s  %s%s%s%s  waiting: %s' % (
            t['name'], t['state'].upper(), manual, t['what'], by, at, extra, waits))
    return lines


def resource_document(store):
    """The resources of the status: {'resources': {name: {capacity, held, holders, waiters}}, 'host_slots': {host:
    {running, holders, waiters}}}, from the store's definitions and its index (holders and waiters in order)."""
    resources, hosts = _resources.status(store.get_index(), _resources.capacities_of(store.get_resources()))
    return {'resources': resources, 'host_slots': hosts}


def resource_table(doc):
    """One line per resource (capacity, units held), then its holders and its waiters in serving order; then the
    hosts where jobs wait for a free slot."""
    lines = []
    for name, res in sorted((doc.get('resources') or {}).items()):
        cap = 'not defined' if res['capacity'] is None else 'capacity %d' % res['capacity']
        lines.append('resource %s  %s  held %d' % (name, cap, res['held']))
        for h in res['holders']:
            lines.append('  holds  %d  %s  %s  on %s' % (h['units'], h['instance'], h['path'], h['host']))
        for n, w in enumerate(res['waiters'], 1):
            prio = '  priority %d' % w['priority'] if w.get('priority') else ''
            lines.append('  waits  #%d  %d  %s  %s  on %s%s'
                         % (n, w['units'], w['instance'], w['path'], w['host'], prio))
    for host, slot in sorted((doc.get('host_slots') or {}).items()):
        if slot['waiters']:
            lines.append('host %s  running %d  waiting for a free slot: %s' % (host, slot['running'], ', '.join(
                '#%d %s %s' % (n, w['instance'], w['path']) for n, w in enumerate(slot['waiters'], 1))))
    return '\n'.join(lines) + ('\n' if lines else '')


def schedule_table(days):
    """The day schedules of the status: per schedule and live operation date, whether its day schedule exists
    (when and by whom it was made) and each frame's planned start and state."""
    lines = []
    for day in days:
        made = ('created %s by %s' % (day.get('created_at'), day.get('created_by')) if day.get('created')
                else 'not created (base time %s)' % day.get('base'))
        lines.append('schedule %s  operation date %s  %s' % (day['schedule'], day['operation_date'], made))
        unknown = '-' if day.get('created') else 'planned'
        rows = [(f['frame'], f.get('start') or 'at once', f.get('state') or unknown)
                for f in day.get('frames') or []]
        if not rows:
            lines.append('  (no frame runs on this date)')
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(('FRAME', 'START', 'STATE'))]
        if rows:
            lines.append('  ' + '  '.join(h.ljust(w) for h, w in zip(('FRAME', 'START', 'STATE'), widths)).rstrip())
        for r in rows:
            lines.append('  ' + '  '.join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        lines.append('')
    return '\n'.join(lines)


# ---------------------------------------------------------------------- lines of a run
#: at most this many lines of a failed job's stderr are printed with its end
STDERR_LINES = 5
#: and at most this many bytes of them are read from its host
STDERR_BYTES = 2048


def _parse_time(text):
    """A recorded time as an aware UTC datetime; None when there is none or it cannot be read (a report shows
    what it can)."""
    if not text:
        return None
    try:
        return _time.parse_time(str(text))
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


# ---------------------------------------------------------------------- the run chart
#: fill colour of a bar per state it ended in (running: still running); the legend lists them
STATE_COLOURS = {
    'running': '#3b82f6',
    'normal_end': '#16a34a',
    'abnormal_end': '#dc2626',
    'queuing_env_down': '#f59e0b',
}
CHART_LABEL_WIDTH = 300
CHART_WIDTH = 1000
CHART_ROW = 24
CHART_TOP = 56
#: seconds between two reloads of a chart whose frame still runs
CHART_REFRESH = 10


def _esc(text):
    return (str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;'))


def attempts_of(instance, items, events, now=None):
    """Every attempt of every job, from the store's event log (earlier attempts) and the job records (the last one):
    [{'path', 'host', 'attempt_id', 'attempt', 'start', 'end', 'state', 'rc', 'signal', 'reason'}] in start order.
    ``end`` is None while the attempt runs."""
    bars = {}
    order = []
    for ev in events:
        aid = ev.get('attempt_id')
        if ev.get('kind') != 'job' or not aid:
            continue
        rec = bars.get(aid)
        if rec is None and ev.get('to') == 'running':
            rec = bars[aid] = {'path': ev.get('path'), 'host': ev.get('host'), 'attempt_id': aid,
                               'attempt': aid.rsplit('.', 1)[-1], 'start': ev.get('time'), 'end': None,
                               'state': 'running', 'rc': None, 'signal': None, 'reason': ''}
            order.append(aid)
        elif rec is not None and ev.get('from') in ('running', 'queuing_env_down') and ev.get('to') != 'running':
            rec.update(end=ev.get('time'), state=ev.get('to'), reason=ev.get('reason') or '')
    for path, item in items.items():
        aid = item.get('attempt_id')
        if item.get('kind') != 'job' or not aid:
            continue
        rec = bars.get(aid)
        if rec is None:
            if not item.get('started'):
                continue   # never started (launch refused, not launched yet)
            rec = bars[aid] = {'path': path, 'host': item.get('host'), 'attempt_id': aid, 'start': None, 'end': None,
                               'state': 'running', 'reason': ''}
            order.append(aid)
        # the job's own clock is more exact than the moment the controller noticed
        rec.update(attempt=item.get('attempt'), rc=item.get('rc'), signal=item.get('signal'))
        if item.get('started'):
            rec['start'] = item['started']
        if item['state'] in ('normal_end', 'abnormal_end', 'queuing_env_down') or item['state'] == 'running':
            rec['state'] = item['state']
        if item.get('ended') and item['state'] != 'running':
            rec['end'] = item['ended']
        if item.get('message'):
            rec['reason'] = item['message']
    out = [bars[a] for a in order if bars[a].get('start')]
    out.sort(key=lambda b: (b['start'], b['path']))
    return out


def controller_marks(events):
    """[(time, label)]: each recovery (its first event), and the last record before it (the controller was lost
    after that moment)."""
    marks = []
    last = None
    in_recovery = False
    for ev in events:
        recovering = str(ev.get('reason') or '').startswith('recovery')
        if recovering and not in_recovery:
            if last is not None:
                marks.append((last, 'last record before the controller was lost'))
            marks.append((ev.get('time'), 'recovery'))
        in_recovery = recovering
        if ev.get('time'):
            last = ev.get('time')
    return [(t, label) for t, label in marks if t]


def chart_html(instance, items, events, now=None):
    """A self-contained HTML page (inline SVG, no script, nothing fetched): a Gantt chart of every attempt of every
    job, by net and job with its host, coloured by the state it ended in, with the dependencies, the moments of
    controller losses and recoveries, reruns as further bars, and each bar's rc and reason in its tooltip. It
    reloads itself every CHART_REFRESH seconds while the frame is not over."""
    now = now or _time.utcnow()
    defs = (instance.get('definition') or {}).get('items') or []
    jobs = [d for d in defs if d.get('kind') == 'job']
    rows = {d['path']: i for i, d in enumerate(jobs)}
    bars = attempts_of(instance, items, events, now)
    marks = controller_marks(events)
    times = [_parse_time(b['start']) for b in bars] + [_parse_time(b['end']) for b in bars if b['end']]
    times += [_parse_time(t) for t, _label in marks]
    times = [t for t in times if t is not None]
    running = any(b['end'] is None for b in bars)
    over = instance.get('state') in ('normal_end', 'abnormal_end', 'skip_end', 'not_submitted')
    if running or not times:
        times.append(now)
    t0 = min(times) if times else now
    t1 = max(times) if times else now
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(text):
        t = _parse_time(text) or now
        return CHART_LABEL_WIDTH + (t - t0).total_seconds() / span * CHART_WIDTH

    height = CHART_TOP + CHART_ROW * max(1, len(jobs)) + 40
    width = CHART_LABEL_WIDTH + CHART_WIDTH + 20
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
           'aria-label="run chart of %s">' % (width, height, _esc(instance.get('id')))]
    svg.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
               'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker>'
               '<pattern id="open" width="8" height="8" patternUnits="userSpaceOnUse" '
               'patternTransform="rotate(45)"><rect width="4" height="8" fill="#ffffff" opacity="0.35"/>'
               '</pattern></defs>')
    # time axis: five ticks
    for k in range(6):
        tx = CHART_LABEL_WIDTH + CHART_WIDTH * k / 5.0
        t = t0 + _dt.timedelta(seconds=span * k / 5.0)
        svg.append('<line class="tick" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e7eb"/>'
                   % (tx, CHART_TOP - 6, tx, height - 30))
        label = t.strftime('%H:%M:%S') if span >= 10 else t.strftime('%H:%M:%S.%f')[:-4]
        svg.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#374151">%s</text>'
                   % (tx, CHART_TOP - 12, label))
    # rows
    for d in jobs:
        y = CHART_TOP + rows[d['path']] * CHART_ROW
        net, _sep, name = d['path'].rpartition('/')
        label = '%s%s (%s)' % (net + '/' if net else '', name, d.get('host'))
        svg.append('<text class="label" x="8" y="%d" font-size="12" fill="#111827">%s</text>'
                   % (y + 16, _esc(label)))
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#f3f4f6"/>'
                   % (CHART_LABEL_WIDTH, y + CHART_ROW, width, y + CHART_ROW))
    # dependencies: from the end of the predecessor's last bar to the start of the successor's first bar
    last_bar, first_bar = {}, {}
    for b in bars:
        last_bar[b['path']] = b
        first_bar.setdefault(b['path'], b)
    for d in jobs:
        for pred in d.get('after') or []:
            preds = [p for p in rows if p == pred or p.startswith(pred + '/')]
            for p in preds:
                if p in last_bar and d['path'] in first_bar:
                    pb, sb = last_bar[p], first_bar[d['path']]
                    svg.append('<line class="dep" data-from="%s" data-to="%s" x1="%.1f" y1="%.1f" x2="%.1f" '
                               'y2="%.1f" stroke="#6b7280" stroke-width="1" marker-end="url(#arrow)"/>'
                               % (_esc(p), _esc(d['path']), x(pb['end']), CHART_TOP + rows[p] * CHART_ROW + 12,
                                  x(sb['start']), CHART_TOP + rows[d['path']] * CHART_ROW + 12))
    # bars
    for b in bars:
        if b['path'] not in rows:
            continue
        y = CHART_TOP + rows[b['path']] * CHART_ROW + 4
        bx = x(b['start'])
        bw = max(2.0, x(b['end']) - bx)
        colour = STATE_COLOURS.get(b['state'], '#6b7280')
        outcome = ('signal %s' % b['signal'] if b.get('signal') is not None
                   else 'rc %s' % b['rc'] if b.get('rc') is not None else '')
        tip = '%s attempt %s on %s: %s%s\n%s - %s%s' % (
            b['path'], b.get('attempt'), b.get('host'), b['state'], (' ' + outcome) if outcome else '',
            b['start'], b['end'] or 'running', ('\n' + b['reason']) if b.get('reason') else '')
        svg.append('<g class="bar" data-attempt="%s" data-path="%s" data-state="%s" data-start="%s" data-end="%s">'
                   '<title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" rx="3" fill="%s"/>%s</g>'
                   % (_esc(b['attempt_id']), _esc(b['path']), _esc(b['state']), _esc(b['start']),
                      _esc(b['end'] or ''), _esc(tip), bx, y, bw, CHART_ROW - 8, colour,
                      '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#open)"/>'
                      % (bx, y, bw, CHART_ROW - 8) if b['end'] is None else ''))
    # controller losses and recoveries
    for t, label in marks:
        mx = x(t)
        colour = '#111827' if label == 'recovery' else '#b91c1c'
        svg.append('<g class="mark" data-kind="%s"><title>%s at %s</title><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" '
                   'stroke="%s" stroke-width="2" stroke-dasharray="4 3"/></g>'
                   % ('recovery' if label == 'recovery' else 'controller-lost', _esc(label), _esc(t), mx,
                      CHART_TOP - 4, mx, height - 30, colour))
    svg.append('</svg>')
    legend = ''.join('<span class="key"><i style="background:%s"></i>%s</span>' % (c, s)
                     for s, c in STATE_COLOURS.items())
    refresh = '' if over and not running else '<meta http-equiv="refresh" content="%d">' % CHART_REFRESH
    head = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">%s<title>%s</title><style>'
            'body{font-family:sans-serif;margin:16px;color:#111827}h1{font-size:18px;margin:0 0 4px}'
            'p{margin:0 0 8px;font-size:13px;color:#374151}.key{display:inline-block;margin-right:12px;'
            'font-size:12px}.key i{display:inline-block;width:12px;height:12px;margin-right:4px;'
            'vertical-align:middle;border-radius:2px}.bar:hover rect{stroke:#111827;stroke-width:1.5}'
            '</style></head><body>' % (refresh, _esc('run chart %s' % instance.get('id'))))
    info = ('<h1>%s</h1><p>state %s &middot; %d attempts of %d jobs &middot; %s to %s &middot; drawn %s%s</p>'
            % (_esc(instance.get('id')), _esc(instance.get('state')), len(bars), len(jobs), _esc(t0.isoformat()),
               _esc(t1.isoformat()), _esc(_time.isotime(now, fraction=False)),
               ' &middot; reloads every %d s' % CHART_REFRESH if refresh else ''))
    legend += ('<span class="key"><i style="background:#b91c1c"></i>controller lost</span>'
               '<span class="key"><i style="background:#111827"></i>recovery</span>')
    return head + info + '<p>' + legend + '</p>' + ''.join(svg) + '</body></html>\n'


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` (tmp + fsync + rename, mode 0644); the temp file is removed on failure."""
    import os
    folder = os.path.dirname(os.path.abspath(path)) or '.'
    if not os.path.isdir(folder):
        raise OSError('the folder %s does not exist' % folder)
    if os.path.isdir(path):
        raise OSError('%s is a folder' % path)
    tmp = os.path.join(folder, '.%s.tmp.%d' % (os.path.basename(path), os.getpid()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:   # the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_chart(store, iid, path, now=None):
    """Write the run chart of ``iid`` from the store to ``path``."""
    instance, items = store.load(iid)
    write_text_atomic(path, chart_html(instance, items, store.read_events(iid), now=now))


def chart_folder(value):
    """The chart folder of the ``chart_dir`` setting, created 0700 when missing; None when empty (no charts)."""
    import os
    if not value:
        return None
    folder = os.path.expanduser(str(value))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return folder   # the driver says why it cannot write there, once
    return folder
