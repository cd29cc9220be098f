# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the target-side job runner: pure logic, plus real local processes for launch and liveness."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time

import pytest

from ansible_collections.jobnet.scheduler.plugins.module_utils import _jobrunner as jr
from ansible_collections.jobnet.scheduler.plugins.module_utils._jobrunner import JobError, JobState


@pytest.mark.parametrize('value,ok', [
    ('a', True), ('nightly.20261121.k3x9q2.load.stage.1', True), ('A-b_c.9', True), ('x' * 128, True),
    ('.x', True), ('', False), ('.', False), ('..', False), ('../x', False), ('a/b', False), ('x' * 129, False),
    ('a b', False), ('é', False), (None, False), (3, False), ('a\n', False),
])
def test_validate_id_accepts_exactly_the_id_pattern(value, ok):
    if ok:
        assert jr.validate_id(value, 'f') == value
    else:
        with pytest.raises(JobError, match=r'^f: '):
            jr.validate_id(value, 'f')


BAD = [
    ([], 'jobs: give at least one'),
    ([{'id': '../x', 'command': ['true']}], r'jobs\[0\]\.id'),
    ([{'id': 'a', 'command': []}], r'jobs\[0\] \(id a\): command must be a non-empty list'),
    ([{'id': 'a', 'command': ['']}], r'command\[0\]'),
    ([{'id': 'a', 'shell': '  '}], 'shell must be a non-empty string'),
    ([{'id': 'a', 'command': ['true'], 'shell': 'true'}], 'both command and shell'),
    ([{'id': 'a'}], 'neither command nor shell'),
    ([{'id': 'a', 'command': ['true']}, {'id': 'a', 'shell': 'x'}], r'jobs\[1\]\.id: duplicate id .a., also given in jobs\[0\]'),
    ([{'id': 'a', 'command': ['true'], 'timeout': -1}], r'timeout must be >= 0'),
    ([{'id': 'a', 'command': ['true'], 'timeout': 'soon'}], r'timeout must be a number'),
    ([{'id': 'a', 'command': ['true'], 'env': {'A=B': 'x'}}], r'env: invalid variable name'),
    ([{'id': 'a', 'command': ['true'], 'env': {'A': ['x']}}], r'env\.A must be a string'),
    ([{'id': 'a', 'command': ['true'], 'labels': 'x'}], r'labels must be a dictionary'),
    ([{'id': 'a', 'command': ['true'], 'chdir': '/nonexistent/dir'}], r'chdir: /nonexistent/dir is not a directory'),
]


@pytest.mark.parametrize('jobs,msg', BAD)
def test_normalize_jobs_rejects_bad_input_naming_the_field(jobs, msg):
    with pytest.raises(JobError, match=msg):
        jr.normalize_jobs(jobs)


def test_normalize_jobs_fills_defaults_and_wraps_shell():
    out = jr.normalize_jobs([{'id': 'a', 'shell': 'echo 1', 'env': {'N': 3}, 'timeout': 0, 'labels': {'k': 1}},
                             {'id': 'b', 'name': 'B', 'command': ['echo', 2], 'timeout': 1.5}])
    assert out[0]['argv'] == ['/bin/sh', '-c', 'echo 1'] and out[0]['name'] == 'a' and out[0]['timeout'] is None
    assert out[0]['env'] == {'N': '3'} and out[0]['labels'] == {'k': '1'}
    assert out[1]['argv'] == ['echo', '2'] and out[1]['name'] == 'B' and out[1]['timeout'] == 1.5


@pytest.mark.parametrize('res,state', [
    ({'rc': 0, 'signal': None, 'reason': 'exit'}, JobState.NORMAL_END),
    ({'rc': 1, 'signal': None, 'reason': 'exit'}, JobState.ABNORMAL_END),
    ({'rc': None, 'signal': 9, 'reason': 'exit'}, JobState.ABNORMAL_END),
    ({'rc': 0, 'signal': None, 'reason': 'timeout'}, JobState.ABNORMAL_END),
    ({'rc': None, 'signal': 15, 'reason': 'timeout'}, JobState.ABNORMAL_END),
    ({'rc': None, 'signal': 15, 'reason': 'stopped'}, JobState.STOPPED),
    ({'rc': 0, 'signal': None, 'reason': 'stopped'}, JobState.STOPPED),
])
def test_state_of_result_follows_rc_signal_and_reason(res, state):
    assert jr.state_of_result(res) is state


@pytest.mark.parametrize('data,cut', [
    (b'abc', 3), ('aé'.encode(), 3), ('aé'.encode()[:2], 1), ('日'.encode()[:2], 0), ('日'.encode(), 3),
    ('🙂'.encode()[:3], 0), ('🙂'.encode(), 4), (b'a\xff', 2), (b'\x80\x80\x80\x80', 4), (b'', 0),
])
def test_utf8_complete_len_cuts_only_an_incomplete_last_character(data, cut):
    assert jr._utf8_complete_len(data) == cut


def test_read_chunk_text_never_splits_a_character_and_reassembles_exactly(tmp_path):
    text = 'äöü 日本語 🙂 x\n' * 50
    p = tmp_path / 'out'
    p.write_bytes(text.encode())
    for size in (4, 5, 7, 64):
        off, parts = 0, []
        while True:
            c = jr.read_chunk(str(p), off, size, 'text')
            if c['next_offset'] == off:
                break
            parts.append(c['data'])
            off = c['next_offset']
        assert ''.join(parts) == text and off == len(text.encode())


def test_read_chunk_keeps_an_incomplete_tail_back_while_more_is_coming(tmp_path):
    p = tmp_path / 'out'
    p.write_bytes('a日'.encode()[:3])
    assert jr.read_chunk(str(p), 0, 100, 'text', more_coming=True) == {'data': 'a', 'next_offset': 1, 'size': 3}
    # the job ended: the broken tail is all there is, returned replaced
    assert jr.read_chunk(str(p), 0, 100, 'text', more_coming=False)['next_offset'] == 3


def test_read_chunk_base64_returns_exact_bytes_and_missing_file_is_empty(tmp_path):
    data = bytes(range(256)) * 10
    p = tmp_path / 'out'
    p.write_bytes(data)
    c = jr.read_chunk(str(p), 100, 1000, 'base64')
    assert base64.b64decode(c['data']) == data[100:1100] and c['next_offset'] == 1100 and c['size'] == len(data)
    assert jr.read_chunk(str(p), len(data) + 5, 10, 'base64')['next_offset'] == len(data) + 5
    assert jr.read_chunk(str(tmp_path / 'nope'), 0, 10) == {'data': '', 'next_offset': 0, 'size': 0}


def test_write_json_atomic_leaves_no_temp_file_and_read_json_reports_corrupt_records(tmp_path):
    p = str(tmp_path / 'r.json')
    jr.write_json_atomic(p, {'a': 1})
    assert jr.read_json(p) == {'a': 1} and os.listdir(str(tmp_path)) == ['r.json']
    assert jr.read_json(str(tmp_path / 'none.json')) is None
    (tmp_path / 'bad.json').write_text('{"a": ')
    with pytest.raises(JobError, match='bad.json is not valid JSON'):
        jr.read_json(str(tmp_path / 'bad.json'))


def test_liveness_needs_pid_and_start_time():
    p = subprocess.Popen(['sleep', '30'])
    try:
        start = jr.proc_start_time(p.pid)
        assert start and jr.is_alive(p.pid, start, jr.boot_id())
        assert not jr.is_alive(p.pid, start + 1, None)
        assert not jr.is_alive(p.pid, start, 'another-boot')
    finally:
        p.kill()
        p.wait()
    assert jr.proc_start_time(p.pid) is None


def _wait_state(root, jid, deadline=30):
    end = time.monotonic() + deadline
    while True:
        v = root.view(jid)
        if v['state'] is not JobState.RUNNING or time.monotonic() > end:
            return v
        time.sleep(0.05)


def test_start_is_idempotent_per_id_and_records_rc_and_output(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    specs = jr.normalize_jobs([{'id': 'a', 'shell': 'echo out; echo err >&2; exit 3', 'env': {'X': 'y'}},
                               {'id': 'b', 'command': ['sh', '-c', 'echo "$X"'], 'env': {'X': 'y'}}])
    views, started, existing = root.start(specs, 1)
    assert started == ['a', 'b'] and existing == [] and views[0]['pid']
    assert oct(os.stat(root.path('a')).st_mode & 0o777) == '0o700'
    a, b = _wait_state(root, 'a'), _wait_state(root, 'b')
    assert (a['state'], a['rc'], a['signal'], a['reason']) == (JobState.ABNORMAL_END, 3, None, 'exit')
    assert b['state'] is JobState.NORMAL_END
    assert open(root.path('a') + '/stdout').read() == 'out\n' and open(root.path('b') + '/stdout').read() == 'y\n'
    views, started, existing = root.start(specs, 1)
    assert started == [] and existing == ['a', 'b'] and views[0]['state'] is JobState.ABNORMAL_END
    assert sorted(os.listdir(root.path('a'))) == ['command.sh', 'result.json', 'spec.json', 'status.json',
                                                  'stderr', 'stdout']


def test_check_mode_starts_nothing(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    views, started, existing = root.start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1, check_mode=True)
    assert started == ['a'] and views[0]['state'] is None and not os.path.exists(root.root)


def test_timeout_and_stop_end_the_process_group(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 't', 'shell': 'sleep 60 & sleep 60', 'timeout': 0.5},
                                  {'id': 's', 'shell': 'trap "" TERM; sleep 60 & sleep 60'}]), 0.4)
    t = _wait_state(root, 't')
    assert (t['state'], t['reason'], t['signal']) == (JobState.ABNORMAL_END, 'timeout', 15)
    views, stopped = root.stop(['s'], 0.4)
    assert stopped == ['s'] and views[0]['state'] is JobState.STOPPED
    alive = jr.live_pgids()
    assert t['pid'] not in alive and views[0]['pid'] not in alive
    assert root.stop(['s'], 0.4)[1] == []


def test_lost_when_supervisor_and_job_are_gone_running_while_the_job_lives(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    views, _s, _e = root.start(jr.normalize_jobs([{'id': 'l', 'command': ['sleep', '60']}]), 1)
    st = views[0]['_status']
    os.kill(st['supervisor_pid'], signal.SIGKILL)
    time.sleep(0.2)
    assert root.view('l')['state'] is JobState.RUNNING
    os.kill(st['pid'], signal.SIGKILL)
    v = _wait_state(root, 'l')
    assert v['state'] is JobState.LOST and v['rc'] is None


def test_remove_refuses_running_jobs_without_force(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 'r', 'command': ['sleep', '60']}, {'id': 'd', 'command': ['true']}]), 0.3)
    _wait_state(root, 'd')
    with pytest.raises(JobError, match='ids: job.s. r still running'):
        root.remove(['d', 'r'], False, 0.3)
    assert root.list_ids() == ['d', 'r']
    assert root.remove(['d', 'r', 'never'], True, 0.3) == ['d', 'r']
    assert root.list_ids() == [] and os.listdir(root.root) == []


def test_select_views_filters_and_reports_missing(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 'a', 'name': 'load/a', 'command': ['true'], 'labels': {'f': '1'}},
                                  {'id': 'b', 'name': 'load/b', 'command': ['true'], 'labels': {'f': '2'}}]), 1)
    _wait_state(root, 'a'), _wait_state(root, 'b')
    with pytest.raises(JobError, match="ids: no job 'x'"):
        jr.select_views(root, ['a', 'x'], 'fail')
    views, missing = jr.select_views(root, ['a', 'x'], 'ignore')
    assert [v['id'] for v in views] == ['a'] and missing == ['x']
    assert [v['id'] for v in jr.select_views(root, [], 'fail', name='load/*', labels={'f': '2'})[0]] == ['b']
    assert jr.select_views(root, [], 'fail', states=['running'])[0] == []
    # wait returns at once when nothing runs
    t0 = time.monotonic()
    jr.wait_for_change(root, jr.select_views(root, [], 'fail')[0], 30)
    assert time.monotonic() - t0 < 5


def test_with_output_reports_offsets_sizes_and_has_more_data(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 'o', 'shell': 'printf 0123456789'}]), 1)
    v = _wait_state(root, 'o')
    out = jr.with_output(v, True, 2, 0, 4, 'text')
    assert out['stdout'] == '2345' and out['next_offset'] == {'stdout': 6, 'stderr': 0}
    assert out['stdout_size'] == 10 and out['has_more_data'] is True and out['state'] == 'normal_end'
    out = jr.with_output(v, True, 6, 0, 4, 'text')
    assert out['has_more_data'] is False
    out = jr.with_output(v, False, 0, 0, 4, 'text')
    assert 'stdout' not in out and out['has_more_data'] is True


def _argv(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return f.read().split(b'\0')


def test_async_status_finished_running_and_lost(tmp_path):
    d = tmp_path / 'async'
    d.mkdir()
    (d / 'j1.1').write_text(json.dumps({'rc': 0, 'stdout': 'x', 'changed': True}))
    (d / 'j2.2').write_text(json.dumps({'started': True, 'finished': False, 'ansible_job_id': 'j2.2'}))
    (d / 'j3.3').write_text(json.dumps({'started': True, 'finished': False, 'ansible_job_id': 'j3.3'}))
    # a process carrying the jid (as async_wrapper); '; :' keeps sh from exec-ing sleep, which would drop the jid
    holder = subprocess.Popen(['sh', '-c', 'sleep 30; :', 'j2'])
    try:
        # Popen may return while the child is still inside execve (its cmdline reads empty then): wait for it
        deadline = time.monotonic() + 10
        while b'j2' not in _argv(holder.pid):
            assert time.monotonic() < deadline, 'the holder process never showed its argv'
            time.sleep(0.01)
        out, unknown = jr.async_status(['j1.1', 'j2.2', 'j3.3', 'j4.4'], str(d))
    finally:
        holder.kill()
        holder.wait()
    states = dict((a['jid'], a['state']) for a in out)
    assert states == {'j1.1': 'finished', 'j2.2': 'running', 'j3.3': 'lost'} and unknown == ['j4.4']
    assert out[0]['rc'] == 0 and out[0]['result']['stdout'] == 'x'
    with pytest.raises(JobError, match=r'async_jids\[0\]'):
        jr.async_status(['../x'], str(d))


def test_a_root_that_cannot_be_created_fails_naming_root(tmp_path):
    (tmp_path / 'file').write_text('x')
    root = jr.JobRoot(str(tmp_path / 'file' / 'jobs'))
    with pytest.raises(JobError, match='^root: '):
        root.start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)


# ---------------------------------------------------------------------------------------------------------
# hostile input: every job of a batch is checked before anything is created or started

def _batch(bad):
    return [{'id': 'a', 'command': ['true']}, dict({'id': 'b', 'command': ['true']}, **bad)]


@pytest.mark.parametrize('bad,field', [
    ({'env': {'K\0': 'v'}}, 'env: key'),
    ({'env': {'K': 'hunter\0two'}}, 'env.K: the value contains a NUL byte'),
    ({'secret_env': {'K': 'hunter\0two'}}, 'secret_env.K: the value contains a NUL byte'),
    ({'command': ['echo', 'a\0b']}, 'command[1] contains a NUL byte'),
    ({'shell': 'echo a\0b'}, 'shell contains a NUL byte'),
    ({'chdir': '/tmp\0/x'}, 'chdir contains a NUL byte'),
    ({'name': 'n\0'}, 'name contains a NUL byte'),
    ({'labels': {'k\0': 'v'}}, 'labels: key'),
    ({'labels': {'k': 'v\0'}}, 'labels.k: the value contains a NUL byte'),
])
def test_a_nul_byte_in_any_field_of_any_job_is_refused_naming_the_job_and_the_field(bad, field):
    jobs = _batch(bad)
    if 'shell' in bad:
        del jobs[1]['command']
    with pytest.raises(JobError) as e:
        jr.normalize_jobs(jobs)
    msg = str(e.value)
    assert msg.startswith('jobs[1] (id b).') and field in msg and 'no NUL byte' in msg, msg
    assert 'hunter' not in msg      # an env value is never put in a message


@pytest.mark.parametrize('timeout', [float('nan'), float('inf'), '1e400', 'nan', '-inf', 10 ** 400, '1' * 401,
                                     jr.TIMEOUT_MAX + 1, True, [1]])
def test_a_timeout_that_is_not_finite_or_over_31_days_is_refused(timeout):
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\)\.timeout must be'):
        jr.normalize_jobs(_batch({'timeout': timeout}))


def test_a_timeout_of_31_days_and_a_tiny_one_are_taken():
    specs = jr.normalize_jobs([{'id': 'a', 'command': ['true'], 'timeout': jr.TIMEOUT_MAX},
                               {'id': 'b', 'command': ['true'], 'timeout': '0.0001'}])
    assert specs[0]['timeout'] == 2678400 and specs[1]['timeout'] == 0.0001


def test_an_argument_over_max_arg_strlen_or_an_argv_over_arg_max_is_refused_before_anything_starts():
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\)\.command\[1\] is 131072 bytes; one argument'):
        jr.normalize_jobs(_batch({'command': ['echo', 'x' * 131072]}))
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\): the command.s arguments and its environment'):
        jr.normalize_jobs(_batch({'command': ['echo'] + ['x' * 100000] * 100}))
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\)\.env: the variable BIG is'):
        jr.normalize_jobs(_batch({'env': {'BIG': 'x' * 131072}}))
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\): K given in both env and secret_env'):
        jr.normalize_jobs(_batch({'env': {'K': '1'}, 'secret_env': {'K': '2'}}))


def test_a_256_kb_shell_line_and_a_10000_argument_command_run_byte_for_byte(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    text = ''.join(chr(0x20 + i % 0x5e) for i in range(256 * 1024)).replace("'", '_') + ' äö 日本 🙂'
    args = ['%d \'"$x`y`\n\\ \t é 🙂 $(false)' % i for i in range(10000)] + ['', "'", '-']
    specs = jr.normalize_jobs([{'id': 's', 'shell': "printf '%s' '" + text + "'"},
                               {'id': 'c', 'command': ['printf', '%s\\0'] + args}])
    views, started, existing = root.start(specs, 1)
    assert started == ['s', 'c']
    s, c = _wait_state(root, 's'), _wait_state(root, 'c')
    assert (s['state'], c['state']) == (JobState.NORMAL_END, JobState.NORMAL_END)
    with open(root.path('s') + '/stdout', 'rb') as f:
        assert f.read() == text.encode()
    with open(root.path('c') + '/stdout', 'rb') as f:
        assert f.read().split(b'\0')[:-1] == [a.encode() for a in args]
    # the supervisor's own argv holds neither the shell text nor the arguments
    with open(root.path('c') + '/spec.json') as f:
        assert json.load(f)['argv'] == ['printf', '%s\\0'] + args


def _refuse_popen_of(monkeypatch, jid, error):
    real = subprocess.Popen

    def popen(argv, **kw):
        if len(argv) > 4 and argv[4].endswith(os.sep + jid):
            raise error
        return real(argv, **kw)
    monkeypatch.setattr(jr.subprocess, 'Popen', popen)


@pytest.mark.parametrize('error', [OSError(11, 'Resource temporarily unavailable'), ValueError('embedded null byte'),
                                   OSError(7, 'Argument list too long')])
def test_a_job_that_cannot_be_launched_is_refused_leaves_no_folder_and_the_others_run(tmp_path, monkeypatch, error):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 'old', 'command': ['true']}]), 1)
    _refuse_popen_of(monkeypatch, 'b', error)
    specs = jr.normalize_jobs([{'id': 'a', 'command': ['sleep', '60']}, {'id': 'b', 'command': ['sleep', '60']},
                               {'id': 'c', 'command': ['true']}, {'id': 'old', 'command': ['true']}])
    res = root.launch(specs, 0.3)
    assert res['started'] == ['a', 'c'] and res['existing'] == ['old']
    assert [r['id'] for r in res['refused']] == ['b'] and str(error) in res['refused'][0]['msg']
    assert [v['id'] for v in res['views']] == ['a', 'c', 'old'] and res['views'][0]['state'] is JobState.RUNNING
    assert not os.path.exists(root.path('b')) and root.list_ids() == ['a', 'c', 'old']
    assert [n for n in os.listdir(root.root) if n.startswith('#')] == []
    # start() says the same through PartialLaunch; the refused id can be started later
    monkeypatch.undo()
    root.stop(['a'], 0.3)
    _refuse_popen_of(monkeypatch, 'd', error)
    with pytest.raises(jr.PartialLaunch, match=r'^jobs: could not start 1 of the 2 jobs, nothing of them runs: d ') as e:
        root.start(jr.normalize_jobs([{'id': 'd', 'command': ['true']}, {'id': 'b', 'command': ['true']}]), 1)
    assert e.value.result['started'] == ['b'] and e.value.result['refused'][0]['id'] == 'd'


def test_a_refused_job_whose_folder_cannot_be_removed_says_launch_failed_and_is_never_running(tmp_path, monkeypatch):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    _refuse_popen_of(monkeypatch, 'b', OSError(11, 'Resource temporarily unavailable'))
    real_rename = os.rename

    def rename(src, dst):
        if os.path.basename(src) == 'b':
            raise OSError(16, 'Device or resource busy')
        return real_rename(src, dst)
    monkeypatch.setattr(jr.os, 'rename', rename)
    res = root.launch(jr.normalize_jobs([{'id': 'b', 'command': ['true']}]), 1)
    assert res['started'] == [] and res['views'] == [] and res['refused'][0]['id'] == 'b'
    v = root.view('b')
    assert (v['state'], v['reason'], v['rc'], v['signal']) == (JobState.ABNORMAL_END, 'launch_failed', None, None)


# ---------------------------------------------------------------------------------------------------------
# a shared job root

def _other_uid():
    return 65534 if os.geteuid() != 65534 else 65533


def test_a_job_root_writable_by_group_or_others_is_refused_and_nothing_starts(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    os.mkdir(root.root)
    for mode in (0o770, 0o707, 0o777, 0o1777):
        os.chmod(root.root, mode)
        with pytest.raises(JobError, match=r'^root: .* is writable by group or others \(mode %04o\); use a job root '
                                           r'of your own' % mode):
            root.start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)
        with pytest.raises(JobError, match='^root: '):
            jr.select_views(root, [], 'fail')
        assert os.listdir(root.root) == []
    os.chmod(root.root, 0o755)
    assert root.start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)[1] == ['a']


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give folders to another user')
def test_a_job_root_or_a_symlink_owned_by_another_user_is_refused(tmp_path):
    other = tmp_path / 'other'
    other.mkdir(mode=0o700)
    os.chown(str(other), _other_uid(), -1)
    with pytest.raises(JobError, match=r'^root: .*other is owned by uid %d, not by uid 0' % _other_uid()):
        jr.JobRoot(str(other)).start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)
    mine = tmp_path / 'mine'
    mine.mkdir(mode=0o700)
    link = tmp_path / 'link'
    link.symlink_to(mine)
    os.lchown(str(link), _other_uid(), -1)
    with pytest.raises(JobError, match=r'^root: .*link is a symbolic link owned by uid %d' % _other_uid()):
        jr.JobRoot(str(link)).start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)
    os.lchown(str(link), 0, -1)     # a link of one's own to a private folder is fine
    assert jr.JobRoot(str(link)).start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}]), 1)[1] == ['a']


@pytest.mark.parametrize('plant', ['other_user', 'group_writable', 'foreign_symlink', 'file'])
def test_a_planted_attempt_folder_is_refused_and_no_job_of_the_call_starts(tmp_path, plant):
    if plant in ('other_user', 'foreign_symlink') and os.geteuid() != 0:
        pytest.skip('needs root to give folders to another user')
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.ensure()
    d = root.path('b')
    if plant == 'file':
        open(d, 'w').close()
    elif plant == 'foreign_symlink':
        os.mkdir(str(tmp_path / 'target'), 0o700)
        os.symlink(str(tmp_path / 'target'), d)
        os.lchown(d, _other_uid(), -1)
    else:
        os.mkdir(d, 0o700)
        jr.write_json_atomic(os.path.join(d, 'result.json'), {'rc': 0, 'signal': None, 'reason': 'exit'})
        if plant == 'other_user':
            os.chown(d, _other_uid(), -1)
        else:
            os.chmod(d, 0o770)
    with pytest.raises(JobError, match=r'^jobs\[1\] \(id b\): .*/b .*nothing was started; inspect the folder'):
        root.start(jr.normalize_jobs([{'id': 'a', 'command': ['true']}, {'id': 'b', 'command': ['true']}]), 1)
    assert not os.path.exists(root.path('a'))


# ---------------------------------------------------------------------------------------------------------
# modes, the end of a job's process group, secrets

def test_under_umask_000_every_folder_is_0700_every_file_0600_and_the_job_keeps_the_umask(tmp_path):
    old = os.umask(0)
    try:
        root = jr.JobRoot(str(tmp_path / 'home' / '.jobnet' / 'jobs'))
        root.start(jr.normalize_jobs([{'id': 'u', 'shell': 'umask; : > "$0.made"'},
                                      {'id': 't', 'command': ['sleep', '60'], 'timeout': 0.2},
                                      {'id': 's', 'command': ['sleep', '60']}]), 0.3)
        root.stop(['s'], 0.3)
        u, t = _wait_state(root, 'u'), _wait_state(root, 't')
        assert t['reason'] == 'timeout' and u['state'] is JobState.NORMAL_END
        with open(root.path('u') + '/stdout') as f:
            assert f.read() == '0000\n'
        made = root.path('u') + '/command.sh.made'     # made by the job: its own umask (000), not the supervisor's
        assert os.stat(made).st_mode & 0o777 == 0o666
        os.unlink(made)
        seen = set()
        for top in (str(tmp_path / 'home'),):
            for dp, dirs, files in os.walk(top):
                for n in dirs:
                    assert os.stat(os.path.join(dp, n)).st_mode & 0o777 == 0o700, os.path.join(dp, n)
                for n in files:
                    seen.add(n)
                    assert os.stat(os.path.join(dp, n)).st_mode & 0o777 == 0o600, os.path.join(dp, n)
        assert {'spec.json', 'status.json', 'result.json', 'stdout', 'stderr', 'command.sh', 'stop',
                'timedout'} <= seen
    finally:
        os.umask(old)


def _pid_in(path):
    deadline = time.monotonic() + 10
    while not os.path.exists(path) or not open(path).read().strip():
        assert time.monotonic() < deadline, path
        time.sleep(0.02)
    return int(open(path).read())


def test_a_background_child_left_in_the_group_ends_with_the_job_and_a_setsid_child_lives_on(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    kid, own = str(tmp_path / 'kid'), str(tmp_path / 'own')
    shell = ('trap "" TERM; sleep 60 & echo $! > %s; setsid sleep 60 & echo $! > %s; (trap "" TERM; sleep 60) & '
             'exit 0' % (kid, own))
    root.start(jr.normalize_jobs([{'id': 'g', 'shell': shell}]), 0.4)
    v = _wait_state(root, 'g')
    try:
        assert (v['state'], v['rc']) == (JobState.NORMAL_END, 0)
        assert jr.proc_start_time(_pid_in(kid)) is None     # TERM
        assert v['pid'] not in jr.live_pgids()              # the TERM-proof subshell got the KILL after the grace
        assert jr.proc_start_time(_pid_in(own)) is not None  # a session of its own: it outlives the job
    finally:
        try:
            os.kill(_pid_in(own), signal.SIGKILL)
        except OSError:
            pass


def test_a_timeout_ends_children_the_main_process_left_behind_after_it_ended(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    kid = str(tmp_path / 'kid')
    root.start(jr.normalize_jobs([{'id': 't', 'shell': 'sleep 60 & echo $! > %s; exit 5' % kid,
                                   'timeout': 30}]), 0.3)
    v = _wait_state(root, 't')
    assert (v['state'], v['rc'], v['reason']) == (JobState.ABNORMAL_END, 5, 'exit')
    assert jr.proc_start_time(_pid_in(kid)) is None and v['pid'] not in jr.live_pgids()


def test_env_and_secret_env_reach_the_job_and_only_their_names_are_written_in_its_folder(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    root.start(jr.normalize_jobs([{'id': 'e', 'shell': 'printf "%s %s" "$PLAIN" "$TOKEN" | tr a-z A-Z',
                                   'env': {'PLAIN': 'pl41n-v4lue'}, 'secret_env': {'TOKEN': 's3cr3t-t0ken'}}]), 1)
    v = _wait_state(root, 'e')
    assert v['state'] is JobState.NORMAL_END
    with open(root.path('e') + '/spec.json') as f:
        spec = json.load(f)
    assert spec['env_keys'] == ['PLAIN'] and spec['secret_env_keys'] == ['TOKEN']
    for name in os.listdir(root.path('e')):
        if name != 'stdout':
            with open(os.path.join(root.path('e'), name), 'rb') as f:
                data = f.read()
            assert b's3cr3t' not in data and b'pl41n' not in data, name
    with open(root.path('e') + '/stdout') as f:
        assert f.read() == 'PL41N-V4LUE S3CR3T-T0KEN'


def test_stop_of_a_job_whose_main_process_ended_ends_what_its_supervisor_is_still_ending(tmp_path):
    root = jr.JobRoot(str(tmp_path / 'jobs'))
    ready = str(tmp_path / 'ready')
    shell = '(trap "" TERM; : > %s; sleep 60) & while [ ! -e %s ]; do sleep 0.01; done; exit 0' % (ready, ready)
    root.start(jr.normalize_jobs([{'id': 'w', 'shell': shell}]), 60)
    deadline = time.monotonic() + 10
    while jr.proc_start_time(root.view('w')['pid']) is not None:     # the main process ends at once
        assert time.monotonic() < deadline
        time.sleep(0.02)
    v = root.view('w')
    assert v['state'] is JobState.RUNNING and v['pid'] in jr.live_pgids()   # the supervisor waits out its grace
    t0 = time.monotonic()
    views, stopped = root.stop(['w'], 0.3)
    assert stopped == ['w'] and time.monotonic() - t0 < 10
    assert (views[0]['state'], views[0]['rc']) == (JobState.STOPPED, 0) and v['pid'] not in jr.live_pgids()
