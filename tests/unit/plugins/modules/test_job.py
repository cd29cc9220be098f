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
