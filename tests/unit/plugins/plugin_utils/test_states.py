# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import sys

import pytest

try:
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _states
except ImportError:  # plain pytest from the checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', '.tmp',
                                    'collections'))
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _states

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import (
    ACTIVE, ALLOWED, CONTEXTS, ENDED, FRAME_STATES, JOB_STATES, NET_STATES, RULES, SUCCESS, TERMINAL, WAITING_LIKE,
    IllegalTransition, Kind, Op, State, can_transition, derive_in, parse_state, transition,
)

SPEC_IDENTIFIERS = [
    'not_submitted', 'waiting', 'standby', 'queuing', 'queuing_env_down', 'running', 'normal_end',
    'abnormal_end', 'has_errors', 'skip_wait', 'skip_end', 'pause_wait', 'paused', 'stopped',
]


def test_state_values_are_exactly_the_spec_identifiers():
    assert [s.value for s in State] == SPEC_IDENTIFIERS


def test_state_str_is_its_value():
    assert str(State.QUEUING_ENV_DOWN) == 'queuing_env_down'
    assert '%s' % State.HAS_ERRORS == 'has_errors'
    assert State('paused') is State.PAUSED


def test_kind_values():
    assert [k.value for k in Kind] == ['frame', 'net', 'job']


@pytest.mark.parametrize('group, members', [
    (TERMINAL, {'normal_end', 'abnormal_end', 'skip_end'}),
    (SUCCESS, {'normal_end', 'skip_end'}),
    (ENDED, {'normal_end', 'abnormal_end', 'skip_end'}),
    (ACTIVE, {'waiting', 'queuing', 'queuing_env_down', 'running', 'has_errors', 'skip_wait', 'pause_wait',
              'standby'}),
    (WAITING_LIKE, {'waiting', 'skip_wait', 'pause_wait'}),
    (JOB_STATES, set(SPEC_IDENTIFIERS) - {'standby', 'has_errors', 'stopped'}),
    (NET_STATES, set(SPEC_IDENTIFIERS) - {'standby'}),
    (FRAME_STATES, set(SPEC_IDENTIFIERS)),
])
def test_group_members(group, members):
    assert isinstance(group, frozenset)
    assert {s.value for s in group} == members
    assert all(isinstance(s, State) for s in group)


J, N, F = Kind.JOB, Kind.NET, Kind.FRAME
S = State


def _sorted(states):
    # sorted: pytest-xdist workers (ansible-test units) must collect the same list whatever the hash seed
    return sorted(states, key=lambda st: st.value)


#: Every rule set: the operations, and a derive within each operation the planner runs.
RULE_SETS = [op for op in Op if op is not Op.DERIVE] + [derive_in(c) for c in sorted(CONTEXTS, key=lambda o: o.value)]
DERIVES = [derive_in(c) for c in sorted(CONTEXTS, key=lambda o: o.value)]


def _name(op):
    return _states.operation_name(op)


@pytest.mark.parametrize('kind', list(Kind))
def test_allowed_table_covers_exactly_the_states_of_the_kind(kind):
    valid = _states.STATES_BY_KIND[kind]
    tables = {op: table for (k, op), table in ALLOWED.items() if k is kind}
    assert set(tables) == set(RULE_SETS)
    for table in tables.values():
        assert set(table) == set(valid)
        for source, targets in table.items():
            assert targets <= valid
            assert source not in targets


@pytest.mark.parametrize('kind, state', [(k, s) for k in Kind for s in _sorted(_states.STATES_BY_KIND[k])])
def test_same_state_is_a_no_op(kind, state):
    for op in RULE_SETS:
        assert transition(kind, op, 'x', state, state) is state


# The moves of the operations (issue 3 / the recovery spec), each with the operation that makes it, written out
# independently of RULES: each must be allowed under that operation.
REQUIRED_MOVES = [
    # submit
    (J, Op.SUBMIT, 'not_submitted', 'waiting'), (J, Op.SUBMIT, 'not_submitted', 'skip_wait'),
    (J, Op.SUBMIT, 'not_submitted', 'pause_wait'), (N, Op.SUBMIT, 'not_submitted', 'waiting'),
    (N, Op.SUBMIT, 'not_submitted', 'skip_wait'), (N, Op.SUBMIT, 'not_submitted', 'pause_wait'),
    (F, Op.SUBMIT, 'not_submitted', 'waiting'), (F, Op.SUBMIT, 'not_submitted', 'standby'),
    (F, Op.START_TIME, 'standby', 'waiting'),
    # start conditions met
    (J, Op.CONDITIONS_MET, 'waiting', 'queuing'), (J, Op.CONDITIONS_MET, 'skip_wait', 'skip_end'),
    (J, Op.CONDITIONS_MET, 'pause_wait', 'paused'), (N, Op.CONDITIONS_MET, 'skip_wait', 'skip_end'),
    (N, Op.CONDITIONS_MET, 'pause_wait', 'paused'), (N, Op.CONDITIONS_MET, 'waiting', 'running'),
    (F, Op.CONDITIONS_MET, 'skip_wait', 'skip_end'), (F, Op.CONDITIONS_MET, 'pause_wait', 'paused'),
    (J, Op.CONDITIONS_MET, 'waiting', 'skip_end'), (J, Op.CONDITIONS_MET, 'paused', 'skip_end'),  # net skipped
    # launch
    (J, Op.LAUNCH, 'queuing', 'running'), (J, Op.LAUNCH, 'queuing', 'queuing_env_down'),
    (J, Op.LAUNCH, 'queuing_env_down', 'queuing'), (J, Op.LAUNCH, 'queuing_env_down', 'running'),
    (J, Op.LAUNCH, 'queuing', 'abnormal_end'),
    # end
    (J, Op.END, 'running', 'normal_end'), (J, Op.END, 'running', 'abnormal_end'),
    # rerun
    (J, Op.RERUN, 'abnormal_end', 'waiting'), (J, Op.RERUN, 'queuing_env_down', 'queuing'),
    (F, Op.RERUN, 'stopped', 'running'), (N, Op.RERUN, 'stopped', 'running'),
    (F, Op.RERUN, 'abnormal_end', 'running'), (N, derive_in(Op.RERUN), 'abnormal_end', 'running'),
    (J, Op.RERUN, 'not_submitted', 'waiting'),
    # the automatic rerun after recovery
    (F, Op.AUTO_RERUN, 'stopped', 'running'), (N, Op.AUTO_RERUN, 'stopped', 'running'),
    (F, Op.AUTO_RERUN, 'skip_wait', 'skip_end'), (J, Op.AUTO_RERUN, 'waiting', 'skip_end'),
    # skip / pause of an item not started
    (J, Op.SKIP, 'waiting', 'skip_wait'), (J, Op.PAUSE, 'waiting', 'pause_wait'),
    (J, Op.SKIP, 'queuing', 'skip_wait'), (J, Op.PAUSE, 'queuing', 'pause_wait'),
    (N, Op.SKIP, 'waiting', 'skip_wait'), (N, Op.PAUSE, 'waiting', 'pause_wait'),
    (F, Op.SKIP, 'standby', 'skip_wait'), (F, Op.PAUSE, 'standby', 'pause_wait'),
    # release
    (J, Op.RELEASE, 'pause_wait', 'waiting'), (J, Op.RELEASE, 'paused', 'queuing'),
    (J, Op.RELEASE, 'skip_wait', 'waiting'), (N, Op.RELEASE, 'pause_wait', 'waiting'),
    (N, Op.RELEASE, 'paused', 'running'), (F, Op.RELEASE, 'paused', 'waiting'),
    (F, Op.RELEASE, 'pause_wait', 'standby'),
    # force_start of a job
    *[(J, Op.FORCE_START, s, 'queuing') for s in ('waiting', 'queuing_env_down', 'paused', 'pause_wait', 'skip_wait',
                                                  'abnormal_end')],
    # recovery
    (J, Op.RECOVERY, 'running', 'abnormal_end'), (J, Op.RECOVERY, 'running', 'queuing_env_down'),
    (J, Op.RECOVERY, 'running', 'normal_end'),
    (J, Op.RECOVERY, 'running', 'queuing'),  # a launch recorded (write-ahead) but not found on its host
    (J, Op.RECOVERY, 'waiting', 'running'), (J, Op.RECOVERY, 'queuing', 'running'),  # write-ahead, found
    (J, Op.RECOVERY, 'queuing_env_down', 'running'),
    (J, Op.RECOVERY, 'abnormal_end', 'queuing_env_down'), (J, Op.RECOVERY, 'queuing_env_down', 'abnormal_end'),
    (J, Op.RECOVERY, 'queuing_env_down', 'queuing'), (F, Op.RECOVERY, 'standby', 'not_submitted'),
    (J, Op.RECOVERY, 'normal_end', 'not_submitted'), (J, Op.RECOVERY, 'skip_end', 'not_submitted'),
    (N, Op.RECOVERY, 'normal_end', 'not_submitted'), (F, Op.RECOVERY, 'skip_end', 'not_submitted'),
    (F, Op.RECOVERY, 'normal_end', 'not_submitted'),
    # derived frame / net states, forward, in every operation
    *[(k, d, s, t) for k in (F, N) for d in DERIVES
      for s, t in (('running', 'has_errors'), ('running', 'normal_end'), ('running', 'abnormal_end'),
                   ('running', 'paused'), ('has_errors', 'abnormal_end'))],
    *[(F, d, 'waiting', t) for d in DERIVES for t in ('running', 'normal_end', 'paused')],
    # derived frame / net states where the operation made items live again
    *[(k, derive_in(op), 'abnormal_end', 'running') for k in (F, N)
      for op in (Op.RERUN, Op.FORCE_START, Op.INIT, Op.RECOVERY)],
    *[(k, derive_in(op), 'abnormal_end', 'has_errors') for k in (F, N)
      for op in (Op.RERUN, Op.AUTO_RERUN, Op.RELEASE, Op.FORCE_START, Op.INIT, Op.RECOVERY)],
    *[(k, derive_in(op), 'paused', 'running') for k in (F, N)
      for op in (Op.RERUN, Op.AUTO_RERUN, Op.RELEASE, Op.FORCE_START, Op.INIT)],
    *[(k, derive_in(op), 'has_errors', 'running') for k in (F, N)
      for op in (Op.RERUN, Op.FORCE_START, Op.INIT, Op.RECOVERY)],
    (F, derive_in(Op.INIT), 'normal_end', 'running'), (N, derive_in(Op.INIT), 'normal_end', 'running'),
]
# init / force_init: anything back to not_submitted
REQUIRED_MOVES += [(k, Op.INIT, s.value, 'not_submitted') for k in Kind
                   for s in _sorted(_states.STATES_BY_KIND[k]) if s is not State.NOT_SUBMITTED]
# stop: any active frame / net to stopped
REQUIRED_MOVES += [(k, Op.STOP, s.value, 'stopped') for k in (F, N) for s in _sorted(ACTIVE)
                   if s in _states.STATES_BY_KIND[k]]


@pytest.mark.parametrize('kind, op, current, new', REQUIRED_MOVES,
                         ids=['%s:%s:%s->%s' % (k.value, _name(o), s, t) for k, o, s, t in REQUIRED_MOVES])
def test_operation_moves_are_allowed(kind, op, current, new):
    assert can_transition(kind, op, current, new)
    assert transition(kind.value, op.value if isinstance(op, Op) else op, 'x', current, new) \
        is State(new)


# ---------------------------------------------------------------------------------------------- refusals

def _refused(kind, op, current, new):
    with pytest.raises(IllegalTransition) as info:
        transition(kind, op, 'x', current, new)
    assert info.value.operation == (op if isinstance(op, tuple) else Op(op))
    return info.value


#: Which rule sets allow a move, written out by hand: every other operation refuses it.
MOVE_MADE_BY = [
    (J, 'abnormal_end', 'waiting', {Op.RERUN}),
    (J, 'abnormal_end', 'queuing', {Op.FORCE_START}),
    (J, 'abnormal_end', 'queuing_env_down', {Op.RECOVERY}),
    (J, 'waiting', 'queuing', {Op.CONDITIONS_MET, Op.FORCE_START, Op.RECOVERY}),
    (J, 'waiting', 'running', {Op.RECOVERY}),
    (J, 'queuing', 'running', {Op.LAUNCH, Op.RECOVERY}),
    (J, 'running', 'normal_end', {Op.END, Op.RECOVERY}),
    (J, 'running', 'abnormal_end', {Op.END, Op.RECOVERY}),
    (J, 'queuing', 'abnormal_end', {Op.LAUNCH}),
    (J, 'queuing_env_down', 'normal_end', set()),   # recovery records start then end, through running
    (J, 'paused', 'queuing', {Op.RELEASE, Op.FORCE_START}),
    (J, 'paused', 'running', set()),
    (J, 'paused', 'waiting', set()),
    (J, 'not_submitted', 'waiting', {Op.SUBMIT, Op.RERUN, Op.INIT}),
    (J, 'running', 'not_submitted', {Op.INIT}),
    (J, 'normal_end', 'not_submitted', {Op.INIT, Op.RECOVERY}),
    (J, 'waiting', 'skip_end', {Op.CONDITIONS_MET, Op.AUTO_RERUN}),
    (F, 'standby', 'waiting', {Op.START_TIME}),
    (F, 'standby', 'not_submitted', {Op.INIT, Op.RECOVERY}),
    (F, 'skip_wait', 'waiting', {Op.RELEASE}),
    (F, 'stopped', 'running', {Op.RERUN, Op.AUTO_RERUN}),
    (F, 'stopped', 'waiting', set()),
    (N, 'stopped', 'waiting', set()),
    (F, 'normal_end', 'running', {Op.RERUN, derive_in(Op.INIT)}),
    (F, 'abnormal_end', 'running', {Op.RERUN, derive_in(Op.RERUN), derive_in(Op.FORCE_START), derive_in(Op.INIT),
                                    derive_in(Op.RECOVERY)}),
    (N, 'abnormal_end', 'running', {derive_in(Op.RERUN), derive_in(Op.FORCE_START), derive_in(Op.INIT),
                                    derive_in(Op.RECOVERY)}),
    (N, 'normal_end', 'waiting', set()),
    (F, 'normal_end', 'waiting', set()),
    (N, 'paused', 'running', {Op.RELEASE, derive_in(Op.RERUN), derive_in(Op.AUTO_RERUN), derive_in(Op.RELEASE),
                              derive_in(Op.FORCE_START), derive_in(Op.INIT)}),
    (N, 'paused', 'waiting', set()),
    (F, 'running', 'normal_end', set(DERIVES)),
    (F, 'has_errors', 'abnormal_end', set(DERIVES)),
    (N, 'running', 'stopped', {Op.STOP} | set(DERIVES)),
    (N, 'normal_end', 'stopped', set()),
]


@pytest.mark.parametrize('kind, current, new, made_by', MOVE_MADE_BY,
                         ids=['%s:%s->%s' % (k.value, s, t) for k, s, t, _made_by in MOVE_MADE_BY])
def test_each_move_is_made_by_its_operations_only(kind, current, new, made_by):
    assert {op for op in RULE_SETS if can_transition(kind, op, current, new)} == made_by
    for op in RULE_SETS:
        if op not in made_by:
            _refused(kind, op, current, new)


_HOLDING_OR_FORWARD = [Op.SUBMIT, Op.STEP, Op.SKIP, Op.PAUSE, Op.STOP]


@pytest.mark.parametrize('op', _HOLDING_OR_FORWARD, ids=[o.value for o in _HOLDING_OR_FORWARD])
@pytest.mark.parametrize('kind', [F, N])
def test_a_derive_never_reopens_an_ended_frame(kind, op):
    # nothing in these operations makes an item live again: an ended frame or net stays ended, a held one held
    # (or takes its stop mark)
    for current in _sorted(TERMINAL | {S.PAUSED}):
        for new in _sorted(_states.STATES_BY_KIND[kind] - {current} - ({S.STOPPED} if current is S.PAUSED else set())):
            _refused(kind, derive_in(op), current, new)


@pytest.mark.parametrize('op', DERIVES, ids=[_name(o) for o in DERIVES])
@pytest.mark.parametrize('kind', [F, N])
def test_a_derive_never_moves_a_frame_back_to_waiting(kind, op):
    # a derive computes running, has_errors, normal_end, abnormal_end or paused (or takes the stop mark), nothing
    # else: waiting, not_submitted and the marks are the operations' own
    back = {S.WAITING, S.NOT_SUBMITTED, S.STANDBY, S.SKIP_WAIT, S.PAUSE_WAIT, S.QUEUING, S.QUEUING_ENV_DOWN,
            S.SKIP_END} & _states.STATES_BY_KIND[kind]
    for current in _sorted(_states.STATES_BY_KIND[kind]):
        for new in _sorted(back - {current}):
            _refused(kind, op, current, new)


@pytest.mark.parametrize('op', DERIVES, ids=[_name(o) for o in DERIVES])
@pytest.mark.parametrize('kind', [F, N])
def test_a_derive_never_leaves_skip_end_not_submitted_or_stopped(kind, op):
    for current in (S.SKIP_END, S.NOT_SUBMITTED, S.STOPPED):
        for new in _sorted(_states.STATES_BY_KIND[kind] - {current}):
            _refused(kind, op, current, new)


@pytest.mark.parametrize('op', DERIVES, ids=[_name(o) for o in DERIVES])
def test_a_job_never_derives(op):
    for current in _sorted(JOB_STATES):
        assert not ALLOWED[(J, op)][current]
        for new in _sorted(JOB_STATES - {current}):
            _refused(J, op, current, new)


def test_rerun_refuses_a_running_job():
    for current in ('running', 'queuing', 'waiting', 'paused', 'normal_end', 'skip_end'):
        for new in _sorted(JOB_STATES - {S(current)}):
            _refused(J, Op.RERUN, current, new)


def test_rerun_restarts_only_abnormal_ends():
    for current in ('normal_end', 'skip_end', 'running'):
        _refused(J, Op.RERUN, current, 'waiting')
        _refused(J, Op.RERUN, current, 'queuing')
    _refused(F, Op.RERUN, 'skip_end', 'running')   # a frame skipped as a whole: init it
    _refused(N, Op.RERUN, 'normal_end', 'running')


@pytest.mark.parametrize('kind', list(Kind))
def test_init_may_reset_any_state(kind):
    for current in _sorted(_states.STATES_BY_KIND[kind] - {S.NOT_SUBMITTED}):
        assert transition(kind, Op.INIT, 'x', current, 'not_submitted') is S.NOT_SUBMITTED
        for new in _sorted(_states.STATES_BY_KIND[kind] - {current, S.NOT_SUBMITTED}):
            _refused(kind, Op.INIT, current, new)
    # a net or job put back into a submitted frame waits; the frame itself waits for a submit
    assert can_transition(kind, Op.INIT, 'not_submitted', 'waiting') is (kind is not F)


@pytest.mark.parametrize('kind', list(Kind))
def test_submit_moves_only_what_is_not_submitted(kind):
    for current in _sorted(_states.STATES_BY_KIND[kind] - {S.NOT_SUBMITTED}):
        for new in _sorted(_states.STATES_BY_KIND[kind] - {current}):
            _refused(kind, Op.SUBMIT, current, new)
    _refused(kind, Op.SUBMIT, 'not_submitted', 'running')
    assert can_transition(kind, Op.SUBMIT, 'not_submitted', 'standby') is (kind is F)


def test_start_conditions_queue_a_job_and_never_run_it():
    _refused(J, Op.CONDITIONS_MET, 'waiting', 'running')
    _refused(N, Op.CONDITIONS_MET, 'waiting', 'queuing')
    _refused(F, Op.CONDITIONS_MET, 'waiting', 'running')   # a frame opens by its derive
    _refused(F, Op.START_TIME, 'standby', 'running')
    _refused(F, Op.START_TIME, 'standby', 'skip_wait')


def test_a_launch_never_ends_a_job_normally():
    for current in ('queuing', 'queuing_env_down', 'waiting'):
        _refused(J, Op.LAUNCH, current, 'normal_end')
        _refused(J, Op.END, current, 'normal_end')
    _refused(J, Op.LAUNCH, 'running', 'abnormal_end')   # an end is the end's
    _refused(J, Op.LAUNCH, 'waiting', 'running')


def test_only_a_running_job_ends():
    for current in _sorted(JOB_STATES - {S.RUNNING}):
        for new in ('normal_end', 'abnormal_end'):
            if S(new) is not current:
                _refused(J, Op.END, current, new)


def test_force_start_only_queues_a_job():
    for current in _sorted(JOB_STATES):
        if current is not S.RUNNING:
            _refused(J, Op.FORCE_START, current, 'running')
    for current in ('normal_end', 'skip_end', 'running', 'not_submitted'):
        _refused(J, Op.FORCE_START, current, 'queuing')
    for kind in (F, N):
        assert not any(ALLOWED[(kind, Op.FORCE_START)].values())


def test_stop_refuses_what_ended_or_never_started():
    for kind in (F, N):
        for current in ('normal_end', 'abnormal_end', 'skip_end', 'not_submitted'):
            _refused(kind, Op.STOP, current, 'stopped')
    assert not any(ALLOWED[(J, Op.STOP)].values())   # a job is stopped on its host, not by a state move


def test_skip_and_pause_refuse_a_started_item():
    for op, mark in ((Op.SKIP, 'skip_wait'), (Op.PAUSE, 'pause_wait')):
        for current in ('running', 'normal_end', 'abnormal_end', 'paused', 'queuing_env_down'):
            _refused(J, op, current, mark)
        _refused(N, op, 'running', mark)
        _refused(F, op, 'running', mark)
    _refused(J, Op.SKIP, 'waiting', 'pause_wait')   # each mark its own operation
    _refused(J, Op.PAUSE, 'waiting', 'skip_wait')


def test_release_takes_only_a_mark_or_a_pause_off():
    _refused(J, Op.RELEASE, 'paused', 'running')
    _refused(J, Op.RELEASE, 'paused', 'waiting')
    _refused(N, Op.RELEASE, 'paused', 'waiting')
    _refused(J, Op.RELEASE, 'waiting', 'queuing')
    _refused(J, Op.RELEASE, 'abnormal_end', 'waiting')
    _refused(F, Op.RELEASE, 'running', 'waiting')


def test_recovery_never_restarts_an_abnormal_end():
    for new in ('waiting', 'queuing', 'running', 'normal_end'):
        _refused(J, Op.RECOVERY, 'abnormal_end', new)
    _refused(J, Op.RECOVERY, 'normal_end', 'running')
    _refused(J, Op.RECOVERY, 'running', 'not_submitted')   # a job that may run is never forgotten
    _refused(F, Op.RECOVERY, 'running', 'not_submitted')


def test_the_automatic_rerun_restarts_nothing_that_ended_abnormally():
    for new in ('waiting', 'queuing', 'running'):
        _refused(J, Op.AUTO_RERUN, 'abnormal_end', new)
    _refused(F, Op.AUTO_RERUN, 'abnormal_end', 'running')
    _refused(F, derive_in(Op.AUTO_RERUN), 'abnormal_end', 'running')


@pytest.mark.parametrize('kind', list(Kind))
def test_a_step_moves_nothing_itself(kind):
    # a step's moves are start conditions, launches, ends and the derives within it
    assert not any(ALLOWED[(kind, Op.STEP)].values())
    _refused(kind, Op.STEP, 'waiting', 'not_submitted')


@pytest.mark.parametrize('op', ['rerunn', 'derive', Op.DERIVE, ('derive', 'step'), (Op.LAUNCH, Op.DERIVE),
                                (Op.STEP,), (Op.STEP, Op.RERUN), None])
def test_an_unknown_operation_is_refused(op):
    # a derive is checked within the operation that runs, never on its own
    with pytest.raises(IllegalTransition, match=r"unknown operation"):
        transition(J, op, 'x', 'running', 'normal_end')


def test_a_derive_within_an_operation_may_be_given_by_value():
    assert transition(F, ('step', 'derive'), 'x', 'running', 'normal_end') is S.NORMAL_END
    assert transition(F, derive_in('step'), 'x', 'running', 'normal_end') is S.NORMAL_END


@pytest.mark.parametrize('kind, op, path, current, new, reason, message', [
    (J, Op.RERUN, 'load/merge', 'normal_end', 'running', 'rerun',
     "job 'load/merge': cannot go from normal_end to running (rerun)"),
    (J, Op.LAUNCH, 'load/merge', 'normal_end', 'running', '',
     "job 'load/merge': cannot go from normal_end to running (launch)"),
    (J, Op.CONDITIONS_MET, 'extract', 'not_submitted', 'running', '',
     "job 'extract': cannot go from not_submitted to running (conditions_met)"),
    (J, Op.RERUN, 'extract', 'running', 'waiting', '', "job 'extract': cannot go from running to waiting (rerun)"),
    (J, Op.SKIP, 'extract', 'running', 'skip_wait', 'skip',
     "job 'extract': cannot go from running to skip_wait (skip)"),
    (J, Op.RELEASE, 'extract', 'skip_end', 'waiting', '',
     "job 'extract': cannot go from skip_end to waiting (release)"),
    (J, Op.RECOVERY, 'extract', 'abnormal_end', 'normal_end', '',
     "job 'extract': cannot go from abnormal_end to normal_end (recovery)"),
    (J, Op.END, 'extract', 'waiting', 'normal_end', '', "job 'extract': cannot go from waiting to normal_end (end)"),
    (J, Op.FORCE_START, 'extract', 'paused', 'normal_end', '',
     "job 'extract': cannot go from paused to normal_end (force_start)"),
    (J, Op.FORCE_START, 'extract', 'normal_end', 'queuing', 'force_start',
     "job 'extract': cannot go from normal_end to queuing (force_start)"),
    (F, derive_in(Op.SUBMIT), 'nightly@2026-11-21', 'not_submitted', 'running', '',
     "frame 'nightly@2026-11-21': cannot go from not_submitted to running (derive in submit)"),
    (F, Op.STOP, 'nightly@2026-11-21', 'normal_end', 'stopped', 'stop',
     "frame 'nightly@2026-11-21': cannot go from normal_end to stopped (stop)"),
    (F, Op.START_TIME, 'nightly@2026-11-21', 'standby', 'running', '',
     "frame 'nightly@2026-11-21': cannot go from standby to running (start_time)"),
    (N, derive_in(Op.STEP), 'load', 'not_submitted', 'normal_end', '',
     "net 'load': cannot go from not_submitted to normal_end (derive in step)"),
    (N, Op.SKIP, 'load', 'skip_end', 'skip_wait', '', "net 'load': cannot go from skip_end to skip_wait (skip)"),
    (N, derive_in(Op.STEP), 'load', 'normal_end', 'waiting', 'derived from its children',
     "net 'load': cannot go from normal_end to waiting (derive in step: derived from its children)"),
    (F, derive_in(Op.STEP), 'nightly@2026-11-21', 'abnormal_end', 'running', 'derived from its children',
     "frame 'nightly@2026-11-21': cannot go from abnormal_end to running (derive in step: derived from its "
     "children)"),
])
def test_illegal_moves_are_refused_with_a_message(kind, op, path, current, new, reason, message):
    with pytest.raises(IllegalTransition) as info:
        transition(kind, op, path, current, new, reason=reason)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert info.value.current is State(current) and info.value.new is State(new)
    assert info.value.operation == op and info.value.kind is kind and info.value.path == path
    assert info.value.reason == reason


@pytest.mark.parametrize('kind, current, new, bad', [
    (J, 'running', 'has_errors', 'has_errors'),
    (J, 'waiting', 'stopped', 'stopped'),
    (J, 'not_submitted', 'standby', 'standby'),
    (J, 'stopped', 'stopped', 'stopped'),
    (N, 'not_submitted', 'standby', 'standby'),
    (N, 'standby', 'standby', 'standby'),
])
def test_state_not_valid_for_the_kind_is_refused(kind, current, new, bad):
    with pytest.raises(IllegalTransition) as info:
        transition(kind, Op.INIT, 'a/b', current, new, reason='test')
    assert str(info.value) == ("%s 'a/b': cannot go from %s to %s: %s is not a state of a %s (init: test)"
                               % (kind.value, current, new, bad, kind.value))


def test_unknown_state_string_is_refused():
    with pytest.raises(IllegalTransition, match=r"job 'x': unknown state 'procesing'"):
        transition('job', 'end', 'x', 'running', 'procesing')


def test_unknown_kind_is_refused():
    with pytest.raises(IllegalTransition, match=r"unknown item kind 'task'"):
        transition('task', Op.END, 'x', 'running', 'normal_end')


def test_every_rule_uses_known_states_kinds_and_operations():
    for rule in RULES:
        operation, kinds, sources, targets, note = rule
        assert kinds and sources and targets and note, rule
        assert operation in RULE_SETS, rule
        assert all(isinstance(k, Kind) for k in kinds)
        assert all(isinstance(s, State) for s in set(sources) | set(targets))


def test_every_rule_set_but_a_step_has_a_rule():
    used = {rule.op for rule in RULES}
    assert used == set(RULE_SETS) - {Op.STEP}


def test_parse_state_accepts_values_and_states():
    assert parse_state('skip_end') is State.SKIP_END
    assert parse_state(State.RUNNING) is State.RUNNING


@pytest.mark.parametrize('value', ['procesing', '', None, 3, 'Running'])
def test_parse_state_names_where_and_the_allowed_values(value):
    with pytest.raises(ValueError) as info:
        parse_state(value, where="item 'load/stage' of nightly@2026-11-21")
    message = str(info.value)
    assert message.startswith("unknown state %r in item 'load/stage' of nightly@2026-11-21; allowed values: "
                              % (value,))
    assert message.endswith(', '.join(SPEC_IDENTIFIERS))
