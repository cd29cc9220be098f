# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Delay monitoring, delay actions, end commands and notifications (see docs/monitoring.md). Pure.

A frame, a net or a job may say when it must have started (``start_by``) or ended (``end_by``) - a time of the
operation day, or ``+HH:MM`` after the frame's start - and how long it may run (``max_duration``, seconds from its
own start). A crossed deadline is recorded once on the item (``late``: ``start``, ``end``, ``duration``) with the
time it was detected, in the same transaction as the decisions that see it, and its ``on_delay`` action is decided
then. Frames and nets (and jobs) may run a command when they end (``on_end: {normal_end: ACTION, abnormal_end:
ACTION}``).

An action is an attempt like a job's: a record in the instance (``instance['actions'][key]``) written
``launching`` (write-ahead) before the ``job`` call that starts it with its own attempt id, then ``launched``
with what its host says, its end polled with the host's jobs, and asked about by recovery in the same ``job_info``
call; so it is never started twice. A deadline crossed before a recovery completes is recorded by the recovery
with ``PEX174 delay action not executed`` and its action is not run (note 12); frame and net end commands are
decided when their state is applied, also by a recovery (note 10); job end commands only by a driver.

A ``notify: {url: URL}`` on a frame, net or job queues a JSON document for each of its delays and ends
(``instance['notices']``), which the driver that shows the instance's progress sends with bounded retries.
"""

from __future__ import annotations

import base64
import datetime
import re
import urllib.parse

START, END, DURATION = 'start', 'end', 'duration'
LATE_KINDS = (START, END, DURATION)
DELAY, END_COMMAND = 'delay', 'end'
#: the end states an end command may be given for
END_STATES = ('normal_end', 'abnormal_end')

#: action states
LAUNCHING = 'launching'
RUNNING = 'running'
NOT_EXECUTED = 'not_executed'
ACTION_ENDED = frozenset(('normal_end', 'abnormal_end', 'stopped', 'lost', 'refused', NOT_EXECUTED))

#: notices: bounded retries, and the wait before each (seconds)
NOTICE_TRIES = 4
NOTICE_BACKOFF = (1.0, 3.0, 9.0)
NOTICE_TIMEOUT = 5.0

RELATIVE_RE = re.compile(r'\+(\d{1,3}):([0-5][0-9])(?::([0-5][0-9]))?\Z')
TIME_RE = re.compile(r'([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?\Z')
#: the longest max_duration: 31 days, like a job's timeout
DURATION_MAX = 31 * 24 * 3600


class MonitorError(ValueError):
    """A monitoring setting that cannot be used."""


def deadline_text(value):
    """Canonical ``start_by`` / ``end_by``: ``HH:MM:SS`` (a time of the operation day) or ``+HH:MM:SS``."""
    if isinstance(value, datetime.time):
        return value.strftime('%H:%M:%S')
    if isinstance(value, bool) or not isinstance(value, str):
        raise MonitorError('expected "HH:MM" (a time of the operation day) or "+HH:MM" (after the frame\'s start), '
                           'got %r' % (value,))
    text = value.strip()
    match = RELATIVE_RE.fullmatch(text)
    if match:
        hours, minutes, seconds = match.groups()
        return '+%02d:%02d:%02d' % (int(hours), int(minutes), int(seconds or 0))
    match = TIME_RE.fullmatch(text)
    if match:
        hours, minutes, seconds = match.groups()
        return '%02d:%02d:%02d' % (int(hours), int(minutes), int(seconds or 0))
    raise MonitorError('%r is neither "HH:MM" (a time of the operation day) nor "+HH:MM" (after the frame\'s start)'
                       % value)


def is_relative(text):
    return bool(text) and text.startswith('+')


def seconds_of(text):
    """Seconds of ``HH:MM:SS`` or ``+HH:MM:SS`` (from midnight, or after the frame's start)."""
    hours, minutes, seconds = (int(p) for p in text.lstrip('+').split(':'))
    return hours * 3600 + minutes * 60 + seconds


def parse_time(text):
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def _iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def instant(text, operation_date, frame_started):
    """When ``text`` (``HH:MM:SS`` or ``+HH:MM:SS``) falls: on the operation date in the controller's zone, or
    after the frame's start (None while the frame has not started)."""
    if is_relative(text):
        start = parse_time(frame_started)
        return None if start is None else start + datetime.timedelta(seconds=seconds_of(text))
    day = datetime.date.fromisoformat(operation_date)
    hour, minute, second = (int(p) for p in text.split(':'))
    return datetime.datetime(day.year, day.month, day.day, hour, minute, second).astimezone().astimezone(
        datetime.timezone.utc)


def monitors(d):
    """The monitoring settings of one definition (frame or item): {start_by, end_by, max_duration} given."""
    return {k: d[k] for k in ('start_by', 'end_by', 'max_duration') if d.get(k) is not None}


def deadlines(d, record, instance):
    """[(late kind, deadline datetime, what it says)] of one frame / net / job that are not crossed yet or not
    recorded, as far as they can be known now (a relative time needs the frame's start, a duration the item's)."""
    out = []
    late = record.get('late') or {}
    started = record.get('started')
    if d.get('start_by') and START not in late:
        at = instant(d['start_by'], instance['operation_date'], instance.get('started'))
        if at is not None:
            out.append((START, at, 'start_by %s' % d['start_by']))
    if d.get('end_by') and END not in late:
        at = instant(d['end_by'], instance['operation_date'], instance.get('started'))
        if at is not None:
            out.append((END, at, 'end_by %s' % d['end_by']))
    if d.get('max_duration') and DURATION not in late and started:
        out.append((DURATION, parse_time(started) + datetime.timedelta(seconds=int(d['max_duration'])),
                    'max_duration %d s' % int(d['max_duration'])))
    return out


def action_key(kind, path, what, number=1):
    return '%s|%s|%s|%d' % (kind, path, what, number)


def describe(key):
    """An action as the operator reads it: ``delay action of slow (late duration)``, ``end command of the frame
    (normal_end)``; with its number when there is more than one."""
    kind, path, what, number = key.split('|')
    where = path or 'the frame'
    text = ('delay action of %s (late %s)' % (where, what) if kind == DELAY
            else 'end command of %s (%s)' % (where, what))
    return text if number == '1' else '%s #%s' % (text, number)


def public_name(key):
    """The name ``jobnet.scheduler.log`` takes for an action (``-e act=delay:duration``), with its path."""
    kind, path, what, number = key.split('|')
    return path, '%s:%s%s' % (kind, what, '' if number == '1' else ':%s' % number)


def find_action(actions, path, name):
    """The key of the action ``name`` (``kind:what[:n]``, the last one without n) of ``path``; MonitorError."""
    parts = str(name).split(':')
    if len(parts) not in (2, 3) or parts[0] not in (DELAY, END_COMMAND):
        raise MonitorError('an action is named delay:start, delay:end, delay:duration, end:normal_end or '
                           'end:abnormal_end (with :N for its Nth run), not %r' % (name,))
    kind, what = parts[0], parts[1]
    keys = sorted((k for k, a in (actions or {}).items() if a.get('kind') == kind and a.get('path') == path
                   and a.get('what') == what), key=lambda k: int(k.rsplit('|', 1)[1]))
    if len(parts) == 3:
        keys = [k for k in keys if k.rsplit('|', 1)[1] == parts[2]]
    if not keys:
        known = ', '.join('%s %s' % (public_name(k)[0] or '(the frame)', public_name(k)[1])
                          for k in sorted(actions or {})) or 'none'
        raise MonitorError('%s has no action %s (actions run: %s)' % (path or 'the frame', name, known))
    return keys[-1]


def new_action(kind, path, what, spec, attempt_id, now, *, run=True, message=''):
    """The record of one action: ``launching`` (write-ahead), or ``not_executed`` (``run`` False: PEX174)."""
    return {
        'kind': kind, 'path': path, 'what': what, 'host': spec.get('host'),
        'state': LAUNCHING if run else NOT_EXECUTED, 'phase': LAUNCHING if run else None,
        'attempt_id': attempt_id, 'decided': _iso(now), 'started': None, 'ended': None, 'rc': None,
        'signal': None, 'message': message,
    }


def attempt_path(kind, path, what):
    """The part of an action's attempt id that names it: ``<path>._<kind>-<what>`` (``_frame`` for the frame)."""
    # "._": no item name starts with "_", so an action's id is never a job's (nor the frame's a top-level net's)
    return '%s._%s-%s' % (path.replace('/', '.') if path else '_frame', kind, what.replace('_', '-'))


def action_spec(instance, key, record, spec, root=None):
    """The ``job`` module spec of an action (``spec``: its definition: host, command or shell, chdir, env,
    timeout)."""
    out = {
        'id': record['attempt_id'],
        'name': 'action %s' % key,
        'labels': {'frame': instance['frame'], 'operation_date': instance['operation_date'],
                   'instance': instance['id'], 'path': record['path'] or '(frame)', 'action': record['kind'],
                   'host': record['host']},
        'env': dict(spec.get('env') or {}),
    }
    out['env'].update({'JOBNET_INSTANCE': instance['id'], 'JOBNET_PATH': record['path'],
                       'JOBNET_ACTION': record['kind'], 'JOBNET_WHAT': record['what']})
    out.update(command_fields(spec))
    return out


def command_fields(d):
    """What a ``job`` module spec takes of a job's or an action's definition: command or shell, chdir, timeout."""
    out = {'command': list(d['command'])} if d.get('command') else {'shell': d['shell']}
    for k in ('chdir', 'timeout'):
        if d.get(k) is not None:
            out[k] = d[k]
    return out


def apply_result(record, job):
    """An action record after its host said ``job`` (a job / job_info view, None: the host does not have it)."""
    out = dict(record)
    out['phase'] = 'launched'
    if job is None:
        out.update(state='lost', message='attempt %s not found on %s' % (record['attempt_id'], record['host']))
        return out
    for k in ('rc', 'signal', 'started', 'ended'):
        if job.get(k) is not None:
            out[k] = job[k]
    state = job.get('state')
    out['state'] = state if state in ('running', 'normal_end', 'abnormal_end', 'stopped', 'lost') else 'abnormal_end'
    if job.get('reason') == 'timeout':
        out['message'] = 'timed out'
    return out


def refused(record, message):
    return dict(record, state='refused', phase=None, message=message)


def is_live(record):
    """An action still to launch or still running (a driver of its host keeps going for it)."""
    return record.get('state') in (LAUNCHING, RUNNING)


# --------------------------------------------------------------------------------------------------------
# Notices

def target(url):
    """What may be printed of a webhook URL: scheme and host (never its user, password, path or query)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or '?'
        port = ':%d' % parts.port if parts.port else ''
    except ValueError:
        return '(an invalid URL)'
    return '%s://%s%s' % (parts.scheme, host, port)


def request_of(url):
    """(URL without its user and password, headers): a ``user:password@`` in the URL becomes HTTP basic
    authentication."""
    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username is not None:
        pair = '%s:%s' % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ''))
        headers['Authorization'] = 'Basic ' + base64.b64encode(pair.encode('utf-8')).decode('ascii')
        host = parts.hostname or ''
        if ':' in host:
            host = '[%s]' % host
        netloc = host + (':%d' % parts.port if parts.port else '')
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url, headers


def check_url(url):
    if not isinstance(url, str) or not url:
        raise MonitorError('notify needs "url": the webhook to POST a JSON document to')
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise MonitorError('the notify URL is not valid: %s' % exc)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise MonitorError('the notify URL must be http:// or https:// with a host, not %s' % target(url))
    try:
        if parts.port is not None and parts.port <= 0:   # a port out of range raises ValueError here
            raise ValueError(parts.port)
    except ValueError:
        raise MonitorError('the notify URL has a port out of range (%s)' % parts.scheme)
    return url


def new_notice(nid, url, document, now):
    return {'id': nid, 'url': url, 'document': document, 'state': 'pending', 'tries': 0, 'next_at': _iso(now),
            'error': None, 'sent': None}


def after_try(notice, ok, error, now):
    """A notice after one try: sent, or pending again (until NOTICE_TRIES), or failed."""
    out = dict(notice, tries=int(notice.get('tries') or 0) + 1)
    if ok:
        out.update(state='sent', sent=_iso(now), error=None)
        return out
    out['error'] = str(error)[:300]
    if out['tries'] >= NOTICE_TRIES:
        out['state'] = 'failed'
        return out
    wait = NOTICE_BACKOFF[min(out['tries'] - 1, len(NOTICE_BACKOFF) - 1)]
    out['next_at'] = _iso(now + datetime.timedelta(seconds=wait))
    return out


def due(notice, now):
    return notice.get('state') == 'pending' and (parse_time(notice.get('next_at')) or now) <= now
