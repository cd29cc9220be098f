# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""States of frames, nets and jobs, and the one function that changes them.

The identifiers are exactly those of the recovery spec. Pure logic: this module imports nothing from
Ansible. Code elsewhere never compares raw state strings: it goes through :class:`State`, the groups below
and :func:`transition`, which checks every move against the rules of the operation (:class:`Op`) that makes it.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class State(str, Enum):
    """The 14 states of the spec. The comment on each value says who sets it."""

    # init / force_init operations, recovery with end_recover off; the state of every item before submit
    NOT_SUBMITTED = 'not_submitted'
    # submit (frame, net, job); release of pause_wait / skip_wait; rerun of an abnormal job; a frame's
    # standby ends at its start time; derived frame / net state while children wait
    WAITING = 'waiting'
    # submit of a frame with a future start_at (frame only); kept by recovery before the start time
    STANDBY = 'standby'
    # planner: start conditions met but no slot (host limit jobnet_max_running); rerun; release of paused
    QUEUING = 'queuing'
    # frame step: the job's host is unreachable at launch; recovery with recovery_skip on
    QUEUING_ENV_DOWN = 'queuing_env_down'
    # frame step after the launch call returned; force_start; derived frame / net state
    RUNNING = 'running'
    # frame step / recorder: the job ended with rc 0; derived frame / net state when all children succeeded
    NORMAL_END = 'normal_end'
    # frame step / recorder: rc != 0, a signal, a timeout, a failed launch; recovery of a job that was running
    # on the manager node; derived frame / net state
    ABNORMAL_END = 'abnormal_end'
    # derived (frame / net only): a child ended abnormally while others are still active
    HAS_ERRORS = 'has_errors'
    # submit of an item marked skip; skip operation on an item not started
    SKIP_WAIT = 'skip_wait'
    # planner: a skip_wait item whose start conditions are met; derived net state when it was skipped
    SKIP_END = 'skip_end'
    # submit of an item marked pause; pause operation on an item not started
    PAUSE_WAIT = 'pause_wait'
    # planner: a pause_wait item whose start conditions are met; held until release
    PAUSED = 'paused'
    # stop operation (frame / net only): nothing new starts
    STOPPED = 'stopped'

    def __str__(self):
        return self.value


class Kind(str, Enum):
    """What an item is."""

    FRAME = 'frame'
    NET = 'net'
    JOB = 'job'

    def __str__(self):
        return self.value


S = State


class HostState(str, Enum):
    """What a host's ``job_info`` says of an attempt (the job module's states)."""

    RUNNING = 'running'
    NORMAL_END = 'normal_end'
    ABNORMAL_END = 'abnormal_end'
    STOPPED = 'stopped'         # stopped on its host
    LOST = 'lost'               # its supervisor vanished without a result

    def __str__(self):
        return self.value


#: The item state each host state of an attempt ends in: the one mapping, for the driver and for recovery.
ITEM_STATE_OF_HOST = {
    HostState.RUNNING: State.RUNNING,
    HostState.NORMAL_END: State.NORMAL_END,
    HostState.ABNORMAL_END: State.ABNORMAL_END,
    HostState.STOPPED: State.ABNORMAL_END,   # stopped on its host: an abnormal end for the frame
    HostState.LOST: State.ABNORMAL_END,      # its supervisor vanished without a result
}

#: Ended for good: nothing more happens without an operator.
TERMINAL = frozenset({S.NORMAL_END, S.ABNORMAL_END, S.SKIP_END})
#: Satisfies a successor's ``after``.
SUCCESS = frozenset({S.NORMAL_END, S.SKIP_END})
#: Same as :data:`TERMINAL`.
ENDED = TERMINAL
#: Submitted and not ended, not held by an operator (paused, stopped are not active).
ACTIVE = frozenset({S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN, S.RUNNING, S.HAS_ERRORS, S.SKIP_WAIT,
                    S.PAUSE_WAIT, S.STANDBY})
#: Waiting for start conditions, whatever happens when they are met.
WAITING_LIKE = frozenset({S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT})

#: States a job can be in (11): no standby (frame only), has_errors and stopped (frame / net only).
JOB_STATES = frozenset(State) - {S.STANDBY, S.HAS_ERRORS, S.STOPPED}
#: States a net can be in (13): all but standby.
NET_STATES = frozenset(State) - {S.STANDBY}
#: States a frame can be in: all 14.
FRAME_STATES = frozenset(State)

STATES_BY_KIND = {
    Kind.FRAME: FRAME_STATES,
    Kind.NET: NET_STATES,
    Kind.JOB: JOB_STATES,
}

_ALL = frozenset(State)
_F = frozenset({Kind.FRAME})
_N = frozenset({Kind.NET})
_J = frozenset({Kind.JOB})
_FN = frozenset({Kind.FRAME, Kind.NET})
_NJ = frozenset({Kind.NET, Kind.JOB})
_FNJ = frozenset(Kind)


class Op(str, Enum):
    """What moves an item. A move is checked against the rules of its own operation only (:data:`RULES`).

    A frame or net following its children (``DERIVE``) is checked under ``(operation, Op.DERIVE)``, where the
    operation is the one the planner runs (:data:`CONTEXTS`): what a derive may do depends on what the operation
    changed before it (only an operation that reopens items lets a derive reopen an ended frame or net).
    """

    # submit: the instance is created and its items leave not_submitted
    SUBMIT = 'submit'
    # a standby frame reaches its start time
    START_TIME = 'start_time'
    # start conditions met: a waiting job queues, a waiting net runs, a skip / pause mark is applied (an item
    # skipped with its net or its frame included)
    CONDITIONS_MET = 'conditions_met'
    # what a launch call did: the job runs, its host is down or back, or the launch failed
    LAUNCH = 'launch'
    # the host reports that a job ended
    END = 'end'
    # the rerun operation: abnormal ends restart, stops are cleared
    RERUN = 'rerun'
    # the automatic rerun after recovery: stops are cleared, nothing that ended abnormally restarts
    AUTO_RERUN = 'auto_rerun'
    # init / force_init (whole frame, or one net / job)
    INIT = 'init'
    # the skip / pause / release operations (a net or job, or a whole frame before it starts)
    SKIP = 'skip'
    PAUSE = 'pause'
    RELEASE = 'release'
    # the stop operation (frame or net)
    STOP = 'stop'
    # force start of a job: its force mark is taken as soon as the planner advances
    FORCE_START = 'force_start'
    # recovery after a controller failure (tables 5.429-5.432; the records recovery decided)
    RECOVERY = 'recovery'
    # a driver's round (advance, launches, what the hosts said): an operation the planner runs, it moves nothing
    # itself; its moves are conditions_met, launch, end, ... and the derives within it
    STEP = 'step'
    # a frame or net follows its children: never a rule set of its own, always (operation, DERIVE)
    DERIVE = 'derive'

    def __str__(self):
        return self.value


#: The operations the planner runs, each with the derives that follow it (``(operation, Op.DERIVE)``).
CONTEXTS = frozenset({Op.SUBMIT, Op.STEP, Op.RERUN, Op.AUTO_RERUN, Op.INIT, Op.SKIP, Op.PAUSE, Op.RELEASE, Op.STOP,
                      Op.FORCE_START, Op.RECOVERY})


def derive_in(op):
    """The rule set of a frame or net following its children within the operation ``op``."""
    return (Op(op), Op.DERIVE)


class Rule(NamedTuple):
    """One row of :data:`RULES`: under ``op``, an item of one of ``kinds`` may go from any of ``sources`` to any of
    ``targets`` (the pairs valid for the kind). ``note`` says which code makes the move."""

    op: object          # an Op, or (Op, Op.DERIVE)
    kinds: frozenset
    sources: frozenset
    targets: frozenset
    note: str


def _rule(op, kinds, sources, targets, note):
    return Rule(op, frozenset(kinds), frozenset(sources), frozenset(targets), note)


def _derive(contexts, kinds, sources, targets, note):
    """The same derive rule within each of ``contexts``."""
    return tuple(_rule(derive_in(c), kinds, sources, targets, note)
                 for c in sorted(contexts, key=lambda o: o.value))


#: What a derive computes for a frame or net from its children (``Planner._derive_from``).
DERIVED = frozenset({S.RUNNING, S.HAS_ERRORS, S.NORMAL_END, S.ABNORMAL_END, S.PAUSED})

#: The allowed moves, as rows labelled with their operation (:class:`Rule`). A move is allowed when a row of ITS
#: operation has the pair (for a derive: a row of ``(operation, Op.DERIVE)``); same-state moves are no-ops.
RULES = (
    # ---- submit and the start of a frame
    _rule(Op.SUBMIT, _FNJ, {S.NOT_SUBMITTED}, {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT},
          'Planner.submit: each item and the frame to its mark (skip, pause) or waiting'),
    _rule(Op.SUBMIT, _F, {S.NOT_SUBMITTED}, {S.STANDBY}, 'Planner.submit: a frame before its start time'),
    _rule(Op.START_TIME, _F, {S.STANDBY}, {S.WAITING}, 'Planner.advance: the start time of a standby frame'),
    # ---- start conditions met (Planner._conditions_met, Planner._skip_frame at the start time)
    _rule(Op.CONDITIONS_MET, _J, {S.WAITING}, {S.QUEUING}, 'a job queues'),
    _rule(Op.CONDITIONS_MET, _N, {S.WAITING}, {S.RUNNING}, 'a net opens'),
    _rule(Op.CONDITIONS_MET, _FNJ, {S.SKIP_WAIT}, {S.SKIP_END}, 'a skip mark is applied'),
    _rule(Op.CONDITIONS_MET, _FNJ, {S.PAUSE_WAIT}, {S.PAUSED}, 'a pause mark is applied'),
    _rule(Op.CONDITIONS_MET, _NJ, {S.WAITING, S.PAUSE_WAIT, S.PAUSED}, {S.SKIP_END},
          'skipped with its net or its frame'),
    _rule(Op.CONDITIONS_MET, _J, {S.QUEUING}, {S.SKIP_END}, 'skipped with its frame: queued, never launched'),
    # ---- launch and end of a job (Planner.apply_job, launch_failed, host_down, host_back)
    _rule(Op.LAUNCH, _J, {S.QUEUING, S.QUEUING_ENV_DOWN}, {S.RUNNING, S.ABNORMAL_END},
          'the host started the attempt, or refused it'),
    _rule(Op.LAUNCH, _J, {S.QUEUING}, {S.QUEUING_ENV_DOWN}, 'the host is down'),
    _rule(Op.LAUNCH, _J, {S.QUEUING_ENV_DOWN}, {S.QUEUING}, 'the host answers again'),
    _rule(Op.END, _J, {S.RUNNING}, {S.NORMAL_END, S.ABNORMAL_END}, 'the host reports the end of the attempt'),
    # ---- rerun (Planner.rerun)
    _rule(Op.RERUN, _J, {S.ABNORMAL_END}, {S.WAITING}, 'an abnormal end restarts'),
    _rule(Op.RERUN, _J, {S.QUEUING_ENV_DOWN}, {S.QUEUING}, 'a job whose attempt never started queues again'),
    _rule(Op.RERUN, _N, {S.STOPPED}, {S.RUNNING}, 'a stopped net goes on'),
    _rule(Op.RERUN, _NJ, {S.NOT_SUBMITTED}, {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT},
          'items recovery put back (end_recover off) are submitted again'),
    _rule(Op.RERUN, _F, {S.NORMAL_END, S.ABNORMAL_END, S.STOPPED, S.PAUSED}, {S.RUNNING}, 'the frame runs again'),
    # ---- the automatic rerun after recovery (Planner.resume)
    _rule(Op.AUTO_RERUN, _FN, {S.STOPPED}, {S.RUNNING}, 'stops are cleared'),
    _rule(Op.AUTO_RERUN, _F, {S.SKIP_WAIT}, {S.SKIP_END}, 'table 5.429: a skip_wait frame is skipped'),
    _rule(Op.AUTO_RERUN, _NJ, {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT, S.PAUSED}, {S.SKIP_END}, 'skipped with its frame'),
    _rule(Op.AUTO_RERUN, _J, {S.QUEUING}, {S.SKIP_END}, 'skipped with its frame: queued, never launched'),
    # ---- init / force_init (Planner.init)
    _rule(Op.INIT, _FNJ, _ALL, {S.NOT_SUBMITTED}, 'back to not_submitted, from any state'),
    _rule(Op.INIT, _NJ, {S.NOT_SUBMITTED}, {S.WAITING}, 'a net or job put back into a submitted frame waits'),
    # ---- skip / pause / release (Planner.mark, Planner.mark_frame)
    _rule(Op.SKIP, _NJ, {S.WAITING, S.PAUSE_WAIT}, {S.SKIP_WAIT}, 'a net or job not started'),
    _rule(Op.SKIP, _J, {S.QUEUING}, {S.SKIP_WAIT}, 'a job queued, not launched'),
    _rule(Op.SKIP, _F, {S.STANDBY, S.WAITING, S.PAUSE_WAIT}, {S.SKIP_WAIT}, 'a frame not started'),
    _rule(Op.PAUSE, _NJ, {S.WAITING, S.SKIP_WAIT}, {S.PAUSE_WAIT}, 'a net or job not started'),
    _rule(Op.PAUSE, _J, {S.QUEUING}, {S.PAUSE_WAIT}, 'a job queued, not launched'),
    _rule(Op.PAUSE, _F, {S.STANDBY, S.WAITING, S.SKIP_WAIT}, {S.PAUSE_WAIT}, 'a frame not started'),
    _rule(Op.RELEASE, _FNJ, {S.SKIP_WAIT, S.PAUSE_WAIT}, {S.WAITING}, 'a mark is taken off'),
    _rule(Op.RELEASE, _F, {S.SKIP_WAIT, S.PAUSE_WAIT}, {S.STANDBY}, 'a frame before its start time'),
    _rule(Op.RELEASE, _J, {S.PAUSED}, {S.QUEUING}, 'a paused job queues'),
    _rule(Op.RELEASE, _N, {S.PAUSED}, {S.RUNNING}, 'a paused net opens'),
    _rule(Op.RELEASE, _F, {S.PAUSED}, {S.WAITING}, 'a frame paused before it started'),
    # ---- stop (Planner.stop)
    _rule(Op.STOP, _FN, ACTIVE | {S.PAUSED}, {S.STOPPED}, 'nothing new starts'),
    # ---- force start of a job (Planner._force_starts, when it advances after force_start)
    _rule(Op.FORCE_START, _J,
          {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT, S.PAUSED, S.QUEUING_ENV_DOWN, S.ABNORMAL_END}, {S.QUEUING},
          'the job queues, whatever holds it'),
    # ---- recovery (_recovery: tables 5.429-5.432, the write-ahead rows)
    _rule(Op.RECOVERY, _J, {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN}, {S.RUNNING},
          'an attempt found on its host (or on the manager node, ended as it ran there)'),
    _rule(Op.RECOVERY, _J, {S.RUNNING}, {S.NORMAL_END, S.ABNORMAL_END},
          'the end of an attempt fetched; a running manager-node job, or one its host does not have'),
    _rule(Op.RECOVERY, _J, {S.RUNNING, S.ABNORMAL_END, S.QUEUING}, {S.QUEUING_ENV_DOWN},
          'an unreachable host; recovery skip (table 5.432)'),
    _rule(Op.RECOVERY, _J, {S.WAITING, S.RUNNING, S.QUEUING_ENV_DOWN}, {S.QUEUING},
          'an attempt recorded launching, never started: queued again with the same attempt id; a second '
          'recovery of a job that never ran (5.432); waiting goes through queuing to queuing_env_down'),
    _rule(Op.RECOVERY, _J, {S.QUEUING_ENV_DOWN}, {S.ABNORMAL_END}, '5.432: its agent machine stopped'),
    _rule(Op.RECOVERY, _J, _ALL - {S.RUNNING}, {S.NOT_SUBMITTED},
          'reset: standby past its start time, end_recover off (a job that may run is refused before)'),
    _rule(Op.RECOVERY, _N, _ALL, {S.NOT_SUBMITTED}, 'reset: standby past its start time, end_recover off'),
    _rule(Op.RECOVERY, _F, {S.STANDBY, S.NORMAL_END, S.SKIP_END}, {S.NOT_SUBMITTED},
          'reset: standby past its start time, end_recover off'),
    # ---- frames and nets follow their children (Planner._derive_all), within the operation that runs. A derive
    # moves forward in every operation; it leaves an ended or held state only where the operation made an item
    # live again (items are dependent on siblings only, so an abnormal_end frame or net holds a failure itself)
    *_derive(CONTEXTS, _F, {S.WAITING}, {S.RUNNING, S.NORMAL_END, S.PAUSED},
             'a frame opens: its items queue, run, are skipped or paused'),
    *_derive(CONTEXTS, _FN, {S.RUNNING}, DERIVED, 'its items end, fail, or are held'),
    *_derive(CONTEXTS, _FN, {S.HAS_ERRORS}, {S.ABNORMAL_END}, 'what was still active ended, or is held'),
    *_derive(CONTEXTS, _FN, {S.WAITING, S.RUNNING, S.HAS_ERRORS, S.PAUSED}, {S.STOPPED}, 'its stop mark is taken'),
    *_derive({Op.RERUN}, _FN, {S.ABNORMAL_END}, {S.RUNNING, S.HAS_ERRORS, S.PAUSED},
             'abnormal ends wait again (behind a paused item: held)'),
    *_derive({Op.RERUN}, _FN, {S.HAS_ERRORS, S.PAUSED}, {S.RUNNING}, 'abnormal ends wait again, stops are cleared'),
    *_derive({Op.AUTO_RERUN, Op.RELEASE}, _FN, {S.ABNORMAL_END}, {S.HAS_ERRORS},
             'held items are live again beside a failure'),
    *_derive({Op.AUTO_RERUN, Op.RELEASE}, _FN, {S.PAUSED}, {S.RUNNING}, 'held items are live again'),
    *_derive({Op.FORCE_START}, _FN, {S.ABNORMAL_END, S.HAS_ERRORS, S.PAUSED}, {S.RUNNING, S.HAS_ERRORS},
             'a failed or held job queues'),
    *_derive({Op.INIT}, _FN, {S.ABNORMAL_END}, {S.RUNNING, S.HAS_ERRORS, S.PAUSED},
             'an item put back waits (under a stop: held)'),
    *_derive({Op.INIT}, _FN, {S.NORMAL_END}, {S.RUNNING, S.PAUSED}, 'an item put back waits (under a stop: held)'),
    *_derive({Op.INIT}, _FN, {S.HAS_ERRORS, S.PAUSED}, {S.RUNNING}, 'an item put back waits'),
    *_derive({Op.RECOVERY}, _FN, {S.ABNORMAL_END}, {S.RUNNING, S.HAS_ERRORS},
             'an abnormal_end job queuing_env_down (recovery skip); an ended item back to not_submitted '
             '(end_recover off)'),
    *_derive({Op.RECOVERY}, _FN, {S.HAS_ERRORS}, {S.RUNNING}, 'the failure is queuing_env_down (recovery skip)'),
    *_derive({Op.RECOVERY}, _FN, {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN}, DERIVED,
             'tables 5.429-5.430: a frame or net recorded in one of these states is re-derived'),
)


def _build_allowed(rules):
    keys = [op for op in Op if op is not Op.DERIVE] + [derive_in(c) for c in sorted(CONTEXTS, key=lambda o: o.value)]
    allowed = {(kind, op): {state: set() for state in STATES_BY_KIND[kind]} for kind in Kind for op in keys}
    for rule in rules:
        for kind in rule.kinds:
            valid = STATES_BY_KIND[kind]
            table = allowed[(kind, rule.op)]
            for source in rule.sources & valid:
                table[source].update(t for t in rule.targets & valid if t != source)
    return {key: {state: frozenset(targets) for state, targets in table.items()} for key, table in allowed.items()}


#: (kind, operation) -> {from state: frozenset(to states)}; the operation is an Op, or (Op, Op.DERIVE) for a
#: derive within that operation. Same-state moves are always allowed (no-ops) and not listed.
ALLOWED = _build_allowed(RULES)


class IllegalTransition(ValueError):
    """A move the rules of its operation do not allow, an unknown operation, or a state not valid for the kind."""

    def __init__(self, message, kind=None, path=None, current=None, new=None, reason='', operation=None):
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.current = current
        self.new = new
        self.reason = reason
        self.operation = operation


def _as_kind(kind):
    try:
        return Kind(kind)
    except ValueError:
        raise IllegalTransition('unknown item kind %r (allowed: %s)'
                                % (kind, ', '.join(k.value for k in Kind))) from None


def _as_operation(op):
    """An Op, or (Op in CONTEXTS, Op.DERIVE); IllegalTransition for anything else."""
    try:
        if isinstance(op, tuple) and len(op) == 2 and Op(op[1]) is Op.DERIVE and Op(op[0]) in CONTEXTS:
            return derive_in(op[0])
        if not isinstance(op, tuple) and Op(op) is not Op.DERIVE:
            return Op(op)
    except ValueError:
        pass
    raise IllegalTransition('unknown operation %r (allowed: %s; a derive is checked within the operation that '
                            'runs: (operation, derive), operation one of %s)'
                            % (op, ', '.join(o.value for o in Op if o is not Op.DERIVE),
                               ', '.join(sorted(c.value for c in CONTEXTS)))) from None


def operation_name(op):
    """How a message names an operation: ``rerun``, ``derive in step``."""
    if isinstance(op, tuple):
        return '%s in %s' % (op[1].value, op[0].value)
    return op.value


def transition(kind, op, path, current, new, *, reason=''):
    """Check a move of the item ``path`` of ``kind`` from ``current`` to ``new`` made by the operation ``op``;
    return ``new`` as a State.

    ``op`` is an :class:`Op` (or its value), or ``(operation, Op.DERIVE)`` for a frame or net that follows its
    children within that operation (:func:`derive_in`). Only the rules of that operation count. Raises
    IllegalTransition for a move they do not allow, an unknown state or operation, or a state not valid for the
    kind. A same-state move is a no-op and allowed (when the state is valid for the kind).
    """
    kind = _as_kind(kind)
    op = _as_operation(op)
    name = operation_name(op)
    suffix = ' (%s)' % name if not reason or reason == name else ' (%s: %s)' % (name, reason)
    head = '%s %r' % (kind.value, path)
    states = []
    for value in (current, new):
        try:
            states.append(State(value))
        except ValueError:
            raise IllegalTransition('%s: unknown state %r%s' % (head, value, suffix),
                                    kind, path, current, new, reason, op) from None
    current, new = states
    valid = STATES_BY_KIND[kind]
    for state in (current, new):
        if state not in valid:
            raise IllegalTransition('%s: cannot go from %s to %s: %s is not a state of a %s%s'
                                    % (head, current.value, new.value, state.value, kind.value, suffix),
                                    kind, path, current, new, reason, op)
    if new is current or new in ALLOWED[(kind, op)][current]:
        return new
    raise IllegalTransition('%s: cannot go from %s to %s%s' % (head, current.value, new.value, suffix),
                            kind, path, current, new, reason, op)


def can_transition(kind, op, current, new):
    """True when :func:`transition` would accept the move under ``op``."""
    try:
        transition(kind, op, '', current, new)
    except IllegalTransition:
        return False
    return True


def parse_state(value, *, where=''):
    """Read a state from a stored record; raise ValueError naming ``where`` and the allowed values."""
    if isinstance(value, State):
        return value
    try:
        return State(value)
    except ValueError:
        place = ' in %s' % where if where else ''
        raise ValueError('unknown state %r%s; allowed values: %s'
                         % (value, place, ', '.join(s.value for s in State))) from None
