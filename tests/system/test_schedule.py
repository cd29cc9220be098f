# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The day schedule on the real hosts: tables 5.427 and 5.428 row by row, with base and start times seconds
ahead of the wall clock and a real ``kill -9`` of the controller during the failure window.

Times are in UTC (``timezone: UTC`` in every schedule). The ledger of every job proves when it started and that it
started once.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import time

import yaml

from frames import kill9, ledger_dir, read_ledger, sqlite_path, start_playbook, wait_for

UTC = datetime.timezone.utc
WEEKDAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')


def hms(instant):
    return instant.astimezone(UTC).strftime('%H:%M:%S')


def quick(name, host, ledger):
    return {'name': 'j', 'host': host,
            'shell': 'echo "%s start $(date +%%s.%%N) $$" >> %s; echo "%s end $(date +%%s.%%N) ok" >> %s'
                     % (name, ledger, name, ledger)}


def gated(name, host, ledger, gate):
    return {'name': 'j', 'host': host, 'shell':
            'echo "%s start $(date +%%s.%%N) $$" >> %s; i=0; while [ ! -f %s ] && [ $i -lt 1500 ]; do sleep 0.2; '
            'i=$((i+1)); done; echo "%s end $(date +%%s.%%N) ok" >> %s' % (name, ledger, gate, name, ledger)}


def write_schedule(tmp_path, base, entries, jobs):
    """``entries``: [(frame, extra entry keys)]; ``jobs``: frame -> its one job."""
    (tmp_path / 'frames').mkdir(exist_ok=True)
    for frame, job in jobs.items():
        (tmp_path / 'frames' / ('%s.yml' % frame)).write_text(yaml.safe_dump({'frame': frame, 'jobs': [job]}))
    doc = {'base_time': hms(base), 'timezone': 'UTC',
           'frames': [dict({'file': 'frames/%s.yml' % frame}, **extra) for frame, extra in entries]}
    path = tmp_path / 'sched.yml'
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def rows(url, sql, args=()):
    conn = sqlite3.connect(sqlite_path(url))
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def instance(url, iid):
    found = rows(url, 'SELECT data FROM instances WHERE iid = ?', (iid,))
    return json.loads(found[0][0]) if found else None


def day(url, name, date):
    found = rows(url, 'SELECT data FROM schedules WHERE key = ?', ('day/%s/%s' % (name, date),))
    return json.loads(found[0][0]) if found else None


def item(url, iid, path='j'):
    found = rows(url, 'SELECT data FROM items WHERE iid = ? AND path = ?', (iid, path))
    return json.loads(found[0][0]) if found else None


def starts(ledger, name):
    return [float(e[1]) for e in read_ledger(ledger).get(name, []) if e[0] == 'start']


def until(instant):
    left = (instant - datetime.datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def schedule_argv(path, *extra):
    return ['jobnet.scheduler.schedule', '-e', 'schedule_file=%s' % path] + list(extra)


def test_5427_a_and_5428_a1_a2_a3_a_day_created_before_the_failure_is_kept(testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    t0 = datetime.datetime.now(UTC).replace(microsecond=0)
    base = t0 - datetime.timedelta(seconds=60)
    date = base.date().isoformat()
    a2_start, a3_start = t0 + datetime.timedelta(seconds=30), t0 + datetime.timedelta(seconds=55)
    path = write_schedule(tmp_path, base, [
        ('a1', {'start_at': hms(t0 + datetime.timedelta(seconds=4))}),
        ('a2', {'start_at': hms(a2_start)}),
        ('a3', {'start_at': hms(a3_start)}),
    ], {'a1': gated('a1', 'agent1', ledger, gate), 'a2': quick('a2', 'agent2', ledger),
        'a3': quick('a3', 'agent3', ledger)})
    proc = start_playbook(testenv, schedule_argv(path), str(tmp_path / 'schedule.log'), env=env)
    try:
        wait_for('a1 to run', lambda: (item(url, 'a1@%s' % date) or {}).get('state') == 'running', timeout=60)
    finally:
        kill9(proc)
    assert instance(url, 'a2@%s' % date)['state'] == 'standby'
    until(a2_start + datetime.timedelta(seconds=2))     # a2's start time passes during the failure
    open(gate, 'w').close()
    out = run_playbook(['jobnet.scheduler.recover'], env=env, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'JNR123 day schedule sched %s was created before the failure: kept' % date in log
    assert day(url, 'sched', date)['created_by'] == 'schedule'                       # A
    assert instance(url, 'a1@%s' % date)['state'] == 'normal_end'                    # started, carried on
    assert len(starts(ledger, 'a1')) == 1
    a2 = instance(url, 'a2@%s' % date)
    assert a2['state'] == 'not_submitted' and not starts(ledger, 'a2'), a2
    assert 'JNR107' in log
    assert instance(url, 'a3@%s' % date)['state'] == 'normal_end'                    # at its start time
    assert len(starts(ledger, 'a3')) == 1 and starts(ledger, 'a3')[0] >= a3_start.timestamp()


def test_5427_b_and_5428_b1_b2_a_base_time_passed_during_the_failure_creates_the_day_at_recovery(
        testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    t0 = datetime.datetime.now(UTC).replace(microsecond=0)
    base = t0 + datetime.timedelta(seconds=8)
    today = base.date()
    yesterday = today - datetime.timedelta(days=1)
    b1_start, b2_start = base + datetime.timedelta(seconds=4), base + datetime.timedelta(seconds=40)
    path = write_schedule(tmp_path, base, [
        ('y', {'weekdays': [WEEKDAYS[yesterday.weekday()]]}),
        ('b1', {'weekdays': [WEEKDAYS[today.weekday()]], 'start_at': hms(b1_start)}),
        ('b2', {'weekdays': [WEEKDAYS[today.weekday()]], 'start_at': hms(b2_start)}),
    ], {'y': gated('y', 'agent1', ledger, gate), 'b1': quick('b1', 'agent2', ledger),
        'b2': quick('b2', 'agent3', ledger)})
    # the day before: its schedule run drives y, and is killed before today's base time
    proc = start_playbook(testenv, schedule_argv(path), str(tmp_path / 'schedule.log'), env=env)
    try:
        wait_for('y to run', lambda: (item(url, 'y@%s' % yesterday) or {}).get('state') == 'running', timeout=60)
    finally:
        kill9(proc)
    assert datetime.datetime.now(UTC) < base, 'the failure began after the base time: the test machine is too slow'
    until(b1_start + datetime.timedelta(seconds=2))      # base time and b1's start pass during the failure
    assert day(url, 'sched', today.isoformat()) is None
    open(gate, 'w').close()
    out = run_playbook(['jobnet.scheduler.recover'], env=env, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    made = day(url, 'sched', today.isoformat())                                       # B
    assert made and made['created_by'] == 'recovery', made
    assert 'JNR120 day schedule sched %s created by recovery' % today in log
    b1 = instance(url, 'b1@%s' % today)                                               # B-1
    assert b1['state'] == 'not_submitted' and 'JNR121' in b1.get('message', ''), b1
    assert not starts(ledger, 'b1')
    assert instance(url, 'b2@%s' % today)['state'] == 'normal_end'                    # B-2: at its start time
    assert len(starts(ledger, 'b2')) == 1 and starts(ledger, 'b2')[0] >= b2_start.timestamp()
    assert instance(url, 'y@%s' % yesterday)['state'] == 'normal_end' and len(starts(ledger, 'y')) == 1
    # the operator submits b1 after all: it runs once, at once
    out = run_playbook(schedule_argv(path, '-e', 'submit=b1'), env=env, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert instance(url, 'b1@%s' % today)['state'] == 'normal_end' and len(starts(ledger, 'b1')) == 1


def test_5427_c_and_5428_c1_a_base_time_after_recovery_creates_the_day_then(testenv, tmp_path, run_playbook):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    t0 = datetime.datetime.now(UTC).replace(microsecond=0)
    base = t0 + datetime.timedelta(seconds=25)
    today = base.date()
    yesterday = today - datetime.timedelta(days=1)
    c1_start = base + datetime.timedelta(seconds=8)
    path = write_schedule(tmp_path, base, [
        ('z', {'weekdays': [WEEKDAYS[yesterday.weekday()]]}),
        ('c1', {'weekdays': [WEEKDAYS[today.weekday()]], 'start_at': hms(c1_start)}),
    ], {'z': gated('z', 'agent1', ledger, gate), 'c1': quick('c1', 'agent2', ledger)})
    proc = start_playbook(testenv, schedule_argv(path), str(tmp_path / 'schedule.log'), env=env)
    try:
        wait_for('z to run', lambda: (item(url, 'z@%s' % yesterday) or {}).get('state') == 'running', timeout=60)
    finally:
        kill9(proc)
    open(gate, 'w').close()
    out = run_playbook(['jobnet.scheduler.recover'], env=env, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert datetime.datetime.now(UTC) < base, 'the recovery ended after the base time: the test machine is too slow'
    assert 'JNR123 day schedule sched %s was created before the failure: kept' % yesterday in log
    assert 'JNR124 day schedule sched %s: its base time' % today in log
    assert day(url, 'sched', today.isoformat()) is None                                 # C: not yet
    # the base time comes: the schedule run that cron starts then creates the day; c1 starts at its start time
    until(base + datetime.timedelta(seconds=1))
    out = run_playbook(schedule_argv(path), env=env, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert day(url, 'sched', today.isoformat())['created_by'] == 'schedule'            # created at base time
    assert instance(url, 'c1@%s' % today)['state'] == 'normal_end'                     # C-1
    assert len(starts(ledger, 'c1')) == 1 and starts(ledger, 'c1')[0] >= c1_start.timestamp()


def test_two_schedule_runs_at_once_create_one_day_schedule_and_start_each_frame_once(testenv, tmp_path):
    ledger = str(ledger_dir() / 'ledger')
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    base = datetime.datetime.now(UTC) - datetime.timedelta(seconds=60)
    date = base.date().isoformat()
    path = write_schedule(tmp_path, base, [(f, {}) for f in ('p', 'q', 'r')],
                          {'p': quick('p', 'agent1', ledger), 'q': quick('q', 'agent2', ledger),
                           'r': quick('r', 'agent3', ledger)})
    procs = [start_playbook(testenv, schedule_argv(path), str(tmp_path / ('run%d.log' % i)), env=env)
             for i in range(2)]
    for proc in procs:
        proc.wait(timeout=300)
    logs = [open(p.log_path).read() for p in procs]
    assert all(p.returncode == 0 for p in procs), [log[-3000:] for log in logs]
    assert len(rows(url, "SELECT key FROM schedules WHERE key LIKE 'day/%'")) == 1
    assert sum('JNR120 day schedule sched %s created by schedule' % date in log for log in logs) == 1
    for frame in 'pqr':
        assert instance(url, '%s@%s' % (frame, date))['state'] == 'normal_end'
        assert len(starts(ledger, frame)) == 1, (frame, read_ledger(ledger))


def one_standby_frame(testenv, tmp_path, frame, seconds_ahead):
    """A schedule of one quick frame starting ``seconds_ahead`` from now, its day made a minute ago, driven by a
    schedule run until the frame is standby. Returns (ledger, url, env, date, start, the running playbook)."""
    ledger = str(ledger_dir() / 'ledger')
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    t0 = datetime.datetime.now(UTC).replace(microsecond=0)
    base = t0 - datetime.timedelta(seconds=60)
    date = base.date().isoformat()
    start = t0 + datetime.timedelta(seconds=seconds_ahead)
    path = write_schedule(tmp_path, base, [(frame, {'start_at': hms(start)})], {frame: quick(frame, 'agent1', ledger)})
    proc = start_playbook(testenv, schedule_argv(path), str(tmp_path / 'schedule.log'), env=env)
    try:
        wait_for('%s to be submitted' % frame,
                 lambda: (instance(url, '%s@%s' % (frame, date)) or {}).get('state') == 'standby', timeout=60)
    except BaseException:
        kill9(proc)
        raise
    return ledger, url, env, date, start, proc


def test_a_time_override_is_taken_by_the_driving_run_and_kept_by_recovery(testenv, tmp_path, run_playbook):
    ledger, url, env, date, planned, proc = one_standby_frame(testenv, tmp_path, 'r', 600)
    try:
        new = datetime.datetime.now(UTC).replace(microsecond=0) + datetime.timedelta(seconds=15)
        # no operation_date: the frame's one standby instance
        out = run_playbook(['jobnet.scheduler.reschedule', '-e', 'frame=r', '-e', 'start_at=%s' % hms(new)],
                           env=env, timeout=120)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        assert instance(url, 'r@%s' % date)['definition']['start_at'] == new.isoformat()
    finally:
        kill9(proc)                      # the controller fails before the new start time
    out = run_playbook(['jobnet.scheduler.recover'], env=env, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'PEX056 frame recovery started: r@%s [start date converting]: its time override %s is kept' \
        % (date, new.isoformat()) in log
    assert instance(url, 'r@%s' % date)['state'] == 'normal_end'
    assert len(starts(ledger, 'r')) == 1 and new.timestamp() <= starts(ledger, 'r')[0] < planned.timestamp()
    # a frame that has started gets no new start time
    out = run_playbook(['jobnet.scheduler.reschedule', '-e', 'frame=r', '-e', 'operation_date=%s' % date,
                        '-e', 'start_at=23:00'], env=env, timeout=120)
    assert out.returncode == 2 and 'only a standby frame' in out.stdout, out.stdout[-2000:]


def test_a_bad_schedule_is_refused_with_every_problem_and_nothing_is_recorded(testenv, tmp_path, run_playbook):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / 'ok.yml').write_text('frame: ok\njobs:\n  - {name: a, host: agent9, shell: "true"}\n')
    path = tmp_path / 'bad.yml'
    path.write_text('base_time: "25:00"\nframes:\n  - {file: frames/ok.yml, calendar: nope}\n'
                    '  - {file: frames/missing.yml}\n')
    out = run_playbook(schedule_argv(str(path)), env=env, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 2, text[-3000:]
    for needle in ('bad.yml:1', 'base_time', 'nope', 'missing.yml', 'agent9'):
        assert needle in text, (needle, text[-3000:])
    assert not os.path.exists(sqlite_path(url)), 'a refused schedule created the store'
    assert 'Traceback' not in text


def test_check_mode_writes_the_plan_of_a_year_and_records_nothing(testenv, tmp_path, run_playbook):
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / 'w.yml').write_text('frame: w\njobs:\n  - {name: a, host: agent1, shell: "true"}\n')
    (tmp_path / 'frames' / 'm.yml').write_text('frame: m\nstart_at: "01:30"\n'
                                               'jobs:\n  - {name: a, host: agent1, shell: "true"}\n')
    path = tmp_path / 'year.yml'
    path.write_text('base_time: "05:00"\ntimezone: Asia/Tokyo\ncalendars:\n  business:\n'
                    '    weekdays: [mon, tue, wed, thu, fri]\n    exclude: ["2027-01-01"]\n'
                    'frames:\n  - {file: frames/w.yml, weekdays: [sun]}\n'
                    '  - {file: frames/m.yml, calendar: business, days: [1, last], shift: next}\n')
    plan = tmp_path / 'plan.json'
    out = run_playbook(schedule_argv(str(path), '-e', 'operation_date=2027-01-01', '-e', 'plan_days=365',
                                     '-e', 'plan_json=%s' % plan, '--check'), env=env, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    doc = json.loads(plan.read_text())
    assert len(doc['days']) == 365 and doc['days'][0]['operation_date'] == '2027-01-01'
    assert doc['days'][0]['frames'] == []                                  # closed, moves to the next open day
    assert doc['days'][3]['frames'] == [{'frame': 'm', 'start': '2027-01-05T01:30:00+09:00'}]     # Mon 4th
    assert doc['days'][2]['frames'] == [{'frame': 'w', 'start': None}]                            # Sun 3rd
    assert not os.path.exists(sqlite_path(url))


def test_catch_up_starts_a_frame_whose_start_time_passed_during_the_failure(testenv, tmp_path, run_playbook):
    ledger, url, env, date, start, proc = one_standby_frame(testenv, tmp_path, 'k', 12)
    kill9(proc)
    until(start + datetime.timedelta(seconds=2))
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'catch_up=true'], env=env, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert instance(url, 'k@%s' % date)['state'] == 'normal_end'        # A-2 with catch_up: it starts after all
    assert len(starts(ledger, 'k')) == 1 and starts(ledger, 'k')[0] >= start.timestamp()


def _doc_block(lang):
    """The first fenced block of ``lang`` in docs/schedule.md."""
    text = open(os.path.join(os.path.dirname(__file__), '..', '..', 'docs', 'schedule.md')).read()
    return text.split('```%s\n' % lang, 1)[1].split('```', 1)[0]


def test_the_documented_cron_line_systemd_unit_and_an_awx_job_template_run_the_day_schedule(testenv, tmp_path):
    """The cron line and the systemd ExecStart of docs/schedule.md, run as written (the paths moved to this
    test's folder), and the schedule playbook through ansible-runner as an AWX job template runs it."""
    import shutil
    import subprocess
    import sys
    ledger = str(ledger_dir() / 'ledger')
    ops = tmp_path / 'ops'
    ops.mkdir()
    shutil.copyfile(testenv.inventory, str(ops / 'inventory.ini'))
    (ops / '.venv' / 'bin').mkdir(parents=True)
    os.symlink(os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
               str(ops / '.venv' / 'bin' / 'ansible-playbook'))
    base = datetime.datetime.now(UTC) - datetime.timedelta(seconds=60)
    date = base.date().isoformat()
    write_schedule(ops, base, [('cron1', {})], {'cron1': quick('cron1', 'agent1', ledger)})
    os.rename(str(ops / 'sched.yml'), str(ops / 'schedule.yml'))
    (tmp_path / 'log').mkdir()

    def as_written(command):
        return (command.replace('/var/log/jobnet/', str(tmp_path / 'log') + '/').replace('/ops', str(ops)))

    cron = _doc_block('cron').strip().split(None, 5)[5]       # the command after the five time fields
    unit = [line for line in _doc_block('ini').splitlines() if line.startswith('ExecStart=')][0]
    for name, command in (('cron', as_written(cron)),
                          ('systemd', 'cd %s && %s' % (ops, as_written(unit[len('ExecStart='):])))):
        url = 'sqlite:///%s' % (tmp_path / ('%s.db' % name))
        env = testenv.env(JOBNET_STORE=url, PATH='%s:%s' % (os.path.dirname(sys.executable), os.environ['PATH']))
        out = subprocess.run(['sh', '-c', command], env=env, capture_output=True, text=True, timeout=300,
                             check=False)
        log = open(str(tmp_path / 'log' / 'schedule.log')).read() if name == 'cron' else out.stdout
        assert out.returncode == 0, (name, command, log[-3000:], out.stderr[-2000:])
        assert day(url, 'schedule', date)['created_by'] == 'schedule', name
        assert instance(url, 'cron1@%s' % date)['state'] == 'normal_end', name
    # an AWX job template on the schedule playbook, with schedule_file as an extra variable
    private = tmp_path / 'runner'
    (private / 'env').mkdir(parents=True)
    url = 'sqlite:///%s' % (tmp_path / 'awx.db')
    code = r'''
import json, sys, ansible_runner
r = ansible_runner.run(private_data_dir=sys.argv[1], playbook='jobnet.scheduler.schedule', inventory=sys.argv[2],
                       extravars={'schedule_file': sys.argv[3]}, quiet=True,
                       envvars={'JOBNET_STORE': sys.argv[4], 'ANSIBLE_COLLECTIONS_PATH': sys.argv[5],
                                'ANSIBLE_CONFIG': sys.argv[6]})
print(json.dumps({'status': r.status, 'rc': r.rc}))
'''
    out = subprocess.run([sys.executable, '-c', code, str(private), testenv.inventory, str(ops / 'schedule.yml'), url,
                          testenv.collections_path, testenv.ansible_config], env=testenv.env(), capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {'status': 'successful', 'rc': 0}, out.stdout[-3000:]
    assert day(url, 'schedule', date)['created_by'] == 'schedule'
    assert len(starts(ledger, 'cron1')) == 3     # once per way of running it, each on its own store
