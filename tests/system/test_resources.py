# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resources and host limits on the real hosts, proved from the jobs' own start and end clocks (a ledger).

- Two controllers (two ansible-playbook processes), two frames, one Redis store, a resource of capacity 1 shared by
  their jobs, and a host limited to one job: never two holders at once, across ten random ``kill -9`` of either
  controller, each followed by a recovery of its frame. No job starts twice.
- After a recovery with ``recovery_skip``, a host limited to one job does not get a new job while its
  ``queuing_env_down`` job (state unknown) may still run there; the next recovery resolves it and the waiter starts.
- The waiting order (priority, then frame order) is kept across a controller kill and its recovery; the status shows
  holders and waiters in that order, and the recovery says what it restored (JNR127).
- A job that needs more than a resource's capacity, or a resource nobody defined, is refused when the frame is
  submitted and nothing is recorded; ``jobnet_resources`` in the inventory seeds a definition the store lacks.
- A capacity lowered while jobs hold the resource: they keep running, and no job takes it until fewer are held.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import frames
from frames import (
    gated,
    intervals,
    job,
    kill9,
    ledger_dir,
    max_overlap,
    open_test_store,
    read_ledger,
    snapshot,
    start_playbook,
    status,
    wait_for,
    write_frame,
)

DATE = '2026-12-01'
TIMEOUT = int(os.environ.get("JOBNET_TEST_RES_TIMEOUT", "600"))


def run(testenv, args, env, timeout=TIMEOUT):
    return frames.run(testenv, args, env, timeout)


def finish(proc, timeout=TIMEOUT):
    return frames.finish(proc, timeout)


def frame_state(url, iid):
    try:
        return snapshot(url, iid)['']['state']
    except Exception:  # pylint: disable=broad-except
        return None


def define(testenv, env, name, capacity):
    out = run(testenv, ['jobnet.scheduler.resource', '-e', 'name=%s' % name, '-e', 'capacity=%d' % capacity], env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def spans_of(ledger, names):
    spans = []
    for name, pairs in intervals(ledger).items():
        if name in names:
            spans.extend(pairs)
    return spans


def test_two_controllers_on_one_redis_store_never_exceed_a_capacity_or_a_host_limit_across_ten_kills(
        testenv, tmp_path, redis_url):
    prefix = 'jobnet-res-%d-%d:' % (os.getpid(), time.monotonic_ns())
    url = '%s?prefix=%s' % (redis_url, prefix)
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ledger = str(ledger_dir() / 'ledger')
    define(testenv, env, 'lock', 1)
    limits = tmp_path / 'limits.ini'
    limits.write_text('[agents]\nagent3 jobnet_max_running=1\n')
    inv = ['-i', testenv.inventory, '-i', str(limits)]
    frames = {}
    lock_jobs, agent3_jobs = set(), set()
    for name in ('ra', 'rb'):
        jobs = []
        for n in range(12):
            jname = '%s_l%d' % (name, n)
            lock_jobs.add(jname)
            jobs.append(job(jname, 'agent1' if n % 2 else 'agent2', ledger, seconds=1.0, resources=['lock']))
        for n in range(4):
            jname = '%s_h%d' % (name, n)
            agent3_jobs.add(jname)
            jobs.append(job(jname, 'agent3', ledger, seconds=1.2))
        frames[name] = write_frame(tmp_path, {'frame': name, 'jobs': jobs}, name + '.yml')
    procs = {name: start_playbook(testenv, inv + ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                                  '-e', 'operation_date=%s' % DATE],
                                  str(tmp_path / ('%s-0.log' % name)), env=env)
             for name, path in frames.items()}
    rng = random.Random(int(os.environ.get('JOBNET_TEST_SEED', '20261202')))
    kills = 0
    logs = []
    try:
        while kills < 10:
            open_frames = [n for n in procs if frame_state(url, '%s@%s' % (n, DATE)) not in ('normal_end',
                                                                                             'abnormal_end')]
            if not open_frames:
                break
            name = rng.choice(open_frames)
            time.sleep(rng.uniform(0.5, 2.5))
            proc = procs[name]
            if proc.poll() is None:
                kill9(proc)
            else:
                logs.append(finish(proc))
            kills += 1
            procs[name] = start_playbook(testenv, inv + ['jobnet.scheduler.recover', '-e', 'frame=%s' % name,
                                                         '-e', 'operation_date=%s' % DATE],
                                         str(tmp_path / ('%s-%d.log' % (name, kills))), env=env)
        for name in list(procs):
            logs.append(finish(procs[name]))
        # a recovery killed before it drove its frame to the end: the last one carries it on
        for name in procs:
            if frame_state(url, '%s@%s' % (name, DATE)) != 'normal_end':
                out = run(testenv, inv + ['jobnet.scheduler.recover', '-e', 'frame=%s' % name,
                                          '-e', 'operation_date=%s' % DATE], env)
                logs.append((out.returncode, out.stdout))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert kills == 10, 'the frames ended after %d kills only' % kills
    tail = '\n'.join(log[-2000:] for _rc, log in logs[-3:])
    for name in procs:
        assert frame_state(url, '%s@%s' % (name, DATE)) == 'normal_end', tail
    led = read_ledger(ledger)
    for name in lock_jobs | agent3_jobs:
        starts = [r for r in led.get(name, []) if r[0] == 'start']
        assert len(starts) == 1, (name, led.get(name))   # never launched twice, whatever was killed
    assert max_overlap(spans_of(ledger, lock_jobs)) == 1, intervals(ledger)
    assert max_overlap(spans_of(ledger, agent3_jobs)) == 1, intervals(ledger)
    store = open_test_store(url)
    try:
        assert store.get_index() == {}   # every end released what it held
    finally:
        store.close()


def test_after_a_recovery_skip_a_host_limit_holds_until_the_next_recovery_resolves_the_unknown_job(
        testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    limits = tmp_path / 'limits.ini'
    limits.write_text('[agents]\nagent1 jobnet_max_running=1\n')
    inv = ['-i', testenv.inventory, '-i', str(limits)]
    frame = {'frame': 'skiplimit', 'jobs': [gated('long', 'agent1', ledger, flag),
                                            job('next', 'agent1', ledger, seconds=0.2, after=[]),
                                            job('other', 'agent2', ledger, seconds=0.2)]}
    path = write_frame(tmp_path, frame)
    iid = 'skiplimit@%s' % DATE
    proc = start_playbook(testenv, inv + ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                          '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('long running and next waiting for the slot', lambda: (
            snapshot(url, iid)['long']['state'], snapshot(url, iid)['next'].get('waiting', {}).get('for'))
            == ('running', ['slot']), timeout=120)
    finally:
        kill9(proc)
    out = run(testenv, inv + ['jobnet.scheduler.recover', '-e', 'recovery_skip=true'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    snap = snapshot(url, iid)
    assert snap['long']['state'] == 'queuing_env_down'
    assert snap['next']['state'] == 'queuing', snap['next']
    assert 'next' not in read_ledger(ledger)   # the slot was never given away while long may still run
    assert 'whose state is unknown' in out.stdout and 'jobnet.scheduler.recover' in out.stdout, out.stdout
    # long ends on its host while no controller watches; the next recovery finds it ended and frees the slot
    with open(flag, 'w'):
        pass
    wait_for('long to end on its host', lambda: any(r[0] == 'end' for r in read_ledger(ledger).get('long', [])),
             timeout=60)
    out = run(testenv, inv + ['jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert frame_state(url, iid) == 'normal_end', out.stdout
    spans = intervals(ledger)
    assert spans['next'][0][0] >= spans['long'][0][1], spans


def test_the_waiting_order_is_kept_across_a_controller_kill_and_shown_in_the_status(testenv, tmp_path,
                                                                                    run_playbook):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    define(testenv, env, 'tape', 1)
    # holder takes the tape first; the three others wait: w_high first (priority), then w_a, w_b in frame order
    frame = {'frame': 'order', 'jobs': [
        gated('holder', 'agent1', ledger, flag, resources=['tape']),
        job('w_a', 'agent2', ledger, seconds=0.3, resources=['tape'], after=['kick']),
        job('w_b', 'agent3', ledger, seconds=0.3, resources=['tape'], after=['kick']),
        job('w_high', 'agent1', ledger, seconds=0.3, resources=['tape'], priority=10, after=['kick']),
        job('kick', 'agent3', ledger, seconds=1.0),
    ]}
    path = write_frame(tmp_path, frame)
    iid = 'order@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('three waiters for the tape', lambda: sorted(
            p for p, it in snapshot(url, iid).items() if p and it.get('waiting')) == ['w_a', 'w_b', 'w_high'],
            timeout=120)
        doc = status(run_playbook, tmp_path, env=env)
    finally:
        kill9(proc)
    tape = doc['resources']['tape']
    assert (tape['capacity'], tape['held']) == (1, 1)
    assert [h['path'] for h in tape['holders']] == ['holder']
    assert [w['path'] for w in tape['waiters']] == ['w_high', 'w_a', 'w_b'], tape
    rows = {it['path']: it for it in doc['frames'][0]['items']}
    assert rows['w_a']['waiting_for'] == ['tape'] and 'resource tape' in rows['w_a']['message']
    before = {p: it.get('ready_at') for p, it in snapshot(url, iid).items() if p}
    with open(flag, 'w'):
        pass
    out = run(testenv, ['jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'JNR127 frame %s: resources restored' % iid in out.stdout, out.stdout
    assert frame_state(url, iid) == 'normal_end'
    spans = intervals(ledger)
    order = sorted(('w_a', 'w_b', 'w_high'), key=lambda n: spans[n][0][0])
    assert order == ['w_high', 'w_a', 'w_b'], (spans, before)
    assert max_overlap(spans_of(ledger, {'holder', 'w_a', 'w_b', 'w_high'})) == 1


def test_a_need_beyond_a_capacity_or_an_undefined_resource_is_refused_and_nothing_is_recorded(testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    define(testenv, env, 'db', 2)
    path = write_frame(tmp_path, {'frame': 'toobig', 'jobs': [
        {'name': 'load', 'host': 'agent1', 'shell': 'true', 'resources': {'db': 3}},
        {'name': 'dump', 'host': 'agent2', 'shell': 'true', 'resources': ['tape']}]})
    for extra in ([], ['--check']):
        out = run(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path] + extra, env)
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert 'job load needs 3 of resource db, whose capacity is 2' in text, text
        assert 'job dump needs resource tape, which is not defined' in text, text
    # a schedule with that frame is refused as a whole, before its day schedule is made
    (tmp_path / 'schedule.yml').write_text('base_time: "00:00"\ntimezone: UTC\nframes:\n  - {file: frame.yml}\n')
    for extra in ([], ['--check']):
        out = run(testenv, ['jobnet.scheduler.schedule', '-e', 'schedule_file=%s' % (tmp_path / 'schedule.yml')]
                  + extra, env)
        assert out.returncode != 0 and 'invalid schedule' in out.stdout + out.stderr, out.stdout + out.stderr
        assert 'job load needs 3 of resource db, whose capacity is 2' in out.stdout + out.stderr
    store = open_test_store(url)
    try:
        assert store.list_instances() == [] and store.get_index() == {}
        assert sorted(store.get_resources()) == ['db']
        assert store.list_schedule_records() == {}
    finally:
        store.close()
    # the inventory declares tape: the store did not have it, so it is written there (and db is left as it is)
    declared = tmp_path / 'declared.yml'
    declared.write_text(json.dumps({'jobnet_resources': {'tape': 1, 'db': 5}}))
    ok = write_frame(tmp_path, {'frame': 'fits', 'jobs': [
        {'name': 'dump', 'host': 'agent2', 'shell': 'true', 'resources': ['tape', 'db']}]}, 'fits.yml')
    out = run(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % ok, '-e', '@%s' % declared], env)
    assert out.returncode == 0, out.stdout + out.stderr
    store = open_test_store(url)
    try:
        assert {n: r['capacity'] for n, r in store.get_resources().items()} == {'db': 2, 'tape': 1}
    finally:
        store.close()


def test_a_capacity_lowered_while_jobs_hold_it_keeps_them_running_and_holds_back_the_waiters(testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    define(testenv, env, 'db', 2)
    frame = {'frame': 'shrink', 'jobs': [
        gated('h1', 'agent1', ledger, flag, resources=['db']),
        gated('h2', 'agent2', ledger, flag, resources=['db']),
        job('w1', 'agent3', ledger, seconds=0.4, resources=['db'], after=['kick']),
        job('w2', 'agent3', ledger, seconds=0.4, resources=['db'], after=['kick']),
        job('kick', 'agent1', ledger, seconds=0.5)]}
    path = write_frame(tmp_path, frame)
    iid = 'shrink@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        def held_and_waiting():
            snap = snapshot(url, iid)
            held = sorted(p for p, it in snap.items() if p and it.get('needs') and it['state'] == 'running')
            waiting = sorted(p for p, it in snap.items() if p and it.get('waiting'))
            return (held, waiting) == (['h1', 'h2'], ['w1', 'w2'])
        wait_for('two holders and two waiters', held_and_waiting, timeout=120)
        out = define(testenv, env, 'db', 1)
        assert 'capacity 1 (was 2)' in out.stdout, out.stdout
        assert frame_state(url, iid) == 'running' and snapshot(url, iid)['h1']['state'] == 'running'
        with open(flag, 'w'):
            pass
        rc, log = finish(proc)
    finally:
        if proc.poll() is None:
            kill9(proc)
    assert rc == 0, log[-3000:]
    spans = intervals(ledger)
    holders_end = max(spans['h1'][0][1], spans['h2'][0][1])
    assert min(spans['w1'][0][0], spans['w2'][0][0]) >= holders_end, spans
    assert max_overlap(spans_of(ledger, {'w1', 'w2'})) == 1, spans


def test_the_resource_module_defines_changes_removes_and_previews_from_an_ad_hoc_command(ansible_adhoc, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    preview = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'name=tape capacity=2', extra=['--check'],
                            env=env, json=True)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert preview.data['localhost']['changed'] is True
    assert not os.path.exists(str(tmp_path / 'state.db'))   # --check creates no store
    made = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'name=tape capacity=2', env=env, json=True)
    assert made.returncode == 0 and made.data['localhost']['resource']['capacity'] == 2, made.stdout
    again = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'name=tape capacity=2', env=env, json=True)
    assert again.data['localhost']['changed'] is False
    shown = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'state=query', env=env, json=True)
    assert shown.data['localhost']['resources']['tape'] == {'capacity': 2, 'held': 0, 'holders': [], 'waiters': []}
    bad = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'name=tape capacity=-1', env=env)
    assert bad.returncode != 0 and 'capacity of resource tape must be from 0 to' in bad.stdout + bad.stderr
    hostile = ansible_adhoc('localhost', 'jobnet.scheduler.resource', {'name': 'db;rm -rf', 'capacity': 1}, env=env)
    assert hostile.returncode != 0 and 'is not valid' in hostile.stdout + hostile.stderr
    gone = ansible_adhoc('localhost', 'jobnet.scheduler.resource', 'name=tape state=absent', env=env, json=True)
    assert gone.data['localhost']['changed'] is True and gone.data['localhost']['resource'] is None


def test_resource_reset_reproduces_the_original_recovery_that_forgets_what_running_jobs_hold(testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    define(testenv, env, 'tape', 1)
    frame = {'frame': 'reset', 'jobs': [gated('holder', 'agent1', ledger, flag, resources=['tape']),
                                        job('waiter', 'agent2', ledger, seconds=0.3, resources=['tape'])]}
    path = write_frame(tmp_path, frame)
    iid = 'reset@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('the waiter behind the holder', lambda: snapshot(url, iid)['waiter'].get('waiting', {}).get('for')
                 == ['tape'] and snapshot(url, iid)['holder']['state'] == 'running', timeout=120)
    finally:
        kill9(proc)
    # the original's behaviour, on purpose: the holder still runs, yet the waiter gets the tape at once
    recover = start_playbook(testenv, ['jobnet.scheduler.recover', '-e', 'resource_reset=true'],
                             str(tmp_path / 'recover.log'), env=env)
    try:
        wait_for('the waiter to end', lambda: snapshot(url, iid)['waiter']['state'] == 'normal_end', timeout=120)
        assert snapshot(url, iid)['holder']['state'] == 'running'
        assert max_overlap(spans_of(ledger, {'holder', 'waiter'})) == 2   # the capacity was exceeded, as documented
    finally:
        with open(flag, 'w'):
            pass
    rc, log = finish(recover)
    assert rc == 0 and frame_state(url, iid) == 'normal_end', log[-3000:]
    assert 'JNR128 frame %s: resources reset' % iid in log, log[-3000:]
