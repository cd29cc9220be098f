# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operator operations on the real hosts: skip, pause, release, force_start, stop, init, force_init, and their
refusal while another live controller drives the instance (issue 3 item 6)."""

from __future__ import annotations

from frames import (kill9, ledger_dir, read_ledger, snapshot, start_playbook, states, status, wait_for,
                    write_frame)

DATE = '2026-11-25'


def rec(name, ledger, extra=''):
    return 'echo "%s start $(date +%%s.%%N)" >> %s; %s echo "%s end $(date +%%s.%%N)" >> %s' % (
        name, ledger, extra, name, ledger)


def starts(ledger, name):
    return len([r for r in read_ledger(ledger).get(name, []) if r[0] == 'start'])


def op(run_playbook, name, *extra, env=None):
    return run_playbook(['jobnet.scheduler.%s' % name, '-e', 'frame=ops', '-e', 'operation_date=%s' % DATE]
                        + list(extra), env=env)


def test_skip_pause_release_force_start_stop_and_init_on_a_frame(run_playbook, tmp_path, jobnet_store):
    ledger = str(ledger_dir() / 'ledger')
    fixed = ledger + '.fixed'
    frame = {'frame': 'ops', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': rec('a', ledger)},
        {'name': 'p', 'host': 'agent2', 'shell': rec('p', ledger), 'pause': True},
        {'name': 'q', 'host': 'agent3', 'shell': rec('q', ledger), 'after': ['p']},
        {'name': 'r', 'host': 'agent1', 'shell': rec('r', ledger), 'after': ['q']},
        {'name': 's', 'host': 'agent2', 'shell': rec('s', ledger), 'after': ['r']},
        {'name': 'f', 'host': 'agent3', 'shell': rec('f', ledger, 'test -f %s || exit 9;' % fixed)},
    ]}
    path = write_frame(tmp_path, frame)
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE])
    assert res.returncode != 0
    st = states(status(run_playbook, tmp_path))
    assert (st['a'], st['p'], st['q'], st['f'], st['']) == ('normal_end', 'paused', 'waiting', 'abnormal_end',
                                                            'abnormal_end')

    # skip q and pause r (neither has started); skipping a job that ended is refused
    assert op(run_playbook, 'skip', '-e', 'path=q').returncode == 0
    assert op(run_playbook, 'pause', '-e', 'path=r').returncode == 0
    refused = op(run_playbook, 'skip', '-e', 'path=a')
    assert refused.returncode != 0 and "job 'a' is normal_end" in refused.stdout, refused.stdout
    st = states(status(run_playbook, tmp_path))
    assert (st['q'], st['r']) == ('skip_wait', 'pause_wait')

    # release p: it runs, q is skipped, r pauses in its turn; the frame is still abnormal (f)
    res = op(run_playbook, 'release', '-e', 'path=p')
    assert res.returncode != 0
    st = states(status(run_playbook, tmp_path))
    assert (st['p'], st['q'], st['r'], st['s']) == ('normal_end', 'skip_end', 'paused', 'waiting'), st
    assert starts(ledger, 'p') == 1 and starts(ledger, 'q') == 0

    # force_start f after fixing it: it runs again (attempt 2) and ends normally
    open(fixed, 'w').close()
    res = op(run_playbook, 'force_start', '-e', 'path=f')
    st = states(status(run_playbook, tmp_path))
    assert st['f'] == 'normal_end' and starts(ledger, 'f') == 2
    assert snapshot(jobnet_store, 'ops@%s' % DATE)['f']['attempt'] == 2

    # stop the frame: nothing new starts, even a released job waits in the queue
    assert op(run_playbook, 'stop').returncode == 0
    assert states(status(run_playbook, tmp_path))[''] == 'stopped'
    res = op(run_playbook, 'release', '-e', 'path=r')
    assert starts(ledger, 'r') == 0, 'a stopped frame starts nothing new'
    st = states(status(run_playbook, tmp_path))
    assert st['r'] == 'queuing' and st[''] == 'stopped', st

    # rerun clears the stop: r and s run, the frame ends normally
    res = op(run_playbook, 'rerun')
    assert res.returncode == 0, res.stdout[-3000:]
    st = states(status(run_playbook, tmp_path))
    assert st[''] == 'normal_end' and st['s'] == 'normal_end'

    # init puts everything back to not_submitted, keeping attempt counters (an attempt id is never reused)
    assert op(run_playbook, 'init').returncode == 0
    snap = snapshot(jobnet_store, 'ops@%s' % DATE)
    assert snap['']['state'] == 'not_submitted'
    assert {it['state'] for p, it in snap.items() if p} == {'not_submitted'}
    assert snap['f']['attempt'] == 2


def test_init_is_refused_while_jobs_run_and_force_init_stops_them(testenv, run_playbook, tmp_path, jobnet_store):
    ledger = str(ledger_dir() / 'ledger')
    frame = {'frame': 'ops', 'jobs': [
        {'name': 'long', 'host': 'agent1', 'shell': rec('long', ledger, 'sleep 120;')}]}
    path = write_frame(tmp_path, frame)
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'))
    iid = 'ops@%s' % DATE
    try:
        wait_for('long to run', lambda: snapshot(jobnet_store, iid)['long']['state'] == 'running', timeout=120)
        aid = snapshot(jobnet_store, iid)['long']['attempt_id']
        # while the run drives the instance, an operation is refused and names the driver
        refused = op(run_playbook, 'stop')
        assert refused.returncode != 0 and 'driven by' in refused.stdout, refused.stdout[-2000:]
    finally:
        kill9(proc)
    refused = op(run_playbook, 'init')
    assert refused.returncode != 0 and 'use force_init' in refused.stdout, refused.stdout[-2000:]
    res = op(run_playbook, 'force_init')
    assert res.returncode == 0, res.stdout[-3000:]
    snap = snapshot(jobnet_store, iid)
    assert snap['']['state'] == 'not_submitted'
    # the job's process group is gone: its host reports it stopped, and its end line never came
    import json
    import subprocess
    out = subprocess.run(['ansible', 'agent1', '-m', 'jobnet.scheduler.job_info', '-o', '-a',
                          json.dumps({'ids': [aid], 'output': False})],
                         env=testenv.env(), capture_output=True, text=True, timeout=120, check=False)
    data = json.loads(out.stdout.split('=>', 1)[1])
    assert [j['state'] for j in data['jobs']] == ['stopped'], data
    assert [r[0] for r in read_ledger(ledger)['long']] == ['start']


def test_a_whole_frame_paused_or_skipped_before_it_starts(run_playbook, tmp_path, jobnet_store):
    """skip / pause / release without path: the frame's own marks, taken at its start (table 5.429 rows)."""
    import datetime
    ledger = str(ledger_dir() / 'ledger')
    iid = 'ops@%s' % DATE
    frame = {'frame': 'ops', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': rec('a', ledger)},
        {'name': 'b', 'host': 'agent2', 'shell': rec('b', ledger), 'after': ['a']}]}
    path = write_frame(tmp_path, frame)
    # a started frame cannot be marked as a whole
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE])
    assert res.returncode == 0, res.stdout[-3000:]
    refused = op(run_playbook, 'pause')
    assert refused.returncode != 0 and 'only a frame that has not started' in refused.stdout, refused.stdout[-2000:]

    # init, pause the frame, run it: it is paused at once (no start time); nothing starts until release
    assert op(run_playbook, 'init').returncode == 0
    res = op(run_playbook, 'pause')
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE])
    assert res.returncode == 0, res.stdout[-3000:]
    assert states(status(run_playbook, tmp_path)) == {'': 'paused', 'a': 'waiting', 'b': 'waiting'}
    assert starts(ledger, 'a') == 1, 'only the first run started a'
    res = op(run_playbook, 'release')
    assert res.returncode == 0, res.stdout[-3000:]
    assert states(status(run_playbook, tmp_path)) == {'': 'normal_end', 'a': 'normal_end', 'b': 'normal_end'}
    assert starts(ledger, 'a') == 2 and starts(ledger, 'b') == 2

    # a frame with a start time, skipped while it waits for it: skip_wait, then skip_end at the start time
    assert op(run_playbook, 'init').returncode == 0
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=6)).isoformat(
        timespec='seconds')
    timed = write_frame(tmp_path, dict(frame, start_at=start), 'timed.yml')
    res = op(run_playbook, 'skip')
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % timed, '-e', 'operation_date=%s' % DATE])
    assert res.returncode == 0, res.stdout[-3000:]
    assert 'submitted (skip_wait)' in res.stdout, res.stdout[-3000:]
    snap = snapshot(jobnet_store, iid)
    assert {p: it['state'] for p, it in snap.items()} == {'': 'skip_end', 'a': 'skip_end', 'b': 'skip_end'}
    assert snap['']['ended'] >= start.replace('+00:00', '')
    assert starts(ledger, 'a') == 2 and starts(ledger, 'b') == 2, 'a skipped frame starts nothing'
    refused = op(run_playbook, 'rerun')
    assert refused.returncode != 0 and 'was skipped (skip_end)' in refused.stdout, refused.stdout[-2000:]
