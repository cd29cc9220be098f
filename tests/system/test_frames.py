# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Frames on the real hosts: dependencies, host limits, skip / pause, failure and rerun, Redis, ansible-runner,
concurrent controllers, and bad definitions (issue 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from frames import HOSTS, intervals, job, ledger_dir, max_overlap, read_ledger, states, status, write_frame

DATE = '2026-11-21'


def twenty_job_frame(ledger, fixed_flag):
    """20 jobs over localhost and agent1-3, nets, dependencies, a failing job, a skipped and a paused job."""
    h = HOSTS
    return {
        'frame': 'twenty',
        'jobs': [
            job('extract1', h[1], ledger),
            job('extract2', h[2], ledger),
            job('extract3', h[3], ledger),
            job('extract4', h[0], ledger),
            job('check', h[1], ledger, after=['extract1', 'extract2']),
        ],
        'nets': [
            {'name': 'load', 'after': ['extract1', 'extract2', 'extract3'], 'jobs': [
                job('stage1', h[1], ledger),
                job('stage2', h[2], ledger),
                job('stage3', h[3], ledger),
                job('stage4', h[1], ledger),
                job('stage5', h[2], ledger, skip=True),
                job('merge', h[3], ledger, after=['stage1', 'stage2', 'stage3', 'stage4', 'stage5']),
                job('verify', h[0], ledger, after=['merge'], fail_unless=fixed_flag),
            ]},
            {'name': 'side', 'after': ['extract4'], 'jobs': [
                job('s1', h[1], ledger),
                job('s2', h[2], ledger),
                job('s3', h[3], ledger),
                job('s4', h[1], ledger, after=['s1']),
                job('hold', h[2], ledger, after=['s2'], pause=True),
            ]},
            {'name': 'report', 'after': ['load', 'side'], 'jobs': [
                job('publish', h[3], ledger),
                job('notify', h[0], ledger, after=['publish']),
            ]},
        ],
    }


DEPS = {
    'check': ['extract1', 'extract2'],
    'stage1': ['extract1', 'extract2', 'extract3'], 'stage2': ['extract1', 'extract2', 'extract3'],
    'stage3': ['extract1', 'extract2', 'extract3'], 'stage4': ['extract1', 'extract2', 'extract3'],
    'merge': ['stage1', 'stage2', 'stage3', 'stage4'],
    'verify': ['merge'],
    's1': ['extract4'], 's2': ['extract4'], 's3': ['extract4'], 's4': ['s1'],
    'publish': ['verify', 'merge', 's1', 's2', 's3', 's4', 'hold'],
    'notify': ['publish'],
}
JOB_HOST = {}


def _host_of(frame):
    out = {}
    for j in frame['jobs']:
        out[j['name']] = j['host']
    for n in frame['nets']:
        for j in n['jobs']:
            out[j['name']] = j['host']
    return out


def assert_dependencies_and_limits(ledger, frame, limit):
    spans = intervals(ledger)
    hosts = _host_of(frame)
    for name, deps in DEPS.items():
        for s, _e in spans.get(name, []):
            for dep in deps:
                assert dep in spans, '%s started but its dependency %s never ran' % (name, dep)
                dep_end = max(e for _s, e in spans[dep])
                assert s >= dep_end, '%s started at %.3f before %s ended at %.3f' % (name, s, dep, dep_end)
    for host in HOSTS:
        host_spans = [sp for name, sps in spans.items() if hosts.get(name) == host for sp in sps]
        assert max_overlap(host_spans) <= limit, 'more than %d jobs ran at once on %s' % (limit, host)


def test_twenty_job_frame_holds_dependencies_and_host_limit_then_rerun_finishes_it(
        run_playbook, tmp_path, jobnet_store):
    ledger_d = ledger_dir(tmp_path)
    ledger = str(ledger_d / 'ledger')
    fixed = str(ledger_d / 'fixed')
    frame = twenty_job_frame(ledger, fixed)
    path = write_frame(tmp_path, frame)

    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE,
                        '-e', 'jobnet_max_running=2'])
    assert res.returncode != 0, 'a frame that ends abnormal_end must fail the playbook\n' + res.stdout
    st = states(status(run_playbook, tmp_path))
    assert st[''] == 'abnormal_end', st
    assert st['load/verify'] == 'abnormal_end'
    assert st['load/stage5'] == 'skip_end'
    assert st['side/hold'] == 'paused'
    assert st['load'] == 'abnormal_end'
    assert st['report'] == 'waiting' and st['report/publish'] == 'waiting'
    for name in ('extract1', 'extract2', 'extract3', 'extract4', 'check', 'load/stage1', 'load/merge', 'side/s4'):
        assert st[name] == 'normal_end', (name, st)
    assert 'stage5' not in read_ledger(ledger), 'a skipped job must not run'
    assert 'hold' not in read_ledger(ledger), 'a paused job must not run before it is released'
    assert_dependencies_and_limits(ledger, frame, 2)

    # release the paused job: it runs, the frame is still abnormal (verify still fails)
    res = run_playbook(['jobnet.scheduler.release', '-e', 'frame=twenty', '-e', 'operation_date=%s' % DATE,
                        '-e', 'path=side/hold', '-e', 'jobnet_max_running=2'])
    assert res.returncode != 0, res.stdout
    st = states(status(run_playbook, tmp_path))
    assert st['side/hold'] == 'normal_end' and st['side'] == 'normal_end', st

    # fix the cause, rerun: only verify restarts, then the report net runs, the frame ends normally
    open(fixed, 'w').close()
    res = run_playbook(['jobnet.scheduler.rerun', '-e', 'frame=twenty', '-e', 'operation_date=%s' % DATE,
                        '-e', 'jobnet_max_running=2'])
    assert res.returncode == 0, res.stdout + res.stderr
    st = states(status(run_playbook, tmp_path))
    assert st[''] == 'normal_end', st
    runs = read_ledger(ledger)
    assert len([r for r in runs['verify'] if r[0] == 'start']) == 2, 'verify runs once more on rerun'
    for name in ('extract1', 'merge', 'hold', 'publish', 'notify'):
        assert len([r for r in runs[name] if r[0] == 'start']) == 1, '%s ran more than once' % name
    assert_dependencies_and_limits(ledger, frame, 2)


def small_frame(ledger, name='small', seconds=0.3):
    return {
        'frame': name,
        'jobs': [job('a', 'agent1', ledger, seconds=seconds),
                 job('b', 'agent2', ledger, seconds=seconds, after=['a']),
                 job('c', 'localhost', ledger, seconds=seconds, after=['a'])],
        'nets': [{'name': 'n', 'after': ['b', 'c'], 'jobs': [job('d', 'agent3', ledger, seconds=seconds)]}],
    }


def test_frame_runs_to_normal_end_on_the_redis_store(run_playbook, tmp_path, redis_url):
    ledger = str(ledger_dir(tmp_path) / 'ledger')
    url = redis_url + '?prefix=t%d:' % time.monotonic_ns()
    path = write_frame(tmp_path, small_frame(ledger))
    env = {'JOBNET_STORE': url}
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE],
                       env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    st = states(status(run_playbook, tmp_path, env=env))
    assert st == {'': 'normal_end', 'a': 'normal_end', 'b': 'normal_end', 'c': 'normal_end', 'n': 'normal_end',
                  'n/d': 'normal_end'}
    assert sorted(read_ledger(ledger)) == ['a', 'b', 'c', 'd']


def test_frame_runs_through_ansible_runner_as_awx_does(testenv, tmp_path, jobnet_store):
    ledger = str(ledger_dir(tmp_path) / 'ledger')
    path = write_frame(tmp_path, small_frame(ledger, name='viarunner'))
    private = tmp_path / 'runner'
    (private / 'env').mkdir(parents=True)
    code = r'''
import json, sys, ansible_runner
r = ansible_runner.run(private_data_dir=sys.argv[1], playbook='jobnet.scheduler.run', inventory=sys.argv[2],
                       extravars={'frame_file': sys.argv[3], 'operation_date': sys.argv[4]},
                       fact_cache_type='ansible.builtin.jsonfile', quiet=True,
                       envvars={'JOBNET_STORE': sys.argv[5], 'ANSIBLE_COLLECTIONS_PATH': sys.argv[6],
                                'ANSIBLE_CONFIG': sys.argv[7],
                                'ANSIBLE_CALLBACKS_ENABLED': 'jobnet.scheduler.recorder'})
print(json.dumps({'status': r.status, 'rc': r.rc, 'stdout': r.stdout.read()}))
'''
    env = testenv.env()
    out = subprocess.run([sys.executable, '-c', code, str(private), testenv.inventory, path, DATE, jobnet_store,
                          testenv.collections_path, testenv.ansible_config],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    import json
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data['status'] == 'successful' and data['rc'] == 0, data['stdout']
    assert 'jobnet: viarunner@%s' % DATE in data['stdout'] or 'viarunner@' in data['stdout']
    assert sorted(read_ledger(ledger)) == ['a', 'b', 'c', 'd']


def test_second_run_of_the_same_instance_is_refused_and_no_job_starts_twice(testenv, tmp_path, jobnet_store):
    ledger = str(ledger_dir(tmp_path) / 'ledger')
    path = write_frame(tmp_path, small_frame(ledger, name='twice', seconds=2))
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), 'jobnet.scheduler.run',
            '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE]
    env = testenv.env()
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    rcs = [p.returncode for p in procs]
    assert sorted(rcs)[0] == 0 and sorted(rcs)[1] != 0, (rcs, outs)
    refused = outs[rcs.index(max(rcs))]
    assert 'frame instance twice@%s' % DATE in refused and ('driven by' in refused or 'already submitted' in refused), \
        refused
    runs = read_ledger(ledger)
    assert sorted(runs) == ['a', 'b', 'c', 'd']
    for name, recs in runs.items():
        assert len([r for r in recs if r[0] == 'start']) == 1, '%s started twice' % name


BAD_FRAMES = {
    'cycle': ({'frame': 'bad', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': 'true', 'after': ['b']},
        {'name': 'b', 'host': 'agent1', 'shell': 'true', 'after': ['a']}]}, 'cycle'),
    'unknown-dependency': ({'frame': 'bad', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'true',
                                                      'after': ['nope']}]}, "unknown dependency 'nope'"),
    'unknown-host': ({'frame': 'bad', 'jobs': [{'name': 'a', 'host': 'agent9', 'shell': 'true'}]}, 'agent9'),
    'duplicate-name': ({'frame': 'bad', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': 'true'},
        {'name': 'a', 'host': 'agent2', 'shell': 'true'}]}, 'duplicate'),
    'bad-name': ({'frame': 'bad', 'jobs': [{'name': '../x', 'host': 'agent1', 'shell': 'true'}]}, '../x'),
    'bad-type': ({'frame': 'bad', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'true', 'timeout': 'soon'}]},
                 'timeout'),
}


@pytest.mark.parametrize('case', sorted(BAD_FRAMES))
def test_bad_definition_fails_before_anything_is_recorded_or_started(case, run_playbook, tmp_path, jobnet_store):
    frame, expected = BAD_FRAMES[case]
    path = write_frame(tmp_path, frame)
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE])
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert 'invalid frame' in out and expected in out, out
    doc = status(run_playbook, tmp_path)
    assert doc['frames'] == [], 'nothing may be recorded for an invalid frame'


def test_run_refuses_when_forks_are_fewer_than_the_frame_hosts(run_playbook, tmp_path, jobnet_store):
    ledger = str(ledger_dir(tmp_path) / 'ledger')
    path = write_frame(tmp_path, small_frame(ledger, name='forks'))
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '--forks', '2'])
    assert res.returncode != 0
    assert 'raise forks to at least 4' in res.stdout, res.stdout
    assert not read_ledger(ledger)
    assert status(run_playbook, tmp_path)['frames'] == []


def test_recorder_prints_progress_and_writes_the_event_history_in_utc(run_playbook, tmp_path, jobnet_store):
    ledger = str(ledger_dir() / 'ledger')
    frame = small_frame(ledger, name='recorded', seconds=3)
    path = write_frame(tmp_path, frame)
    history = tmp_path / 'history'
    res = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE],
                       env={'ANSIBLE_CALLBACKS_ENABLED': 'jobnet.scheduler.recorder',
                            'JOBNET_HISTORY_DIR': str(history), 'JOBNET_PROGRESS_INTERVAL': '1',
                            'JOBNET_STEP_SECONDS': '2'})
    assert res.returncode == 0, res.stdout[-3000:]
    progress = [line for line in res.stdout.splitlines() if line.startswith('jobnet: recorded@%s' % DATE)]
    assert progress and 'ended' in progress[-1] and 'running' in progress[-1], res.stdout[-3000:]
    assert '4/4 ended' in progress[-1], progress
    import json
    lines = (history / ('recorded@%s.jsonl' % DATE)).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    wanted = {('a', 'running'), ('a', 'normal_end'), ('n/d', 'normal_end'), ('', 'normal_end')}
    assert {(e['path'], e['to']) for e in events} >= wanted
    assert all(e['time'].endswith('Z') and e['recorded'].endswith('Z') for e in events)
    # the submit's own changes are there too, each change once, named after the action that made it
    assert ('a', 'queuing', 'frame_submit') in {(e['path'], e['to'], e['source']) for e in events}
    assert ('a', 'running', 'frame_step') in {(e['path'], e['to'], e['source']) for e in events}
    assert len([e for e in events if (e['path'], e['to']) == ('a', 'queuing')]) == 1
    # and an operation's
    res = run_playbook(['jobnet.scheduler.init', '-e', 'frame=recorded', '-e', 'operation_date=%s' % DATE],
                       env={'ANSIBLE_CALLBACKS_ENABLED': 'jobnet.scheduler.recorder',
                            'JOBNET_HISTORY_DIR': str(history)})
    assert res.returncode == 0, res.stdout[-3000:]
    lines = (history / ('recorded@%s.jsonl' % DATE)).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert ('', 'not_submitted', 'frame_op') in {(e['path'], e['to'], e['source']) for e in events}


def test_workers_of_a_killed_controller_stop_driving_and_exit(testenv, tmp_path, jobnet_store):
    from frames import job_pids, kill9, snapshot, start_playbook, wait_for
    ledger = str(ledger_dir() / 'ledger')
    frame = {'frame': 'orphans', 'jobs': [
        {'name': 'long', 'host': 'agent1', 'shell': 'sleep 8'},
        {'name': 'next', 'host': 'agent2', 'shell': 'echo "next start 0" >> %s' % ledger, 'after': ['long']}]}
    path = write_frame(tmp_path, frame)
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'))
    iid = 'orphans@%s' % DATE
    wait_for('long to run', lambda: snapshot(jobnet_store, iid)['long']['state'] == 'running', timeout=120)
    kill9(proc)
    # the forked workers notice within a round, write nothing more, and end (they would block for ever on the
    # result pipe of the dead controller otherwise)
    wait_for('the orphaned workers to exit', lambda: job_pids(path) == [] or job_pids(path), timeout=60)
    time.sleep(12)  # long ends meanwhile: no driver may record it or start next
    assert job_pids(path) == [], 'orphaned workers still alive'
    snap = snapshot(jobnet_store, iid)
    assert snap['long']['state'] == 'running' and snap['next']['state'] == 'waiting'
    assert 'next' not in read_ledger(ledger)
