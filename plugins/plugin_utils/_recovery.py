# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Recovery of frame instances after the controller failed: pure logic, no I/O, nothing from Ansible.

Input: the records as they were before the failure (one instance and its items), what the hosts answered about
the attempts recovery asked them about (:func:`attempts_to_poll` says which), and the options. Output: the new
records, the operator messages, the manager-node jobs to stop, and for every item the row of the spec's tables
that was applied (``spec/recovery.md``, tables 5.429-5.432). The tables are the dictionaries below, one entry
per row, so that a reader can hold them against the spec line by line.

Records are never changed in place: changed records are returned as new dicts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields as _dc_fields, replace as _dc_replace
from enum import Enum

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._messages import message
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import PHASES, Event, Instance, Item, Phase
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import (
    ITEM_STATE_OF_HOST,
    Op,
    State,
    transition,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime

__all__ = [
    'FRAME_TABLE', 'NET_TABLE', 'JOB_TABLE', 'SKIP_TABLE', 'REFUSED_DURING_RECOVERY',
    'IncompleteRecord', 'RecoveryOptions', 'RecoveryResult', 'Row',
    'all_done_message', 'attempts_to_poll', 'merge_polls', 'progress_message', 'recover_instance',
    'refusal_message', 'refused_operations', 'skip_message', 'start_message', 'store_write_error_message',
]

S = State

FRAME = 'frame'
NET = 'net'
JOB = 'job'
LAUNCHING = Phase.LAUNCHING.value   # the launch phases as the records hold them (_records.Phase)
LAUNCHED = Phase.LAUNCHED.value

#: States ``job_info`` reports for an attempt, and the item state each one ends in (``_states.ITEM_STATE_OF_HOST``).
JOB_INFO_STATES = {host.value: item for host, item in ITEM_STATE_OF_HOST.items()}


# ---------------------------------------------------------------------------------------------- messages

def start_message(iid):
    """PEX056: recovery of one frame instance starts."""
    return message('PEX056', iid=iid)


def progress_message(k, n, iid):
    """PEX058, printed by the engine after each frame: ``k`` of ``n`` frames recovered."""
    return message('PEX058', k=k, n=n, iid=iid)


def all_done_message(n):
    """PEX060, printed by the engine when every frame has been recovered."""
    return message('PEX060', n=n)


def skip_message():
    """PEX170: recovery runs with recovery_skip on."""
    return message('PEX170')


def store_write_error_message(detail):
    """PEX209: the state store cannot be written, as recovery's list of messages words it."""
    return message('PEX209/recovery', detail=detail)


#: Operations refused while the store is down or a recovery holds the instance (5.5.3.3 notes 14 and 15),
#: operation -> note number. Names are the playbooks' / frame_op's where they exist.
REFUSED_DURING_RECOVERY = {
    'suspend': 14,                      # suspend of a frame
    'force_init': 14,                   # force init of a frame
    'command_change': 15,               # change of a job's command
    'init': 15,                         # normal init of a frame; init of a net / job
    'force_start': 15,                  # force start of a net / job
    'delay_monitoring_change': 15,      # change of delay monitoring of a net / job
    'duration_monitoring_change': 15,   # change of duration monitoring of a net / job
    'stop': 15,                         # force stop of a job / net / frame
    'abnormal_action_change': 15,       # change of the abnormal-end action command
    'start_date_change': 15,            # change of a frame's start date
}


def refused_operations():
    """Operations the engine refuses during recovery: ``{operation: note number of 5.5.3.3}``."""
    return dict(REFUSED_DURING_RECOVERY)


def refusal_message(operation, iid):
    """The message for an operation refused during recovery (JNR110)."""
    note = REFUSED_DURING_RECOVERY.get(operation, 15)
    return message('JNR110', operation=operation, iid=iid, note=note)


# ---------------------------------------------------------------------------------------------- errors

class IncompleteRecord(ValueError):
    """A record recovery cannot trust: the engine refuses that instance and says which item and why."""

    def __init__(self, instance_id, path, problem):
        self.instance_id = instance_id
        self.path = path
        self.problem = problem
        where = 'frame instance %s' % instance_id
        if path:
            where += ', item %s' % path
        super().__init__('%s: %s; this instance is not recovered (fix or force_init it)' % (where, problem))


# ---------------------------------------------------------------------------------------------- options

_TRUE = frozenset({'y', 'yes', 'true', 'on', '1', 't'})
_FALSE = frozenset({'n', 'no', 'false', 'off', '0', 'f'})


def _boolean(value, key, where):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    place = ' in %s' % where if where else ''
    raise ValueError('recovery option %s%s: %r is not a boolean (use true/false, yes/no, y/n, on/off)'
                     % (key, place, value))


@dataclass(frozen=True)
class RecoveryOptions:
    """The recovery options of the spec (defaults as the original's), plus one extension."""

    recovery: bool = True               # フレームステータスリカバリ有無: recover state at all
    end_recover: bool = True            # SJ_PEX_END_RECOVER: off -> ended frames come back not_submitted
    auto_rerun: bool = True             # SJ_PEX_AUTORERUN: rerun every recovered frame right after recovery
    recovery_skip: bool = False         # リカバリ処理スキップ: do not contact agents
    adopt_manager_jobs: bool = False    # extension: adopt jobs on the manager node instead of ending them
    catch_up: bool = False              # extension: a standby frame whose start time passed starts (5.428 A-2)
    resource_reset: bool = False        # the original's notes 2 and 11: held resources and waiting order forgotten
    file_wait_reset: bool = False       # the original's note 1: a manual ON / OFF of a file-wait trigger is dropped

    @classmethod
    def names(cls):
        return tuple(f.name for f in _dc_fields(cls))

    @classmethod
    def from_mapping(cls, mapping, *, where='', base=None, ignore_unknown=False):
        """Options from a mapping of option name -> boolean-ish value (``None`` means unset).

        ``base`` (another RecoveryOptions) gives the values of unset keys (default: the spec's defaults), so
        layers stack: ``from_mapping(frame_opts, where=..., base=from_mapping(play_opts, where=...))``.
        An unknown key is an error naming ``where`` and the key unless ``ignore_unknown``.
        """
        base = base if base is not None else cls()
        if mapping is None:
            return base
        if not hasattr(mapping, 'items'):
            place = ' in %s' % where if where else ''
            raise ValueError('recovery options%s must be a mapping, not %r' % (place, mapping))
        known = cls.names()
        values = {}
        for key, value in mapping.items():
            if key not in known:
                if ignore_unknown:
                    continue
                place = ' in %s' % where if where else ''
                raise ValueError('unknown recovery option %r%s (known: %s)' % (key, place, ', '.join(known)))
            if value is None:
                continue
            values[key] = _boolean(value, key, where)
        return _dc_replace(base, **values)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.names()}


# ---------------------------------------------------------------------------------------------- results

@dataclass
class RecoveryResult:
    instance: dict | None = None                        # new instance record, or None when unchanged
    items: dict = field(default_factory=dict)           # path -> new item record (changed items only)
    messages: list = field(default_factory=list)        # operator messages, in order
    stop: list = field(default_factory=list)            # (host, attempt_id) of manager-node jobs to stop
    rows: dict = field(default_factory=dict)            # path ('' = the frame) -> the table row applied
    events: list = field(default_factory=list)          # state changes, as the planner's events


# ---------------------------------------------------------------------------------------------- the tables

class On(str, Enum):
    """Which variant of a job row applies (the second half of a job table key)."""

    ANY = 'any'                 # the row does not depend on the host
    MANAGER = 'manager'         # the job's host is the manager node (the controller itself)
    AGENT = 'agent'             # an agent node (an inventory host)
    ADOPTED = 'adopted'         # the manager node, with adopt_manager_jobs on: handled as an agent
    LAUNCHING = 'launching'     # an attempt recorded write-ahead, its launch never confirmed


@dataclass(frozen=True)
class Row:
    """One row of a table: where it comes from, the 'before the failure' column, and what recovery does."""

    table: str      # '5.429' ... '5.432', or the product's own ('write-ahead', 'extension', 'product')
    label: str      # the row as the spec words its first column
    action: str     # name of the action (see _ACTIONS)

    def __str__(self):
        return '%s %s' % (self.table, self.label)


#: Table 5.429: frame states. ``derive``: the engine re-derives the frame from its items afterwards (the
#: items carry the row's effect: e.g. a manager job becomes abnormal_end, so the frame derives abnormal_end).
FRAME_TABLE = {
    S.NOT_SUBMITTED: Row('5.429', 'not_submitted', 'keep'),
    S.WAITING: Row('5.429', 'waiting', 'derive'),
    S.NORMAL_END: Row('5.429', 'normal_end', 'keep_ended'),
    S.SKIP_END: Row('5.429', 'skip_end', 'keep_ended'),
    S.SKIP_WAIT: Row('5.429', 'skip_wait', 'keep'),
    S.STANDBY: Row('5.429', 'standby', 'by_start_time'),
    S.PAUSED: Row('5.429', 'paused', 'keep'),
    S.PAUSE_WAIT: Row('5.429', 'pause_wait', 'keep'),
    S.RUNNING: Row('5.429', 'running', 'derive_running'),
    S.ABNORMAL_END: Row('5.429', 'abnormal_end', 'derive'),
    S.HAS_ERRORS: Row('5.429', 'has_errors', 'derive'),
    S.STOPPED: Row('5.429', 'stopped', 'keep'),
    # not rows of 5.429: states the planner may derive for a frame; re-derived like running
    S.QUEUING: Row('product', 'queuing (derived): re-derived from its items', 'derive'),
    S.QUEUING_ENV_DOWN: Row('product', 'queuing_env_down (derived): re-derived from its items', 'derive'),
}

#: Refinements of a frame row (running with a job on the manager node / on agent nodes; standby before /
#: after its start time; ended frames with end_recover off).
FRAME_ROW_VARIANTS = {
    ('running', 'manager'): Row('5.429', 'running with a job on the manager node', 'derive'),
    ('running', 'agents'): Row('5.429', 'running with jobs on agent nodes', 'derive'),
    ('standby', 'before'): Row('5.429', 'standby, recovery ended before the start time', 'keep'),
    ('standby', 'after'): Row('5.429', 'standby, recovery ended after the start time', 'reset'),
    ('standby', 'catch_up'): Row('5.429', 'standby, recovery ended after the start time, catch_up on: it starts',
                                 'keep'),
    ('normal_end', 'end_recover off'): Row('5.429', 'normal_end (end_recover off: not_submitted)', 'reset'),
    ('skip_end', 'end_recover off'): Row('5.429', 'skip_end (end_recover off: not_submitted)', 'reset'),
}

#: Table 5.430: net states ("as frames, without the standby rows").
NET_TABLE = {
    S.NOT_SUBMITTED: Row('5.430', 'not_submitted', 'keep'),
    S.WAITING: Row('5.430', 'waiting', 'keep'),
    S.NORMAL_END: Row('5.430', 'normal_end', 'keep_ended'),
    S.SKIP_END: Row('5.430', 'skip_end', 'keep_ended'),
    S.SKIP_WAIT: Row('5.430', 'skip_wait', 'keep'),
    S.PAUSED: Row('5.430', 'paused', 'keep'),
    S.PAUSE_WAIT: Row('5.430', 'pause_wait', 'keep'),
    S.RUNNING: Row('5.430', 'running', 'derive_running'),
    S.ABNORMAL_END: Row('5.430', 'abnormal_end', 'keep'),
    S.HAS_ERRORS: Row('5.430', 'has_errors', 'keep'),
    S.STOPPED: Row('5.430', 'stopped', 'keep'),
    S.QUEUING: Row('product', 'queuing (derived): re-derived from its children', 'keep'),
    S.QUEUING_ENV_DOWN: Row('product', 'queuing_env_down (derived): re-derived from its children', 'keep'),
}

NET_ROW_VARIANTS = {
    ('running', 'manager'): Row('5.430', 'running with a job on the manager node', 'keep'),
    ('running', 'agents'): Row('5.430', 'running with jobs on agent nodes', 'keep'),
    ('normal_end', 'end_recover off'): Row('5.430', 'normal_end (end_recover off: not_submitted)', 'reset'),
    ('skip_end', 'end_recover off'): Row('5.430', 'skip_end (end_recover off: not_submitted)', 'reset'),
}

#: Table 5.431 (job states), keyed by (state before the failure, On), plus the product's rows for attempts
#: recorded write-ahead, the adopt_manager_jobs extension, and the second, normal recovery of 5.432.
#: Lookup: (state, on) first, then (state, On.ANY).
JOB_TABLE = {
    (S.NOT_SUBMITTED, On.ANY): Row('5.431', 'not_submitted', 'keep'),
    (S.WAITING, On.ANY): Row('5.431', 'waiting', 'keep'),
    (S.NORMAL_END, On.ANY): Row('5.431', 'normal_end', 'keep_ended'),
    (S.SKIP_END, On.ANY): Row('5.431', 'skip_end', 'keep_ended'),
    (S.SKIP_WAIT, On.ANY): Row('5.431', 'skip_wait', 'keep'),
    (S.PAUSED, On.ANY): Row('5.431', 'paused', 'keep'),
    (S.PAUSE_WAIT, On.ANY): Row('5.431', 'pause_wait', 'keep'),
    (S.RUNNING, On.MANAGER): Row('5.431', 'running on the manager node', 'end_manager_job'),
    (S.RUNNING, On.AGENT): Row('5.431', 'running on an agent node', 'take_fetched'),
    (S.ABNORMAL_END, On.ANY): Row('5.431', 'abnormal_end', 'fetch_only'),
    (S.QUEUING, On.ANY): Row('5.431', 'queuing', 'keep'),
    # 5.432, third column: a queuing_env_down job (left by a recovery skip or an unreachable host)
    (S.QUEUING_ENV_DOWN, On.ANY): Row('5.432', 'queuing_env_down, second (normal) recovery', 'resolve_env_down'),
    # write-ahead: an attempt recorded launching, its launch never confirmed (resolved like running)
    (S.QUEUING, On.LAUNCHING): Row('write-ahead', 'queuing, attempt launching', 'resolve_launching'),
    (S.WAITING, On.LAUNCHING): Row('write-ahead', 'waiting, attempt launching', 'resolve_launching'),
    # extension adopt_manager_jobs: a manager-node job is adopted like an agent's
    (S.RUNNING, On.ADOPTED): Row('extension', 'running on the manager node, adopted (adopt_manager_jobs)',
                                 'take_fetched'),
}

#: Table 5.432, second column: what a recovery skip does differently; every other row is "as a normal
#: recovery" (JOB_TABLE), with no host contacted.
SKIP_TABLE = {
    (S.RUNNING, On.AGENT): Row('5.432', 'running (recovery skip)', 'to_env_down'),
    (S.RUNNING, On.ADOPTED): Row('5.432', 'running on the manager node, adopted (recovery skip)', 'to_env_down'),
    (S.ABNORMAL_END, On.AGENT): Row('5.432', 'abnormal_end (recovery skip)', 'to_env_down'),
    (S.ABNORMAL_END, On.ADOPTED): Row('5.432', 'abnormal_end on the manager node, adopted (recovery skip)',
                                      'to_env_down'),
}

#: Every item of an instance that is reset (standby past its start time, ended frame with end_recover off)
#: takes the frame's row.
RECOVERY_OFF = 'recovery off'


# ---------------------------------------------------------------------------------------------- probes

class Probe(str, Enum):
    """What recovery knows about an attempt from its host."""

    FOUND = 'found'             # the host has it (job dict available)
    MISSING = 'missing'         # the host answered and does not have it
    UNREACHABLE = 'unreachable'  # the host could not be reached
    NOT_ASKED = 'not asked'     # recovery skip, or no attempt id


def _where(item, manager_hosts, options):
    if item['host'] in manager_hosts:
        return On.ADOPTED if options.adopt_manager_jobs else On.MANAGER
    return On.AGENT


def _needs_poll(item, on):
    """True when recovery must ask the job's host about its attempt (same rule for the engine and here)."""
    if item['kind'] != JOB or not item.get('attempt_id'):
        return False
    state = State(item['state'])
    if item.get('phase') == LAUNCHING:
        return state in (S.QUEUING, S.WAITING, S.RUNNING, S.QUEUING_ENV_DOWN)
    if state == S.RUNNING:
        return on != On.MANAGER          # a manager-node job is ended and stopped, not asked about
    return state in (S.QUEUING_ENV_DOWN, S.ABNORMAL_END)


def attempts_to_poll(instance, items, *, manager_hosts=frozenset({'localhost'}), options=None):
    """host -> sorted attempt ids recovery needs to know about for this instance.

    The engine merges these over every instance (:func:`merge_polls`) and makes one ``job_info`` call per
    host. Nothing is asked under ``recovery_skip`` or with ``recovery`` off (``options``; default options
    when None). Records are validated as by :func:`recover_instance`.
    """
    options = options if options is not None else RecoveryOptions()
    if not options.recovery or options.recovery_skip:
        return {}
    _validate(instance, items, manager_hosts)
    polls = {}
    for item in items.values():
        if item['kind'] == JOB and _needs_poll(item, _where(item, manager_hosts, options)):
            polls.setdefault(item['host'], set()).add(item['attempt_id'])
    return {host: sorted(ids) for host, ids in sorted(polls.items())}


def merge_polls(*polls):
    """Merge several :func:`attempts_to_poll` answers into one: host -> sorted attempt ids."""
    merged = {}
    for poll in polls:
        for host, ids in poll.items():
            merged.setdefault(host, set()).update(ids)
    return {host: sorted(ids) for host, ids in sorted(merged.items())}


# ---------------------------------------------------------------------------------------------- validation

_ITEM_KEYS = ('path', 'kind', 'parent', 'state', 'flags')
_JOB_KEYS = ('host', 'attempt', 'attempt_id', 'phase')
_VALID = {
    FRAME: frozenset(FRAME_TABLE),
    NET: frozenset(NET_TABLE),
    JOB: frozenset(state for state, _on in JOB_TABLE),
}


def _parse_state(value, kind, iid, path):
    try:
        state = State(value)
    except ValueError:
        raise IncompleteRecord(iid, path, 'unknown state %r (allowed: %s)'
                               % (value, ', '.join(s.value for s in State))) from None
    if state not in _VALID[kind]:
        raise IncompleteRecord(iid, path, 'state %s is not a state of a %s' % (state.value, kind))
    return state


def _validate(instance, items, manager_hosts):
    if not isinstance(instance, dict):
        raise IncompleteRecord('?', '', 'the instance record is not a mapping: %r' % (instance,))
    iid = instance.get('id')
    if not isinstance(iid, str) or not iid:
        raise IncompleteRecord(repr(iid), '', 'the instance record has no id')
    for key in ('frame', 'state'):
        if key not in instance:
            raise IncompleteRecord(iid, '', 'the instance record has no %r' % key)
    _parse_state(instance['state'], FRAME, iid, '')
    if not isinstance(items, dict):
        raise IncompleteRecord(iid, '', 'the items are not a mapping of path -> item')
    for key, item in items.items():
        if not isinstance(item, dict):
            raise IncompleteRecord(iid, key, 'the item record is not a mapping')
        missing = [k for k in _ITEM_KEYS if k not in item]
        if item.get('kind') == JOB:
            missing += [k for k in _JOB_KEYS if k not in item]
        if missing:
            raise IncompleteRecord(iid, key, 'missing %s' % ', '.join(missing))
        if item['path'] != key:
            raise IncompleteRecord(iid, key, 'recorded under %r but its path is %r' % (key, item['path']))
        if item['kind'] not in (NET, JOB):
            raise IncompleteRecord(iid, key, 'unknown kind %r (net or job)' % (item['kind'],))
        if not isinstance(item['flags'], dict):
            raise IncompleteRecord(iid, key, 'flags is not a mapping')
        parent = item['parent']
        if parent and (parent not in items or items[parent].get('kind') != NET):
            raise IncompleteRecord(iid, key, 'its parent %r is not a net of this instance' % (parent,))
        state = _parse_state(item['state'], item['kind'], iid, key)
        if item['kind'] != JOB:
            continue
        if not isinstance(item['host'], str) or not item['host']:
            raise IncompleteRecord(iid, key, 'a job without a host')
        if isinstance(item['attempt'], bool) or not isinstance(item['attempt'], int) or item['attempt'] < 0:
            raise IncompleteRecord(iid, key, 'attempt %r is not a count' % (item['attempt'],))
        if item['phase'] not in PHASES:
            raise IncompleteRecord(iid, key, 'unknown phase %r (null, launching, launched)' % (item['phase'],))
        if item['phase'] is not None and not item['attempt_id']:
            raise IncompleteRecord(iid, key, 'phase %s without an attempt_id' % item['phase'])
        if state == S.RUNNING and not item['attempt_id'] and item['host'] not in manager_hosts:
            raise IncompleteRecord(iid, key, 'running on %s without an attempt_id: its job cannot be found'
                                   % item['host'])


# ---------------------------------------------------------------------------------------------- actions

@dataclass
class _Out:
    """What an action decided for one item."""

    state: State | None = None      # new state (None: unchanged)
    via: tuple = ()                 # states walked through first (each move goes through transition())
    fields: dict = field(default_factory=dict)
    message: str = ''               # operator message (also stored in the item's message)
    stop: bool = False              # a manager-node job to stop


@dataclass
class _Ctx:
    iid: str
    options: RecoveryOptions
    skip: bool
    fetched: dict
    unreachable: frozenset
    manager_hosts: frozenset
    now_text: str


def _probe(ctx, item):
    aid = item.get('attempt_id')
    if ctx.skip or not aid:
        return Probe.NOT_ASKED, None
    if item['host'] in ctx.unreachable:
        return Probe.UNREACHABLE, None
    job = ctx.fetched.get(aid)
    if job is None:
        return Probe.MISSING, None
    if not isinstance(job, dict) or job.get('state') not in JOB_INFO_STATES:
        raise IncompleteRecord(ctx.iid, item['path'], '%s answered for attempt %s with an unknown job state %r '
                               '(known: %s)' % (item['host'], aid, job.get('state') if isinstance(job, dict)
                                                else job, ', '.join(JOB_INFO_STATES)))
    return Probe.FOUND, job


def _keep(ctx, item, on):
    return _Out()


def _keep_ended(ctx, item, on):
    if ctx.options.end_recover:
        return _Out()
    return _Out(state=S.NOT_SUBMITTED, fields=_reset_fields(item))


def _reset_fields(item):
    # the attempt counter only grows: a later run takes attempt + 1, never an id used before
    return Item.cleared_attempt(item['kind'], message='end_recover off: not_submitted')


def _end_manager_job(ctx, item, on):
    aid = item.get('attempt_id')
    text = message('JNR101', path=item['path'], host=item['host'],
                   stopping=' (its attempt %s is stopped)' % aid if aid else '')
    via = (S.RUNNING,) if State(item['state']) != S.RUNNING else ()
    return _Out(state=S.ABNORMAL_END, via=via, stop=bool(aid), message=text,
                fields={'ended': ctx.now_text, 'rc': None, 'signal': None, 'message': text,
                        'phase': LAUNCHED if aid else item.get('phase')})


def _adopt(ctx, item, on, job):
    """Take the state the host reports for the attempt."""
    current = State(item['state'])
    new = JOB_INFO_STATES[job['state']]
    if new == S.RUNNING and on == On.MANAGER:
        return _end_manager_job(ctx, item, on)
    started = job.get('started') or item.get('started')
    fields = {'phase': LAUNCHED, 'started': started}
    via = ()
    if new == S.RUNNING:
        return _Out(state=S.RUNNING, fields=fields)
    if current != S.RUNNING:
        via = (S.RUNNING,)   # it did run: the move is recorded as start then end, as during a normal run
    fields.update({'rc': job.get('rc'), 'signal': job.get('signal'), 'ended': job.get('ended') or ctx.now_text})
    if new == S.NORMAL_END:
        fields['message'] = ''
        return _Out(state=new, via=via, fields=fields)
    how = _how(job)
    fields['message'] = how
    return _Out(state=new, via=via, fields=fields,
                message=message('JNR106', path=item['path'], aid=item['attempt_id'], how=how))


def _how(job):
    state = job['state']
    if state == 'stopped':
        return 'stopped on its host: abnormal_end'
    if state == 'lost':
        return 'lost: its supervisor vanished without a result: abnormal_end'
    text = 'ended with rc %s' % job.get('rc')
    if job.get('signal'):
        text += ' signal %s' % job['signal']
    return text + ': abnormal_end'


def _env_down(ctx, item, why):
    current = State(item['state'])
    via = (S.QUEUING,) if current == S.WAITING else ()   # waiting -> queuing_env_down goes through queuing
    return _Out(state=S.QUEUING_ENV_DOWN, via=via, fields={'message': why}, message=why)


def _unreachable(ctx, item):
    return _env_down(ctx, item, message('JNR102', path=item['path'], host=item['host']))


def _never_started(ctx, item):
    """A write-ahead attempt the host does not have (yet): it is queued again with the same attempt.

    The attempt id, number and phase ``launching`` are kept, so the planner launches the very same attempt id
    again. A launch call of the dead controller may still be on its way to the host (its worker outlived it):
    whichever of the two arrives second finds the attempt's folder and starts nothing, so it runs once.
    """
    text = message('JNR105', path=item['path'], aid=item['attempt_id'], host=item['host'])
    return _Out(state=S.QUEUING, fields={'phase': LAUNCHING, 'message': text}, message=text)


def _take_fetched(ctx, item, on):
    """5.431 running on an agent node: its state is fetched and taken."""
    probe, job = _probe(ctx, item)
    if probe == Probe.FOUND:
        return _adopt(ctx, item, on, job)
    if probe == Probe.MISSING:
        if item.get('phase') == LAUNCHING:
            return _never_started(ctx, item)
        text = message('JNR103', path=item['path'], aid=item['attempt_id'], host=item['host'])
        return _Out(state=S.ABNORMAL_END, message=text,
                    fields={'ended': ctx.now_text, 'message': text, 'phase': LAUNCHED})
    # unreachable, or not asked (recovery skip reached this row only through an adopted manager job)
    return _unreachable(ctx, item)


def _fetch_only(ctx, item, on):
    """5.431 abnormal_end: state fetched only, nothing restarted; rc / signal / ended refreshed if found."""
    probe, job = _probe(ctx, item)
    if probe == Probe.FOUND and job['state'] == 'running' and on == On.MANAGER:
        # recorded abnormal_end by a recovery that died before it could stop the attempt: it is stopped now
        return _Out(stop=True)
    if probe != Probe.FOUND or JOB_INFO_STATES[job['state']] != S.ABNORMAL_END:
        return _Out()   # nothing to refresh (a host that says otherwise does not make it succeed)
    fields = {'rc': job.get('rc'), 'signal': job.get('signal')}
    if job.get('ended'):
        fields['ended'] = job['ended']
    return _Out(fields=fields)


def _to_env_down(ctx, item, on):
    """5.432 recovery skip: running and abnormal_end jobs become queuing_env_down (no agent contacted)."""
    if State(item['state']) == S.ABNORMAL_END and not item.get('attempt_id'):
        return _Out()   # nothing on a host to ask about later: it stays abnormal_end (as a normal recovery)
    why = 'recovery skip: %s not contacted' % item['host']
    return _Out(state=S.QUEUING_ENV_DOWN, fields={'message': why})


def _resolve_env_down(ctx, item, on):
    """5.432 third column: a queuing_env_down job in a normal recovery."""
    probe, job = _probe(ctx, item)
    if probe == Probe.NOT_ASKED:
        if ctx.skip:
            return _Out()   # still not contacted: stays queuing_env_down
        return _Out(state=S.QUEUING, fields={'message': ''})   # no attempt: it never ran, it queues again
    if probe == Probe.UNREACHABLE:
        text = message('JNR102', path=item['path'], host=item['host'])
        return _Out(fields={'message': text}, message=text)
    if probe == Probe.FOUND and not (job['state'] == 'lost' and item.get('phase') != LAUNCHING):
        return _adopt(ctx, item, on, job)
    if probe == Probe.MISSING and item.get('phase') == LAUNCHING:
        return _never_started(ctx, item)
    # its agent machine stopped: the attempt is gone from the host, or its folder survived without a result
    text = message('JNR104', path=item['path'], aid=item['attempt_id'], host=item['host'])
    return _Out(state=S.ABNORMAL_END, message=text,
                fields={'ended': ctx.now_text, 'message': text, 'phase': LAUNCHED})


def _resolve_launching(ctx, item, on):
    """An attempt recorded launching (write-ahead) whose launch was never confirmed: resolved like running."""
    probe, job = _probe(ctx, item)
    if probe == Probe.FOUND:
        return _adopt(ctx, item, on, job)
    if probe == Probe.MISSING:
        return _never_started(ctx, item)
    if probe == Probe.UNREACHABLE:
        return _unreachable(ctx, item)
    # recovery skip: the host is not asked
    if on == On.MANAGER:
        return _Out()   # stays launching: the next launch of the same id is idempotent (adopts it if it runs)
    return _env_down(ctx, item, 'recovery skip: %s not contacted' % item['host'])


_ACTIONS = {
    'keep': _keep,
    'keep_ended': _keep_ended,
    'end_manager_job': _end_manager_job,
    'take_fetched': _take_fetched,
    'fetch_only': _fetch_only,
    'to_env_down': _to_env_down,
    'resolve_env_down': _resolve_env_down,
    'resolve_launching': _resolve_launching,
}


# ---------------------------------------------------------------------------------------------- recovery

def _moves(kind, path, current, out, reason):
    """Walk current -> via... -> new through transition() (the rules of recovery); return the states passed, in
    order."""
    states = []
    for step in tuple(out.via) + (out.state,):
        if step is None or step == current:
            continue
        transition(kind, Op.RECOVERY, path, current, step, reason=reason)
        states.append((current, step))
        current = step
    return states


def _apply(ctx, result, item, row, out, kind=None):
    kind = kind or item['kind']
    current = State(item['state'])
    changed = dict(item)
    changed['flags'] = dict(item.get('flags') or {})
    for key, value in out.fields.items():
        changed[key] = value
    reason = 'recovery: %s' % row
    moves = _moves(kind, item['path'], current, out, reason)
    if moves:
        changed['state'] = moves[-1][1].value
    for old, new in moves:
        result.events.append(Event.new(item['path'], kind, item.get('host'), old, new, reason,
                                       item.get('attempt_id'), ctx.now_text).to_dict())
    if out.message:
        result.messages.append(out.message)
    if out.stop:
        result.stop.append((item['host'], item['attempt_id']))
    if changed != item:
        changed['updated'] = ctx.now_text
        result.items[item['path']] = changed


def _has_manager_job_running(paths, items, manager_hosts, options):
    if options.adopt_manager_jobs:
        return False
    return any(items[p]['kind'] == JOB and State(items[p]['state']) == S.RUNNING
               and items[p]['host'] in manager_hosts for p in paths)


def _descendants(items):
    children = {}
    for path, item in items.items():
        children.setdefault(item['parent'] or '', []).append(path)

    def below(path):
        for child in children.get(path, []):
            yield child
            yield from below(child)
    return below


def _in_flight(item):
    """A job that may be running on its host: recovery must not forget it."""
    if item['kind'] != JOB:
        return False
    state = State(item['state'])
    return item.get('phase') == LAUNCHING or state == S.RUNNING or (
        state == S.QUEUING_ENV_DOWN and bool(item.get('attempt_id')))


def _frame_row(instance, items, options, manager_hosts, now, start_at):
    state = State(instance['state'])
    row = FRAME_TABLE[state]
    if row.action == 'derive_running':
        which = 'manager' if _has_manager_job_running(items, items, manager_hosts, options) else 'agents'
        return FRAME_ROW_VARIANTS[(state.value, which)]
    if row.action == 'by_start_time':
        before = start_at is None or now < start_at
        if not before and options.catch_up:
            return FRAME_ROW_VARIANTS[('standby', 'catch_up')]
        return FRAME_ROW_VARIANTS[('standby', 'before' if before else 'after')]
    if row.action == 'keep_ended' and not options.end_recover:
        return FRAME_ROW_VARIANTS[(state.value, 'end_recover off')]
    return row


def _reset_all(ctx, result, instance, items, row, text):
    """Frame and every item back to not_submitted (5.429 standby past its start time; end_recover off)."""
    for path in sorted(items):
        item = items[path]
        if _in_flight(item):
            raise IncompleteRecord(ctx.iid, path, 'the frame is %s but this job is %s%s: recovery will not '
                                   'forget a job that may run' % (instance['state'], item['state'],
                                                                  ' (launching)' if item.get('phase') else ''))
    for path in sorted(items):
        item = items[path]
        fields = _reset_fields(item)
        fields['message'] = text
        if item['kind'] == NET:
            fields['opened'] = False
        _apply(ctx, result, item, row, _Out(state=S.NOT_SUBMITTED, fields=fields))
        result.rows[path] = str(row)
    new = dict(instance)
    new['flags'] = dict(instance.get('flags') or {})
    new['flags']['stopped'] = False
    new.update(Instance.cleared_run())
    moves = _moves(FRAME, instance.get('frame', ctx.iid), State(instance['state']),
                   _Out(state=S.NOT_SUBMITTED), 'recovery: %s' % row)
    for old, to in moves:
        result.events.append(Event.new('', FRAME, None, old, to, 'recovery: %s' % row, None,
                                       ctx.now_text).to_dict())
    new['state'] = S.NOT_SUBMITTED.value
    new['updated'] = ctx.now_text
    result.instance = new


def recover_instance(instance, items, *, fetched, unreachable, options, now, start_at=None,
                     manager_hosts=frozenset({'localhost'})):
    """Apply tables 5.429-5.432 to one frame instance; return a :class:`RecoveryResult`.

    ``fetched``: attempt id -> job dict from ``job_info`` (id, state, rc, signal, started, ended) for every
    attempt found on a reachable host; an attempt asked of a reachable host and absent here is not on that host.
    ``None`` exactly when ``options.recovery_skip`` is on. ``unreachable``: hosts that could not be reached.
    ``now`` and ``start_at``: aware datetimes. Raises :class:`IncompleteRecord` for records recovery cannot
    trust (nothing is changed then).

    ``messages`` holds the per-job and per-frame messages (and PEX170 under recovery skip); the engine prints
    PEX056 (:func:`start_message`), PEX058 and PEX060 itself. ``events`` lists every state change in the
    planner's event format. Frame and net states other than those the tables fix are left for the engine to
    re-derive from the items.
    """
    if now is None or now.tzinfo is None:
        raise ValueError('recover_instance: now must be an aware datetime, not %r' % (now,))
    if start_at is not None and start_at.tzinfo is None:
        raise ValueError('recover_instance: start_at must be an aware datetime, not %r' % (start_at,))
    if not isinstance(options, RecoveryOptions):
        raise TypeError('recover_instance: options must be RecoveryOptions, not %r' % (options,))
    manager_hosts = frozenset(manager_hosts)
    result = RecoveryResult()
    iid = instance.get('id') if isinstance(instance, dict) else None

    if not options.recovery:
        if not isinstance(iid, str) or not iid:
            raise IncompleteRecord(repr(iid), '', 'the instance record has no id')
        result.messages.append(message('JNR109', iid=iid))
        result.rows[''] = RECOVERY_OFF
        for path in items:
            result.rows[path] = RECOVERY_OFF
        return result

    if options.recovery_skip and fetched is not None:
        raise ValueError('recover_instance %s: fetched must be None under recovery_skip (agents are not '
                         'contacted)' % iid)
    if not options.recovery_skip and fetched is None:
        raise ValueError('recover_instance %s: fetched is None but recovery_skip is off: pass the job_info '
                         'answers ({} when nothing was asked)' % iid)
    _validate(instance, items, manager_hosts)
    items = copy.deepcopy(items)
    instance = copy.deepcopy(instance)

    ctx = _Ctx(iid=iid, options=options, skip=options.recovery_skip, fetched=fetched or {},
               unreachable=frozenset(unreachable or ()), manager_hosts=manager_hosts, now_text=isotime(now))
    if ctx.skip:
        result.messages.append(skip_message())

    frame_row = _frame_row(instance, items, options, manager_hosts, now, start_at)
    result.rows[''] = str(frame_row)
    if frame_row.action == 'reset':
        state = State(instance['state'])
        if state == S.STANDBY:
            text = message('JNR107', iid=iid, start_at=isotime(start_at) if start_at else '?')
        else:
            text = message('JNR108', iid=iid, state=state.value)
        _reset_all(ctx, result, instance, items, frame_row, text)
        result.messages.append(text)
        return result

    below = _descendants(items)
    for path in _ordered(items):
        item = items[path]
        if item['kind'] == NET:
            row = _net_row(item, list(below(path)), items, options, manager_hosts)
            out = _keep_ended(ctx, item, On.ANY) if row.action == 'reset' else _Out()
            if row.action == 'reset':
                out.fields['opened'] = False
            _apply(ctx, result, item, row, out)
            result.rows[path] = str(row)
            continue
        on = _where(item, manager_hosts, options)
        row, on = _job_row_for(item, on, ctx.skip)
        out = _ACTIONS[row.action](ctx, item, on)
        _apply(ctx, result, item, row, out)
        result.rows[path] = str(row)
    return result


def _net_row(item, below, items, options, manager_hosts):
    state = State(item['state'])
    row = NET_TABLE[state]
    if row.action == 'derive_running':
        which = 'manager' if _has_manager_job_running(below, items, manager_hosts, options) else 'agents'
        return NET_ROW_VARIANTS[(state.value, which)]
    if row.action == 'keep_ended' and not options.end_recover:
        return NET_ROW_VARIANTS[(state.value, 'end_recover off')]
    return row


def _job_row_for(item, on, skip):
    """The row of a job: (state, on) in SKIP_TABLE (recovery skip), then JOB_TABLE; returns (row, on)."""
    state = State(item['state'])
    key_on = On.LAUNCHING if item.get('phase') == LAUNCHING and state in (S.QUEUING, S.WAITING) else on
    if skip:
        row = SKIP_TABLE.get((state, key_on))
        if row is not None:
            return row, on
    row = JOB_TABLE.get((state, key_on)) or JOB_TABLE[(state, On.ANY)]
    return row, on


def _ordered(items):
    """Paths in a stable order: by depth then name (the store's order does not matter for the result)."""
    return sorted(items, key=lambda p: (p.count('/'), p))
