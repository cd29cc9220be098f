# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults that must end a run cleanly and recovery defects, on the real test hosts.

- A host driver that fails ends the whole run (exit 2, the host and the error named), the instance is left for
  ``recover``, and nothing runs twice.
- ``end_recover`` off after a real ``kill -9``: what had ended does not run again by itself; the ``rerun``
  operation runs it, once.
- A job running on the manager node that recovery stops is recorded with its real signal and end.
"""

from __future__ import annotations

import glob
import os
import time

from frames import (kill9, ledger_dir, read_ledger, snapshot, start_playbook, wait_for, write_frame)

DATE = '2026-11-25'


def gated(name, host, ledger, gate):
    return {'name': name, 'host': host, 'shell':
            'echo "%s start $(date +%%s.%%N) $$" >> %s; i=0; while [ ! -f %s ] && [ $i -lt 1500 ]; do sleep 0.2; '
            'i=$((i+1)); done; echo "%s end $(date +%%s.%%N) ok" >> %s' % (name, ledger, gate, name, ledger)}


def quick(name, host, ledger, **extra):
    out = {'name': name, 'host': host,
           'shell': 'echo "%s start $(date +%%s.%%N) $$" >> %s; echo "%s end $(date +%%s.%%N) ok" >> %s'
                    % (name, ledger, name, ledger)}
    out.update(extra)
    return out


def starts(ledger, name):
    return [e for e in read_ledger(ledger).get(name, []) if e[0] == 'start']


def attempt_folder(user_home, aid):
    matches = glob.glob(os.path.join(user_home, '.jobnet', 'jobs', aid))
    return matches[0] if matches else None


def test_a_host_driver_that_fails_ends_the_whole_run_and_names_the_host(testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    frame = {'frame': 'drvfail', 'jobs': [gated('x', 'agent2', ledger, gate), gated('y', 'agent1', ledger, gate),
                                          quick('z', 'agent1', ledger, after=['y'])]}
    path = write_frame(tmp_path, frame)
    iid = 'drvfail@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('x and y to run', lambda: all(snapshot(url, iid)[p]['state'] == 'running' for p in 'xy'))
        folder = attempt_folder('/home/jobnet-agent2', snapshot(url, iid)['x']['attempt_id'])
        assert folder, 'the attempt folder of x on agent2'
        status = os.path.join(folder, 'status.json')
        good = open(status, 'rb').read()
        with open(status, 'w') as f:
            f.write('{not json')
        t0 = time.monotonic()
        # the run ends by itself (agent1's driver stops too), well before the jobs do: they wait for the gate
        proc.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            kill9(proc)
    log = open(proc.log_path).read()
    assert proc.returncode == 2, log[-3000:]
    assert 'the driver of agent2 stopped' in log and 'status.json' in log, log[-3000:]
    assert took < 110, 'the run went on for %.0f s after the driver of agent2 failed' % took
    snap = snapshot(url, iid)
    assert snap['']['state'] == 'running' and snap['y']['state'] == 'running', snap
    # repaired, recovered and driven on: every job ran once
    with open(status, 'wb') as f:
        f.write(good)
    open(gate, 'w').close()
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'operation_date=%s' % DATE], env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    snap = snapshot(url, iid)
    assert {p: snap[p]['state'] for p in 'xyz'} == {'x': 'normal_end', 'y': 'normal_end', 'z': 'normal_end'}
    for name in 'xyz':
        assert len(starts(ledger, name)) == 1, (name, read_ledger(ledger))


def test_end_recover_off_after_kill9_does_not_run_ended_jobs_again_until_rerun(testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    frame = {'frame': 'endrec', 'jobs': [quick('a', 'agent1', ledger), gated('b', 'agent2', ledger, gate),
                                         quick('c', 'agent3', ledger, after=['a', 'b'])]}
    path = write_frame(tmp_path, frame)
    iid = 'endrec@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('a to end and b to run', lambda: (snapshot(url, iid)['a']['state'] == 'normal_end'
                                                   and snapshot(url, iid)['b']['state'] == 'running'))
    finally:
        kill9(proc)
    open(gate, 'w').close()
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'operation_date=%s' % DATE, '-e', 'end_recover=false'],
                       env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert 'Could not match supplied host pattern' not in out.stdout + out.stderr
    snap = snapshot(url, iid)
    # a had ended: back to not_submitted, not run again; c waits for it; b (running on its agent) was followed
    assert snap['a']['state'] == 'not_submitted', snap['a']
    assert snap['b']['state'] == 'normal_end', snap['b']
    assert snap['c']['state'] == 'waiting', snap['c']
    assert len(starts(ledger, 'a')) == 1 and not starts(ledger, 'c'), read_ledger(ledger)
    # the operator's word: rerun resubmits a, then c runs
    out = run_playbook(['jobnet.scheduler.rerun', '-e', 'frame=endrec', '-e', 'operation_date=%s' % DATE],
                       env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    snap = snapshot(url, iid)
    assert {p: snap[p]['state'] for p in 'abc'} == {'a': 'normal_end', 'b': 'normal_end', 'c': 'normal_end'}, snap
    assert snap['a']['attempt'] == 2 and 'end_recover' not in (snap['a']['message'] or '')
    assert len(starts(ledger, 'a')) == 2 and len(starts(ledger, 'b')) == 1 and len(starts(ledger, 'c')) == 1


def test_a_manager_job_stopped_by_recovery_is_recorded_with_its_signal_and_end(testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    frame = {'frame': 'mgrstop', 'jobs': [gated('m', 'localhost', ledger, gate)]}
    path = write_frame(tmp_path, frame)
    iid = 'mgrstop@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('m to run', lambda: snapshot(url, iid)['m']['state'] == 'running')
    finally:
        kill9(proc)
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'operation_date=%s' % DATE], env=env, timeout=300)
    open(gate, 'w').close()
    assert 'JNR101' in out.stdout, out.stdout[-3000:]
    snap = snapshot(url, iid)
    m = snap['m']
    assert m['state'] == 'abnormal_end', m
    assert m['signal'] == 15 and m['rc'] is None, m
    assert m['ended'] and m['ended'] >= m['started'], m
