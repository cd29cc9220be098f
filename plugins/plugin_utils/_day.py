# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The day schedule: which frame instances an operation date should have, created once, kept in the store.

A schedule (``_schedule``) says which frames run on which operation date and when each starts. Every operation
day, at its base time, the day schedule of that date is created: one record ``day/<schedule>/<date>`` (created
once, whoever tries: a ``schedule`` run, a second one at the same moment, or recovery) listing each frame of the
day with its planned start, and one frame instance per frame, submitted (``standby`` until its start time) or,
when it was created by recovery after the frame's start time passed, left ``not_submitted`` (table 5.428 B-1).

The schedule's definition is kept as ``schedule/<schedule>``, so that recovery knows what should exist (table
5.427) without the schedule file. Everything here goes through the store and the engine; the decisions of the
tables are the small pure functions at the top.
"""

from __future__ import annotations

import copy
import datetime
import re

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _messages, _schedule
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import Event
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import TERMINAL, Kind, State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime, parse_time, utcnow

#: a schedule's name: letters, digits, "_", "-" and ".", at most 64 characters
SCHEDULE_NAME_RE = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z')

SCHEDULE_PREFIX = 'schedule/'
DAY_PREFIX = 'day/'

#: Who created a day schedule.
BY_SCHEDULE = 'schedule'
BY_RECOVERY = 'recovery'

#: The operation dates recovery covers by default: the current one and the one before it (``live_days``).
LIVE_DAYS = 2

#: What happened to each frame of a day schedule (``frames[].outcome`` of a creation).
SUBMITTED = 'submitted'          # standby until its start time, or waiting
NOT_STARTED = 'not_started'      # table 5.428 B-1: created by recovery after its start time; not_submitted
EXISTING = 'existing'            # the instance was there already (made by another run, or by hand)


class DayError(Exception):
    """A day schedule that cannot be made or read; the message says which and why."""


def schedule_key(name):
    return SCHEDULE_PREFIX + name


def day_key(name, operation_date):
    return '%s%s/%s' % (DAY_PREFIX, name, operation_date)


def schedule_name(path, given=None):
    """The name a schedule is kept under: ``given``, else the schedule file's name without its extension."""
    import os
    name = given or os.path.splitext(os.path.basename(str(path)))[0]
    if not SCHEDULE_NAME_RE.fullmatch(name or ''):
        raise DayError('%r cannot name a schedule: a schedule name is made of letters, digits, "_", "-" and "." '
                       '(give schedule_name=NAME)' % (name,))
    return name


# ------------------------------------------------------------------------------------------------------------
# The decisions (tables 5.427 and 5.428), pure

def day_case(base, now, exists):
    """Table 5.427 for one operation date at recovery: ``A`` (created before the failure: kept), ``B`` (not
    created, its base time passed: created now), ``C`` (not created, its base time comes later: created then)."""
    if exists:
        return 'A'
    return 'B' if base <= now else 'C'


def frame_outcome(start, now, by, catch_up):
    """Table 5.428 for a frame of a day schedule being created: ``submitted`` (it starts at its start time, at
    once when it has none or it has passed) or ``not_started`` (B-1: recovery creates the day after the frame's
    start time passed during the failure; ``catch_up`` starts it instead)."""
    if by == BY_RECOVERY and start is not None and start <= now and not catch_up:
        return NOT_STARTED
    return SUBMITTED


def frame_definition(entry, start, name, operation_date):
    """The definition a frame of the day is submitted with: the frame file's, with the planned start as an
    absolute instant (the schedule's start rule, or the frame's own ``start_at`` read on the operation day), so
    recovery and relative starts keep the original start (notes 3 and 6)."""
    defn = copy.deepcopy(entry.definition)
    defn['start_at'] = None if start is None else start.isoformat()
    defn['schedule'] = {'name': name, 'operation_date': operation_date,
                        'planned_start': None if start is None else start.isoformat()}
    return defn


def day_record(schedule, name, operation_date, now, by):
    """The record of a day schedule: when and by whom it was made, and each frame with its planned start."""
    day = _schedule.as_date(operation_date)
    base = _schedule.base_instant(schedule, day)
    frames = []
    for entry, start in _schedule.day_schedule(schedule, day):
        if start is None and base > now:
            start = base    # a day made ahead of its base time: a frame without a start time starts at it
        frames.append({'frame': entry.frame, 'instance': '%s@%s' % (entry.frame, day.isoformat()),
                       'start': None if start is None else start.isoformat()})
    return {
        'schedule': name,
        'operation_date': day.isoformat(),
        'base': base.isoformat(),
        'created': isotime(now),
        'created_by': by,
        'frames': frames,
    }


# ------------------------------------------------------------------------------------------------------------
# The store

def save_schedule(store, schedule, name):
    """Keep the schedule's definition (with every frame's definition) under its name; returns the record."""
    record = schedule.to_record(definitions=True)
    record['name'] = name
    store.put_schedule_record(schedule_key(name), record)
    return record


def load_schedules(store, problems=None):
    """``{name: Schedule}`` of every schedule kept in the store. A damaged one is left out, named in
    ``problems``."""
    out = {}
    for key, record in store.list_schedule_records(SCHEDULE_PREFIX, problems=problems).items():
        name = key[len(SCHEDULE_PREFIX):]
        try:
            out[name] = _schedule.Schedule.from_record(record)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if problems is None:
                raise DayError('schedule record %s is damaged: %s' % (key, exc)) from None
            problems.append({'instance': None, 'path': None, 'key': key, 'record': 'schedule %s' % name,
                             'reason': 'is damaged (%s: %s)' % (type(exc).__name__, exc)})
    return out


def days_of(store, name, problems=None):
    """``{operation date: day record}`` of one schedule."""
    prefix = '%s%s/' % (DAY_PREFIX, name)
    return {key[len(prefix):]: rec for key, rec in store.list_schedule_records(prefix, problems=problems).items()}


class Created:
    """What making (or finding) one day schedule did."""

    def __init__(self, name, operation_date):
        self.name = name
        self.operation_date = operation_date
        self.created = False        # this call made the day record
        self.record = None
        self.instances = []         # instance ids submitted by this call (leased to it)
        self.leases = {}            # instance id -> lease dict
        self.not_started = []       # instance ids left not_submitted (B-1)
        self.existing = []          # instance ids that were there already
        self.refused = []           # [(instance id, why)] the engine refused (another controller drives it)
        self.messages = []

    def as_dict(self):
        return {'schedule': self.name, 'operation_date': self.operation_date, 'created': self.created,
                'created_by': (self.record or {}).get('created_by'), 'instances': list(self.instances),
                'not_started': list(self.not_started), 'existing': list(self.existing),
                'refused': [{'instance': iid, 'msg': why} for iid, why in self.refused],
                'frames': list((self.record or {}).get('frames') or []), 'messages': list(self.messages)}


def make_day(store, engine, schedule, name, operation_date, *, now=None, by=BY_SCHEDULE, catch_up=False,
             only=None):
    """Create the day schedule of ``operation_date`` once and submit its frames (tables 5.427, 5.428).

    The day record is written create-only: when another run (or an earlier one) made it, that record is kept
    and its frames are used. A frame whose instance exists already is left to whoever has it. ``only``: submit
    only these frames (an operator submitting B-1 frames on purpose: they are submitted whatever their start).
    ``catch_up``: a bool, or a function of a frame's definition that says it for that frame (recovery: the frame's
    own ``options.catch_up`` between the setting and an explicit ``-e catch_up``).
    Returns a :class:`Created`; the caller drives ``instances`` with ``leases``.
    """
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine

    now = now or utcnow()
    out = Created(name, operation_date)
    key = day_key(name, operation_date)
    record = day_record(schedule, name, operation_date, now, by)
    out.created = store.put_schedule_record(key, record, create_only=True)
    if not out.created:
        record = store.get_schedule_record(key) or record
    out.record = record
    made_by = record.get('created_by') or by
    if out.created:
        out.messages.append(_messages.message('JNR120', schedule=name, date=operation_date, by=made_by,
                                              count=len(record.get('frames') or [])))
    for frame in record.get('frames') or []:
        fname, iid = frame['frame'], frame['instance']
        if only is not None and fname not in only:
            continue
        existing = store.get_instance(iid)
        if existing is not None and (only is None or existing.get('state') != State.NOT_SUBMITTED.value):
            out.existing.append(iid)
            continue
        try:
            entry = schedule.entry(fname)
        except KeyError:
            out.refused.append((iid, 'frame %s is no longer in schedule %s' % (fname, name)))
            continue
        start = parse_time(frame['start']) if frame.get('start') else None
        defn = frame_definition(entry, start, name, operation_date)
        catch = catch_up(defn) if callable(catch_up) else catch_up
        outcome = SUBMITTED if only is not None else frame_outcome(start, now, made_by, catch)
        if outcome == NOT_STARTED:
            text = _messages.message('JNR121', iid=iid, start=frame['start'])
            instance = _engine.make_instance(defn, operation_date)
            instance['message'] = text
            try:
                store.create_instance(instance, _engine.initial_items(defn), events=[
                    Event.new('', Kind.FRAME, None, State.NOT_SUBMITTED, State.NOT_SUBMITTED, text, None,
                              isotime(now)).to_dict()])
            except engine.store_mod.InstanceExists:
                out.existing.append(iid)
                continue
            out.not_started.append(iid)
            out.messages.append(text)
            continue
        try:
            instance, lease = engine.submit(defn, operation_date)
        except _engine.EngineError as exc:
            out.refused.append((iid, str(exc)))
            continue
        out.instances.append(iid)
        out.leases[iid] = lease.to_dict()
        out.messages.append(_messages.message('JNR122', iid=iid, state=instance['state'],
                                              start=frame.get('start') or 'at once'))
    return out


def current_date(schedule, now=None):
    """The operation date (YYYY-MM-DD) that holds ``now``."""
    return _schedule.operation_date_at(schedule, (now or utcnow())).isoformat()


def live_dates(schedule, now=None, days=LIVE_DAYS):
    """The operation dates still live at ``now``: the current one and the ``days - 1`` before it."""
    today = _schedule.operation_date_at(schedule, now or utcnow())
    return [(today - datetime.timedelta(days=back)).isoformat() for back in range(max(1, int(days)))]


def recover_days(store, engine, *, now=None, catch_up=False, problems=None, preview=False):
    """Table 5.427 at recovery, for every schedule in the store: the current operation date's day schedule is
    kept when it exists (A), created now when its base time passed during the failure (B, its frames per table
    5.428 B-1 / B-2), and left for the base time when that comes later (C: the next ``schedule`` run makes it).
    Returns the list of :class:`Created` of the days made now, and the report lines of every schedule."""
    now = now or utcnow()
    made, lines = [], []
    for name, schedule in sorted(load_schedules(store, problems=problems).items()):
        date = current_date(schedule, now)
        base = _schedule.base_instant(schedule, date)
        exists = store.get_schedule_record(day_key(name, date)) is not None
        case = day_case(base, now, exists)
        upcoming = (_schedule.as_date(date) + datetime.timedelta(days=1)).isoformat()
        if store.get_schedule_record(day_key(name, upcoming)) is None:
            # table 5.427 C: the next operation date's base time comes after the recovery
            lines.append(_messages.message('JNR124', schedule=name, date=upcoming,
                                           base=_schedule.base_instant(schedule, upcoming).isoformat()))
        if case == 'A':
            lines.append(_messages.message('JNR123', schedule=name, date=date))
            continue
        if preview:
            record = day_record(schedule, name, date, now, BY_RECOVERY)
            lines.append(_messages.message('JNR125', schedule=name, date=date, frames=', '.join(
                '%s (%s)' % (f['frame'], frame_outcome(
                    parse_time(f['start']) if f['start'] else None, now, BY_RECOVERY,
                    catch_up(schedule.entry(f['frame']).definition) if callable(catch_up) else catch_up
                ).replace('_', ' '))
                for f in record['frames']) or 'none'))
            continue
        created = make_day(store, engine, schedule, name, date, now=now, by=BY_RECOVERY, catch_up=catch_up)
        made.append(created)
        lines.extend(created.messages)
    return made, lines


def status_days(store, now=None, problems=None, days=LIVE_DAYS):
    """Per schedule, its live operation dates: whether the day schedule exists and each frame's planned start
    and instance state; for the report."""
    now = now or utcnow()
    out = []
    for name, schedule in sorted(load_schedules(store, problems=problems).items()):
        kept = days_of(store, name, problems=problems)
        live = live_dates(schedule, now, days)
        dates = sorted(set(live) | {d for d in kept if d >= min(live)}, reverse=True)[:max(1, int(days)) + 5]
        for date in sorted(dates):
            rec = kept.get(date)
            if rec is None:
                planned = _schedule.day_schedule(schedule, _schedule.as_date(date))
                frames = [{'frame': e.frame, 'instance': '%s@%s' % (e.frame, date),
                           'start': None if s is None else s.isoformat()} for e, s in planned]
            else:
                frames = list(rec.get('frames') or [])
            shown = []
            for frame in frames:
                inst = store.get_instance(frame['instance'])
                shown.append(dict(frame, state=None if inst is None else inst.get('state'),
                                  start=((inst or {}).get('definition') or {}).get('start_at') or frame.get('start')))
            out.append({'schedule': name, 'operation_date': date, 'created': rec is not None,
                        'created_at': (rec or {}).get('created'), 'created_by': (rec or {}).get('created_by'),
                        'base': _schedule.base_instant(schedule, date).isoformat(), 'frames': shown})
    return out


# ------------------------------------------------------------------------------------------------------------
# A time override: a submitted frame's start time changed (note 13: recovery keeps it; note 15: not during
# recovery)

def new_start(store, instance, value):
    """The instant a time override ``value`` names for ``instance``: ``HH:MM[:SS]`` on its operation day (for a
    frame of a day schedule with the schedule's base-time rule and zone: a time before the base time is on the
    next calendar day), or an ISO-8601 date and time with an offset."""
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model

    try:
        text = _model.start_at(value)
    except (TypeError, ValueError) as exc:
        raise DayError('start_at: %s' % exc) from None
    if _model.TIME_RE.fullmatch(text) is None:
        return parse_time(text)
    date = instance['operation_date']
    origin = (instance.get('definition') or {}).get('schedule') or {}
    record = store.get_schedule_record(schedule_key(origin['name'])) if origin.get('name') else None
    if record is None:
        return _model.start_datetime({'start_at': text}, date)
    schedule = _schedule.Schedule.from_record(record)
    hour, minute, second = (int(part) for part in text.split(':'))
    seconds = hour * 3600 + minute * 60 + second
    day = _schedule.as_date(date)
    if seconds < schedule.base_time:
        day = day + datetime.timedelta(days=1)
    return schedule.local_instant(day, seconds)


def standby_instance(store, frame):
    """The id of the one ``standby`` instance of ``frame`` (the one a time override without a date means), or
    None when it has none; DayError naming them when it has several."""
    found = [i['id'] for i in store.list_instances(frame=frame, problems=[]) if i.get('state') == State.STANDBY.value]
    if len(found) > 1:
        raise DayError('frame %s has %d standby instances (%s): give operation_date=YYYY-MM-DD'
                       % (frame, len(found), ', '.join(found[:10])))
    return found[0] if found else None


def reschedule(store, engine, iid, value, *, now=None, preview=False):
    """Give the ``standby`` frame instance ``iid`` a new start time, in one transaction; returns (old, new) ISO.

    Refused during a recovery of the instance (5.5.3.3 note 15, JNR110) and for a frame that has started. A
    controller that drives the instance (waiting for its start time) takes the new time at its next step; recovery
    keeps it (note 13).
    """
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _recovery

    now = now or utcnow()
    instance = store.get_instance(iid)
    if instance is None:
        raise DayError('no frame instance %s in the store' % iid)
    lease = store.get_lease(iid)
    if lease is not None and lease.token and not lease.expired and (lease.owner or {}).get('what') == 'recover' \
            and not engine.store_mod.owner_is_dead(lease.owner):
        raise DayError(_recovery.refusal_message('reschedule', iid))
    start = new_start(store, instance, value)
    holder = {}

    def decide(inst, items):
        if inst['state'] != State.STANDBY.value:
            raise DayError('frame instance %s is %s: only a standby frame (submitted, before its start time) gets a '
                           'new start time' % (iid, inst['state']))
        defn = dict(inst['definition'])
        old = defn.get('start_at')
        defn['start_at'] = start.isoformat()
        overrides = list(defn.get('start_overrides') or [])
        overrides.append({'start_at': start.isoformat(), 'was': old, 'at': isotime(now)})
        defn['start_overrides'] = overrides
        new = dict(inst, definition=defn, updated=isotime(now))
        text = _messages.message('JNR126', iid=iid, old=old or 'none', new=start.isoformat())
        holder['old'] = old
        event = Event.new('', Kind.FRAME, None, State.STANDBY, State.STANDBY, text, None, isotime(now)).to_dict()
        return new, {}, (None, [event])
    if preview:
        inst, items = store.load(iid)
        decide(inst, items)
        return holder['old'], start.isoformat()
    _engine.commit(store, iid, decide, None, engine.events)
    return holder['old'], start.isoformat()


def recovery_start_message(store, iid):
    """PEX056 for an instance recovery starts on; for a frame with a time override, the note 13 form that says
    the override is kept."""
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _recovery

    try:
        instance = store.get_instance(iid) or {}
        overrides = (instance.get('definition') or {}).get('start_overrides') or []
    except Exception:  # pylint: disable=broad-exception-caught
        instance, overrides = {}, []   # a damaged record is named by the recovery that follows
    if overrides and isinstance(overrides[-1], dict) and instance.get('state') == State.STANDBY.value:
        return _messages.message('PEX056/reschedule', iid=iid, start_at=overrides[-1].get('start_at'))
    return _recovery.start_message(iid)


#: An instance in one of these states has ended: before the live dates it is history.
ENDED_STATES = frozenset(s.value for s in TERMINAL)


def oldest_live_date(store, now=None, days=LIVE_DAYS, problems=None):
    """The oldest operation date (YYYY-MM-DD) recovery covers for ended instances: ``days - 1`` days before the
    earliest current operation date (the controller's calendar date, and each schedule's in its zone)."""
    now = now or utcnow()
    current = [now.astimezone().date()]
    for schedule in load_schedules(store, problems=problems).values():
        current.append(_schedule.operation_date_at(schedule, now))
    return (min(current) - datetime.timedelta(days=max(1, int(days)) - 1)).isoformat()


def is_history(summary, oldest):
    """Whether an instance (a record or a listing's summary) is history: ended, and of a date before ``oldest``."""
    return summary.get('state') in ENDED_STATES and str(summary.get('operation_date')) < oldest


# ------------------------------------------------------------------------------------------------------------
# History: removed on purpose

def purge(store, engine, before, *, frame=None, preview=False):
    """Remove the ended instances of operation dates before ``before`` (YYYY-MM-DD) - their records, items,
    events and lease - and the day schedule records of those dates. An instance that has not ended, or that a
    live controller holds, is kept and named. Returns ``{'removed': [...], 'kept': [(iid, why)], 'days': [...]}``.
    """
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine

    removed, kept, days = [], [], []
    problems = []
    for summary in store.list_instances(problems=problems):
        if str(summary.get('operation_date')) >= before or (frame and summary.get('frame') != frame):
            continue
        iid = summary['id']
        if summary.get('state') not in ENDED_STATES and summary.get('state') != State.NOT_SUBMITTED.value:
            kept.append((iid, 'it is %s, not ended: recover, rerun or init it first' % summary.get('state')))
            continue
        if preview:
            removed.append(iid)
            continue
        try:
            lease = engine.acquire(iid)
        except _engine.EngineError as exc:
            kept.append((iid, str(exc)))
            continue
        store.delete_instance(iid, lease)
        removed.append(iid)
    for problem in problems:
        kept.append((problem.get('instance') or '?', 'its record is damaged (%s); remove it by hand'
                     % problem.get('reason')))
    if frame is None:
        for key, record in store.list_schedule_records(DAY_PREFIX, problems=[]).items():
            if str(record.get('operation_date') or key.rsplit('/', 1)[-1]) < before:
                days.append(key)
                if not preview:
                    store.delete_schedule_record(key)
    return {'removed': removed, 'kept': kept, 'days': days}
