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
    ACTIVE, ALLOWED, ENDED, FRAME_STATES, JOB_STATES, NET_STATES, RULES, SUCCESS, TERMINAL, WAITING_LIKE,
    IllegalTransition, Kind, State, can_transition, parse_state, transition,
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


def _allowed_moves():
    # sorted: pytest-xdist workers (ansible-test units) must collect the same list whatever the hash seed
    for kind, table in ALLOWED.items():
        for source, targets in sorted(table.items(), key=lambda kv: kv[0].value):
            for target in sorted(targets, key=lambda st: st.value):
                yield pytest.param(kind, source, target, id='%s:%s->%s' % (kind.value, source.value, target.value))


@pytest.mark.parametrize('kind, current, new', list(_allowed_moves()))
def test_every_allowed_move_is_accepted(kind, current, new):
    assert transition(kind, 'x', current, new) is new
    assert transition(kind.value, 'x', current.value, new.value) is new


@pytest.mark.parametrize('kind', list(Kind))
def test_allowed_table_covers_exactly_the_states_of_the_kind(kind):
    valid = _states.STATES_BY_KIND[kind]
    assert set(ALLOWED[kind]) == set(valid)
    for source, targets in ALLOWED[kind].items():
        assert targets <= valid
        assert source not in targets


@pytest.mark.parametrize('kind, state', [(k, s) for k in Kind
                                         for s in sorted(_states.STATES_BY_KIND[k], key=lambda st: st.value)])
def test_same_state_is_a_no_op(kind, state):
    assert transition(kind, 'x', state, state) is state


# The operations of issue 3 / the recovery spec, written out independently of RULES: each must be allowed.
J, N, F = Kind.JOB, Kind.NET, Kind.FRAME
REQUIRED_MOVES = [
    # submit
    (J, 'not_submitted', 'waiting'), (J, 'not_submitted', 'skip_wait'), (J, 'not_submitted', 'pause_wait'),
    (N, 'not_submitted', 'waiting'), (N, 'not_submitted', 'skip_wait'), (N, 'not_submitted', 'pause_wait'),
    (F, 'not_submitted', 'waiting'), (F, 'not_submitted', 'standby'),
    (F, 'standby', 'waiting'),
    # start conditions met
    (J, 'waiting', 'queuing'), (J, 'waiting', 'running'), (J, 'skip_wait', 'skip_end'),
    (J, 'pause_wait', 'paused'), (N, 'skip_wait', 'skip_end'), (N, 'pause_wait', 'paused'),
    # launch
    (J, 'queuing', 'running'), (J, 'queuing', 'queuing_env_down'), (J, 'queuing_env_down', 'queuing'),
    (J, 'queuing_env_down', 'running'),
    # end
    (J, 'running', 'normal_end'), (J, 'running', 'abnormal_end'),
    # rerun
    (J, 'abnormal_end', 'waiting'), (J, 'abnormal_end', 'queuing'),
    (F, 'stopped', 'running'), (F, 'stopped', 'waiting'), (N, 'stopped', 'running'), (N, 'stopped', 'waiting'),
    (F, 'abnormal_end', 'running'), (N, 'abnormal_end', 'running'),
    # skip / pause of an item not started
    (J, 'waiting', 'skip_wait'), (J, 'waiting', 'pause_wait'), (J, 'queuing', 'skip_wait'),
    (J, 'queuing', 'pause_wait'), (N, 'waiting', 'skip_wait'), (N, 'waiting', 'pause_wait'),
    # release
    (J, 'pause_wait', 'waiting'), (J, 'paused', 'queuing'), (J, 'paused', 'running'), (J, 'paused', 'waiting'),
    (J, 'skip_wait', 'waiting'), (N, 'pause_wait', 'waiting'), (N, 'paused', 'waiting'),
    # force_start of a job
    *[(J, s, t) for s in ('waiting', 'queuing', 'queuing_env_down', 'paused', 'pause_wait', 'skip_wait',
                          'abnormal_end') for t in ('queuing', 'running') if s != t],
    # recovery
    (J, 'running', 'abnormal_end'), (J, 'running', 'queuing_env_down'), (J, 'running', 'normal_end'),
    (J, 'running', 'queuing'),  # a launch recorded (write-ahead) but not found on its host
    (J, 'abnormal_end', 'queuing_env_down'), (J, 'queuing_env_down', 'abnormal_end'),
    (J, 'queuing_env_down', 'normal_end'), (F, 'standby', 'not_submitted'),
    (J, 'normal_end', 'not_submitted'), (J, 'skip_end', 'not_submitted'),
    (N, 'normal_end', 'not_submitted'), (F, 'skip_end', 'not_submitted'),
    # derived frame / net states
    *[(k, s, t) for k in (F, N)
      for s in ('waiting', 'running', 'has_errors', 'normal_end', 'abnormal_end', 'skip_end', 'paused')
      for t in ('waiting', 'running', 'has_errors', 'normal_end', 'abnormal_end', 'skip_end', 'paused')
      if s != t],
]
# init / force_init: anything back to not_submitted
REQUIRED_MOVES += [(k, s.value, 'not_submitted') for k in Kind
                   for s in sorted(_states.STATES_BY_KIND[k], key=lambda st: st.value) if s is not State.NOT_SUBMITTED]
# stop: any active frame / net to stopped
REQUIRED_MOVES += [(k, s.value, 'stopped') for k in (F, N) for s in sorted(ACTIVE, key=lambda st: st.value)
                   if s in _states.STATES_BY_KIND[k]]


@pytest.mark.parametrize('kind, current, new', REQUIRED_MOVES,
                         ids=['%s:%s->%s' % (k.value, s, t) for k, s, t in REQUIRED_MOVES])
def test_operation_moves_are_allowed(kind, current, new):
    assert can_transition(kind, current, new)


@pytest.mark.parametrize('kind, path, current, new, reason, message', [
    (J, 'load/merge', 'normal_end', 'running', 'rerun',
     "job 'load/merge': cannot go from normal_end to running (rerun)"),
    (J, 'load/merge', 'normal_end', 'running', '', "job 'load/merge': cannot go from normal_end to running"),
    (J, 'extract', 'not_submitted', 'running', '', "job 'extract': cannot go from not_submitted to running"),
    (J, 'extract', 'running', 'waiting', '', "job 'extract': cannot go from running to waiting"),
    (J, 'extract', 'running', 'skip_wait', 'skip',
     "job 'extract': cannot go from running to skip_wait (skip)"),
    (J, 'extract', 'skip_end', 'waiting', '', "job 'extract': cannot go from skip_end to waiting"),
    (J, 'extract', 'abnormal_end', 'normal_end', '', "job 'extract': cannot go from abnormal_end to normal_end"),
    (J, 'extract', 'waiting', 'normal_end', '', "job 'extract': cannot go from waiting to normal_end"),
    (J, 'extract', 'paused', 'normal_end', '', "job 'extract': cannot go from paused to normal_end"),
    (J, 'extract', 'normal_end', 'queuing', 'force_start',
     "job 'extract': cannot go from normal_end to queuing (force_start)"),
    (F, 'nightly@2026-11-21', 'not_submitted', 'running', '',
     "frame 'nightly@2026-11-21': cannot go from not_submitted to running"),
    (F, 'nightly@2026-11-21', 'normal_end', 'stopped', 'stop',
     "frame 'nightly@2026-11-21': cannot go from normal_end to stopped (stop)"),
    (F, 'nightly@2026-11-21', 'standby', 'running', '',
     "frame 'nightly@2026-11-21': cannot go from standby to running"),
    (N, 'load', 'not_submitted', 'normal_end', '', "net 'load': cannot go from not_submitted to normal_end"),
    (N, 'load', 'skip_end', 'skip_wait', '', "net 'load': cannot go from skip_end to skip_wait"),
])
def test_illegal_moves_are_refused_with_a_message(kind, path, current, new, reason, message):
    with pytest.raises(IllegalTransition) as info:
        transition(kind, path, current, new, reason=reason)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert info.value.current is State(current) and info.value.new is State(new)


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
        transition(kind, 'a/b', current, new, reason='test')
    assert str(info.value) == ("%s 'a/b': cannot go from %s to %s: %s is not a state of a %s (test)"
                               % (kind.value, current, new, bad, kind.value))


def test_unknown_state_string_is_refused():
    with pytest.raises(IllegalTransition, match=r"job 'x': unknown state 'procesing'"):
        transition('job', 'x', 'running', 'procesing')


def test_unknown_kind_is_refused():
    with pytest.raises(IllegalTransition, match=r"unknown item kind 'task'"):
        transition('task', 'x', 'running', 'normal_end')


def test_every_rule_uses_known_states_and_kinds():
    for operation, kinds, sources, targets in RULES:
        assert kinds and sources and targets, operation
        assert all(isinstance(k, Kind) for k in kinds)
        assert all(isinstance(s, State) for s in set(sources) | set(targets))


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
