# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job and job_info modules run for real (patched arguments, real processes in a temporary job root)."""

from __future__ import annotations

import json
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.jobnet.scheduler.plugins.modules import job, job_info


def run(module, args, capsys, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def until_ended(root, ids, capsys):
    end = time.monotonic() + 30
    while True:
        r = run(job_info, dict(root=root, ids=ids, wait=2), capsys)
        if all(j['state'] != 'running' for j in r['jobs']) or time.monotonic() > end:
            return r


def test_job_starts_in_check_mode_nothing_then_starts_then_is_idempotent(tmp_path, capsys):
    root = str(tmp_path / 'jobs')
    args = dict(root=root, jobs=[dict(id='a', command=['echo', 'hi'], labels=dict(frame='f'))])
    r = run(job, args, capsys, check=True)
    assert r['changed'] is True and r['started'] == ['a'] and not (tmp_path / 'jobs').exists()
    r = run(job, args, capsys)
    assert r['changed'] is True and r['started'] == ['a'] and r['jobs'][0]['pid']
    r = run(job, args, capsys)
    assert r['changed'] is False and r['existing'] == ['a'] and r['started'] == []
    info = until_ended(root, ['a'], capsys)['jobs'][0]
    assert (info['state'], info['rc'], info['stdout'], info['labels']) == ('normal_end', 0, 'hi\n', {'frame': 'f'})


@pytest.mark.parametrize('args,field', [
    (dict(jobs=[dict(id='../x', command=['true'])]), 'jobs[0].id'),
    (dict(jobs=[dict(id='a', command=[])]), 'command must be a non-empty list'),
    (dict(jobs=[dict(id='a', command=['true'], shell='true')]), 'both command and shell'),
    (dict(jobs=[dict(id='a', command=['true']), dict(id='a', command=['true'])]), 'jobs[1].id: duplicate id'),
    (dict(jobs=[dict(id='a', command=['true'])], ids=['a']), 'ids is for state=stopped'),
    (dict(state='stopped', ids=['nope']), "ids: no job 'nope'"),
    (dict(state='absent', ids=['a/b']), 'ids[0]'),
    (dict(jobs=[dict(id='a', command=['true'])], grace=-1), 'grace must be >= 0'),
])
def test_job_bad_input_fails_naming_the_field_and_starts_nothing(tmp_path, capsys, args, field):
    root = tmp_path / 'jobs'
    r = run(job, dict(args, root=str(root)), capsys)
    assert r['failed'] is True and field in r['msg'], r
    assert not root.exists() or list(root.iterdir()) == []


def test_job_stopped_and_absent(tmp_path, capsys):
    root = str(tmp_path / 'jobs')
    run(job, dict(root=root, jobs=[dict(id='s', command=['sleep', '60'])]), capsys)
    r = run(job, dict(root=root, state='absent', ids=['s']), capsys)
    assert r['failed'] and 'force' in r['msg']
    r = run(job, dict(root=root, state='stopped', ids=['s'], grace=0.5), capsys)
    assert r['changed'] and r['stopped'] == ['s'] and r['jobs'][0]['state'] == 'stopped'
    r = run(job, dict(root=root, state='absent', ids=['s']), capsys)
    assert r['changed'] and r['removed'] == ['s']
    r = run(job, dict(root=root, state='absent', ids=['s']), capsys)
    assert r['changed'] is False


@pytest.mark.parametrize('args,field', [
    (dict(wait=-1), 'wait must be >= 0'),
    (dict(ids=['nope']), "ids: no job 'nope'"),
    (dict(stdout_offset=-1), 'stdout_offset must be >= 0'),
    (dict(offsets={'a': {'stdout': -2}}), 'offsets.a.stdout must be >= 0'),
    (dict(offsets={'a': {'out': 1}}), 'offsets.a: unknown keys out'),
    (dict(max_bytes=2), 'max_bytes must be >= 4'),
    (dict(ids=[], async_jids=['j1.1']), "async_jids: no async job 'j1.1'"),
])
def test_job_info_bad_input_fails_naming_the_field(tmp_path, capsys, args, field):
    r = run(job_info, dict(args, root=str(tmp_path / 'jobs'), async_dir=str(tmp_path / 'async')), capsys)
    assert r['failed'] is True and field in r['msg'], r


def test_job_info_offsets_override_and_missing_ignore(tmp_path, capsys):
    root = str(tmp_path / 'jobs')
    run(job, dict(root=root, jobs=[dict(id='a', shell='printf abcdef'), dict(id='b', shell='printf 123456')]),
        capsys)
    until_ended(root, ['a', 'b'], capsys)
    r = run(job_info, dict(root=root, ids=['a', 'b', 'zz'], missing='ignore', stdout_offset=1, max_bytes=4,
                           offsets={'b': {'stdout': 4}}), capsys)
    a, b = r['jobs']
    assert (a['stdout'], a['next_offset']['stdout'], a['has_more_data']) == ('bcde', 5, True)
    assert (b['stdout'], b['next_offset']['stdout'], b['has_more_data']) == ('56', 6, False)
    assert r['missing'] == ['zz'] and r['changed'] is False


def test_job_bad_input_in_any_job_of_the_batch_fails_naming_it_and_creates_nothing(tmp_path, capsys):
    root = tmp_path / 'jobs'
    for bad, field in ((dict(env={'K': 'x\0y'}), 'jobs[1] (id b).env.K'),
                       (dict(timeout=10 ** 400), 'jobs[1] (id b).timeout must be at most 2678400'),
                       (dict(timeout='nan'), 'jobs[1] (id b).timeout must be a number'),
                       (dict(command=['echo', 'a\0b']), 'jobs[1] (id b).command[1] contains a NUL byte')):
        jobs = [dict(id='a', command=['true']), dict(dict(id='b', command=['true']), **bad)]
        r = run(job, dict(root=str(root), jobs=jobs), capsys)
        assert r['failed'] is True and field in r['msg'] and r.get('started', []) == [], r
        assert not root.exists() or list(root.iterdir()) == []


def test_job_partial_launch_fails_and_still_reports_jobs_started_existing_and_refused(tmp_path, capsys, monkeypatch):
    from ansible_collections.jobnet.scheduler.plugins.module_utils import _jobrunner as jr
    root = str(tmp_path / 'jobs')
    run(job, dict(root=root, jobs=[dict(id='old', command=['true'])]), capsys)
    until_ended(root, ['old'], capsys)    # 'old' has ended before the call that finds it existing
    real = jr.subprocess.Popen

    def popen(argv, **kw):
        if argv[4].endswith('/b'):
            raise OSError(11, 'Resource temporarily unavailable')
        return real(argv, **kw)
    monkeypatch.setattr(jr.subprocess, 'Popen', popen)
    jobs = [dict(id='a', command=['sleep', '60']), dict(id='b', command=['true']), dict(id='old', command=['true'])]
    r = run(job, dict(root=root, jobs=jobs, grace=0.3), capsys)
    assert r['failed'] is True and r['changed'] is True
    assert r['msg'] == ('jobs: could not start 1 of the 3 jobs, nothing of them runs: b (cannot start the '
                        'supervisor: [Errno 11] Resource temporarily unavailable); 1 started, 1 existing (see jobs, '
                        'started, existing and refused)')
    assert r['started'] == ['a'] and r['existing'] == ['old']
    assert r['refused'] == [{'id': 'b', 'msg': 'cannot start the supervisor: [Errno 11] Resource temporarily '
                                               'unavailable'}]
    assert [(j['id'], j['state']) for j in r['jobs']] == [('a', 'running'), ('old', 'normal_end')]
    assert not (tmp_path / 'jobs' / 'b').exists()
    monkeypatch.undo()
    info = run(job_info, dict(root=root, ids=['a', 'b'], missing='ignore', output=False), capsys)
    assert [j['id'] for j in info['jobs']] == ['a'] and info['missing'] == ['b']
    run(job, dict(root=root, state='stopped', ids=['a'], grace=0.3), capsys)
    r = run(job, dict(root=root, jobs=jobs), capsys)    # the refused id starts later
    assert r['started'] == ['b'] and r['refused'] == [] and not r.get('failed'), r


def test_env_and_secret_env_values_are_masked_in_the_arguments_and_do_not_garble_the_result(tmp_path, capsys):
    root = str(tmp_path / 'jobs')
    jobs = [dict(id='a1-2', name='n1', command=['sh', '-c', 'test "$N" = 1 && test ${#T} = 14'],
                 env={'N': '1'}, secret_env={'T': 'hunter2-secret'}, labels={'k': '1'})]
    with patch_module_args(dict(root=root, jobs=jobs)):
        with pytest.raises(SystemExit):
            job.main()
    out = capsys.readouterr().out
    assert 'hunter2' not in out
    r = json.loads(out)
    # a value such as "1" would have been masked inside every id, name, label and time of the result
    assert r['started'] == ['a1-2'] and r['jobs'][0]['name'] == 'n1' and r['jobs'][0]['labels'] == {'k': '1'}
    args = r['invocation']['module_args']['jobs'][0]
    assert args['env'] == {'N': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    assert args['secret_env'] == {'T': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    info = until_ended(root, ['a1-2'], capsys)['jobs'][0]
    assert (info['state'], info['rc']) == ('normal_end', 0)     # the job got both values
    with open(str(tmp_path / 'jobs' / 'a1-2' / 'spec.json')) as f:
        spec = json.load(f)
    assert spec['env_keys'] == ['N'] and spec['secret_env_keys'] == ['T'] and 'hunter2' not in json.dumps(spec)


def test_job_info_max_bytes_over_16_mib_is_refused_saying_to_page(tmp_path, capsys):
    r = run(job_info, dict(root=str(tmp_path / 'jobs'), max_bytes=16 * 1024 * 1024 + 1), capsys)
    assert r['failed'] is True and 'max_bytes must be at most 16777216 (16 MiB)' in r['msg']
    assert 'pass next_offset back through offsets' in r['msg']
    r = run(job_info, dict(root=str(tmp_path / 'jobs'), max_bytes=16 * 1024 * 1024), capsys)
    assert not r.get('failed') and r['jobs'] == []


@pytest.mark.parametrize('wait', ['inf', 'nan', 10 ** 400, 86401])
def test_job_info_wait_must_be_finite_and_at_most_a_day(tmp_path, capsys, wait):
    r = run(job_info, dict(root=str(tmp_path / 'jobs'), wait=wait), capsys)
    assert r['failed'] is True and r['msg'].startswith('wait must be'), r


def test_job_info_filters_by_labels(tmp_path, capsys):
    root = str(tmp_path / 'jobs')
    run(job, dict(root=root, jobs=[dict(id='a', command=['true'], labels={'frame': 'f', 'n': '1'}),
                                   dict(id='b', command=['true'], labels={'frame': 'f', 'n': '2'}),
                                   dict(id='c', command=['true'])]), capsys)
    r = run(job_info, dict(root=root, labels={'frame': 'f'}, output=False), capsys)
    assert [j['id'] for j in r['jobs']] == ['a', 'b']
    r = run(job_info, dict(root=root, labels={'frame': 'f', 'n': 2}, output=False), capsys)
    assert [j['id'] for j in r['jobs']] == ['b']


def test_job_and_job_info_refuse_a_job_root_writable_by_others(tmp_path, capsys):
    root = tmp_path / 'jobs'
    root.mkdir()
    root.chmod(0o777)
    r = run(job, dict(root=str(root), jobs=[dict(id='a', command=['true'])]), capsys)
    assert r['failed'] is True and r['msg'].startswith('root: %s is writable by group or others (mode 0777)' % root)
    for module, args in ((job_info, {}), (job, dict(state='stopped', ids=['a'])),
                         (job, dict(state='absent', ids=['a']))):
        r = run(module, dict(args, root=str(root)), capsys)
        assert r['failed'] is True and r['msg'].startswith('root: '), r
    assert list(root.iterdir()) == []
