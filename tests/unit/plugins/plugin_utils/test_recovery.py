# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure tests of the recovery tables (spec/recovery.md 5.429-5.432): one case per row, named after it."""

from __future__ import annotations

import copy
import datetime as dt
import os
import sys

import pytest

_COLLECTIONS = os.path.join(os.path.dirname(__file__), *(['..'] * 4), '.tmp', 'collections')
if os.path.isdir(_COLLECTIONS) and os.path.abspath(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _recovery as R  # noqa: E402
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _messages as M  # noqa: E402
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import (  # noqa: E402
    STATES_BY_KIND,
    Kind,
)

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
NOW_TEXT = '2026-11-21T09:00:00.000000Z'
EARLIER = '2026-11-21T08:00:00.000000Z'
IID = 'nightly@2026-11-21'
DEFAULT = R.RecoveryOptions()
SKIP = R.RecoveryOptions(recovery_skip=True)
NO_END_RECOVER = R.RecoveryOptions(end_recover=False)
ADOPT = R.RecoveryOptions(adopt_manager_jobs=True)


# ------------------------------------------------------------------------------------------------ records

def aid(path, attempt=1):
    return 'nightly.20261121.k3x9q2.%s.%s' % (path.replace('/', '.'), attempt)


def job(path, state, host='agent1', *, attempt=None, phase='?', parent=None, **extra):
    """A job record; a running / ended / env-down job has an attempt unless told otherwise."""
    started = state in ('running', 'normal_end', 'abnormal_end', 'queuing_env_down')
    if attempt is None:
        attempt = 1 if started else 0
    if phase == '?':
        phase = 'launched' if attempt and started else None
    record = {
        'path': path, 'kind': 'job', 'parent': parent if parent is not None else path.rpartition('/')[0],
        'host': host, 'state': state, 'flags': {'skip': False, 'pause': False, 'stopped': False, 'force': False},
        'attempt': attempt, 'attempt_id': aid(path, attempt) if attempt else None, 'phase': phase,
        'started': EARLIER if started and attempt else None,
        'ended': EARLIER if state in ('normal_end', 'abnormal_end') else None,
        'rc': 0 if state == 'normal_end' else (1 if state == 'abnormal_end' else None),
        'signal': None, 'message': '', 'updated': EARLIER,
    }
    record.update(extra)
    return record


def net(path, state, parent=''):
    return {'path': path, 'kind': 'net', 'parent': parent, 'host': None, 'state': state,
            'flags': {'skip': False, 'pause': False, 'stopped': state == 'stopped', 'force': False},
            'attempt': 0, 'attempt_id': None, 'phase': None, 'started': None, 'ended': None, 'rc': None,
            'signal': None, 'message': '', 'updated': EARLIER, 'opened': state != 'not_submitted'}


def instance(state='running', **extra):
    record = {'id': IID, 'frame': 'nightly', 'operation_date': '2026-11-21', 'uid': 'k3x9q2', 'state': state,
              'definition': {}, 'options': {}, 'flags': {'stopped': state == 'stopped'},
              'submitted': EARLIER, 'started': EARLIER if state not in ('standby', 'not_submitted') else None,
              'ended': None, 'updated': EARLIER, 'schema': 1, 'opened': True}
    record.update(extra)
    return record


def items_of(*records):
    return {r['path']: r for r in records}


def answer(item, state, rc=None, signal=None):
    """What job_info says about the attempt of ``item``."""
    ended = None if state == 'running' else '2026-11-21T08:30:00.000000Z'
    if rc is None:
        rc = {'normal_end': 0, 'abnormal_end': 2}.get(state)
    return {'id': item['attempt_id'], 'state': state, 'rc': rc, 'signal': signal,
            'started': '2026-11-21T07:59:00.000000Z', 'ended': ended}


def recover(inst, items, *, fetched=None, unreachable=(), options=DEFAULT, start_at=None, now=NOW):
    if fetched is None and not options.recovery_skip:
        fetched = {}
    before = copy.deepcopy((inst, items))
    result = R.recover_instance(inst, items, fetched=fetched, unreachable=set(unreachable), options=options,
                                now=now, start_at=start_at)
    assert (inst, items) == before, 'recover_instance changed its input records'
    return result


def after(items, result):
    """The item records once the result is written."""
    merged = dict(items)
    merged.update(result.items)
    return merged


_ACTIVE = {'running', 'queuing', 'queuing_env_down', 'waiting'}


def derive(state, children):
    """Stub of the engine's derivation: a frame / net is what its children say (held states are kept)."""
    if state in ('not_submitted', 'standby', 'stopped', 'paused', 'pause_wait', 'skip_wait'):
        return state
    states = [c['state'] for c in children]
    failed = 'abnormal_end' in states or 'has_errors' in states
    live = any(s in _ACTIVE - {'waiting'} or s == 'has_errors' for s in states)
    if failed:
        return 'has_errors' if live else 'abnormal_end'
    if live:
        return 'running'
    if states and all(s == 'skip_end' for s in states):
        return 'skip_end'
    if states and all(s in ('normal_end', 'skip_end') for s in states):
        return 'normal_end'
    if any(s == 'waiting' for s in states):
        return 'waiting'
    return state


# ------------------------------------------------------------------------------------------------ table 5.431

def _job_case(case_id, before, *, fetched='none', unreachable=(), options=DEFAULT, state, row, stop=False,
              message=None, fields=None):
    return pytest.param(before, fetched, unreachable, options, state, row, stop, message, fields or {},
                        id=case_id)


def _f(state, **kw):
    return ('answer', state, kw)


JOB_CASES = [
    _job_case('5.431-not_submitted', job('j', 'not_submitted'), state='not_submitted', row='5.431 not_submitted'),
    _job_case('5.431-waiting', job('j', 'waiting'), state='waiting', row='5.431 waiting'),
    _job_case('5.431-normal_end', job('j', 'normal_end'), state='normal_end', row='5.431 normal_end',
              fields={'rc': 0, 'attempt_id': aid('j')}),
    _job_case('5.431-skip_end', job('j', 'skip_end'), state='skip_end', row='5.431 skip_end'),
    _job_case('5.431-skip_wait', job('j', 'skip_wait'), state='skip_wait', row='5.431 skip_wait'),
    _job_case('5.431-paused', job('j', 'paused'), state='paused', row='5.431 paused'),
    _job_case('5.431-pause_wait', job('j', 'pause_wait'), state='pause_wait', row='5.431 pause_wait'),
    _job_case('5.431-running-manager-node', job('j', 'running', 'localhost'), state='abnormal_end',
              row='5.431 running on the manager node', stop=True, message='JNR101 job j was running on the '
              'manager node localhost', fields={'ended': NOW_TEXT, 'attempt': 1}),
    _job_case('5.431-running-agent-still-running', job('j', 'running'), fetched=_f('running'), state='running',
              row='5.431 running on an agent node', fields={'phase': 'launched', 'ended': None}),
    _job_case('5.431-running-agent-ended-normally', job('j', 'running'), fetched=_f('normal_end'),
              state='normal_end', row='5.431 running on an agent node',
              fields={'rc': 0, 'ended': '2026-11-21T08:30:00.000000Z'}),
    _job_case('5.431-running-agent-ended-abnormally', job('j', 'running'), fetched=_f('abnormal_end', rc=3),
              state='abnormal_end', row='5.431 running on an agent node', message='ended with rc 3',
              fields={'rc': 3, 'ended': '2026-11-21T08:30:00.000000Z'}),
    _job_case('5.431-running-agent-killed-by-signal', job('j', 'running'),
              fetched=_f('abnormal_end', rc=-9, signal=9), state='abnormal_end',
              row='5.431 running on an agent node', message='signal 9', fields={'signal': 9}),
    _job_case('5.431-running-agent-stopped-on-host', job('j', 'running'), fetched=_f('stopped', rc=143),
              state='abnormal_end', row='5.431 running on an agent node', message='stopped on its host'),
    _job_case('5.431-running-agent-lost', job('j', 'running'), fetched=_f('lost'), state='abnormal_end',
              row='5.431 running on an agent node', message='lost'),
    _job_case('5.431-running-agent-attempt-not-on-host', job('j', 'running'), state='abnormal_end',
              row='5.431 running on an agent node', message='attempt %s not found on agent1' % aid('j'),
              fields={'ended': NOW_TEXT}),
    _job_case('5.431-abnormal_end-fetched-only', job('j', 'abnormal_end'), fetched=_f('abnormal_end', rc=7),
              state='abnormal_end', row='5.431 abnormal_end',
              fields={'rc': 7, 'ended': '2026-11-21T08:30:00.000000Z', 'attempt_id': aid('j')}),
    _job_case('5.431-abnormal_end-host-says-normal_end-stays-abnormal', job('j', 'abnormal_end'),
              fetched=_f('normal_end'), state='abnormal_end', row='5.431 abnormal_end', fields={'rc': 1}),
    _job_case('5.431-abnormal_end-not-on-host', job('j', 'abnormal_end'), state='abnormal_end',
              row='5.431 abnormal_end', fields={'rc': 1, 'ended': EARLIER}),
    _job_case('5.431-abnormal_end-manager-node', job('j', 'abnormal_end', 'localhost'),
              fetched=_f('abnormal_end', rc=4), state='abnormal_end', row='5.431 abnormal_end', fields={'rc': 4}),
    _job_case('5.431-queuing', job('j', 'queuing'), state='queuing', row='5.431 queuing'),
]


def _fetched_for(item, spec):
    if spec == 'none':
        return {}
    _tag, state, kw = spec
    return {item['attempt_id']: answer(item, state, **kw)}


def _check_job(result, before, state, row, stop, message, fields):
    new = after({before['path']: before}, result)[before['path']]
    assert new['state'] == state
    assert result.rows[before['path']] == row
    assert result.stop == ([(before['host'], before['attempt_id'])] if stop else [])
    if message:
        assert any(message in m for m in result.messages), result.messages
    for key, value in fields.items():
        assert new[key] == value, key
    assert new['attempt'] == before['attempt'], 'recovery never changes the attempt counter'
    if new != before:
        assert before['path'] in result.items and new['updated'] == NOW_TEXT
    else:
        assert before['path'] not in result.items, 'an unchanged item is not returned'


@pytest.mark.parametrize('before, fetched, unreachable, options, state, row, stop, message, fields', JOB_CASES)
def test_job_table_5_431(before, fetched, unreachable, options, state, row, stop, message, fields):
    result = recover(instance('running'), items_of(before), fetched=_fetched_for(before, fetched),
                     unreachable=unreachable, options=options)
    _check_job(result, before, state, row, stop, message, fields)
    assert not any(m.startswith('PEX056') for m in result.messages), 'the engine prints PEX056 itself'


# ------------------------------------------------------------------------------------------------ end_recover

END_RECOVER_CASES = [
    _job_case('5.431-normal_end-end_recover-off', job('j', 'normal_end', attempt=3), options=NO_END_RECOVER,
              state='not_submitted', row='5.431 normal_end',
              fields={'attempt': 3, 'attempt_id': None, 'phase': None, 'rc': None, 'started': None, 'ended': None}),
    _job_case('5.431-skip_end-end_recover-off', job('j', 'skip_end'), options=NO_END_RECOVER,
              state='not_submitted', row='5.431 skip_end'),
    _job_case('5.431-abnormal_end-end_recover-off-unchanged', job('j', 'abnormal_end'), options=NO_END_RECOVER,
              state='abnormal_end', row='5.431 abnormal_end'),
]


@pytest.mark.parametrize('before, fetched, unreachable, options, state, row, stop, message, fields',
                         END_RECOVER_CASES)
def test_end_recover_off_jobs(before, fetched, unreachable, options, state, row, stop, message, fields):
    result = recover(instance('running'), items_of(before), fetched=_fetched_for(before, fetched), options=options)
    _check_job(result, before, state, row, stop, message, fields)


@pytest.mark.parametrize('frame_state', ['normal_end', 'skip_end'])
def test_5_429_ended_frame_end_recover_off_comes_back_not_submitted_with_all_items(frame_state):
    inst = instance(frame_state, ended=EARLIER)
    items = items_of(net('load', frame_state), job('load/a', 'normal_end', attempt=2), job('b', 'skip_end'))
    result = recover(inst, items, options=NO_END_RECOVER)
    assert result.instance['state'] == 'not_submitted'
    assert result.instance['started'] is None and result.instance['ended'] is None
    assert result.rows[''] == '5.429 %s (end_recover off: not_submitted)' % frame_state
    new = after(items, result)
    assert {p: i['state'] for p, i in new.items()} == dict.fromkeys(items, 'not_submitted')
    assert new['load/a']['attempt'] == 2 and new['load/a']['attempt_id'] is None
    assert any(m.startswith('JNR108') for m in result.messages)


def test_5_430_net_normal_end_end_recover_off_is_not_submitted():
    items = items_of(net('load', 'normal_end'), job('load/a', 'normal_end'), job('b', 'running'))
    result = recover(instance('running'), items, fetched={aid('b'): answer(items['b'], 'running')},
                     options=NO_END_RECOVER)
    new = after(items, result)
    assert result.rows['load'] == '5.430 normal_end (end_recover off: not_submitted)'
    assert new['load']['state'] == 'not_submitted' and new['load/a']['state'] == 'not_submitted'
    assert new['b']['state'] == 'running'
    assert result.instance is None


# ------------------------------------------------------------------------------------------------ table 5.429

def _frame_case(case_id, frame_state, records, *, fetched=(), derived, row, options=DEFAULT, start_at=None,
                stop=(), message=None, item_states=None):
    return pytest.param(frame_state, records, fetched, derived, row, options, start_at, stop, message,
                        item_states, id=case_id)


FRAME_CASES = [
    _frame_case('5.429-not_submitted', 'not_submitted', [job('a', 'not_submitted')], derived='not_submitted',
                row='5.429 not_submitted'),
    _frame_case('5.429-waiting', 'waiting', [job('a', 'waiting'), job('b', 'waiting')], derived='waiting',
                row='5.429 waiting'),
    _frame_case('5.429-normal_end', 'normal_end', [job('a', 'normal_end')], derived='normal_end',
                row='5.429 normal_end'),
    _frame_case('5.429-skip_end', 'skip_end', [job('a', 'skip_end')], derived='skip_end', row='5.429 skip_end'),
    _frame_case('5.429-skip_wait', 'skip_wait', [job('a', 'skip_wait')], derived='skip_wait',
                row='5.429 skip_wait'),
    _frame_case('5.429-standby-recovery-ended-before-start-time', 'standby', [job('a', 'waiting')],
                start_at=NOW + dt.timedelta(hours=1), derived='standby',
                row='5.429 standby, recovery ended before the start time', item_states={'a': 'waiting'}),
    _frame_case('5.429-standby-no-start-time', 'standby', [job('a', 'waiting')], derived='standby',
                row='5.429 standby, recovery ended before the start time'),
    _frame_case('5.429-standby-recovery-ended-after-start-time', 'standby', [job('a', 'waiting'),
                net('n', 'waiting'), job('n/b', 'pause_wait')], start_at=NOW - dt.timedelta(minutes=5),
                derived='not_submitted', row='5.429 standby, recovery ended after the start time',
                message='JNR107 frame %s: its start time 2026-11-21T08:55:00.000000Z passed' % IID,
                item_states={'a': 'not_submitted', 'n': 'not_submitted', 'n/b': 'not_submitted'}),
    _frame_case('5.428-A-2-catch-up-standby-past-its-start-time-is-kept-and-starts', 'standby',
                [job('a', 'waiting')], start_at=NOW - dt.timedelta(minutes=5), derived='standby',
                row='5.429 standby, recovery ended after the start time, catch_up on: it starts',
                options=R.RecoveryOptions(catch_up=True), item_states={'a': 'waiting'}),
    _frame_case('5.429-paused', 'paused', [job('a', 'paused')], derived='paused', row='5.429 paused'),
    _frame_case('5.429-pause_wait', 'pause_wait', [job('a', 'pause_wait')], derived='pause_wait',
                row='5.429 pause_wait'),
    _frame_case('5.429-running-with-a-job-on-the-manager-node', 'running',
                [job('a', 'running', 'localhost'), job('b', 'waiting')], derived='abnormal_end',
                row='5.429 running with a job on the manager node', stop=[('localhost', aid('a'))],
                item_states={'a': 'abnormal_end', 'b': 'waiting'}),
    _frame_case('5.429-running-with-jobs-on-agent-nodes', 'running',
                [job('a', 'running', 'agent1'), job('b', 'running', 'agent2'), job('c', 'normal_end')],
                fetched={'a': 'running', 'b': 'normal_end'}, derived='running',
                row='5.429 running with jobs on agent nodes',
                item_states={'a': 'running', 'b': 'normal_end', 'c': 'normal_end'}),
    _frame_case('5.429-abnormal_end', 'abnormal_end', [job('a', 'abnormal_end'), job('b', 'normal_end')],
                fetched={'a': 'abnormal_end'}, derived='abnormal_end', row='5.429 abnormal_end'),
    _frame_case('5.429-has_errors', 'has_errors', [job('a', 'abnormal_end'), job('b', 'running', 'agent2')],
                fetched={'a': 'abnormal_end', 'b': 'running'}, derived='has_errors', row='5.429 has_errors',
                item_states={'a': 'abnormal_end', 'b': 'running'}),
    _frame_case('5.429-stopped', 'stopped', [job('a', 'normal_end'), job('b', 'waiting'), job('c', 'queuing')],
                derived='stopped', row='5.429 stopped',
                item_states={'a': 'normal_end', 'b': 'waiting', 'c': 'queuing'}),
]


@pytest.mark.parametrize('frame_state, records, fetched, derived, row, options, start_at, stop, message, '
                         'item_states', FRAME_CASES)
def test_frame_table_5_429(frame_state, records, fetched, derived, row, options, start_at, stop, message,
                           item_states):
    inst = instance(frame_state)
    items = items_of(*records)
    answers = {items[p]['attempt_id']: answer(items[p], s) for p, s in dict(fetched).items()}
    result = recover(inst, items, fetched=answers, options=options, start_at=start_at)
    assert result.rows[''] == row
    new_inst = result.instance or inst
    new_items = after(items, result)
    assert derive(new_inst['state'], [i for i in new_items.values() if not i['parent']]) == derived
    assert result.stop == list(stop)
    if message:
        assert any(message in m for m in result.messages), result.messages
    if item_states:
        assert {p: new_items[p]['state'] for p in item_states} == item_states
    assert set(result.rows) == {''} | set(items), 'a row is recorded for the frame and every item'
    if frame_state == 'stopped':
        assert result.instance is None and new_inst['flags']['stopped'] is True


def test_5_429_standby_reset_refuses_a_frame_whose_job_may_run():
    items = items_of(job('a', 'running'))
    with pytest.raises(R.IncompleteRecord) as info:
        recover(instance('standby'), items, fetched={}, start_at=NOW - dt.timedelta(hours=1))
    assert info.value.path == 'a' and 'may run' in str(info.value)


# ------------------------------------------------------------------------------------------------ table 5.430

def _net_case(case_id, net_state, children, *, fetched=(), row, derived, options=DEFAULT):
    return pytest.param(net_state, children, fetched, row, derived, options, id=case_id)


NET_CASES = [
    _net_case('5.430-not_submitted', 'not_submitted', [job('n/a', 'not_submitted')], row='5.430 not_submitted',
              derived='not_submitted'),
    _net_case('5.430-waiting', 'waiting', [job('n/a', 'waiting')], row='5.430 waiting', derived='waiting'),
    _net_case('5.430-normal_end', 'normal_end', [job('n/a', 'normal_end')], row='5.430 normal_end',
              derived='normal_end'),
    _net_case('5.430-skip_end', 'skip_end', [job('n/a', 'skip_end')], row='5.430 skip_end', derived='skip_end'),
    _net_case('5.430-skip_wait', 'skip_wait', [job('n/a', 'waiting')], row='5.430 skip_wait',
              derived='skip_wait'),
    _net_case('5.430-paused', 'paused', [job('n/a', 'waiting')], row='5.430 paused', derived='paused'),
    _net_case('5.430-pause_wait', 'pause_wait', [job('n/a', 'waiting')], row='5.430 pause_wait',
              derived='pause_wait'),
    _net_case('5.430-running-with-a-job-on-the-manager-node', 'running',
              [net('n/m', 'running', 'n'), job('n/m/a', 'running', 'localhost')],
              row='5.430 running with a job on the manager node', derived='abnormal_end'),
    _net_case('5.430-running-with-jobs-on-agent-nodes', 'running', [job('n/a', 'running')],
              fetched={'n/a': 'running'}, row='5.430 running with jobs on agent nodes', derived='running'),
    _net_case('5.430-abnormal_end', 'abnormal_end', [job('n/a', 'abnormal_end')],
              fetched={'n/a': 'abnormal_end'}, row='5.430 abnormal_end', derived='abnormal_end'),
    _net_case('5.430-has_errors', 'has_errors', [job('n/a', 'abnormal_end'), job('n/b', 'running')],
              fetched={'n/b': 'running'}, row='5.430 has_errors', derived='has_errors'),
    _net_case('5.430-stopped', 'stopped', [job('n/a', 'waiting'), job('n/b', 'normal_end')],
              row='5.430 stopped', derived='stopped'),
]


@pytest.mark.parametrize('net_state, children, fetched, row, derived, options', NET_CASES)
def test_net_table_5_430(net_state, children, fetched, row, derived, options):
    items = items_of(net('n', net_state), *children)
    answers = {items[p]['attempt_id']: answer(items[p], s) for p, s in dict(fetched).items()}
    result = recover(instance('running'), items, fetched=answers, options=options)
    assert result.rows['n'] == row
    new = after(items, result)

    def derived_state(path):
        kids = [i for i in new.values() if i['parent'] == path]
        return derive(new[path]['state'], [dict(k, state=derived_state(k['path'])) if k['kind'] == 'net' else k
                                           for k in kids])

    assert derived_state('n') == derived
    assert new['n']['state'] == net_state, 'recovery leaves a net to the derivation (or keeps its held state)'
    if net_state == 'stopped':
        assert new['n']['flags']['stopped'] is True


# ------------------------------------------------------------------------------------------------ table 5.432

SKIP_CASES = [
    # id, before, state after the skip pass, row of the skip pass
    ('5.432-not_submitted', job('j', 'not_submitted'), 'not_submitted', '5.431 not_submitted'),
    ('5.432-waiting', job('j', 'waiting'), 'waiting', '5.431 waiting'),
    ('5.432-normal_end', job('j', 'normal_end'), 'normal_end', '5.431 normal_end'),
    ('5.432-skip_end', job('j', 'skip_end'), 'skip_end', '5.431 skip_end'),
    ('5.432-skip_wait', job('j', 'skip_wait'), 'skip_wait', '5.431 skip_wait'),
    ('5.432-paused', job('j', 'paused'), 'paused', '5.431 paused'),
    ('5.432-pause_wait', job('j', 'pause_wait'), 'pause_wait', '5.431 pause_wait'),
    ('5.432-running', job('j', 'running'), 'queuing_env_down', '5.432 running (recovery skip)'),
    ('5.432-abnormal_end', job('j', 'abnormal_end'), 'queuing_env_down', '5.432 abnormal_end (recovery skip)'),
    ('5.432-queuing', job('j', 'queuing'), 'queuing', '5.431 queuing'),
    ('5.432-queuing-attempt-launching', job('j', 'queuing', attempt=1, phase='launching'), 'queuing_env_down',
     'write-ahead queuing, attempt launching'),
    ('5.432-running-on-the-manager-node', job('j', 'running', 'localhost'), 'abnormal_end',
     '5.431 running on the manager node'),
]


@pytest.mark.parametrize('before, state, row', [pytest.param(b, s, r, id=i) for i, b, s, r in SKIP_CASES])
def test_recovery_skip_pass_5_432(before, state, row):
    result = recover(instance('running'), items_of(before), fetched=None, options=SKIP)
    new = after({'j': before}, result)['j']
    assert new['state'] == state
    assert result.rows['j'] == row
    assert result.messages.count(R.skip_message()) == 1
    assert new['attempt_id'] == before['attempt_id'], 'the attempt is kept for the second recovery'


def test_recovery_skip_asks_no_host():
    items = items_of(job('a', 'running'), job('b', 'abnormal_end'), job('c', 'queuing', phase='launching',
                                                                        attempt=1))
    assert R.attempts_to_poll(instance(), items, options=SKIP) == {}
    assert R.attempts_to_poll(instance(), items) == {'agent1': sorted([aid('a'), aid('b'), aid('c')])}


SECOND_PASS_CASES = [
    # id, before the failure, answer in the second (normal) recovery, state after it, message
    ('5.432-running-agent-machine-stopped', job('j', 'running'), None, 'abnormal_end',
     'JNR104 job j: agent machine stopped: attempt %s lost on agent1' % aid('j')),
    ('5.432-running-agent-did-not-stop', job('j', 'running'), 'running', 'running', None),
    ('5.432-running-ended-normally-meanwhile', job('j', 'running'), 'normal_end', 'normal_end', None),
    ('5.432-running-lost-on-the-agent', job('j', 'running'), 'lost', 'abnormal_end', 'lost'),
    ('5.432-abnormal_end-as-a-normal-recovery', job('j', 'abnormal_end'), 'abnormal_end', 'abnormal_end', None),
    ('5.432-abnormal_end-agent-machine-stopped', job('j', 'abnormal_end'), None, 'abnormal_end', 'JNR104'),
    ('5.432-queuing-attempt-launching-never-started', job('j', 'queuing', attempt=1, phase='launching'), None,
     'queuing', 'JNR105'),
    ('5.432-queuing-attempt-launching-started', job('j', 'queuing', attempt=1, phase='launching'), 'running',
     'running', None),
]


@pytest.mark.parametrize('before, reply, state, message',
                         [pytest.param(b, a, s, m, id=i) for i, b, a, s, m in SECOND_PASS_CASES])
def test_second_normal_recovery_after_skip_5_432(before, reply, state, message):
    items = items_of(before)
    first = recover(instance('running'), items, fetched=None, options=SKIP)
    items = after(items, first)
    assert items['j']['state'] == 'queuing_env_down'
    assert R.attempts_to_poll(instance(), items) == {'agent1': [aid('j')]}
    fetched = {aid('j'): answer(items['j'], reply)} if reply else {}
    second = recover(instance('running'), items, fetched=fetched)
    new = after(items, second)['j']
    assert new['state'] == state
    assert second.rows['j'] == '5.432 queuing_env_down, second (normal) recovery'
    if message:
        assert any(message in m for m in second.messages), second.messages
    assert R.skip_message() not in second.messages


def test_5_432_env_down_without_an_attempt_queues_again():
    items = items_of(job('j', 'queuing_env_down', attempt=0))
    result = recover(instance(), items, fetched={})
    assert after(items, result)['j']['state'] == 'queuing'
    assert R.attempts_to_poll(instance(), items) == {}


def test_5_432_abnormal_end_without_an_attempt_stays_abnormal_end_under_skip():
    items = items_of(job('j', 'abnormal_end', attempt=0))
    result = recover(instance(), items, options=SKIP)
    assert after(items, result)['j']['state'] == 'abnormal_end'


# ------------------------------------------------------------------------------------------------ write-ahead

LAUNCHING_CASES = [
    pytest.param(job('j', 'queuing', attempt=2, phase='launching'), 'running', 'running', 'launched', None,
                 id='write-ahead-queuing-launching-found-running'),
    pytest.param(job('j', 'queuing', attempt=2, phase='launching'), 'normal_end', 'normal_end', 'launched', None,
                 id='write-ahead-queuing-launching-found-ended-normally'),
    pytest.param(job('j', 'queuing', attempt=2, phase='launching'), 'abnormal_end', 'abnormal_end', 'launched',
                 None, id='write-ahead-queuing-launching-found-ended-abnormally'),
    pytest.param(job('j', 'queuing', attempt=2, phase='launching'), None, 'queuing', 'launching', 'JNR105',
                 id='write-ahead-queuing-launching-not-found'),
    pytest.param(job('j', 'waiting', attempt=2, phase='launching'), None, 'queuing', 'launching', 'JNR105',
                 id='write-ahead-waiting-launching-not-found'),
    pytest.param(job('j', 'waiting', attempt=2, phase='launching'), 'running', 'running', 'launched', None,
                 id='write-ahead-waiting-launching-found-running'),
    pytest.param(job('j', 'running', attempt=2, phase='launching'), 'running', 'running', 'launched', None,
                 id='write-ahead-running-launching-found-running'),
    pytest.param(job('j', 'running', attempt=2, phase='launching'), None, 'queuing', 'launching', 'JNR105',
                 id='write-ahead-running-launching-not-found'),
    pytest.param(job('j', 'queuing_env_down', attempt=2, phase='launching'), None, 'queuing', 'launching', 'JNR105',
                 id='write-ahead-env-down-launching-not-found'),
]


@pytest.mark.parametrize('before, reply, state, phase, message', LAUNCHING_CASES)
def test_write_ahead_attempt_is_resolved_against_its_host(before, reply, state, phase, message):
    items = items_of(before)
    assert R.attempts_to_poll(instance(), items) == {'agent1': [aid('j', 2)]}
    fetched = {aid('j', 2): answer(before, reply)} if reply else {}
    result = recover(instance(), items, fetched=fetched)
    new = after(items, result)['j']
    assert new['state'] == state
    assert new['phase'] == phase
    assert new['attempt'] == 2 and new['attempt_id'] == aid('j', 2), 'the attempt is never renumbered here'
    if message:
        assert any(message in m for m in result.messages)
    assert result.stop == []


def test_write_ahead_on_the_manager_node_found_running_is_ended_and_stopped():
    before = job('j', 'queuing', 'localhost', attempt=1, phase='launching')
    items = items_of(before)
    assert R.attempts_to_poll(instance(), items) == {'localhost': [aid('j')]}
    result = recover(instance(), items, fetched={aid('j'): answer(before, 'running')})
    assert after(items, result)['j']['state'] == 'abnormal_end'
    assert result.stop == [('localhost', aid('j'))]


def test_write_ahead_on_the_manager_node_under_skip_stays_launching():
    before = job('j', 'queuing', 'localhost', attempt=1, phase='launching')
    result = recover(instance(), items_of(before), options=SKIP)
    assert result.items == {}, 'relaunching the same attempt id is idempotent, so it is left as it was'


# ------------------------------------------------------------------------------------------------ extension

ADOPT_CASES = [
    pytest.param(job('j', 'running', 'localhost'), 'running', 'running', [], id='adopt-manager-job-still-running'),
    pytest.param(job('j', 'running', 'localhost'), 'normal_end', 'normal_end', [],
                 id='adopt-manager-job-ended-normally'),
    pytest.param(job('j', 'running', 'localhost'), None, 'abnormal_end', [], id='adopt-manager-job-not-found'),
]


@pytest.mark.parametrize('before, reply, state, stop', ADOPT_CASES)
def test_adopt_manager_jobs_extension(before, reply, state, stop):
    items = items_of(before)
    assert R.attempts_to_poll(instance(), items) == {}, 'by default a manager job is stopped, not asked about'
    assert R.attempts_to_poll(instance(), items, options=ADOPT) == {'localhost': [aid('j')]}
    fetched = {aid('j'): answer(before, reply)} if reply else {}
    result = recover(instance(), items, fetched=fetched, options=ADOPT)
    assert after(items, result)['j']['state'] == state
    assert result.stop == stop
    assert result.rows['j'] == 'extension running on the manager node, adopted (adopt_manager_jobs)'
    assert result.rows[''] == '5.429 running with jobs on agent nodes'


def test_adopt_manager_jobs_under_skip_is_env_down():
    result = recover(instance(), items_of(job('j', 'running', 'localhost')), options=R.RecoveryOptions(
        adopt_manager_jobs=True, recovery_skip=True))
    assert result.items['j']['state'] == 'queuing_env_down' and result.stop == []


# ------------------------------------------------------------------------------------------------ unreachable

def test_unreachable_host_jobs_are_env_down_and_other_hosts_go_on():
    items = items_of(job('load/a', 'running', 'agent3', parent=''), job('b', 'running', 'agent1'),
                     job('c', 'queuing', 'agent3', attempt=1, phase='launching'),
                     job('d', 'queuing_env_down', 'agent3'), job('e', 'abnormal_end', 'agent3'),
                     job('f', 'waiting', 'agent3'))
    polls = R.attempts_to_poll(instance(), items)
    assert polls == {'agent1': [aid('b')], 'agent3': sorted([aid('load/a'), aid('c'), aid('d'), aid('e')])}
    result = recover(instance(), items, fetched={aid('b'): answer(items['b'], 'normal_end')},
                     unreachable={'agent3'})
    new = after(items, result)
    assert {p: i['state'] for p, i in new.items()} == {
        'load/a': 'queuing_env_down', 'b': 'normal_end', 'c': 'queuing_env_down', 'd': 'queuing_env_down',
        'e': 'abnormal_end', 'f': 'waiting'}
    assert 'JNR102 job load/a on agent3: unreachable, queuing_env_down' in result.messages
    assert 'JNR102 job c on agent3: unreachable, queuing_env_down' in result.messages
    assert new['c']['phase'] == 'launching', 'still unresolved: the next recovery resolves it'
    assert new['e'] == items['e'], 'an abnormal_end job keeps what it had'


# ------------------------------------------------------------------------------------------------ recovery off

def test_recovery_off_leaves_the_instance_alone():
    items = items_of(net('n', 'running'), job('n/a', 'running', 'localhost'), job('b', 'running'))
    result = recover(instance('running'), items, fetched={}, options=R.RecoveryOptions(recovery=False))
    assert result.instance is None and result.items == {} and result.stop == []
    assert set(result.rows.values()) == {'recovery off'} and set(result.rows) == {'', 'n', 'n/a', 'b'}
    assert result.messages == [M.MESSAGES['JNR109'].format(iid=IID)]
    assert R.attempts_to_poll(instance(), items, options=R.RecoveryOptions(recovery=False)) == {}


# ------------------------------------------------------------------------------------------------ bad records

def _without(record, key):
    record = dict(record)
    del record[key]
    return record


INCOMPLETE_CASES = [
    pytest.param(items_of(_without(job('a', 'running'), 'attempt_id')), 'a', 'missing attempt_id',
                 id='incomplete-missing-attempt_id'),
    pytest.param(items_of(_without(job('a', 'waiting'), 'state')), 'a', 'missing state', id='incomplete-no-state'),
    pytest.param(items_of(job('a', 'runing')), 'a', "unknown state 'runing'", id='incomplete-unknown-state'),
    pytest.param(items_of(job('a', 'standby')), 'a', 'standby is not a state of a job',
                 id='incomplete-job-in-standby'),
    pytest.param(items_of(job('a', 'stopped')), 'a', 'stopped is not a state of a job',
                 id='incomplete-job-stopped'),
    pytest.param(items_of(net('n', 'standby')), 'n', 'standby is not a state of a net',
                 id='incomplete-net-in-standby'),
    pytest.param(items_of(job('a', 'running', attempt=0, phase=None)), 'a', 'without an attempt_id',
                 id='incomplete-running-agent-job-without-attempt'),
    pytest.param(items_of(job('a', 'queuing', phase='launching', attempt=0)), 'a',
                 'phase launching without an attempt_id', id='incomplete-launching-without-attempt'),
    pytest.param(items_of(job('a', 'queuing', phase='started')), 'a', "unknown phase 'started'",
                 id='incomplete-unknown-phase'),
    pytest.param(items_of(job('n/a', 'waiting')), 'n/a', "parent 'n' is not a net", id='incomplete-orphan'),
    pytest.param({'x': job('a', 'waiting')}, 'x', "recorded under 'x'", id='incomplete-path-mismatch'),
    pytest.param(items_of(job('a', 'waiting', kind='task')), 'a', "unknown kind 'task'",
                 id='incomplete-unknown-kind'),
    pytest.param(items_of(job('a', 'waiting', host='')), 'a', 'without a host', id='incomplete-no-host'),
    pytest.param(items_of(job('a', 'waiting', attempt='1')), 'a', 'is not a count', id='incomplete-bad-attempt'),
]


@pytest.mark.parametrize('items, path, problem', INCOMPLETE_CASES)
def test_incomplete_records_are_refused_naming_instance_and_item(items, path, problem):
    with pytest.raises(R.IncompleteRecord) as info:
        recover(instance(), items, fetched={})
    assert isinstance(info.value, ValueError)
    assert (info.value.instance_id, info.value.path) == (IID, path)
    assert problem in info.value.problem
    assert IID in str(info.value) and path in str(info.value)


@pytest.mark.parametrize('inst, problem', [
    pytest.param(_without(instance(), 'state'), "no 'state'", id='incomplete-instance-no-state'),
    pytest.param(instance('sleeping'), "unknown state 'sleeping'", id='incomplete-instance-unknown-state'),
])
def test_incomplete_instance_is_refused(inst, problem):
    with pytest.raises(R.IncompleteRecord) as info:
        recover(inst, {}, fetched={})
    assert problem in info.value.problem and info.value.path == ''


def test_an_unknown_job_info_state_is_refused():
    items = items_of(job('a', 'running'))
    with pytest.raises(R.IncompleteRecord, match='unknown job state'):
        recover(instance(), items, fetched={aid('a'): dict(answer(items['a'], 'running'), state='zombie')})


@pytest.mark.parametrize('kwargs, message', [
    pytest.param({'fetched': {}, 'options': SKIP}, 'fetched must be None', id='fetched-under-skip'),
    pytest.param({'fetched': None, 'options': DEFAULT}, 'fetched is None', id='no-fetched-without-skip'),
    pytest.param({'fetched': {}, 'options': DEFAULT, 'now': NOW.replace(tzinfo=None)}, 'aware',
                 id='naive-now'),
])
def test_bad_calls_are_refused(kwargs, message):
    kwargs.setdefault('now', NOW)
    with pytest.raises(ValueError, match=message):
        R.recover_instance(instance(), {}, unreachable=set(), **kwargs)


# ------------------------------------------------------------------------------------------------ options

@pytest.mark.parametrize('mapping, expected', [
    pytest.param({}, DEFAULT, id='defaults'),
    pytest.param({'end_recover': 'N'}, R.RecoveryOptions(end_recover=False), id='sj-pex-style-N'),
    pytest.param({'auto_rerun': 'no', 'recovery_skip': 'yes'},
                 R.RecoveryOptions(auto_rerun=False, recovery_skip=True), id='yes-no'),
    pytest.param({'recovery': 'off', 'adopt_manager_jobs': 'TRUE'},
                 R.RecoveryOptions(recovery=False, adopt_manager_jobs=True), id='on-off-true'),
    pytest.param({'end_recover': 0, 'recovery_skip': None}, R.RecoveryOptions(end_recover=False), id='int-none'),
])
def test_options_from_mapping(mapping, expected):
    assert R.RecoveryOptions.from_mapping(mapping, where='ini [jobnet_recovery]') == expected


def test_options_layer_over_a_base():
    base = R.RecoveryOptions.from_mapping({'auto_rerun': False}, where='vars')
    frame = R.RecoveryOptions.from_mapping({'end_recover': 'n'}, where='frame nightly', base=base)
    assert frame == R.RecoveryOptions(auto_rerun=False, end_recover=False)


@pytest.mark.parametrize('mapping, message', [
    pytest.param({'end_recover': 'maybe'}, "recovery option end_recover in frame nightly: 'maybe'", id='not-bool'),
    pytest.param({'end_recovery': True}, "unknown recovery option 'end_recovery' in frame nightly", id='typo'),
    pytest.param({'recovery': 2}, 'recovery option recovery in frame nightly: 2', id='int-2'),
])
def test_options_errors_name_where_and_key(mapping, message):
    with pytest.raises(ValueError) as info:
        R.RecoveryOptions.from_mapping(mapping, where='frame nightly')
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------ messages

def test_messages_use_the_original_ids():
    assert R.progress_message(3, 10, IID) == 'PEX058 frame recovery completed: 3 of 10 frames (%s)' % IID
    assert R.all_done_message(10).startswith('PEX060 all frames recovered: 10 frames')
    assert R.skip_message().startswith('PEX170 recovery skip')
    assert R.store_write_error_message('disk full').startswith('PEX209 status store write error: disk full')
    assert R.start_message(IID) == 'PEX056 frame recovery started: %s' % IID


def test_refused_operations_follow_notes_14_and_15():
    refused = R.refused_operations()
    assert refused['force_init'] == 14 and refused['suspend'] == 14
    for operation in ('init', 'force_start', 'stop', 'command_change', 'start_date_change'):
        assert refused[operation] == 15
    refused['init'] = 0
    assert R.refused_operations()['init'] == 15, 'a copy is returned'
    assert R.refusal_message('stop', IID) == 'JNR110 stop refused on %s: not allowed during recovery ' \
        '(5.5.3.3 note 15)' % IID


# ------------------------------------------------------------------------------------------------ tables

@pytest.mark.parametrize('kind, table', [
    pytest.param(Kind.FRAME, set(R.FRAME_TABLE), id='frame-table-covers-every-frame-state'),
    pytest.param(Kind.NET, set(R.NET_TABLE), id='net-table-covers-every-net-state'),
    pytest.param(Kind.JOB, {s for s, _on in R.JOB_TABLE}, id='job-table-covers-every-job-state'),
])
def test_tables_cover_every_state_of_their_kind(kind, table):
    assert table == set(STATES_BY_KIND[kind])


def test_every_row_names_an_action():
    rows = list(R.FRAME_TABLE.values()) + list(R.NET_TABLE.values()) + list(R.JOB_TABLE.values()) \
        + list(R.SKIP_TABLE.values())
    actions = set(R._ACTIONS) | {'derive', 'derive_running', 'by_start_time', 'reset'}
    assert {row.action for row in rows} <= actions


def test_attempts_to_poll_merges_to_one_call_per_host():
    a = R.attempts_to_poll(instance(), items_of(job('a', 'running', 'agent1'), job('b', 'running', 'agent2')))
    b = R.attempts_to_poll(instance(id='other@2026-11-21'),
                           items_of(job('a', 'running', 'agent1', attempt=4), job('c', 'normal_end')))
    assert R.merge_polls(a, b) == {'agent1': sorted([aid('a'), aid('a', 4)]), 'agent2': [aid('b')]}


def test_events_record_every_move():
    items = items_of(job('a', 'queuing', attempt=1, phase='launching'))
    result = recover(instance(), items, fetched={aid('a'): answer(items['a'], 'normal_end')})
    assert [(e['from'], e['to']) for e in result.events] == [('queuing', 'running'), ('running', 'normal_end')]
