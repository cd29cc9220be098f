# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input is refused before anything is recorded or started, on the real test hosts.

Each case runs the real ``run`` playbook (``recover`` for the bad recovery date) against a private SQLite store that
already holds one healthy ended instance, and checks:

- the message: it names the file and line (frame files), the item and the field, and what is allowed;
- the exit status: 2 (ansible-playbook's "a task failed"), never a Python traceback;
- the store: its ``iterdump()`` is the same before and after (the file's bytes may change when it is opened);
- the hosts: no job folder of the case's operation date appears under any job root.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess

import pytest

from frames import playbook_argv, write_frame

DATE = '2031-07-13'            # only this file uses it: job folders of this date can only come from these cases
HEALTHY_DATE = '2031-07-12'
AGENT_ROOTS = ['/home/jobnet-agent%d/.jobnet/jobs' % n for n in (1, 2, 3)]
JOB = {'name': 'a', 'host': 'agent1', 'shell': 'true'}


@pytest.fixture(scope='module')
def healthy_store(testenv, tmp_path_factory):
    """A store holding one instance that ran and ended normal_end (made once, copied for every case)."""
    folder = tmp_path_factory.mktemp('healthy')
    url = 'sqlite:///%s' % (folder / 'state.db')
    frame = write_frame(folder, {'frame': 'healthy', 'jobs': [JOB]})
    done = subprocess.run(playbook_argv('jobnet.scheduler.run', '-e', 'frame_file=%s' % frame,
                                        '-e', 'operation_date=%s' % HEALTHY_DATE),
                          env=testenv.env(JOBNET_STORE=url), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / 'state.db'


@pytest.fixture
def store(healthy_store, tmp_path):
    """This case's copy of the healthy store: (url, path)."""
    path = tmp_path / 'state.db'
    source = sqlite3.connect(str(healthy_store))
    target = sqlite3.connect(str(path))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    assert 'healthy@%s' % HEALTHY_DATE in dump(path)
    return 'sqlite:///%s' % path, path


def dump(path):
    con = sqlite3.connect(str(path))
    try:
        return '\n'.join(con.iterdump())
    finally:
        con.close()


def job_roots(testenv):
    with open(testenv.inventory, encoding='utf-8') as handle:
        manager = re.search(r'^localhost .*jobnet_job_root=(\S+)', handle.read(), re.M).group(1)
    return [manager] + AGENT_ROOTS


def folders_of_the_date(testenv):
    day = DATE.replace('-', '')
    return sorted(f for root in job_roots(testenv) for f in glob.glob(os.path.join(root, '*.%s.*' % day)))


def fatal_message(output):
    """The msg of the failed task (its JSON result as the default callback prints it)."""
    match = re.search(r'^fatal: \[localhost\]: FAILED! => (\{.*\})$', output, re.M)
    assert match, output
    return json.loads(match.group(1))['msg']


def refuse(run_playbook, testenv, store, args):
    """Run a playbook that must be refused; return its message after checking exit status, store and hosts."""
    url, path = store
    before = dump(path)
    result = run_playbook(args, env={'JOBNET_STORE': url}, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert 'Traceback' not in output, output
    assert dump(path) == before
    assert folders_of_the_date(testenv) == []
    return fatal_message(output)


def nested_nets(depth):
    lines = ['frame: deep']
    indent = ''
    for level in range(depth):
        lines += [indent + 'nets:', indent + '  - name: n%d' % level]
        indent += '    '
    lines += [indent + 'jobs:', indent + '  - {name: leaf, host: agent1, shell: "true"}']
    return '\n'.join(lines) + '\n'


# (id, frame file content, [(line, text in the message)]); each message also names the file
FRAMES = [
    ('name with a final line break', 'frame: bad\njobs:\n  - {name: "a\\n", host: agent1, shell: "true"}\n',
     [(3, "item 'jobs[0]': name: 'a\\n' is not a valid name: use letters, digits, \"_\" and \"-\", starting with "
          "a letter or digit, at most 64 characters")]),
    ('timeout of 401 digits', 'frame: bad\njobs:\n  - {name: a, host: agent1, shell: "true", timeout: %s}\n'
     % ('9' * 401),
     [(3, "item 'a': timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got a number of 401 "
          "digits")]),
    ('timeout 1e400', 'frame: bad\njobs:\n  - {name: a, host: agent1, shell: "true", timeout: 1e400}\n',
     [(3, "item 'a': timeout: expected a whole number of seconds greater than 0, got a string '1e400'")]),
    ('NUL bytes in env, command, shell and chdir',
     'frame: bad\njobs:\n'
     '  - {name: e, host: agent1, shell: "true", env: {A: "x\\0"}}\n'
     '  - {name: c, host: agent1, command: [/bin/echo, "x\\0"]}\n'
     '  - {name: s, host: agent1, shell: "echo \\0"}\n'
     '  - {name: d, host: agent1, shell: "true", chdir: "/tmp\\0"}\n',
     [(3, "item 'e': env: variable A: the value contains a NUL byte at character 1; a NUL byte (\\0) cannot be "
          "passed to a program"),
      (4, "item 'c': command: element 1 contains a NUL byte at character 1"),
      (5, "item 's': shell: the command line contains a NUL byte at character 5"),
      (6, "item 'd': chdir: the path contains a NUL byte at character 4")]),
    ('invalid UTF-8', b'frame: bad\njobs:\n  - {name: a, host: agent1, shell: "caf\xe9"}\n',
     [(3, 'the file is not valid UTF-8 text: invalid continuation byte at byte 56 (line 3, column 40); save the '
          'frame file as UTF-8')]),
    ('a NUL byte in the file', b'frame: bad\njobs:\n  - {name: a, host: agent1, shell: "x\x00"}\n',
     [(3, 'the file holds a NUL byte at column 38; a frame file is text: tabs, line breaks and printable characters '
          'only')]),
    ('an integer of 5001 digits', 'frame: bad\njobs:\n  - {name: a, host: agent1, shell: "true", timeout: %s}\n'
     % ('9' * 5001),
     [(3, "item 'a': timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got a number of "
          "5001 digits")]),
    ('nets nested 250 deep', nested_nets(250),
     [(131, "item '%s': nets are nested more than 64 deep here; nets may nest at most 64 deep"
       % '/'.join('n%d' % level for level in range(65)))]),
    ('jobs given as a string', '{"jobs": "abc"}\n',
     [(1, "missing required key 'frame'"), (1, "jobs: expected a list of mappings, got a string 'abc'")]),
    ('a top level that is a list', '- frame: bad\n',
     [(1, 'the top level must be a mapping with a "frame" key, not a list')]),
    ('a net that holds itself', 'frame: bad\njobs: [{name: a, host: agent1, shell: "true"}]\n'
                                'nets: &n\n  - name: x\n    nets: *n\n',
     [(4, "nets are nested more than 64 deep here")]),
    ('a YAML syntax error', 'frame: bad\njobs:\n  - name: a\n   host: agent1\n',
     [(4, 'YAML syntax error: ')]),
]


@pytest.mark.parametrize('content, expected', [case[1:] for case in FRAMES], ids=[case[0] for case in FRAMES])
def test_a_bad_frame_file_is_refused_before_anything_is_recorded(testenv, tmp_path, run_playbook, store, content,
                                                                 expected):
    path = tmp_path / 'frame.yml'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    message = refuse(run_playbook, testenv, store, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                                    '-e', 'operation_date=%s' % DATE])
    assert message.startswith('invalid frame: frame'), message
    assert str(path) in message, message
    if len(expected) == 1:
        line, text = expected[0]
        assert '(%s line %d)' % (path, line) in message, message
        assert text in message, message
    else:
        for line, text in expected:
            assert re.search(r'^  - line %d, .*%s' % (line, re.escape(text)), message, re.M), message


# (id, arguments of the run playbook besides the frame file, message)
ARGUMENTS = [
    ('operation_date 20270101', ['-e', 'operation_date=20270101'],
     "operation_date '20270101' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('operation_date 2027-W05-1', ['-e', 'operation_date=2027-W05-1'],
     "operation_date '2027-W05-1' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('operation_date 2031-02-30', ['-e', 'operation_date=2031-02-30'],
     "operation_date '2031-02-30' is not a date of the form YYYY-MM-DD: day is out of range for month"),
    ('empty operation_date', ['-e', 'operation_date='],
     'operation_date is empty: give a date of the form YYYY-MM-DD, or leave it out for today'),
    ('jobnet_max_running abc', ['-e', 'operation_date=%s' % DATE, '-e', 'jobnet_max_running=abc'],
     "jobnet_max_running of agent1 is 'abc': give a whole number from 0 (no limit) to 1000000"),
    ('jobnet_max_running -1', ['-e', 'operation_date=%s' % DATE, '-e', 'jobnet_max_running=-1'],
     "jobnet_max_running of agent1 is '-1': give a whole number from 0 (no limit) to 1000000"),
    ('jobnet_lease_ttl nan', ['-e', 'operation_date=%s' % DATE, '-e', 'jobnet_lease_ttl=nan'],
     'invalid value nan for the jobnet setting lease_ttl from var: jobnet_lease_ttl: expected a number from 0 (not '
     'included) to 2678400'),
]


@pytest.mark.parametrize('args, expected', [case[1:] for case in ARGUMENTS], ids=[case[0] for case in ARGUMENTS])
def test_a_bad_command_line_value_is_refused_before_anything_is_recorded(testenv, tmp_path, run_playbook, store, args,
                                                                         expected):
    frame = write_frame(tmp_path, {'frame': 'good', 'jobs': [JOB]})
    message = refuse(run_playbook, testenv, store, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % frame] + args)
    assert expected in message, message


@pytest.mark.parametrize('args, expected', [
    ([], 'give the frame file: ansible-playbook jobnet.scheduler.run -e frame_file=PATH (or the frame argument of '
         'frame_submit)'),
    (['-e', 'frame_file=/nonexistent/frame.yml'],
     'invalid frame: frame (/nonexistent/frame.yml): cannot read the frame file: No such file or directory'),
    (['-e', 'frame_file=/tmp'], 'invalid frame: frame (/tmp): cannot read the frame file: Is a directory'),
], ids=['no frame file', 'a missing frame file', 'a folder as frame file'])
def test_a_missing_frame_file_is_refused(testenv, run_playbook, store, args, expected):
    message = refuse(run_playbook, testenv, store, ['jobnet.scheduler.run', '-e', 'operation_date=%s' % DATE] + args)
    assert message == expected


def test_recover_refuses_a_bad_operation_date(testenv, run_playbook, store):
    message = refuse(run_playbook, testenv, store, ['jobnet.scheduler.recover', '-e', 'operation_date=31/12/2026'])
    assert "operation_date '31/12/2026' is not a date of the form YYYY-MM-DD" in message, message


def test_check_mode_checks_the_frame_and_records_nothing(testenv, tmp_path, run_playbook, store):
    url, path = store
    frame = write_frame(tmp_path, {'frame': 'checked', 'jobs': [JOB, dict(JOB, name='b', host='agent2', after='a')]})
    before = dump(path)
    result = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % frame, '-e', 'operation_date=%s' % DATE,
                           '--check'], env={'JOBNET_STORE': url}, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert ('jobnet: check mode: frame instance checked@%s would be submitted: 2 jobs, 0 nets on agent1, agent2; '
            'nothing recorded' % DATE) in output, output
    assert dump(path) == before
    assert folders_of_the_date(testenv) == []
    # a bad frame fails under --check as it would for real
    bad = write_frame(tmp_path, {'frame': 'checked', 'jobs': [dict(JOB, host='agent9')]}, name='bad.yml')
    message = refuse(run_playbook, testenv, store, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % bad,
                                                    '-e', 'operation_date=%s' % DATE, '--check'])
    assert "item 'a': unknown host 'agent9'" in message, message
    # an instance already submitted: it says that a run would be refused
    healthy = write_frame(tmp_path, {'frame': 'healthy', 'jobs': [JOB]}, name='healthy.yml')
    result = run_playbook(['jobnet.scheduler.run', '-e', 'frame_file=%s' % healthy,
                           '-e', 'operation_date=%s' % HEALTHY_DATE, '--check'], env={'JOBNET_STORE': url}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ('jobnet: check mode: frame instance healthy@%s is already submitted (state normal_end): a run would be '
            'refused' % HEALTHY_DATE) in result.stdout, result.stdout
    assert dump(path) == before
