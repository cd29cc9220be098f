# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""States of frames, nets and jobs, and the one function that changes them.

The identifiers are exactly those of the recovery spec. Pure logic: this module imports nothing from
Ansible. Code elsewhere never compares raw state strings: it goes through :class:`State`, the groups below
and :func:`transition`.
"""

from __future__ import annotations

from enum import Enum


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
_FN = frozenset({Kind.FRAME, Kind.NET})
_J = frozenset({Kind.JOB})
_FNJ = frozenset(Kind)

#: States a frame or net takes as its children change (computed by the planner).
DERIVED = frozenset({S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN, S.RUNNING, S.HAS_ERRORS, S.NORMAL_END,
                     S.ABNORMAL_END, S.SKIP_END, S.PAUSED})

#: The allowed moves, one rule per operation: (operation, kinds, from states, to states).
#: Every (from, to) pair of a rule is allowed for each of its kinds, when both states are valid for the kind.
RULES = (
    # submit: the instance is created and its items leave not_submitted
    ('submit', _FNJ, {S.NOT_SUBMITTED}, {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT}),
    ('submit with start_at', frozenset({Kind.FRAME}), {S.NOT_SUBMITTED}, {S.STANDBY}),
    ('start time reached', frozenset({Kind.FRAME}), {S.STANDBY}, {S.WAITING, S.SKIP_WAIT, S.PAUSE_WAIT}),
    # start conditions met
    ('start conditions met', _FNJ, {S.WAITING}, {S.QUEUING, S.RUNNING}),
    ('start conditions met (skip)', _FNJ, {S.SKIP_WAIT}, {S.SKIP_END}),
    ('start conditions met (pause)', _FNJ, {S.PAUSE_WAIT}, {S.PAUSED}),
    # launch of a job
    ('launch', _J, {S.QUEUING}, {S.RUNNING, S.QUEUING_ENV_DOWN}),
    ('launch (host back)', _J, {S.QUEUING_ENV_DOWN}, {S.QUEUING, S.RUNNING}),
    ('launch failed', _J, {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN}, {S.ABNORMAL_END}),
    # end of a job
    ('end', _J, {S.RUNNING}, {S.NORMAL_END, S.ABNORMAL_END}),
    # rerun restarts abnormal jobs; stopped frames / nets re-derive
    ('rerun', _J, {S.ABNORMAL_END}, {S.WAITING, S.QUEUING}),
    ('rerun', _FN, {S.ABNORMAL_END, S.HAS_ERRORS}, {S.WAITING, S.RUNNING}),
    ('rerun (stopped)', _FN, {S.STOPPED}, DERIVED | {S.SKIP_WAIT, S.PAUSE_WAIT}),
    # init / force_init
    ('init', _FNJ, _ALL, {S.NOT_SUBMITTED}),
    # skip / pause of an item that has not started
    ('skip / pause', _FNJ, {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN}, {S.SKIP_WAIT, S.PAUSE_WAIT}),
    ('skip / pause (change the mark)', _FNJ, {S.SKIP_WAIT, S.PAUSE_WAIT}, {S.SKIP_WAIT, S.PAUSE_WAIT}),
    ('skip (conditions already met, or the net is skipped)', _FNJ,
     {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN, S.PAUSE_WAIT, S.PAUSED}, {S.SKIP_END}),
    # skip / pause / release of a whole frame before it starts
    ('skip / pause (frame before its start time)', frozenset({Kind.FRAME}), {S.STANDBY}, {S.SKIP_WAIT, S.PAUSE_WAIT}),
    ('release (frame before its start time)', frozenset({Kind.FRAME}), {S.SKIP_WAIT, S.PAUSE_WAIT}, {S.STANDBY}),
    # release
    ('release', _FNJ, {S.PAUSE_WAIT, S.SKIP_WAIT}, {S.WAITING}),
    ('release (paused)', _FNJ, {S.PAUSED}, {S.QUEUING, S.RUNNING, S.WAITING}),
    # stop of a frame or net
    ('stop', _FN, ACTIVE | {S.PAUSED}, {S.STOPPED}),
    # force_start of a job
    ('force_start', _J,
     {S.WAITING, S.QUEUING, S.QUEUING_ENV_DOWN, S.PAUSED, S.PAUSE_WAIT, S.SKIP_WAIT, S.ABNORMAL_END},
     {S.QUEUING, S.RUNNING}),
    # recovery (tables 5.428-5.432)
    ('recovery', _J, {S.RUNNING}, {S.ABNORMAL_END, S.QUEUING_ENV_DOWN, S.NORMAL_END, S.RUNNING}),
    ('recovery (write-ahead attempt never started)', _J, {S.RUNNING}, {S.QUEUING}),
    ('recovery skip', _J, {S.ABNORMAL_END}, {S.QUEUING_ENV_DOWN}),
    ('recovery (after recovery skip)', _J, {S.QUEUING_ENV_DOWN},
     {S.RUNNING, S.ABNORMAL_END, S.NORMAL_END, S.QUEUING}),
    ('recovery (standby past its start time)', frozenset({Kind.FRAME}), {S.STANDBY}, {S.NOT_SUBMITTED}),
    ('recovery (end_recover off)', _FNJ, {S.NORMAL_END, S.SKIP_END}, {S.NOT_SUBMITTED}),
    # frames and nets follow their children
    ('derived', _FN, DERIVED, DERIVED),
)


def _build_allowed(rules):
    allowed = {kind: {state: set() for state in STATES_BY_KIND[kind]} for kind in Kind}
    for _operation, kinds, sources, targets in rules:
        for kind in kinds:
            valid = STATES_BY_KIND[kind]
            for source in sources:
                if source not in valid:
                    continue
                allowed[kind][source].update(t for t in targets if t in valid and t != source)
    return {kind: {state: frozenset(targets) for state, targets in table.items()}
            for kind, table in allowed.items()}


#: kind -> {from state: frozenset(to states)}. Same-state moves are always allowed (no-ops) and not listed.
ALLOWED = _build_allowed(RULES)


class IllegalTransition(ValueError):
    """A move the state machine does not allow, or a state not valid for the kind."""

    def __init__(self, message, kind=None, path=None, current=None, new=None, reason=''):
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.current = current
        self.new = new
        self.reason = reason


def _as_kind(kind):
    try:
        return Kind(kind)
    except ValueError:
        raise IllegalTransition('unknown item kind %r (allowed: %s)'
                                % (kind, ', '.join(k.value for k in Kind))) from None


def transition(kind, path, current, new, *, reason=''):
    """Check a move of the item ``path`` of ``kind`` from ``current`` to ``new``; return ``new`` as a State.

    Raises IllegalTransition for a move the table does not allow, an unknown state, or a state not valid for
    the kind. A same-state move is a no-op and allowed (when the state is valid for the kind).
    """
    kind = _as_kind(kind)
    suffix = ' (%s)' % reason if reason else ''
    head = '%s %r' % (kind.value, path)
    states = []
    for value in (current, new):
        try:
            states.append(State(value))
        except ValueError:
            raise IllegalTransition('%s: unknown state %r%s' % (head, value, suffix),
                                    kind, path, current, new, reason) from None
    current, new = states
    valid = STATES_BY_KIND[kind]
    for state in (current, new):
        if state not in valid:
            raise IllegalTransition('%s: cannot go from %s to %s: %s is not a state of a %s%s'
                                    % (head, current.value, new.value, state.value, kind.value, suffix),
                                    kind, path, current, new, reason)
    if new is current or new in ALLOWED[kind][current]:
        return new
    raise IllegalTransition('%s: cannot go from %s to %s%s' % (head, current.value, new.value, suffix),
                            kind, path, current, new, reason)


def can_transition(kind, current, new):
    """True when :func:`transition` would accept the move."""
    try:
        transition(kind, '', current, new)
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
