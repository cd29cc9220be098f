# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delay monitoring, delay actions, end commands and notifications on the real hosts (a ledger of every run).

- Each kind of deadline crossed on a real frame (a start deadline of the day, a relative end deadline of a net, a
  duration of a job), each action run once; end commands of the frame and of a job run once; the status says late.
- ``kill -9`` of the controller while an action is being launched: recovery adopts it or launches it with the same
  attempt id, so it runs once.
- A deadline falling inside the failure: the recovery reports PEX174 and the action is not run (note 12).
- A duration spanning the failure keeps counting from the job's own start (note 4), and its action runs after the
  recovery.
- A frame whose last job ends during the failure: the recovery applies normal_end and the frame's end command runs
  once; the job's own end command does not (note 10).
- A webhook on a loopback HTTP server of the test's own: one delivery per event, retried while it fails; the URL's
  secret is in no output.
- Bad input: a deadline before the start, an action on an unknown host, an end command on a skip item.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import threading
import time

import frames
from frames import (
    job,
    ledger_dir,
    read_ledger,
    snapshot,
    run_then_kill,
    starts,
    status,
    wait_for,
    write_frame,
)

TIMEOUT = int(os.environ.get('JOBNET_TEST_MONITOR_TIMEOUT', '400'))


def today():
    return datetime.date.today().isoformat()


def run(testenv, args, env, timeout=TIMEOUT):
    return frames.run(testenv, args, env, timeout)


def action(name, host, ledger):
    """An action that leaves one line per run in the ledger."""
    return {'host': host, 'shell': 'echo "%s start $(date +%%s.%%N) $JOBNET_WHAT" >> %s' % (name, ledger)}


def local_time_in(seconds):
    return (datetime.datetime.now() + datetime.timedelta(seconds=seconds)).strftime('%H:%M:%S')


def sqlite_env(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    return url, {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}


def test_each_kind_of_deadline_crossed_on_a_real_frame_runs_its_action_once(testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    jobs = [
        job('blocker', 'agent1', ledger, seconds=5),
        job('late_start', 'agent1', ledger, after=['blocker'], start_by=local_time_in(3),
            on_delay=action('act_start', 'agent2', ledger)),
        job('slow', 'agent2', ledger, seconds=5, max_duration=2, on_delay=action('act_duration', 'agent1', ledger),
            on_end={'normal_end': action('slow_end', 'agent2', ledger)}),
        job('on_time', 'agent3', ledger, max_duration=60, on_delay=action('act_never', 'agent3', ledger)),
    ]
    frame = {'frame': 'deadlines', 'on_end': {'normal_end': action('frame_end', 'agent3', ledger)}, 'jobs': jobs,
             'nets': [{'name': 'n', 'end_by': '+00:00:03', 'on_delay': action('act_end', 'agent3', ledger),
                       'jobs': [job('inner', 'agent3', ledger, seconds=5)]}]}
    path = write_frame(tmp_path, frame)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                        '-e', 'operation_date=%s' % date], env)
    assert out.returncode == 0, out.stdout + out.stderr
    iid = 'deadlines@%s' % date
    for name in ('act_start', 'act_duration', 'act_end', 'frame_end', 'slow_end'):
        assert len(starts(ledger, name)) == 1, (name, read_ledger(ledger))
    assert 'act_never' not in read_ledger(ledger)
    snap = snapshot(url, iid)
    assert set(snap['late_start']['late']) == {'start'} and set(snap['slow']['late']) == {'duration'}
    assert set(snap['n']['late']) == {'end'} and 'late' not in snap['on_time']
    started = datetime.datetime.fromisoformat(snap['slow']['started'].replace('Z', '+00:00')).timestamp()
    assert starts(ledger, 'act_duration')[0] >= started + 2
    assert 'jobnet: LATE %s slow: max_duration 2 s passed' % iid in out.stdout, out.stdout
    doc = status(lambda args, env=None: run(testenv, args, env or {}), tmp_path, env=env)
    frame_doc = doc['frames'][0]
    rows = {r['path']: r for r in frame_doc['items']}
    assert rows['slow']['late'] == ['duration'] and rows['n']['late'] == ['end']
    assert sorted(a['action'] for a in frame_doc['actions']) == [
        'delay:duration', 'delay:end', 'delay:start', 'end:normal_end', 'end:normal_end']
    assert all(a['state'] == 'normal_end' for a in frame_doc['actions']), frame_doc['actions']
    log = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.log', '-e', 'frame=deadlines', '-e', 'path=slow',
                        '-e', 'act=delay:duration', '-e', 'operation_date=%s' % date], env)
    assert log.returncode == 0 and 'delay action of slow (late duration)' in log.stdout, log.stdout + log.stderr


def test_a_controller_killed_while_an_action_is_launched_runs_it_once_after_recovery(testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    frame = {'frame': 'killact', 'jobs': [
        job('slow', 'agent2', ledger, seconds=6, max_duration=1, on_delay=action('act', 'agent1', ledger))]}
    path = write_frame(tmp_path, frame)
    iid = 'killact@%s' % date
    run_then_kill(testenv, path, date, str(tmp_path / 'run.log'), env, 'the action written launching',
                  lambda: any(a.get('state') == 'launching'
                              for a in (snapshot(url, iid)[''].get('actions') or {}).values()), interval=0.01)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    (act,) = snapshot(url, iid)[''].get('actions').values()
    assert act['state'] == 'normal_end', act
    assert len(starts(ledger, 'act')) == 1, read_ledger(ledger)
    assert snapshot(url, iid)['']['state'] == 'normal_end'


def test_a_deadline_inside_the_failure_is_reported_pex174_and_its_action_is_not_run(testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    frame = {'frame': 'infail', 'end_by': '+00:00:04', 'on_delay': action('act_frame', 'agent1', ledger),
             'jobs': [job('long', 'agent2', ledger, seconds=10)]}
    path = write_frame(tmp_path, frame)
    iid = 'infail@%s' % date
    run_then_kill(testenv, path, date, str(tmp_path / 'run.log'), env, 'long running',
                  lambda: snapshot(url, iid)['long']['state'] == 'running')
    started = datetime.datetime.fromisoformat(snapshot(url, iid)['']['started'].replace('Z', '+00:00')).timestamp()
    time.sleep(max(0.0, started + 5 - time.time()))   # the deadline passes while no controller runs
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'PEX174 delay action not executed: %s the frame was late (end' % iid in out.stdout, out.stdout
    inst = snapshot(url, iid)['']
    (act,) = inst['actions'].values()
    assert act['state'] == 'not_executed' and 'PEX174' in act['message'], act
    assert inst['late']['end']['deadline'].startswith(
        datetime.datetime.fromtimestamp(started + 4, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S'))
    assert 'act_frame' not in read_ledger(ledger)
    assert inst['state'] == 'normal_end'


def test_a_duration_spanning_the_failure_counts_from_the_jobs_own_start_and_its_action_runs_after(
        testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    frame = {'frame': 'span', 'jobs': [
        job('long', 'agent2', ledger, seconds=14, max_duration=9, on_delay=action('act_long', 'agent1', ledger))]}
    path = write_frame(tmp_path, frame)
    iid = 'span@%s' % date
    run_then_kill(testenv, path, date, str(tmp_path / 'run.log'), env, 'long running',
                  lambda: snapshot(url, iid)['long']['state'] == 'running')
    started = datetime.datetime.fromisoformat(snapshot(url, iid)['long']['started'].replace('Z', '+00:00'))
    time.sleep(2)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'PEX174' not in out.stdout
    late = snapshot(url, iid)['long']['late']['duration']
    deadline = datetime.datetime.fromisoformat(late['deadline'].replace('Z', '+00:00'))
    assert abs((deadline - started).total_seconds() - 9) < 0.01, (late, started)
    assert len(starts(ledger, 'act_long')) == 1
    assert starts(ledger, 'act_long')[0] >= started.timestamp() + 9


def test_a_frame_that_ends_during_the_failure_runs_its_end_command_once_in_recovery_and_not_the_jobs(
        testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    frame = {'frame': 'endrec', 'on_end': {'normal_end': action('frame_end', 'agent3', ledger)},
             'nets': [{'name': 'n', 'on_end': {'normal_end': action('net_end', 'agent1', ledger)},
                       'jobs': [dict(job('last', 'agent2', ledger, seconds=3),
                                     on_end={'normal_end': action('job_end', 'agent2', ledger)})]}]}
    path = write_frame(tmp_path, frame)
    iid = 'endrec@%s' % date
    run_then_kill(testenv, path, date, str(tmp_path / 'run.log'), env, 'last running',
                  lambda: snapshot(url, iid)['n/last']['state'] == 'running')
    wait_for('last to end on its host', lambda: any(k == 'end' for k, _t, _e in read_ledger(ledger).get('last', [])),
             timeout=60)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert snapshot(url, iid)['']['state'] == 'normal_end'
    assert len(starts(ledger, 'frame_end')) == 1 and len(starts(ledger, 'net_end')) == 1, read_ledger(ledger)
    assert 'job_end' not in read_ledger(ledger)
    again = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.recover'], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(starts(ledger, 'frame_end')) == 1 and len(starts(ledger, 'net_end')) == 1


class _Hook(http.server.BaseHTTPRequestHandler):
    fail_first = 0
    received = []
    answers = []

    def do_POST(self):   # noqa: N802 (the handler's name)
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        doc = json.loads(body.decode('utf-8'))
        ok = len(self.answers) >= self.fail_first
        self.answers.append((doc['id'], ok))
        if ok:
            self.received.append(doc)
        self.send_response(200 if ok else 500)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_webhook_gets_each_delay_and_end_once_retried_while_it_fails_and_its_secret_is_never_printed(
        testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    ledger = str(ledger_dir() / 'ledger')
    date = today()
    _Hook.fail_first, _Hook.received, _Hook.answers = 2, [], []
    server = http.server.HTTPServer(('127.0.0.1', 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook = 'http://user:pw@127.0.0.1:%d/hooks/jobnet?token=S3CRET-TOKEN' % server.server_port
    frame = {'frame': 'hooked', 'notify': {'url': hook},
             'jobs': [job('slow', 'agent1', ledger, seconds=4, max_duration=1, notify={'url': hook})]}
    path = write_frame(tmp_path, frame)
    try:
        out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                            '-e', 'operation_date=%s' % date], env)
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stdout + out.stderr
    events = sorted((d['path'], d['event'], d['what']) for d in _Hook.received)
    assert events == [('', 'end', 'normal_end'), ('slow', 'delay', 'duration'), ('slow', 'end', 'normal_end')], events
    assert len({d['id'] for d in _Hook.received}) == 3
    assert [ok for _id, ok in _Hook.answers[:2]] == [False, False]   # the first tries failed and were tried again
    assert 'failed (try 1 of 4): HTTP 500' in out.stdout, out.stdout
    for secret in ('S3CRET-TOKEN', 'user:pw', '/hooks/jobnet'):
        assert secret not in out.stdout + out.stderr
    doc = status(lambda args, env=None: run(testenv, args, env or {}), tmp_path, env=env)
    notices = doc['frames'][0]['notices']
    assert all(n['state'] == 'sent' for n in notices) and 'S3CRET' not in json.dumps(doc), notices


def test_bad_monitoring_input_is_refused_and_nothing_is_recorded(testenv, tmp_path):
    url, env = sqlite_env(tmp_path)
    frame = {'frame': 'badmon', 'start_at': '05:00', 'jobs': [
        job('a', 'agent1', '/dev/null', end_by='04:00', on_delay={'host': 'agent1', 'shell': 'true'}),
        job('b', 'agent1', '/dev/null', max_duration=5, on_delay={'host': 'nosuchhost', 'shell': 'true'}),
        job('c', 'agent1', '/dev/null', skip=True, on_end={'normal_end': {'host': 'agent1', 'shell': 'true'}})]}
    path = write_frame(tmp_path, frame)
    out = run(testenv, ['-i', testenv.inventory, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                        '-e', 'operation_date=%s' % today()], env)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    for problem in ("end_by 04:00:00 is before the frame's start_at 05:00:00",
                    "on_delay: unknown host 'nosuchhost'",
                    'an end command on an item marked skip never runs'):
        assert problem in text, (problem, text)
    assert not os.path.exists(str(tmp_path / 'state.db')) or snapshot_missing(url, 'badmon@%s' % today())


def snapshot_missing(url, iid):
    from frames import open_test_store
    store = open_test_store(url)
    try:
        return store.get_instance(iid) is None
    finally:
        store.close()
