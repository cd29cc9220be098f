# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jobnet.scheduler.job / job_info on the real test hosts (localhost + agent1..agent3 over ssh).

Run: tests/env/testenv.sh start && . .tmp/testenv/env.sh && pytest tests/system/test_jobs.py
The tests run as root: they look into the agents' homes and kill processes there, as a machine stop would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTENV = os.environ.get('JOBNET_TESTENV', os.path.join(REPO, '.tmp', 'testenv'))
BIN = os.path.dirname(sys.executable)
HOSTS = ('localhost', 'agent1', 'agent2', 'agent3')
USERS = {'localhost': 'root', 'agent1': 'jobnet-agent1', 'agent2': 'jobnet-agent2', 'agent3': 'jobnet-agent3'}


def _env():
    env = dict(os.environ)
    path = os.path.join(TESTENV, 'env.sh')
    if not os.path.exists(path):
        pytest.skip('test hosts not started: run tests/env/testenv.sh start')
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('export ') and '=' in line:
                k, v = line[len('export '):].split('=', 1)
                env[k] = v.strip('"\'')
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_NOCOLOR'] = '1'
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)
    return env


ENV = None


def env():
    global ENV
    if ENV is None:
        ENV = _env()
    return ENV


if os.geteuid() != 0:
    pytest.skip('these tests look into the agents\' homes and kill their processes: run them as root',
                allow_module_level=True)


def ansible(hosts, module, args, check=False, timeout=300, extra_vars=None):
    """Run one ad-hoc module call; return {host: result}."""
    tree = tempfile.mkdtemp(prefix='jobnet-tree-')
    try:
        cmd = [os.path.join(BIN, 'ansible'), hosts, '-m', 'jobnet.scheduler.' + module, '-a', json.dumps(args),
               '-t', tree]
        if check:
            cmd.append('--check')
        if extra_vars:
            cmd += ['-e', json.dumps(extra_vars)]
        r = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout, check=False)
        out = {}
        for h in os.listdir(tree):
            with open(os.path.join(tree, h)) as f:
                out[h] = json.load(f)
        if not out:
            raise AssertionError('ansible gave no result:\n%s\n%s' % (r.stdout, r.stderr))
        # the tree files leave out the failed flag: take it from the one-line-per-host status
        for line in r.stdout.splitlines():
            m = re.match(r'^(\S+) \| (FAILED|UNREACHABLE)', line)
            if m and m.group(1) in out:
                out[m.group(1)]['failed'] = True
        return out
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def home(host):
    return pwd.getpwnam(USERS[host]).pw_dir


def proc_start(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b')') + 2:].split()
    return None if rest[0] in (b'Z', b'X') else int(rest[19])


def group_alive(pgid):
    """A process of the group that is not a zombie exists (init here reaps orphans late)."""
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/stat' % name, 'rb') as f:
                    data = f.read()
            except OSError:
                continue
            rest = data[data.rindex(b')') + 2:].split()
            if rest[0] not in (b'Z', b'X') and int(rest[2]) == pgid:
                return True
    return False


def until_ended(host, root, ids, deadline=90, **extra):
    """job_info with wait until none of ids runs (every wait bounded). Returns {id: job}."""
    end = time.monotonic() + deadline
    while True:
        args = dict(root=root, ids=ids, wait=5, **extra)
        res = ansible(host, 'job_info', args)[host]
        assert not res.get('failed'), res
        jobs = dict((j['id'], j) for j in res['jobs'])
        if all(j['state'] != 'running' for j in jobs.values()):
            return jobs
        assert time.monotonic() < end, 'jobs still running after %ss: %s' % (deadline, jobs)


def read_all(host, root, jid, stream='stdout', max_bytes=65536, encoding='text'):
    """Read a whole stream chunk by chunk by offset."""
    off = {'stdout': 0, 'stderr': 0}
    parts = []
    for dummy in range(1000):
        res = ansible(host, 'job_info', dict(root=root, ids=[jid], offsets={jid: off}, max_bytes=max_bytes,
                                             encoding=encoding))[host]
        j = res['jobs'][0]
        parts.append(j[stream])
        off = j['next_offset']
        if not j['has_more_data']:
            break
    if encoding == 'base64':
        return b''.join(base64.b64decode(p) for p in parts)
    return ''.join(parts)


@pytest.fixture
def prefix():
    """A random id prefix and job root name; kills what is left and removes the roots afterwards."""
    p = 't' + uuid.uuid4().hex[:10]
    yield p
    for host in HOSTS:
        base = os.path.join(home(host), '.jobnet')
        if not os.path.isdir(base):
            continue
        for name in os.listdir(base):
            if not name.startswith('t-' + p):
                continue
            root = os.path.join(base, name)
            for jid in os.listdir(root):
                try:
                    with open(os.path.join(root, jid, 'status.json')) as f:
                        st = json.load(f)
                except (OSError, ValueError):
                    continue
                for pid, start, grp in ((st.get('pid'), st.get('pid_start'), True),
                                        (st.get('supervisor_pid'), st.get('supervisor_start'), False)):
                    if pid and proc_start(pid) == start:
                        try:
                            (os.killpg if grp else os.kill)(pid, signal.SIGKILL)
                        except OSError:
                            pass
            shutil.rmtree(root, ignore_errors=True)
        for name in os.listdir(home(host)):
            if p in name:
                path = os.path.join(home(host), name)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def root_of(prefix, tag=''):
    return '~/.jobnet/t-%s%s' % (prefix, tag)


def host_root(host, prefix, tag=''):
    return os.path.join(home(host), '.jobnet', 't-%s%s' % (prefix, tag))


# ---------------------------------------------------------------------------------------------------------
# the controller dies: kill -9 of ansible-playbook while the jobs run

KILL_PLAYBOOK = '''
- hosts: localhost,agent1,agent2,agent3
  gather_facts: false
  tasks:
    - name: start the jobs
      jobnet.scheduler.job:
        root: "{root}"
        jobs:
          - id: "{p}-ok"
            shell: 'sleep 4; echo "$JOBID" >> "$HOME/ledger-{p}"; seq 1 30000; echo done >&2'
            env: {{JOBID: "{p}-ok"}}
          - id: "{p}-rc7"
            shell: 'sleep 5; echo "$JOBID" >> "$HOME/ledger-{p}"; printf "seven\\n"; exit 7'
            env: {{JOBID: "{p}-rc7"}}
          - id: "{p}-argv"
            command: [sh, -c, 'sleep 3; echo "$0" >> "$HOME/ledger-{p}"; echo "x y"', "{p}-argv"]
    - name: the controller waits here until it is killed
      ansible.builtin.command: sleep 300
'''


@pytest.fixture
def killed_controller(prefix, tmp_path):
    """Jobs started on all four hosts by a playbook that is then killed with kill -9 (its whole group)."""
    root = root_of(prefix)
    ids = ['%s-ok' % prefix, '%s-rc7' % prefix, '%s-argv' % prefix]
    pb = tmp_path / 'start_and_wait.yml'
    pb.write_text(KILL_PLAYBOOK.format(root=root, p=prefix))
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-playbook'), str(pb)], env=env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            ready = all(os.path.exists(os.path.join(host_root(h, prefix), j, 'status.json'))
                        for h in HOSTS for j in ids)
            if ready:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, 'jobs did not start'
            time.sleep(0.2)
        time.sleep(0.5)
        assert proc.poll() is None, 'the playbook ended before it could be killed'
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return root, ids


def test_jobs_survive_kill_9_of_ansible_playbook_and_end_with_their_rc_and_complete_output(killed_controller):
    root, ids = killed_controller
    for host in HOSTS:
        # the processes really outlived the controller: every job pid still ran right after the kill
        for jid in ids:
            with open(os.path.join(host_root(host, root.split('t-', 1)[1]), jid, 'status.json')) as f:
                assert json.load(f)['pid']
    expected_out = ''.join('%d\n' % i for i in range(1, 30001))
    for host in HOSTS:
        jobs = until_ended(host, root, ids, output=False)
        ok, rc7, argv = (jobs[i] for i in ids)
        assert (ok['state'], ok['rc'], ok['signal'], ok['reason']) == ('normal_end', 0, None, 'exit'), ok
        assert (rc7['state'], rc7['rc']) == ('abnormal_end', 7), rc7
        assert argv['state'] == 'normal_end', argv
        assert ok['ended'].endswith('Z') and ok['started'] < ok['ended']
        # complete output, read chunk by chunk (the stream is larger than one chunk)
        assert len(expected_out) > 65536
        assert read_all(host, root, ids[0]) == expected_out
        assert read_all(host, root, ids[0], 'stderr') == 'done\n'
        assert read_all(host, root, ids[1]) == 'seven\n'
        assert read_all(host, root, ids[2]) == 'x y\n'


def test_starting_the_same_ids_again_after_kill_9_starts_nothing_and_the_ledger_has_one_line_per_id(
        killed_controller):
    root, ids = killed_controller
    prefix = ids[0][:-3]
    again = dict(root=root, jobs=[dict(id=j, shell='echo "%s" >> "$HOME/ledger-%s"' % (j, prefix)) for j in ids])
    # once while the jobs may still run, once after they ended
    for dummy in range(2):
        res = ansible('all', 'job', again)
        for host in HOSTS:
            r = res[host]
            assert not r.get('failed'), r
            assert r['changed'] is False and r['started'] == [] and sorted(r['existing']) == sorted(ids), r
        for host in HOSTS:
            until_ended(host, root, ids, output=False)
    for host in HOSTS:
        with open(os.path.join(home(host), 'ledger-%s' % prefix)) as f:
            lines = f.read().splitlines()
        assert sorted(lines) == sorted(ids), (host, lines)


# ---------------------------------------------------------------------------------------------------------
# ends: timeout, killed from outside, lost, pid reuse

def test_timeout_ends_the_job_and_a_child_meant_to_outlive_it(prefix):
    root = root_of(prefix)
    jid = prefix + '-to'
    shell = 'sleep 300 & echo $! > "$HOME/child-%s"; trap "" TERM; sleep 300' % prefix
    res = ansible('agent1', 'job', dict(root=root, grace=1, jobs=[dict(id=jid, shell=shell, timeout=1)]))['agent1']
    assert res['changed'] and res['started'] == [jid], res
    job = until_ended('agent1', root, [jid], output=False)[jid]
    assert (job['state'], job['reason'], job['rc'], job['signal']) == ('abnormal_end', 'timeout', None, 9), job
    with open(os.path.join(home('agent1'), 'child-%s' % prefix)) as f:
        child = int(f.read())
    assert proc_start(child) is None, 'the child outlived the timeout'
    assert not group_alive(job['pid'])


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_job_killed_from_outside_is_abnormal_end_with_its_signal(prefix, sig):
    root = root_of(prefix)
    jid = '%s-k%d' % (prefix, sig)
    res = ansible('agent2', 'job', dict(root=root, jobs=[dict(id=jid, command=['sleep', '300'])]))['agent2']
    pid = res['jobs'][0]['pid']
    assert res['jobs'][0]['state'] == 'running' and proc_start(pid)
    os.kill(pid, sig)
    job = until_ended('agent2', root, [jid], output=False)[jid]
    assert (job['state'], job['rc'], job['signal'], job['reason']) == ('abnormal_end', None, int(sig), 'exit'), job


def _status(host, prefix, jid):
    with open(os.path.join(host_root(host, prefix), jid, 'status.json')) as f:
        return json.load(f)


def test_supervisor_and_job_killed_together_is_lost(prefix):
    root = root_of(prefix)
    jid = prefix + '-lost'
    ansible('agent3', 'job', dict(root=root, jobs=[dict(id=jid, command=['sleep', '300'])]))
    st = _status('agent3', prefix, jid)
    os.kill(st['supervisor_pid'], signal.SIGKILL)
    os.killpg(st['pid'], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc_start(st['pid']) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    job = ansible('agent3', 'job_info', dict(root=root, ids=[jid]))['agent3']['jobs'][0]
    assert (job['state'], job['rc'], job['ended']) == ('lost', None, None), job
    assert not os.path.exists(os.path.join(host_root('agent3', prefix), jid, 'result.json'))


def test_job_whose_supervisor_died_is_running_while_it_lives_and_lost_after(prefix):
    root = root_of(prefix)
    jid = prefix + '-orphan'
    ansible('agent3', 'job', dict(root=root, jobs=[dict(id=jid, command=['sleep', '300'])]))
    st = _status('agent3', prefix, jid)
    os.kill(st['supervisor_pid'], signal.SIGKILL)
    job = ansible('agent3', 'job_info', dict(root=root, ids=[jid]))['agent3']['jobs'][0]
    assert job['state'] == 'running', job
    os.kill(st['pid'], signal.SIGKILL)
    job = until_ended('agent3', root, [jid])[jid]
    assert job['state'] == 'lost', job


def test_a_live_pid_with_another_start_time_is_not_mistaken_for_the_job(prefix):
    """pid reuse: status.json names live processes, but with other start times -> lost, not running."""
    root = root_of(prefix)
    jid = prefix + '-reuse'
    d = os.path.join(host_root('localhost', prefix), jid)
    os.makedirs(d, 0o700)
    other = subprocess.Popen(['sleep', '300'])
    try:
        start = proc_start(other.pid)
        with open(os.path.join(d, 'spec.json'), 'w') as f:
            json.dump({'id': jid, 'name': jid, 'labels': {}, 'created': '2026-01-01T00:00:00.000000Z'}, f)

        def fake(pid_start):
            with open(os.path.join(d, 'status.json'), 'w') as f:
                json.dump({'pid': other.pid, 'pid_start': pid_start, 'supervisor_pid': other.pid,
                           'supervisor_start': pid_start, 'started': '2026-01-01T00:00:00.000000Z'}, f)

        fake(start + 1)
        job = ansible('localhost', 'job_info', dict(root=root, ids=[jid]))['localhost']['jobs'][0]
        assert job['state'] == 'lost', job
        fake(start)     # the control: the same record with the true start time is running
        job = ansible('localhost', 'job_info', dict(root=root, ids=[jid]))['localhost']['jobs'][0]
        assert job['state'] == 'running', job
    finally:
        other.kill()
        other.wait()


# ---------------------------------------------------------------------------------------------------------
# output

def test_20_mb_binary_stdout_read_by_offset_in_base64_is_byte_identical_also_while_the_job_writes(prefix):
    root = root_of(prefix)
    jid = prefix + '-bin'
    blob = os.path.join(home('agent2'), 'blob-%s' % prefix)
    data = os.urandom(20 * 1024 * 1024)
    with open(blob, 'wb') as f:
        f.write(data)
    os.chmod(blob, 0o644)
    # writes 1 MiB at a time with a pause, so the reads below begin while it is still writing
    shell = 'i=0; while [ $i -lt 20 ]; do dd if="%s" bs=1048576 skip=$i count=1 status=none; sleep 0.3; ' \
            'i=$((i+1)); done' % blob
    ansible('agent2', 'job', dict(root=root, jobs=[dict(id=jid, shell=shell)]))
    off = {'stdout': 0, 'stderr': 0}
    got = []
    seen_running = False
    for dummy in range(500):
        j = ansible('agent2', 'job_info', dict(root=root, ids=[jid], offsets={jid: off}, encoding='base64',
                                               max_bytes=3 * 1024 * 1024))['agent2']['jobs'][0]
        assert j['stdout_offset'] == off['stdout']
        if j['state'] == 'running':
            seen_running = True
        got.append(base64.b64decode(j['stdout']))
        off = j['next_offset']
        if not j['has_more_data']:
            break
    out = b''.join(got)
    assert seen_running, 'the reads did not begin while the job was writing'
    assert len(out) == len(data)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()


def test_text_chunks_never_split_a_multibyte_character(prefix):
    root = root_of(prefix)
    jid = prefix + '-utf8'
    text = 'Zeile äöü – 日本語 🙂\n' * 300
    ansible('agent1', 'job', dict(root=root, jobs=[dict(id=jid, command=['printf', '%s', text])]))
    until_ended('agent1', root, [jid], output=False)
    assert read_all('agent1', root, jid, max_bytes=1000) == text


# ---------------------------------------------------------------------------------------------------------
# bad input

def _good(prefix):
    return dict(id=prefix + '-good', command=['true'])


BAD_JOBS = [
    ('id_with_dot_dot_slash', lambda p: [_good(p), dict(id='../x', command=['true'])], 'jobs[1].id'),
    ('id_dot_dot', lambda p: [dict(id='..', command=['true'])], 'jobs[0].id'),
    ('empty_command', lambda p: [_good(p), dict(id=p + '-e', command=[])], 'command'),
    ('both_command_and_shell', lambda p: [dict(id=p + '-b', command=['true'], shell='true')], 'both command and shell'),
    ('neither_command_nor_shell', lambda p: [dict(id=p + '-n')], 'neither command nor shell'),
    ('duplicate_ids', lambda p: [_good(p), _good(p)], 'duplicate id'),
    ('negative_timeout', lambda p: [dict(id=p + '-t', command=['true'], timeout=-1)], 'timeout'),
    ('missing_chdir', lambda p: [_good(p), dict(id=p + '-c', command=['true'], chdir='/nonexistent/x')],
     'jobs[1] (id %s-c).chdir'),
    ('nul_in_an_env_value', lambda p: [_good(p), dict(id=p + '-z', command=['true'], env={'K': 'a\0b'})],
     'jobs[1] (id %s-z).env.K: the value contains a NUL byte'),
    ('nul_in_an_argument', lambda p: [_good(p), dict(id=p + '-z', command=['echo', 'a\0b'])],
     'jobs[1] (id %s-z).command[1] contains a NUL byte'),
    ('timeout_of_401_digits', lambda p: [_good(p), dict(id=p + '-t', command=['true'], timeout=10 ** 400)],
     'jobs[1] (id %s-t).timeout must be at most 2678400 seconds'),
    ('timeout_1e400', lambda p: [_good(p), dict(id=p + '-t', command=['true'], timeout='1e400')],
     'jobs[1] (id %s-t).timeout must be at most 2678400 seconds'),
]


@pytest.mark.parametrize('case,jobs,field', BAD_JOBS, ids=[c[0] for c in BAD_JOBS])
def test_bad_job_input_fails_naming_the_field_and_starts_nothing(prefix, case, jobs, field):
    root = root_of(prefix)
    res = ansible('agent1', 'job', dict(root=root, jobs=jobs(prefix)))['agent1']
    assert res.get('failed'), res
    assert (field % prefix if '%s' in field else field) in res['msg'], res['msg']
    r = host_root('agent1', prefix)
    assert not os.path.isdir(r) or os.listdir(r) == []


def test_unknown_id_fails_naming_ids_and_the_id_unless_missing_is_ignore(prefix):
    root = root_of(prefix)
    res = ansible('agent1', 'job_info', dict(root=root, ids=[prefix + '-nope']))['agent1']
    assert res.get('failed') and 'ids' in res['msg'] and prefix + '-nope' in res['msg'], res
    res = ansible('agent1', 'job_info', dict(root=root, ids=[prefix + '-nope'], missing='ignore'))['agent1']
    assert not res.get('failed') and res['missing'] == [prefix + '-nope'] and res['jobs'] == [], res
    res = ansible('agent1', 'job', dict(root=root, state='stopped', ids=[prefix + '-nope']))['agent1']
    assert res.get('failed') and 'ids' in res['msg'] and prefix + '-nope' in res['msg'], res


def test_negative_wait_and_bad_ids_fail_naming_the_field(prefix):
    root = root_of(prefix)
    res = ansible('agent1', 'job_info', dict(root=root, wait=-1))['agent1']
    assert res.get('failed') and 'wait' in res['msg'], res
    res = ansible('agent1', 'job_info', dict(root=root, ids=['../x']))['agent1']
    assert res.get('failed') and 'ids[0]' in res['msg'], res
    res = ansible('agent1', 'job', dict(root=root, state='absent', ids=['a/b']))['agent1']
    assert res.get('failed') and 'ids[0]' in res['msg'], res


# ---------------------------------------------------------------------------------------------------------
# check mode, stop, remove

def test_check_mode_reports_what_would_start_and_starts_nothing_then_start_is_idempotent(prefix):
    root = root_of(prefix)
    jobs = [dict(id=prefix + '-c1', command=['true'], labels={'frame': 'f1'})]
    res = ansible('agent2', 'job', dict(root=root, jobs=jobs), check=True)['agent2']
    assert res['changed'] is True and res['started'] == [prefix + '-c1'] and res['jobs'][0]['state'] is None, res
    assert not os.path.exists(host_root('agent2', prefix))
    res = ansible('agent2', 'job', dict(root=root, jobs=jobs))['agent2']
    assert res['changed'] is True and res['started'] == [prefix + '-c1'], res
    res = ansible('agent2', 'job', dict(root=root, jobs=jobs))['agent2']
    assert res['changed'] is False and res['existing'] == [prefix + '-c1'], res
    res = ansible('agent2', 'job', dict(root=root, jobs=jobs), check=True)['agent2']
    assert res['changed'] is False and res['started'] == [], res
    st = os.stat(host_root('agent2', prefix) + '/' + prefix + '-c1')
    assert st.st_mode & 0o777 == 0o700


def test_stopped_ends_the_whole_process_group_and_records_stopped(prefix):
    root = root_of(prefix)
    ids = [prefix + '-s1', prefix + '-s2']
    jobs = [dict(id=ids[0], shell='sleep 300 & sleep 300'),
            dict(id=ids[1], shell='trap "" TERM; sleep 300 & sleep 300')]   # ignores TERM: needs the KILL
    res = ansible('agent3', 'job', dict(root=root, jobs=jobs))['agent3']
    pids = [j['pid'] for j in res['jobs']]
    res = ansible('agent3', 'job', dict(root=root, state='stopped', ids=ids, grace=1))['agent3']
    assert res['changed'] is True and sorted(res['stopped']) == sorted(ids), res
    for j in res['jobs']:
        assert (j['state'], j['reason']) == ('stopped', 'stopped'), j
    for pid in pids:
        assert not group_alive(pid)
    res = ansible('agent3', 'job', dict(root=root, state='stopped', ids=ids))['agent3']
    assert res['changed'] is False, res
    res = ansible('agent3', 'job_info', dict(root=root, state=['stopped']))['agent3']
    assert sorted(j['id'] for j in res['jobs']) == sorted(ids)


def test_absent_removes_ended_jobs_refuses_running_ones_and_force_stops_them_first(prefix):
    root = root_of(prefix)
    done, busy = prefix + '-done', prefix + '-busy'
    ansible('agent1', 'job', dict(root=root, jobs=[dict(id=done, command=['true']),
                                                   dict(id=busy, command=['sleep', '300'])]))
    until_ended('agent1', root, [done])
    r = host_root('agent1', prefix)
    res = ansible('agent1', 'job', dict(root=root, state='absent', ids=[done, busy]))['agent1']
    assert res.get('failed') and busy in res['msg'] and 'force' in res['msg'], res
    assert os.path.isdir(os.path.join(r, done)) and os.path.isdir(os.path.join(r, busy))
    res = ansible('agent1', 'job', dict(root=root, state='absent', ids=[done]))['agent1']
    assert res['changed'] is True and res['removed'] == [done], res
    assert not os.path.exists(os.path.join(r, done))
    pid = _status('agent1', prefix, busy)['pid']
    res = ansible('agent1', 'job', dict(root=root, state='absent', ids=[busy, done], force=True, grace=1))['agent1']
    assert res['changed'] is True and res['removed'] == [busy] and res['stopped'] == [busy], res
    assert not os.path.exists(os.path.join(r, busy)) and not group_alive(pid)
    res = ansible('agent1', 'job', dict(root=root, state='absent', ids=[busy]))['agent1']
    assert res['changed'] is False, res


def test_job_info_filters_by_name_state_and_labels_and_wait_returns_on_the_first_change(prefix):
    root = root_of(prefix)
    jobs = [dict(id=prefix + '-a', name='load/a', command=['sleep', '1'], labels={'frame': 'f', 'n': '1'}),
            dict(id=prefix + '-b', name='load/b', command=['sleep', '300'], labels={'frame': 'f', 'n': '2'}),
            dict(id=prefix + '-c', name='other', command=['sleep', '300'], labels={'frame': 'g'})]
    ansible('localhost', 'job', dict(root=root, jobs=jobs))
    res = ansible('localhost', 'job_info', dict(root=root, wait=60, output=False, name='load/*'))['localhost']
    states = dict((j['id'], j['state']) for j in res['jobs'])
    assert states == {prefix + '-a': 'normal_end', prefix + '-b': 'running'}, states
    res = ansible('localhost', 'job_info', dict(root=root, labels={'frame': 'f', 'n': '2'}))['localhost']
    assert [j['id'] for j in res['jobs']] == [prefix + '-b']
    res = ansible('localhost', 'job_info', dict(root=root, state=['running']))['localhost']
    assert sorted(j['id'] for j in res['jobs']) == [prefix + '-b', prefix + '-c']
    ansible('localhost', 'job', dict(root=root, state='stopped', ids=[prefix + '-b', prefix + '-c'], grace=1))


# ---------------------------------------------------------------------------------------------------------
# native async jobs in the same call

ASYNC_PLAYBOOK = '''
- hosts: agent1
  gather_facts: false
  tasks:
    - ansible.builtin.command: sleep {secs}
      async: 120
      poll: 0
      register: a
    - ansible.builtin.copy:
        content: "{{{{ a.ansible_job_id }}}}"
        dest: "{out}"
      delegate_to: localhost
'''


def _native_async(tmp_path, secs):
    out = tmp_path / ('jid-%s' % secs)
    pb = tmp_path / ('async-%s.yml' % secs)
    pb.write_text(ASYNC_PLAYBOOK.format(secs=secs, out=out))
    r = subprocess.run([os.path.join(BIN, 'ansible-playbook'), str(pb)], env=env(), capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return out.read_text().strip()


def test_native_async_jobs_are_reported_running_finished_and_lost_when_the_wrapper_died(prefix, tmp_path):
    quick = _native_async(tmp_path, 0)
    slow = _native_async(tmp_path, 300)
    res = ansible('agent1', 'job_info', dict(root=root_of(prefix), ids=[], async_jids=[slow]))['agent1']
    assert res['async_jobs'][0]['state'] == 'running', res
    deadline = time.monotonic() + 30
    while True:
        res = ansible('agent1', 'job_info', dict(root=root_of(prefix), ids=[], async_jids=[quick]))['agent1']
        a = res['async_jobs'][0]
        if a['state'] == 'finished' or time.monotonic() > deadline:
            break
    assert (a['state'], a['finished'], a['rc']) == ('finished', True, 0), a
    # the wrapper dies (as on a machine stop): every process carrying the jid is killed
    marker = slow.rsplit('.', 1)[0].encode()
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/cmdline' % name, 'rb') as f:
                    if marker in f.read().split(b'\0'):
                        os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.5)
    res = ansible('agent1', 'job_info', dict(root=root_of(prefix), ids=[], async_jids=[slow, 'j0000.1'],
                                             missing='ignore'))['agent1']
    assert res['async_jobs'][0]['state'] == 'lost' and res['missing_async_jids'] == ['j0000.1'], res
    for jid in (quick, slow):
        try:
            os.unlink(os.path.join(home('agent1'), '.ansible_async', jid))
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------------------
# hostile input and hostile hosts

BIG_PLAYBOOK = '''
- hosts: agent2
  gather_facts: false
  tasks:
    - jobnet.scheduler.job:
        root: "{{ root }}"
        jobs: "{{ jobs }}"
      register: started
    - ansible.builtin.copy:
        content: "{{ started | to_json }}"
        dest: "{{ out }}"
      delegate_to: localhost
'''


def test_a_256_kb_shell_line_and_a_10000_argument_command_run_byte_for_byte(prefix, tmp_path):
    root = root_of(prefix)
    # all of printable ASCII but quote and what Jinja would read as a template
    text = ''.join(chr(0x20 + i % 0x5f) for i in range(256 * 1024)).translate(str.maketrans("'{}%#", '_____'))
    text += ' äö 日本 🙂'
    args = ['%d "$x`y`\\ \t é $(false) *' % i for i in range(10000)] + ['', "'", '-', 'a\nb']
    jobs = [dict(id=prefix + '-sh', shell="printf '%s' '" + text + "'"),
            dict(id=prefix + '-argv', command=['printf', '%s\\0'] + args)]
    # the arguments are too long for one command line (that of ansible itself): a playbook with a vars file
    (tmp_path / 'vars.json').write_text(json.dumps(dict(root=root, jobs=jobs, out=str(tmp_path / 'out.json'))))
    (tmp_path / 'big.yml').write_text(BIG_PLAYBOOK)
    r = subprocess.run([os.path.join(BIN, 'ansible-playbook'), str(tmp_path / 'big.yml'), '-e',
                        '@' + str(tmp_path / 'vars.json')], env=env(), capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / 'out.json').read_text())
    assert res['started'] == [prefix + '-sh', prefix + '-argv'] and res['refused'] == [], res.get('msg')
    jobs = until_ended('agent2', root, [prefix + '-sh', prefix + '-argv'], output=False)
    assert [j['state'] for j in jobs.values()] == ['normal_end', 'normal_end'], jobs
    d = host_root('agent2', prefix)
    with open(os.path.join(d, prefix + '-sh', 'stdout'), 'rb') as f:
        assert f.read() == text.encode()
    with open(os.path.join(d, prefix + '-argv', 'stdout'), 'rb') as f:
        assert f.read().split(b'\0')[:-1] == [a.encode() for a in args]


def test_a_host_out_of_file_descriptors_starts_what_it_can_and_refuses_the_rest_naming_them(prefix):
    """A real partial launch: the module's Python may open 30 files, so only some supervisors can start."""
    root = root_of(prefix)
    wrapper = os.path.join(home('agent1'), 'python-%s' % prefix)
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec /usr/bin/prlimit --nofile=30 /usr/bin/python3 "$@"\n')
    os.chmod(wrapper, 0o755)
    ids = ['%s-%02d' % (prefix, i) for i in range(40)]
    jobs = [dict(id=i, command=['sleep', '300']) for i in ids]
    res = ansible('agent1', 'job', dict(root=root, jobs=jobs, grace=1),
                  extra_vars={'ansible_python_interpreter': wrapper})['agent1']
    assert res.get('failed') and res['changed'] is True, res
    started, refused = res['started'], [r['id'] for r in res['refused']]
    assert started and refused and sorted(started + refused) == ids and res['existing'] == []
    assert all('Too many open files' in r['msg'] for r in res['refused']), res['refused']
    assert res['msg'].startswith('jobs: could not start %d of the 40 jobs, nothing of them runs: %s'
                                 % (len(refused), refused[0])), res['msg']
    assert [j['id'] for j in res['jobs']] == started and all(j['state'] == 'running' for j in res['jobs'])
    # a refused job leaves nothing behind; the host says it does not know it
    assert sorted(os.listdir(host_root('agent1', prefix))) == sorted(started)
    info = ansible('agent1', 'job_info', dict(root=root, ids=ids, missing='ignore', output=False))['agent1']
    assert sorted(info['missing']) == sorted(refused) and all(j['state'] == 'running' for j in info['jobs'])
    # the same call again with enough files: the started ones exist, the refused ones start now
    res = ansible('agent1', 'job', dict(root=root, jobs=jobs))['agent1']
    assert not res.get('failed') and sorted(res['started']) == sorted(refused), res.get('msg')
    assert sorted(res['existing']) == sorted(started) and res['refused'] == []
    ansible('agent1', 'job', dict(root=root, state='stopped', ids=ids, grace=1))


def test_env_and_secret_env_values_are_not_printed_even_verbose_and_reach_the_job(prefix):
    root = root_of(prefix)
    jid = prefix + '-env'
    # the job checks the values by their lengths, so that they are nowhere but in env and secret_env
    args = dict(root=root, jobs=[dict(id=jid, command=['sh', '-c', 'test "$(printf %s "$P$T" | wc -c)" -eq 28'],
                                      env={'P': 'pl41n-v4lue'}, secret_env={'T': 'hunter2-s3cr3t-xy'})])
    r = subprocess.run([os.path.join(BIN, 'ansible'), 'agent3', '-m', 'jobnet.scheduler.job', '-a', json.dumps(args),
                        '-vvv'], env=env(), capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in r.stdout
    for text in (r.stdout, r.stderr):
        assert 'hunter2' not in text and 'pl41n' not in text
    assert jid in r.stdout
    job = until_ended('agent3', root, [jid], output=False)[jid]
    assert (job['state'], job['rc']) == ('normal_end', 0), job
    d = os.path.join(host_root('agent3', prefix), jid)
    for name in os.listdir(d):
        with open(os.path.join(d, name), 'rb') as f:
            data = f.read()
        assert b'hunter2' not in data and b'pl41n' not in data, name


def test_a_shared_job_root_or_a_planted_attempt_folder_is_refused_and_nothing_starts(prefix):
    root = root_of(prefix)
    r = host_root('agent1', prefix)
    uid = pwd.getpwnam(USERS['agent1']).pw_uid
    os.makedirs(r)
    os.chown(r, uid, uid)
    os.chmod(r, 0o777)
    jobs = [dict(id=prefix + '-a', command=['true']), dict(id=prefix + '-b', command=['true'])]
    res = ansible('agent1', 'job', dict(root=root, jobs=jobs))['agent1']
    assert res.get('failed') and res['msg'].startswith('root: %s is writable by group or others (mode 0777)' % r), res
    assert 'use a job root of your own' in res['msg'] and os.listdir(r) == []
    res = ansible('agent1', 'job_info', dict(root=root))['agent1']
    assert res.get('failed') and res['msg'].startswith('root: '), res
    # private again, but another user planted the folder of the second attempt with a result
    os.chmod(r, 0o700)
    planted = os.path.join(r, prefix + '-b')
    os.mkdir(planted, 0o755)
    with open(os.path.join(planted, 'result.json'), 'w') as f:
        json.dump({'rc': 0, 'signal': None, 'reason': 'exit', 'ended': '2026-01-01T00:00:00.000000Z'}, f)
    other = pwd.getpwnam(USERS['agent2']).pw_uid
    os.chown(planted, other, other)
    res = ansible('agent1', 'job', dict(root=root, jobs=jobs))['agent1']
    assert res.get('failed') and res['msg'].startswith('jobs[1] (id %s-b): %s is owned by uid %d, not by uid %d'
                                                       % (prefix, planted, other, uid)), res
    assert 'nothing was started' in res['msg'] and os.listdir(r) == [prefix + '-b']


def test_a_background_child_left_in_the_group_ends_with_the_job_and_a_setsid_child_lives_on(prefix):
    root = root_of(prefix)
    jid = prefix + '-kids'
    kid, own = (os.path.join(home('agent3'), '%s-%s' % (n, prefix)) for n in ('kid', 'own'))
    shell = ('trap "" TERM; sleep 300 & echo $! > %s; setsid sleep 300 & echo $! > %s; (trap "" TERM; sleep 300) &'
             ' exit 0' % (kid, own))
    ansible('agent3', 'job', dict(root=root, grace=1, jobs=[dict(id=jid, shell=shell)]))
    job = until_ended('agent3', root, [jid], output=False)[jid]
    with open(own) as f:
        own_pid = int(f.read())
    try:
        assert (job['state'], job['rc'], job['reason']) == ('normal_end', 0, 'exit'), job
        with open(kid) as f:
            assert proc_start(int(f.read())) is None, 'the background child outlived its job'
        assert not group_alive(job['pid']), 'the TERM-proof child outlived its job'
        assert proc_start(own_pid) is not None, 'the child in a session of its own was ended'
    finally:
        try:
            os.kill(own_pid, signal.SIGKILL)
        except OSError:
            pass


def test_max_bytes_over_16_mib_is_refused_saying_to_page(prefix):
    res = ansible('agent2', 'job_info', dict(root=root_of(prefix), max_bytes=16 * 1024 * 1024 + 1))['agent2']
    assert res.get('failed') and 'max_bytes must be at most 16777216 (16 MiB)' in res['msg'], res
    assert 'next_offset' in res['msg']


def test_hosts_sharing_one_machine_and_root_each_list_only_their_own_jobs(prefix, tmp_path):
    """Two inventory hosts on local connections share the job root: every job started through the job module
    carries its inventory host as the label host, and job_info on each host lists only that host's jobs (ids
    and host='*' still reach every job)."""
    root = root_of(prefix)
    inventory = tmp_path / 'shared.ini'
    inventory.write_text('[shared]\nl1\nl2\n\n[shared:vars]\nansible_connection=local\n'
                         'ansible_python_interpreter=%s\n' % sys.executable)

    def adhoc(host, module, args):
        tree = tmp_path / ('tree-%s-%d' % (host, time.monotonic_ns()))
        r = subprocess.run([os.path.join(BIN, 'ansible'), host, '-i', str(inventory), '-m',
                            'jobnet.scheduler.' + module, '-a', json.dumps(args), '-t', str(tree)],
                           env=env(), capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads((tree / host).read_text())

    adhoc('l1', 'job', dict(root=root, jobs=[dict(id=prefix + '-1', command=['true'])]))
    adhoc('l2', 'job', dict(root=root, jobs=[dict(id=prefix + '-2', command=['true'], labels={'k': 'v'})]))
    mine = adhoc('l1', 'job_info', dict(root=root, output=False))
    assert [j['id'] for j in mine['jobs']] == [prefix + '-1'], mine['jobs']
    assert mine['jobs'][0]['labels'] == {'host': 'l1'}
    theirs = adhoc('l2', 'job_info', dict(root=root, output=False))
    assert [j['id'] for j in theirs['jobs']] == [prefix + '-2']
    assert theirs['jobs'][0]['labels'] == {'k': 'v', 'host': 'l2'}
    every = adhoc('l1', 'job_info', dict(root=root, output=False, host='*'))
    assert sorted(j['id'] for j in every['jobs']) == [prefix + '-1', prefix + '-2']
    by_id = adhoc('l1', 'job_info', dict(root=root, output=False, ids=[prefix + '-2']))
    assert [j['id'] for j in by_id['jobs']] == [prefix + '-2']
    adhoc('l1', 'job', dict(root=root, state='absent', ids=[prefix + '-1', prefix + '-2'], force=True))
