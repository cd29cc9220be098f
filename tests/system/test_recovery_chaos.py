# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chaos: a 100-job frame whose controller is killed with SIGKILL at 30 random moments while the frame is still
running, with one recovery (and its automatic rerun) after each. Every attempt is launched exactly once, no output
byte is lost, and the final states equal those of an uninterrupted run of the same frame.

The uninterrupted run goes on at the same time, on a store of its own, so the test takes the time of one run.
Jobs on the agents go on while their controller is dead, so the frame must last longer than the 30 kills: its
jobs sleep 3 to 6 seconds (an uninterrupted run takes about 75 s), a kill comes every 0.3 to 3 seconds (about
50 s for 30), and a kill is counted only when the controller was alive and the frame not ended."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time

from frames import kill9, ledger_dir, playbook_argv, read_ledger, snapshot, start_playbook, write_frame

KILLS = int(os.environ.get('JOBNET_CHAOS_KILLS', '30'))
AGENTS = ('agent1', 'agent2', 'agent3')


def chaos_frame(name, ledger, seed=7):
    """10 nets of 10 jobs; inside a net a chain of dependencies with a fan-out; 4 jobs fail on purpose."""
    rnd = random.Random(seed)
    nets = []
    for n in range(10):
        jobs = []
        for j in range(10):
            jname = 'j%d' % j
            seconds = rnd.choice(('3', '4', '5', '6'))
            rc = 1 if (n, j) in ((2, 9), (5, 4), (7, 9), (9, 8)) else 0
            body = ('echo "n%d.%s start $(date +%%s.%%N)" >> %s; i=0; while [ $i -lt 40 ]; do '
                    'echo "n%d.%s line $i of the output of this job"; i=$((i+1)); done; sleep %s; '
                    'echo "n%d.%s end $(date +%%s.%%N)" >> %s; exit %d'
                    % (n, jname, ledger, n, jname, seconds, n, jname, ledger, rc))
            job = {'name': jname, 'host': AGENTS[(n + j) % 3], 'shell': body}
            if j > 0:
                job['after'] = ['j%d' % (j - 1 if j % 3 else max(0, j - 3))]
            jobs.append(job)
        net = {'name': 'n%d' % n, 'jobs': jobs}
        if n >= 2:
            net['after'] = ['n%d' % (n - 2)]
        nets.append(net)
    return {'frame': name, 'nets': nets}


def expected_output(path):
    n, j = path.split('/')
    return ''.join('%s.%s line %d of the output of this job\n' % (n, j, i) for i in range(40))


def states_of(url, iid):
    return {p: it['state'] for p, it in snapshot(url, iid).items()}


def test_frame_killed_at_30_random_moments_launches_every_attempt_once_and_ends_as_uninterrupted(
        testenv, tmp_path):
    date = '2026-11-23'
    rnd = random.Random(int(os.environ.get('JOBNET_CHAOS_SEED', '20261123')))
    ledger = str(ledger_dir() / 'ledger')
    ref_ledger = str(ledger_dir() / 'ledger')
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}

    # the uninterrupted run of the same frame (another frame name, its own ledger and store), at the same time
    ref_url = 'sqlite:///%s' % (tmp_path / 'reference.db')
    ref = write_frame(tmp_path, chaos_frame('chaosref', ref_ledger), 'ref.yml')
    ref_proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % ref,
                                        '-e', 'operation_date=%s' % date], str(tmp_path / 'reference.log'),
                              env={'JOBNET_STORE': ref_url})

    path = write_frame(tmp_path, chaos_frame('chaos', ledger), 'chaos.yml')
    iid = 'chaos@%s' % date
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % date], str(tmp_path / 'run.log'), env=env)

    def frame_ended():
        try:
            return snapshot(url, iid)['']['state'] in ('normal_end', 'abnormal_end')
        except Exception:  # pylint: disable=broad-except  # not submitted yet
            return False

    kills = 0
    for k in range(KILLS * 4):
        time.sleep(rnd.uniform(0.3, 3.0))
        if frame_ended() or kills == KILLS:
            break
        if proc.poll() is None:
            kill9(proc)
            kills += 1
        proc.log_file.close()
        proc = start_playbook(testenv, ['jobnet.scheduler.recover'], str(tmp_path / ('recover-%03d.log' % k)),
                              env=env)
    proc.wait(timeout=900)
    proc.log_file.close()
    # one more recovery to be sure every frame is carried to its end
    out = subprocess.run(playbook_argv('jobnet.scheduler.recover'), env=testenv.env(**env), capture_output=True,
                         text=True, timeout=900, check=False)
    assert kills == KILLS, 'the controller must be killed %d times while the frame runs (%d kills)' % (KILLS, kills)

    ref_proc.wait(timeout=900)
    ref_proc.log_file.close()
    reference = states_of(ref_url, 'chaosref@%s' % date)
    assert reference[''] == 'abnormal_end', (tmp_path / 'reference.log').read_text()[-3000:]
    final = states_of(url, iid)
    assert final == reference, {p: (final.get(p), reference.get(p)) for p in reference if final.get(p) != reference.get(p)}

    # every attempt launched exactly once: one start line per job, attempt number 1 everywhere
    runs = read_ledger(ledger)
    starts = {name: len([r for r in recs if r[0] == 'start']) for name, recs in runs.items()}
    twice = {name: c for name, c in starts.items() if c != 1}
    assert not twice, 'started more than once: %r' % twice
    snap = snapshot(url, iid)
    jobs = {p: it for p, it in snap.items() if p and it['kind'] == 'job'}
    assert len(jobs) == 100
    ref_starts = {name for name, recs in read_ledger(ref_ledger).items() if any(r[0] == 'start' for r in recs)}
    assert set(starts) == ref_starts, 'the same jobs run as in the uninterrupted run'
    launched = {p: it for p, it in jobs.items() if it['attempt_id']}
    assert {p.replace('/', '.') for p in launched} == ref_starts
    not_once = {p: it['attempt'] for p, it in launched.items() if it['attempt'] != 1}
    assert not not_once, not_once

    # no output byte lost: each job's stdout read back from its host, whole
    for host in AGENTS:
        ids = {it['attempt_id']: p for p, it in launched.items() if it['host'] == host}
        res = subprocess.run(
            [os.path.join(os.path.dirname(playbook_argv()[0]), 'ansible'), host, '-m', 'jobnet.scheduler.job_info',
             '-a', json.dumps({'ids': sorted(ids), 'max_bytes': 1048576}), '-o'],
            env=testenv.env(**env), capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        data = json.loads(res.stdout.split('=>', 1)[1])
        for j in data['jobs']:
            assert j['stdout'] == expected_output(ids[j['id']]), (ids[j['id']], j['stdout'][:200])
            assert j['has_more_data'] is False
