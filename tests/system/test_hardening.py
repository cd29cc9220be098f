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
import re
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


def test_a_run_names_each_failed_job_on_its_own_host_with_its_reason_and_stderr(testenv, tmp_path, run_playbook):
    """The broken-interpreter and stderr cases: lines as jobs start and end, the reason and the last stderr line
    in the failure, the failed hosts in the play recap (not localhost), and no FAILED - RETRYING line."""
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    extra = tmp_path / 'broken.ini'
    extra.write_text('[agents]\nagent3 ansible_python_interpreter=/nonexistent/python3\n')
    frame = {'frame': 'explain', 'jobs': [
        {'name': 'disk', 'host': 'agent1', 'shell': 'echo copying; echo "disk full" >&2; exit 3'},
        {'name': 'fine', 'host': 'agent2', 'shell': 'sleep 1; echo fine'},
        {'name': 'broken', 'host': 'agent3', 'shell': 'echo never'},
        {'name': 'after', 'host': 'localhost', 'shell': 'echo after', 'after': ['fine']}]}
    path = write_frame(tmp_path, frame)
    out = run_playbook(['-i', testenv.env()['JOBNET_TEST_INVENTORY'], '-i', str(extra), 'jobnet.scheduler.run',
                        '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE],
                       env={'JOBNET_STORE': url, 'JOBNET_PROGRESS_INTERVAL': '1'}, timeout=300)
    log = out.stdout
    assert out.returncode == 2, log[-4000:]
    assert 'FAILED - RETRYING' not in log
    iid = 'explain@%s' % DATE
    assert 'jobnet: START %s fine on agent2 (attempt 1)' % iid in log
    assert 'jobnet: END %s fine on agent2: normal_end rc 0 after' % iid in log
    assert 'jobnet: END %s disk on agent1: abnormal_end rc 3 after' % iid in log
    assert 'jobnet:   stderr| disk full' in log
    assert 'jobnet: END %s broken on agent3: abnormal_end, not started (attempt 1): launch refused by agent3' % iid \
        in log, log[-4000:]
    assert 'jobnet: %s abnormal_end: 4/4 ended' % iid in log
    recap = {line.split()[0]: line for line in log.split('PLAY RECAP')[-1].splitlines() if ':' in line}
    assert 'failed=1' in recap['agent1'] and 'failed=1' in recap['agent3'], recap
    assert 'failed=0' in recap['agent2'] and 'failed=0' in recap['localhost'], recap
    assert 'fatal: [agent1]: FAILED! => {"changed": false, "msg": "%s disk: abnormal_end rc 3: ended with rc 3 ' \
        '(stderr: disk full)"}' % iid in log, log[-4000:]
    status = run_playbook(['jobnet.scheduler.status', '--check'], env={'JOBNET_STORE': url}, timeout=120)
    assert status.returncode == 0 and 'skipping' not in status.stdout, status.stdout[-3000:]
    row = [line for line in status.stdout.splitlines() if ' disk ' in line][0]
    assert row.rstrip().endswith('ended with rc 3 (stderr: disk full)'), row


def test_a_corrupt_instance_or_lease_beside_healthy_ones_refuses_only_itself(testenv, tmp_path, run_playbook):
    import sqlite3
    flags = ledger_dir()
    ledger, gate = str(flags / 'ledger'), flags / 'gate'
    db = tmp_path / 'state.db'
    url = 'sqlite:///%s' % db
    env = {'JOBNET_STORE': url}
    procs = []
    for name, host in (('healthy', 'agent1'), ('badinst', 'agent2'), ('badlease', 'agent3')):
        path = write_frame(tmp_path, {'frame': name, 'jobs': [gated('j', host, ledger + '.' + name, gate)]},
                           name='%s.yml' % name)
        procs.append(start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                              '-e', 'operation_date=%s' % DATE], str(tmp_path / ('%s.log' % name)),
                                    env=env))
    try:
        for name in ('healthy', 'badinst', 'badlease'):
            wait_for(name, lambda n=name: snapshot(url, '%s@%s' % (n, DATE))['j']['state'] == 'running')
    finally:
        for proc in procs:
            kill9(proc)
    con = sqlite3.connect(str(db))
    with con:
        con.execute("UPDATE instances SET data = '{not json' WHERE iid = ?", ('badinst@%s' % DATE,))
        con.execute("UPDATE leases SET data = '{\"epoch\": \"x\"}' WHERE iid = ?", ('badlease@%s' % DATE,))
    before = {r[0]: r[1] for r in con.execute('SELECT iid, data FROM instances')}
    con.close()
    gate.write_text('')
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'operation_date=%s' % DATE], env=env, timeout=300)
    log = out.stdout
    assert out.returncode == 2, log[-3000:]
    assert 'badinst@%s not recovered: corrupt record' % DATE in log, log[-3000:]
    refusal = log.split('badlease@%s not recovered' % DATE, 1)
    assert len(refusal) == 2 and 'lease' in refusal[1].splitlines()[0], log[-3000:]
    assert snapshot(url, 'healthy@%s' % DATE)['j']['state'] == 'normal_end'
    con = sqlite3.connect(str(db))
    after = {r[0]: r[1] for r in con.execute('SELECT iid, data FROM instances')}
    con.close()
    assert after['badinst@%s' % DATE] == before['badinst@%s' % DATE] == '{not json'   # left as it was
    status = run_playbook(['jobnet.scheduler.status'], env=env, timeout=120)
    assert status.returncode == 0, status.stdout[-3000:]
    assert re.search(r'badinst\s+corrupt', status.stdout) and re.search(r'healthy\s+normal_end', status.stdout), \
        status.stdout[-3000:]


def test_a_partial_launch_in_a_frame_starts_each_job_once_and_rerun_starts_only_the_refused(
        testenv, tmp_path, run_playbook):
    """A real partial launch: agent1's module Python may open 30 files, so one launch call of 40 jobs starts some
    supervisors and refuses the rest. The started ones are recorded running and end normal_end; the refused ones
    end abnormal_end naming the reason; a rerun starts only those. The ledger proves one start per job."""
    ledger = str(ledger_dir() / 'ledger')
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    wrapper = '/home/jobnet-agent1/python-partial-%d' % os.getpid()
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec /usr/bin/prlimit --nofile=30 /usr/bin/python3 "$@"\n')
    os.chmod(wrapper, 0o755)
    overlay = tmp_path / 'overlay.ini'
    overlay.write_text('[agents]\nagent1 ansible_python_interpreter=%s\n' % wrapper)
    names = ['j%02d' % i for i in range(40)]
    body = 'echo "%s start $(date +%%s.%%N) $$" >> %s; sleep 2; echo "%s end $(date +%%s.%%N) ok" >> %s'
    frame = {'frame': 'partial', 'jobs': [{'name': n, 'host': 'agent1', 'shell': body % (n, ledger, n, ledger)}
                                          for n in names]}
    path = write_frame(tmp_path, frame)
    iid = 'partial@%s' % DATE
    try:
        out = run_playbook(['jobnet.scheduler.run', '-i', testenv.inventory, '-i', str(overlay),
                            '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE], env=env, timeout=300)
    finally:
        os.unlink(wrapper)
    assert out.returncode == 2, out.stdout[-3000:]
    snap = snapshot(url, iid)
    ended = [n for n in names if snap[n]['state'] == 'normal_end']
    refused = [n for n in names if snap[n]['state'] == 'abnormal_end']
    assert ended and refused and sorted(ended + refused) == names, {n: snap[n]['state'] for n in names}
    assert all('Too many open files' in snap[n]['message'] for n in refused), snap[refused[0]]
    assert sorted(n for n in names if starts(ledger, n)) == sorted(ended), read_ledger(ledger)
    out = run_playbook(['jobnet.scheduler.rerun', '-e', 'frame=partial', '-e', 'operation_date=%s' % DATE],
                       env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    snap = snapshot(url, iid)
    assert all(snap[n]['state'] == 'normal_end' for n in names), {n: snap[n]['state'] for n in names}
    for n in names:
        assert len(starts(ledger, n)) == 1, (n, read_ledger(ledger).get(n))
        assert snap[n]['attempt'] == (2 if n in refused else 1), (n, snap[n])
