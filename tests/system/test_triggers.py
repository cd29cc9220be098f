# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triggers on the real hosts, proved from the jobs' own clocks (a ledger) and the store's records.

- Each kind drives a real frame: an event raised by the event playbook, an event raised by a job of another frame
  (``on_end``), a file created on agent2 by another process, and a frame-link to a frame run by a second controller
  at the same time, on one Redis store. No waiter starts before its trigger is ON; each job runs once.
- ``kill -9`` of the controllers while items wait on each kind, then recovery (note 1): a frame waiting for an event
  is ``waiting`` before and after (table 5.429), event-wait and time-based ON come back as they were, file-wait
  follows the files as they are at recovery time (one that appeared during the failure is ON, one that went away
  OFF), an operator's ON of a file-wait is kept; the automatic rerun then starts every waiter once.
- ``recovery_skip`` with a file-wait trigger on an agent that cannot be reached: the trigger is ``unknown`` (table
  5.432) and its waiter stays; a normal recovery once the agent is back resolves it and the waiter runs.
- 1,000 file-wait triggers on one host cost one ``job_info`` call per round of its driver (counted by the driver).
"""

from __future__ import annotations

import os
import subprocess
import time

import frames
from frames import (
    finish,
    job,
    kill9,
    ledger_dir,
    open_test_store,
    read_ledger,
    snapshot,
    start_playbook,
    start_run,
    starts,
    status,
    wait_for,
    write_frame,
)

DATE = '2026-12-02'
TIMEOUT = int(os.environ.get('JOBNET_TEST_TRIGGER_TIMEOUT', '400'))


def run(testenv, args, env, timeout=TIMEOUT):
    return frames.run(testenv, args, env, timeout)


def trigger(url, iid, name):
    return (snapshot(url, iid)[''].get('triggers') or {}).get(name) or {}


def touch(path):
    with open(path, 'w', encoding='utf-8'):
        pass
    os.chmod(path, 0o644)


def test_each_kind_of_trigger_starts_its_waiting_job_with_two_controllers_on_one_redis_store(
        testenv, tmp_path, redis_url):
    prefix = 'jobnet-trig-%d-%d:' % (os.getpid(), time.monotonic_ns())
    url = '%s?prefix=%s' % (redis_url, prefix)
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, inbox, gate = str(ld / 'ledger'), str(ld / 'inbox.flag'), str(ld / 'gate')
    upstream = {'frame': 'extract', 'jobs': [
        dict(job('extract', 'agent1', ledger, seconds=0.2, fail_unless=gate), on_end={'event': 'extracted'})]}
    # extract fails until the gate exists: it is rerun below; its event is raised only by its normal end
    downstream = {'frame': 'load', 'triggers': [
        {'name': 'ready', 'event': 'data_ready'},
        {'name': 'inbox', 'file': inbox, 'host': 'agent2'},
        {'name': 'upstream', 'frame': 'extract'},
        {'name': 'byjob', 'event': 'extracted'},
    ], 'jobs': [
        job('by_event', 'agent1', ledger, wait_for=['ready']),
        job('by_file', 'agent2', ledger, wait_for=['inbox']),
        job('by_frame', 'agent3', ledger, wait_for=['upstream']),
        job('by_job_event', 'agent3', ledger, wait_for=['byjob']),
        job('after_all', 'agent1', ledger, after=['by_event', 'by_file', 'by_frame', 'by_job_event']),
    ]}
    down_path = write_frame(tmp_path, downstream, 'load.yml')
    up_path = write_frame(tmp_path, upstream, 'extract.yml')
    iid, up_iid = 'load@%s' % DATE, 'extract@%s' % DATE
    down = start_run(testenv, down_path, DATE, str(tmp_path / 'down.log'), env)
    try:
        wait_for('load submitted and waiting', lambda: snapshot(url, iid)['by_event']['state'] == 'waiting')
        up = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % up_path,
                           '-e', 'operation_date=%s' % DATE], env)
        assert up.returncode != 0 and snapshot(url, up_iid)['']['state'] == 'abnormal_end', up.stdout
        time.sleep(3)
        assert not {'by_event', 'by_file', 'by_frame', 'by_job_event'} & set(read_ledger(ledger)), read_ledger(ledger)
        assert trigger(url, iid, 'upstream')['state'] == 'off'   # abnormal_end is not the state it waits for

        raised = time.time()
        out = run(testenv, ['jobnet.scheduler.event', '-e', 'event=data_ready', '-e', 'state=on'], env)
        assert out.returncode == 0 and 'event data_ready ON' in out.stdout, out.stdout + out.stderr
        wait_for('by_event to start', lambda: bool(starts(ledger, 'by_event')), timeout=60)
        assert starts(ledger, 'by_event')[0] >= raised
        assert 'by_file' not in read_ledger(ledger)

        created = time.time()
        subprocess.run(['sh', '-c', 'sleep 0.5; : > %s; chmod 644 %s' % (inbox, inbox)], check=True)
        wait_for('by_file to start', lambda: bool(starts(ledger, 'by_file')), timeout=60)
        assert starts(ledger, 'by_file')[0] >= created
        rec = trigger(url, iid, 'inbox')
        assert rec['state'] == 'on' and rec['sender'] == 'file' and rec.get('mtime') and rec.get('detected'), rec

        # a second controller reruns the upstream frame with its gate open: its job ends normally and raises
        # "extracted"; the frame ends normal_end: both waiters go
        touch(gate)
        opened = time.time()
        up = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.rerun', '-e', 'frame=extract',
                           '-e', 'operation_date=%s' % DATE], env)
        assert up.returncode == 0, up.stdout + up.stderr
        rc, text = finish(down, TIMEOUT)
    finally:
        if down.poll() is None:
            kill9(down)
    assert rc == 0, text
    for name in ('by_frame', 'by_job_event'):
        assert starts(ledger, name)[0] >= opened, name
    assert 'trigger upstream (frame extract normal_end) OFF -> ON' in text, text
    for name in ('by_event', 'by_file', 'by_frame', 'by_job_event', 'after_all'):
        assert len(starts(ledger, name)) == 1, (name, read_ledger(ledger))
    store = open_test_store(url)
    try:
        ev = store.get_trigger_event('extracted')
    finally:
        store.close()
    assert ev['state'] == 'on' and ev['sender'].startswith('job extract@%s extract' % DATE), ev
    doc = status(lambda args, env=None: run(testenv, args, env or {}), tmp_path, env=env, frame='load')
    rows = {t['name']: t for t in doc['frames'][0]['triggers']}
    assert {n: r['state'] for n, r in rows.items()} == {'ready': 'on', 'inbox': 'on', 'upstream': 'on', 'byjob': 'on'}
    assert rows['ready']['sender'].startswith('operator ') and rows['inbox']['mtime'], rows


def test_a_controller_killed_while_items_wait_on_each_kind_is_recovered_per_note_1(testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger = str(ld / 'ledger')
    manual, gone, appears, stays = (str(ld / n) for n in ('manual.flag', 'gone.flag', 'appears.flag', 'stays.flag'))
    touch(gone)
    touch(stays)
    frame_w = {'frame': 'gate', 'triggers': [{'name': 'go', 'event': 'night_go'}], 'wait_for': ['go'],
               'jobs': [job('gated_job', 'agent1', ledger)]}
    frame_x = {'frame': 'files', 'triggers': [
        {'name': 'manual', 'file': manual, 'host': 'agent2'},
        {'name': 'gone', 'file': gone, 'host': 'agent2'},
        {'name': 'appears', 'file': appears, 'host': 'agent2'},
        {'name': 'stays', 'file': stays, 'host': 'agent3'},
        {'name': 'early', 'event': 'never_raised', 'on_at': '00:00'},
        {'name': 'ev', 'event': 'raised_before'},
    ], 'jobs': [
        job('on_manual', 'agent2', ledger, wait_for=['manual', 'ev']),
        job('on_gone', 'agent2', ledger, wait_for=['gone']),
        job('on_appears', 'agent2', ledger, wait_for=['appears']),
        job('on_stays', 'agent3', ledger, wait_for=['stays', 'early']),
    ]}
    w_iid, x_iid = 'gate@%s' % DATE, 'files@%s' % DATE
    paths = {n: write_frame(tmp_path, f, n + '.yml') for n, f in (('gate', frame_w), ('files', frame_x))}
    inv = ['-i', testenv.inventory]
    procs = {}
    try:
        # on_gone and on_stays start at once (their files are there); the others wait
        for name, path in paths.items():
            procs[name] = start_playbook(testenv, inv + ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                                         '-e', 'operation_date=%s' % DATE],
                                         str(tmp_path / ('%s.log' % name)), env=env)
        wait_for('gone seen ON', lambda: trigger(url, x_iid, 'gone').get('state') == 'on', timeout=120)
        wait_for('the on_at trigger ON', lambda: trigger(url, x_iid, 'early').get('state') == 'on', timeout=60)
        wait_for('gate waiting', lambda: snapshot(url, w_iid)['']['state'] == 'waiting', timeout=60)
        wait_for('on_gone and on_stays to end', lambda: all(
            snapshot(url, x_iid)[p]['state'] == 'normal_end' for p in ('on_gone', 'on_stays')), timeout=120)
        out = run(testenv, ['jobnet.scheduler.event', '-e', 'event=raised_before', '-e', 'state=on'], env)
        assert out.returncode == 0, out.stdout + out.stderr
        wait_for('ev seen ON', lambda: trigger(url, x_iid, 'ev').get('state') == 'on', timeout=60)
        out = run(testenv, ['jobnet.scheduler.event', '-e', 'instance=%s' % x_iid, '-e', 'trigger=manual',
                            '-e', 'state=on'], env)
        assert out.returncode == 0, out.stdout + out.stderr
        wait_for('on_manual to start', lambda: bool(starts(ledger, 'on_manual')), timeout=60)
        before = {n: dict(trigger(url, x_iid, n)) for n in ('manual', 'gone', 'appears', 'stays', 'early', 'ev')}
        assert before['manual']['manual'] == 'on' and before['appears']['state'] == 'off', before
    finally:
        for proc in procs.values():
            kill9(proc)
    assert snapshot(url, w_iid)['']['state'] == 'waiting' and not snapshot(url, w_iid)[''].get('opened')
    # during the failure: a watched file goes away, another appears; the manual flag file still does not exist
    os.unlink(gone)
    touch(appears)
    recovered_at = time.time()
    rec = start_playbook(testenv, inv + ['jobnet.scheduler.recover'], str(tmp_path / 'recover.log'), env=env)
    try:
        wait_for('the recovery to apply the tables', lambda: trigger(url, x_iid, 'appears').get('state') == 'on',
                 timeout=120)
        after = {n: dict(trigger(url, x_iid, n)) for n in before}
        # note 1: event-wait and time-based ON as before the failure
        for name in ('early', 'ev'):
            assert {k: after[name].get(k) for k in ('state', 'sender', 'updated')} == \
                {k: before[name].get(k) for k in ('state', 'sender', 'updated')}, name
        # file-wait: as the files are now; the manual ON is kept (the original drops it)
        assert after['manual']['state'] == 'on' and after['manual']['manual'] == 'on'
        assert after['gone']['state'] == 'off'
        assert after['appears']['state'] == 'on' and after['appears']['sender'] == 'file'
        assert after['stays']['state'] == 'on'
        # table 5.429 "waiting": the frame waiting for its trigger is waiting after recovery
        assert snapshot(url, w_iid)['']['state'] == 'waiting'
        wait_for('on_appears to run', lambda: bool(starts(ledger, 'on_appears')), timeout=60)
        assert starts(ledger, 'on_appears')[0] >= recovered_at
        assert 'gated_job' not in read_ledger(ledger)
        out = run(testenv, ['jobnet.scheduler.event', '-e', 'event=night_go', '-e', 'state=on'], env)
        assert out.returncode == 0, out.stdout + out.stderr
        rc, text = finish(rec, TIMEOUT)
    finally:
        if rec.poll() is None:
            kill9(rec)
    assert rc == 0, text
    assert snapshot(url, w_iid)['']['state'] == 'normal_end'
    assert snapshot(url, x_iid)['on_gone']['state'] == 'normal_end'
    for name in ('gated_job', 'on_manual', 'on_gone', 'on_appears', 'on_stays'):
        assert len(starts(ledger, name)) == 1, (name, read_ledger(ledger))


def test_recovery_skip_makes_a_file_trigger_of_an_unreachable_agent_unknown_until_a_normal_recovery(
        testenv, tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600', 'JOBNET_UNREACHABLE_RETRIES': '1',
           'JOBNET_UNREACHABLE_DELAY': '0'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    frame = {'frame': 'skipfile', 'triggers': [{'name': 'flag', 'file': flag, 'host': 'agent3'}],
             'jobs': [job('first', 'agent1', ledger), job('waiter', 'agent1', ledger, wait_for=['flag'])]}
    path = write_frame(tmp_path, frame)
    iid = 'skipfile@%s' % DATE
    proc = start_run(testenv, path, DATE, str(tmp_path / 'run.log'), env)
    try:
        wait_for('first to end', lambda: snapshot(url, iid)['first']['state'] == 'normal_end', timeout=120)
        time.sleep(1.5)   # at least one look at agent3: the flag is OFF
        assert trigger(url, iid, 'flag')['state'] == 'off'
    finally:
        kill9(proc)
    touch(flag)   # the file appears while no controller runs and agent3 cannot be reached
    down = tmp_path / 'down.ini'
    down.write_text('[agents]\nagent3 ansible_port=1\n')
    out = run(testenv, ['-i', testenv.inventory, '-i', str(down), 'jobnet.scheduler.recover',
                        '-e', 'recovery_skip=true'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    rec = trigger(url, iid, 'flag')
    assert rec['state'] == 'unknown', rec
    assert 'waits for trigger flag of unknown state' in out.stdout, out.stdout
    assert 'waiter' not in read_ledger(ledger)
    assert snapshot(url, iid)['waiter']['state'] == 'waiting'
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert trigger(url, iid, 'flag')['state'] == 'on'
    assert snapshot(url, iid)['']['state'] == 'normal_end', out.stdout
    assert len(starts(ledger, 'waiter')) == 1


def test_a_thousand_file_triggers_on_one_host_cost_one_job_info_call_per_round(testenv, tmp_path):
    from conftest import _callbacks_enabled, _tree_results
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    tree = tmp_path / 'tree'
    tree.mkdir()
    env = {'JOBNET_STORE': url, 'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1', 'ANSIBLE_CALLBACK_TREE_DIR': str(tree),
           'ANSIBLE_CALLBACKS_ENABLED': ','.join(_callbacks_enabled(testenv) + ['ansible.builtin.tree'])}
    ld = ledger_dir()
    ledger = str(ld / 'ledger')
    files = ['%s/f%04d' % (ld, n) for n in range(1000)]
    triggers = [{'name': 't%04d' % n, 'file': f, 'host': 'agent1'} for n, f in enumerate(files)]
    frame = {'frame': 'manyfiles', 'triggers': triggers, 'jobs': [
        job('starter', 'agent1', ledger, seconds=2),
        job('all_files', 'agent1', ledger, wait_for=[t['name'] for t in triggers]),
        job('half', 'agent2', ledger, wait_for=[t['name'] for t in triggers[:500]])]}
    path = write_frame(tmp_path, frame)
    proc = start_run(testenv, path, DATE, str(tmp_path / 'run.log'), env)
    try:
        wait_for('starter to start', lambda: bool(starts(ledger, 'starter')), timeout=120)
        for f in files:
            touch(f)
        rc, text = finish(proc, TIMEOUT)
    finally:
        if proc.poll() is None:
            kill9(proc)
    assert rc == 0, text[-3000:]
    step = _tree_results(str(tree))['agent1']   # the last result of agent1: its frame step (the next task skips)
    assert 'rounds' in step, step
    # one job_info call a round for its job and its 1,000 files (and one job call for each launch)
    assert step['rounds'] >= 2 and step['calls']['jobnet.scheduler.job_info'] <= step['rounds'], step['calls']
    assert len(starts(ledger, 'all_files')) == 1 and len(starts(ledger, 'half')) == 1


def test_an_event_is_raised_ad_hoc_from_any_host_and_bad_input_is_refused_with_nothing_recorded(
        testenv, tmp_path, ansible_adhoc):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    out = ansible_adhoc('agent1', 'jobnet.scheduler.event', 'name=adhoc_ready state=on', env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    store = open_test_store(url)
    try:
        ev = store.get_trigger_event('adhoc_ready')
    finally:
        store.close()
    assert ev['state'] == 'on' and ev['sender'].startswith('operator ') and '(for agent1)' in ev['sender'], ev
    again = ansible_adhoc('localhost', 'jobnet.scheduler.event', 'name=adhoc_ready state=on', env=env)
    assert again.returncode == 0 and '"changed": false' in again.stdout, again.stdout
    bad = ansible_adhoc('localhost', 'jobnet.scheduler.event', 'name="bad name" state=on', env=env)
    assert bad.returncode != 0 and 'not a valid event name' in bad.stdout, bad.stdout
    nothing = ansible_adhoc('localhost', 'jobnet.scheduler.event', 'instance=none@2026-12-02 trigger=x state=on',
                            env=env)
    assert nothing.returncode != 0 and 'no frame instance none@2026-12-02' in nothing.stdout, nothing.stdout
    frame = {'frame': 'badtrig', 'triggers': [
        {'name': 'rel', 'file': 'in/ready.flag', 'host': 'agent1'},
        {'name': 'nohost', 'file': '/data/x', 'host': 'agent9'},
        {'name': 'self', 'frame': 'badtrig'},
    ], 'wait_for': ['rel'], 'jobs': [job('a', 'agent1', '/dev/null', wait_for=['redy'])]}
    path = write_frame(tmp_path, frame)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                        '-e', 'operation_date=%s' % DATE], env)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    for problem in ("is not absolute", "unknown host 'agent9'", 'a frame-link to the frame itself',
                    "unknown trigger 'redy' in wait_for"):
        assert problem in text, (problem, text)
    store = open_test_store(url)
    try:
        assert store.get_instance('badtrig@%s' % DATE) is None
        assert store.get_trigger_event('adhoc_ready')['updated'] == ev['updated']   # nothing recorded changed
    finally:
        store.close()
