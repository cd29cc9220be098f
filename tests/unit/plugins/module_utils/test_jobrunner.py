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
    assert sorted(os.listdir(root.path('a'))) == ['result.json', 'spec.json', 'status.json', 'stderr', 'stdout']


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
