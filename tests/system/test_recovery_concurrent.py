# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two ``recover`` started at once on the same store after a real ``kill -9`` of ansible-playbook: exactly one
recovers the frame instance (and drives it on), the other is refused with a message naming the instance and the
controller that drives it; no job starts twice. While the recovery drives the instance, operations on it are
refused with a message (5.5.3.3 notes 14 and 15; one driver per instance)."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from frames import (finish, gated, kill9, ledger_dir, playbook_argv, read_ledger, snapshot, start_playbook, wait_for,
                    write_frame)

DATE = '2026-11-27'
FRAME = 'concur'
IID = '%s@%s' % (FRAME, DATE)
TIMEOUT = 240


def quick(name, host, ledger, **extra):
    out = {'name': name, 'host': host, 'shell': 'echo "%s start $(date +%%s.%%N) $$" >> %s; sleep 0.1; '
           'echo "%s end $(date +%%s.%%N) ok" >> %s' % (name, ledger, name, ledger)}
    out.update(extra)
    return out


def states_of(snap):
    return {p: it['state'] for p, it in snap.items()}


class Scenario:
    pass


@pytest.fixture(scope='module')
def scenario(testenv, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('concurrent')
    url = 'sqlite:///%s' % (tmp / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    frame = {'frame': FRAME, 'jobs': [
        gated('w1', 'agent1', ledger, flag),
        gated('w2', 'agent2', ledger, flag),
        quick('done1', 'agent1', ledger),
        quick('next1', 'agent1', ledger, after=['w1']),
        quick('next3', 'agent3', ledger, after=['w1', 'w2']),
    ]}
    path = write_frame(tmp, frame, 'concur.yml')
    run = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                   '-e', 'operation_date=%s' % DATE], str(tmp / 'run.log'), env=env)
    want = {'w1': 'running', 'w2': 'running', 'done1': 'normal_end', 'next1': 'waiting', 'next3': 'waiting'}
    try:
        wait_for('the frame in its states before the failure',
                 lambda: all(states_of(snapshot(url, IID)).get(p) == s for p, s in want.items()), timeout=120)
    finally:
        kill9(run)

    sc = Scenario()
    sc.ledger = ledger
    sc.url = url
    # two recoveries at once
    procs = [start_playbook(testenv, ['jobnet.scheduler.recover'], str(tmp / ('recover%d.log' % k)), env=env)
             for k in (1, 2)]
    try:
        # the refused one ends on its own (it has nothing to drive); the other drives the frame until the flag
        wait_for('one recovery to end', lambda: any(p.poll() is not None for p in procs), timeout=120)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        sc.loser_rc, sc.loser_out = finish(loser, 30)
        sc.winner_pid = winner.pid
        wait_for('the winning recovery to drive the frame',
                 lambda: 'Jobnet frame step' in open(winner.log_path, encoding='utf-8').read()
                 or winner.poll() is not None, timeout=120)
        sc.winner_alive_during_ops = winner.poll() is None
        # operations while the recovery drives the instance
        sc.ops = {}
        for op, extra in (('init', []), ('force_start', ['-e', 'path=next3']), ('stop', [])):
            out = subprocess.run(playbook_argv('jobnet.scheduler.%s' % op, '-e', 'frame=%s' % FRAME,
                                               '-e', 'operation_date=%s' % DATE, *extra),
                                 env=testenv.env(**env), capture_output=True, text=True, timeout=120, check=False)
            sc.ops[op] = out
        sc.during_ops = states_of(snapshot(url, IID))
        open(flag, 'w').close()
        sc.winner_rc, sc.winner_out = finish(winner, TIMEOUT)
    finally:
        open(flag, 'w').close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
            if not p.log_file.closed:
                p.log_file.close()
    sc.final = snapshot(url, IID)
    return sc


def test_two_recover_at_once_exactly_one_recovers(scenario):
    sc = scenario
    assert sc.winner_rc == 0, sc.winner_out[-4000:]
    assert re.search(r'PEX058 frame recovery completed: 1 of 1 frames \(%s\)' % re.escape(IID), sc.winner_out), \
        sc.winner_out[-4000:]
    assert 'PEX060 all frames recovered: 1 frames' in sc.winner_out
    assert sc.final['']['state'] == 'normal_end', sc.winner_out[-4000:]
    assert all(it['state'] == 'normal_end' for p, it in sc.final.items() if p), states_of(sc.final)


def test_two_recover_at_once_the_other_is_refused_naming_the_instance_and_its_owner(scenario):
    sc = scenario
    out = sc.loser_out
    assert '%s not recovered' % IID in out, out[-4000:]
    assert 'is driven by ansible-playbook pid %d' % sc.winner_pid in out, out[-4000:]
    assert 'what=recover' in out, out[-4000:]
    assert 'PEX058' not in out, 'the refused recovery must not recover the instance: ' + out[-4000:]
    assert sc.loser_rc != 0, 'a refused recovery fails: ' + out[-4000:]


def test_two_recover_at_once_no_job_starts_twice(scenario):
    sc = scenario
    ledger = read_ledger(sc.ledger)
    assert sorted(ledger) == ['done1', 'next1', 'next3', 'w1', 'w2']
    for name, recs in ledger.items():
        assert len([r for r in recs if r[0] == 'start']) == 1, '%s started %d times' % (
            name, len([r for r in recs if r[0] == 'start']))
    assert all(it['attempt'] == 1 for p, it in sc.final.items() if p and it['kind'] == 'job')


@pytest.mark.parametrize('op', ['init', 'force_start', 'stop'])
def test_operation_while_a_recovery_drives_the_instance_is_refused(scenario, op):
    sc = scenario
    assert sc.winner_alive_during_ops, 'the recovery ended before the operations were tried'
    out = sc.ops[op]
    text = out.stdout + out.stderr
    assert out.returncode != 0, text[-3000:]
    assert '%s refused' % op in text, text[-3000:]
    assert 'frame instance %s is driven by ansible-playbook pid %d' % (IID, sc.winner_pid) in text, text[-3000:]
    assert 'what=recover' in text


def test_refused_operations_changed_nothing(scenario):
    sc = scenario
    assert sc.during_ops['next3'] == 'waiting'
    assert sc.during_ops['w1'] == 'running' and sc.during_ops['w2'] == 'running'
    assert sc.during_ops[''] == 'running'
