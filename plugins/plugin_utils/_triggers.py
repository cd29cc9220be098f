# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Triggers: the start conditions that come from outside the frame (see docs/triggers.md).

A frame declares its triggers once (``triggers:``); the frame, its nets and its jobs wait for them by name
(``wait_for:``), together with ``after``. Each kind of trigger is one entry of :data:`KINDS`, a
:class:`TriggerKind` that says which key names it, how it is checked, which host it needs and how its state
follows what the driver sees (:meth:`TriggerKind.observe`) and what recovery finds (:meth:`TriggerKind.recover`):

- ``event``: a named event in the store (``ON`` / ``OFF``, last update, sender), shared by every frame and
  controller; set by an operator (``jobnet.scheduler.event``), by a job that ends normally (``on_end: {event:}``);
- ``file``: a file exists on a host; looked at in the ``job_info`` call its host's driver makes anyway;
- ``frame``: another frame's instance of the same operation date is in an end state (``normal_end`` by default).

Every trigger may also turn ON at a time of the operation day (``on_at``: sender ``time``), and an operator may
set a trigger of one instance ON or OFF by hand (``manual``), which holds until set back to ``auto``.

The state of each trigger of an instance is a small record kept in the instance (``instance['triggers']``), written
in the same transaction as the decisions that depend on it: ``state`` (``on``, ``off``, ``unknown``), ``updated``
(last update), ``sender`` (who made it so), and as the kind needs ``detected`` / ``mtime`` (a file), ``timed`` (the
time-based ON happened), ``manual`` (an operator's override). Recovery follows note 1 of the spec
(:func:`recover`). Pure: the standard library only.
"""

from __future__ import annotations

import datetime
import os
import re

ON = 'on'
OFF = 'off'
UNKNOWN = 'unknown'
STATES = (ON, OFF, UNKNOWN)
#: what an operator may set a trigger of an instance to (``auto``: take the override away)
MANUAL_STATES = (ON, OFF, 'auto')

#: an event name: letters, digits, "_", "-" and ".", starting with a letter or digit
EVENT_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z')
#: the longest watched path (Linux's PATH_MAX less its NUL)
PATH_MAX = 4095
#: the end states a frame-link may wait for (``ended``: any of the three)
FRAME_LINK_STATES = ('normal_end', 'abnormal_end', 'skip_end', 'ended')
_ENDED = frozenset(('normal_end', 'abnormal_end', 'skip_end'))
#: most triggers in one frame
MAX_TRIGGERS = 10000


class TriggerError(ValueError):
    """A trigger definition, an event name or an operator's setting that cannot be used."""


def check_event_name(value):
    if not isinstance(value, str) or not EVENT_NAME_RE.fullmatch(value):
        raise TriggerError('%r is not a valid event name: use letters, digits, "_", "-" and ".", starting with a '
                           'letter or digit, at most 128 characters' % (value,))
    return value


def check_path(value):
    """A watched file: an absolute, normalised path without NUL."""
    if not isinstance(value, str) or not value:
        raise TriggerError('the file to wait for must be a path, got %r' % (value,))
    if '\0' in value:
        raise TriggerError('the path %r holds a NUL character' % value)
    if not value.startswith('/'):
        raise TriggerError('the path %r is not absolute: give the whole path on the host (/data/in/ready.flag)'
                           % value)
    if len(value.encode('utf-8', 'surrogatepass')) > PATH_MAX:
        raise TriggerError('the path is longer than %d bytes' % PATH_MAX)
    if '//' in value or (os.path.normpath(value) != value and os.path.normpath(value) != value.rstrip('/')):
        raise TriggerError('the path %r is not in its plain form (%r): no "." or ".." parts, no double "/"'
                           % (value, os.path.normpath(value)))
    if value != '/' and value.endswith('/'):
        raise TriggerError('the path %r ends with "/": name the file' % value)
    return value


def _now_text(now):
    return now.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


# --------------------------------------------------------------------------------------------------------
# The kinds

class TriggerKind:
    """One kind of trigger: the key that names it in the frame file, and how its state follows its source."""

    #: the key of the frame file that makes a trigger of this kind (``event``, ``file``, ``frame``)
    key = ''
    #: other keys it takes (besides name, description, on_at)
    extra = ()
    #: what the kind's sender says when its source turned it ON or OFF
    label = ''

    def check(self, params, *, frame, hosts):
        """Problems of one definition (``params``: the mapping as validated); returns [(key, message)]."""
        return []

    def normalise(self, params):
        """The kind's fields of the normalised definition."""
        return {self.key: params[self.key]}

    def host(self, tdef):
        """The host this trigger is looked at on (None: the store is enough)."""
        return None

    def describe(self, tdef):
        """What it waits for, in a few words (status)."""
        return str(tdef.get(self.key))

    def observe(self, tdef, rec, view, now):
        """The record as the source says now (``view`` as :func:`evaluate` takes it), or None: nothing seen."""
        return None

    def recover(self, tdef, rec, found, now, options):
        """The record after a recovery (note 1 of the spec): as before the failure, by default."""
        return rec


class EventKind(TriggerKind):
    key = 'event'
    label = 'event'

    def check(self, params, *, frame, hosts):
        try:
            check_event_name(params['event'])
        except TriggerError as exc:
            return [('event', str(exc))]
        return []

    def describe(self, tdef):
        return 'event %s' % tdef['event']

    def observe(self, tdef, rec, view, now):
        events = view.get('events')
        if events is None:
            return None
        ev = events.get(tdef['event'])
        if not isinstance(ev, dict) or ev.get('state') not in (ON, OFF):
            return {'state': OFF, 'updated': None, 'sender': None}
        return {'state': ev['state'], 'updated': ev.get('updated'), 'sender': ev.get('sender')}


class FileKind(TriggerKind):
    key = 'file'
    extra = ('host',)
    label = 'file'

    def check(self, params, *, frame, hosts):
        problems = []
        try:
            check_path(params['file'])
        except TriggerError as exc:
            problems.append(('file', str(exc)))
        host = params.get('host')
        if host is None:
            problems.append(('host', 'a file trigger needs "host": the inventory host the file is on'))
        elif hosts is not None and host not in hosts:
            problems.append(('host', 'unknown host %r (not in the inventory)' % host))
        return problems

    def normalise(self, params):
        return {'file': params['file'], 'host': params['host']}

    def host(self, tdef):
        return tdef.get('host')

    def describe(self, tdef):
        return 'file %s on %s' % (tdef['file'], tdef['host'])

    def observe(self, tdef, rec, view, now):
        if view.get('host') != tdef['host'] or rec.get('state') == UNKNOWN:
            # another host's driver does not see this file; an unknown state (recovery skip) waits for the next
            # normal recovery (table 5.432)
            return None
        seen = (view.get('files') or {}).get(tdef['file'])
        if seen is None:
            return None
        return file_record(rec, seen, now)

    def recover(self, tdef, rec, found, now, options):
        if options.get('recovery_skip'):
            return dict(rec, state=UNKNOWN, sender='recovery skip', updated=_now_text(now))
        seen = (found.get('files') or {}).get((tdef['host'], tdef['file']))
        if seen is None:   # the host did not answer: nobody knows; the next recovery resolves it
            return dict(rec, state=UNKNOWN, sender='recovery (%s not reached)' % tdef['host'],
                        updated=_now_text(now))
        # note 1: the state is the file's now, and its last update the detection time
        return file_record(dict(rec, state=UNKNOWN), seen, now)


def file_record(rec, seen, now):
    """The record of a file trigger after its host said ``seen`` ({'exists', 'mtime'}) at ``now``."""
    exists = bool(seen.get('exists'))
    if exists:
        if rec.get('state') == ON and rec.get('detected'):
            return dict(rec, mtime=seen.get('mtime'))
        stamp = _now_text(now)
        return dict(rec, state=ON, updated=stamp, detected=stamp, mtime=seen.get('mtime'), sender='file')
    if rec.get('state') == OFF and 'detected' not in rec:
        return rec
    out = dict(rec, state=OFF, updated=_now_text(now), sender='file')
    out.pop('detected', None)
    out.pop('mtime', None)
    return out


class FrameKind(TriggerKind):
    key = 'frame'
    extra = ('state',)
    label = 'frame'

    def check(self, params, *, frame, hosts):
        problems = []
        if params['frame'] == frame:
            problems.append(('frame', 'a frame-link to the frame itself (%s) would wait for ever' % frame))
        state = params.get('state')
        if state is not None and state not in FRAME_LINK_STATES:
            problems.append(('state', 'a frame-link waits for one of %s, not %r'
                             % (', '.join(FRAME_LINK_STATES), state)))
        return problems

    def normalise(self, params):
        return {'frame': params['frame'], 'state': params.get('state') or 'normal_end'}

    def describe(self, tdef):
        return 'frame %s %s' % (tdef['frame'], tdef.get('state') or 'normal_end')

    def observe(self, tdef, rec, view, now):
        frames = view.get('frames')
        if frames is None:
            return None
        inst = frames.get(tdef['frame'])
        if not isinstance(inst, dict):
            return {'state': OFF, 'updated': None, 'sender': None}
        want = tdef.get('state') or 'normal_end'
        st = inst.get('state')
        met = st in _ENDED if want == 'ended' else st == want
        if not met:
            if rec.get('state') == OFF:
                return rec
            return {'state': OFF, 'updated': inst.get('updated'), 'sender': 'frame %s (%s)' % (inst.get('id'), st)}
        return {'state': ON, 'updated': inst.get('ended') or inst.get('updated'),
                'sender': 'frame %s (%s)' % (inst.get('id'), st)}


#: every kind of trigger, by the key that names it in the frame file (one entry per kind)
KINDS = {kind.key: kind for kind in (EventKind(), FileKind(), FrameKind())}
#: the keys a trigger definition may have
KEYS = ('name', 'description', 'on_at') + tuple(KINDS) + tuple(sorted({k for kind in KINDS.values()
                                                                      for k in kind.extra}))


def kind_of(tdef):
    return KINDS[tdef['kind']]


def initial_records(defn):
    """{name: record} of a new instance: every trigger OFF, nothing known yet."""
    return {t['name']: {'state': OFF, 'updated': None, 'sender': None} for t in defn.get('triggers') or []}


def records_of(instance):
    """The trigger records of an instance (those of a definition without a record: OFF)."""
    recs = dict(initial_records(instance.get('definition') or {}))
    recs.update(instance.get('triggers') or {})
    return recs


def hosts_of(defn):
    """The hosts the triggers of a definition are looked at on, sorted."""
    return sorted({h for t in defn.get('triggers') or [] for h in [kind_of(t).host(t)] if h})


def files_on(defn, host, records=None):
    """The paths a host's driver or a recovery looks at for this definition, sorted (``records``: leave out the
    triggers an operator set by hand and those of unknown state)."""
    out = set()
    for t in defn.get('triggers') or []:
        if t['kind'] != 'file' or t['host'] != host:
            continue
        rec = (records or {}).get(t['name']) or {}
        if records is not None and (rec.get('manual') or rec.get('timed') or rec.get('state') == UNKNOWN):
            continue
        out.add(t['file'])
    return sorted(out)


def linked_frames(defn):
    """The frames the frame-links of a definition name, sorted."""
    return sorted({t['frame'] for t in defn.get('triggers') or [] if t['kind'] == 'frame'})


def needs_events(defn):
    return any(t['kind'] == 'event' for t in defn.get('triggers') or [])


def on_at_instant(tdef, operation_date, tz=None):
    """When a trigger's ``on_at`` (``HH:MM:SS``) falls on ``operation_date`` in the controller's zone, as an aware
    UTC datetime; None without ``on_at``."""
    value = tdef.get('on_at')
    if not value:
        return None
    hour, minute, second = (int(part) for part in value.split(':'))
    day = datetime.date.fromisoformat(operation_date)
    naive = datetime.datetime(day.year, day.month, day.day, hour, minute, second)
    local = naive.astimezone() if tz is None else naive.replace(tzinfo=tz)
    return local.astimezone(datetime.timezone.utc)


# --------------------------------------------------------------------------------------------------------
# State

def evaluate(instance, view, now):
    """The trigger records of ``instance`` as its sources say at ``now``; returns (records, changes).

    ``view``: what the caller read of the sources, each key optional (a missing key: not looked at now):
    ``events`` {event name: record}, ``frames`` {frame: instance summary of the same operation date},
    ``host`` and ``files`` {path: {'exists', 'mtime'}} (what that host's driver last saw). ``changes`` lists
    (name, before, after) of the records whose state changed.
    """
    defn = instance.get('definition') or {}
    records = records_of(instance)
    changes = []
    for tdef in defn.get('triggers') or []:
        name = tdef['name']
        rec = records.get(name) or {'state': OFF, 'updated': None, 'sender': None}
        new = _evaluate_one(tdef, rec, view, now, instance.get('operation_date'))
        if new != rec:
            records[name] = new
            if new.get('state') != rec.get('state'):
                changes.append((name, rec, new))
    return records, changes


def _evaluate_one(tdef, rec, view, now, operation_date):
    if rec.get('manual') or rec.get('timed'):
        return rec
    at = on_at_instant(tdef, operation_date) if operation_date else None
    if at is not None and now >= at:
        return dict(rec, state=ON, updated=_now_text(at), sender='time', timed=True)
    new = kind_of(tdef).observe(tdef, rec, view, now)
    if new is None:
        return rec
    # what the source says replaces what it said before (a file that went away has no detection time any more)
    merged = {k: v for k, v in rec.items() if k not in ('detected', 'mtime')}
    merged.update(new)
    return merged


def set_manual(instance, name, state, now, by='operator'):
    """An operator's ON / OFF of one trigger of an instance (``auto``: back to its source); returns the records.
    Raises TriggerError for an unknown trigger or state."""
    defn = instance.get('definition') or {}
    names = [t['name'] for t in defn.get('triggers') or []]
    if name not in names:
        raise TriggerError('frame instance %s has no trigger %r (its triggers: %s)'
                           % (instance.get('id'), name, ', '.join(names) or 'none'))
    if state not in MANUAL_STATES:
        raise TriggerError('a trigger is set to one of %s, not %r' % (', '.join(MANUAL_STATES), state))
    records = records_of(instance)
    rec = dict(records.get(name) or {})
    if state == 'auto':
        rec.pop('manual', None)
        rec.pop('timed', None)
        if rec.get('state') == UNKNOWN:
            rec['state'] = OFF
        rec['sender'] = '%s (back to its source)' % by
    else:
        rec.update(state=state, manual=state, sender=by)
    rec['updated'] = _now_text(now)
    records[name] = rec
    return records


def recover(instance, found, now, options):
    """The trigger records after a recovery (note 1): event-wait and frame-link as before the failure; a
    file-wait as its file is now on its host (``found['files']`` {(host, path): seen}), its last update the
    detection time, ``unknown`` when its host did not answer or under ``recovery_skip`` (table 5.432); a time-based
    ON comes back as it was. An operator's ON / OFF of a file-wait is kept (the original drops it); option
    ``file_wait_reset`` drops it as the original does."""
    defn = instance.get('definition') or {}
    records = records_of(instance)
    for tdef in defn.get('triggers') or []:
        name = tdef['name']
        rec = dict(records.get(name) or {'state': OFF, 'updated': None, 'sender': None})
        if rec.get('timed'):
            continue
        if tdef['kind'] == 'file' and rec.get('manual'):
            if not options.get('file_wait_reset'):
                continue
            rec.pop('manual', None)
        records[name] = kind_of(tdef).recover(tdef, rec, found, now, options)
    return records


def is_on(records, name):
    return (records.get(name) or {}).get('state') == ON


def status(defn, records, waiting):
    """The rows of the status: every trigger with its state, sender, last update and who waits for it
    (``waiting``: {trigger name: [paths]}, '' the frame)."""
    rows = []
    for tdef in defn.get('triggers') or []:
        rec = records.get(tdef['name']) or {}
        row = {
            'name': tdef['name'],
            'kind': tdef['kind'],
            'what': kind_of(tdef).describe(tdef),
            'state': rec.get('state') or OFF,
            'sender': rec.get('sender'),
            'updated': rec.get('updated'),
            'waiting': list(waiting.get(tdef['name']) or []),
        }
        for key in ('detected', 'mtime', 'manual'):
            if rec.get(key) is not None:
                row[key] = rec[key]
        if tdef.get('on_at'):
            row['on_at'] = tdef['on_at']
        rows.append(row)
    return rows


def change_line(iid, name, tdef, before, after):
    """The line a driver prints when a trigger of an instance changes state."""
    sender = after.get('sender')
    return 'jobnet: %s trigger %s (%s) %s -> %s%s' % (
        iid, name, kind_of(tdef).describe(tdef) if tdef else '?', (before.get('state') or OFF).upper(),
        (after.get('state') or OFF).upper(), ' by %s' % sender if sender else '')
