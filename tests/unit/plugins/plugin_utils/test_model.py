# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import sys
import textwrap
import time

import yaml

import pytest

try:
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model
except ImportError:  # plain pytest from the checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', '.tmp',
                                    'collections'))
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._model import (
    FrameError, attempt_id, frame_hosts, load_frame_file, normalise, read_frame, start_datetime,
)

FRAMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'frames')
HOSTS = {'localhost', 'agent1', 'agent2', 'agent3'}


def write(tmp_path, text, name='frame.yml'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip('\n'))
    return str(path)


# ------------------------------------------------------------------------------------------------------
# The example of issue 3, normalised exactly

NIGHTLY = {
    'frame': 'nightly',
    'start_at': None,
    'options': {},
    'description': None,
    'items': [
        {'path': 'extract', 'name': 'extract', 'kind': 'job', 'parent': '', 'host': 'agent1',
         'command': ['/usr/bin/env', 'sh', '-c', 'echo hi'], 'shell': None, 'chdir': None, 'env': {},
         'timeout': 600, 'after': [], 'skip': False, 'pause': False, 'description': None},
        {'path': 'load', 'name': 'load', 'kind': 'net', 'parent': '', 'after': ['extract'], 'skip': False,
         'pause': False, 'children': ['load/stage', 'load/merge'], 'description': None},
        {'path': 'load/stage', 'name': 'stage', 'kind': 'job', 'parent': 'load', 'host': 'agent2',
         'command': None, 'shell': 'echo stage', 'chdir': None, 'env': {}, 'timeout': None, 'after': [],
         'skip': True, 'pause': False, 'description': None},
        {'path': 'load/merge', 'name': 'merge', 'kind': 'job', 'parent': 'load', 'host': 'agent3',
         'command': None, 'shell': 'echo merge', 'chdir': None, 'env': {}, 'timeout': None,
         'after': ['load/stage'], 'skip': False, 'pause': True, 'description': None},
    ],
    'hosts': ['agent1', 'agent2', 'agent3'],
}


def test_issue_example_is_normalised_exactly():
    result = read_frame(os.path.join(FRAMES, 'nightly.yml'), hosts=HOSTS)
    assert result == NIGHTLY
    assert list(result['items'][0]) == ['path', 'name', 'kind', 'parent', 'host', 'command', 'shell', 'chdir',
                                        'env', 'timeout', 'after', 'skip', 'pause', 'description']
    assert list(result['items'][1]) == ['path', 'name', 'kind', 'parent', 'after', 'skip', 'pause', 'children',
                                        'description']


def test_normalised_definition_is_plain_json():
    result = read_frame(os.path.join(FRAMES, 'full.yml'), hosts=HOSTS)
    text = json.dumps(result, sort_keys=True)
    assert json.loads(text) == result
    assert '__line__' not in text


def test_every_key_of_the_format():
    result = read_frame(os.path.join(FRAMES, 'full.yml'), hosts=HOSTS)
    assert result['frame'] == 'full-example'
    assert result['description'] == 'Every key of the format.'
    assert result['start_at'] == '23:30:00'
    assert result['options'] == {'recovery': True, 'end_recover': False, 'auto_rerun': True,
                                 'recovery_skip': False}
    items = {item['path']: item for item in result['items']}
    assert [item['path'] for item in result['items']] == ['extract', 'load', 'load/stage', 'load/merge',
                                                          'load/report', 'load/report/mail']
    extract = items['extract']
    assert extract['chdir'] == '/tmp'
    assert extract['env'] == {'LANG': 'C.UTF-8', 'BATCH_SIZE': '500'}
    assert extract['description'] == "Pull the day's files."
    assert items['load']['after'] == ['extract']          # a single name is a list of one
    assert items['load']['children'] == ['load/stage', 'load/merge', 'load/report']
    assert items['load/report']['pause'] is True
    assert items['load/report']['after'] == ['load/merge']
    assert items['load/report/mail']['parent'] == 'load/report'
    assert result['hosts'] == ['agent1', 'agent2', 'agent3', 'localhost']
    assert frame_hosts(result) == result['hosts']


def test_only_given_options_are_kept(tmp_path):
    path = write(tmp_path, '''
        frame: opts
        options: {auto_rerun: false}
        jobs: [{name: a, host: agent1, shell: "true"}]
    ''')
    assert read_frame(path)['options'] == {'auto_rerun': False}


def test_deep_nesting_is_flattened_depth_first_parents_first():
    result = read_frame(os.path.join(FRAMES, 'deep.yml'), hosts=HOSTS)
    paths = [item['path'] for item in result['items']]
    assert paths == ['first', 'n1', 'n1/j1', 'n1/n2', 'n1/n2/j2', 'n1/n2/n3', 'n1/n2/n3/j3', 'n1/n2/n3/n4',
                     'n1/n2/n3/n4/leaf', 'n1/n2/n3/n4/leaf2']
    items = {item['path']: item for item in result['items']}
    assert items['n1/n2/n3/n4/leaf2']['after'] == ['n1/n2/n3/n4/leaf']
    assert items['n1/n2/n3/n4/leaf2']['parent'] == 'n1/n2/n3/n4'
    assert items['n1/n2/n3']['children'] == ['n1/n2/n3/j3', 'n1/n2/n3/n4']
    seen = set()
    for item in result['items']:
        assert item['parent'] == '' or item['parent'] in seen
        seen.add(item['path'])


def test_deep_nesting_error_names_the_full_path(tmp_path):
    depth = 30
    lines = ['frame: deeper']
    indent = ''
    for level in range(depth):
        lines += [indent + 'nets:', indent + '  - name: n%d' % level]
        indent += '    '
    lines += [indent + 'jobs:', indent + '  - {name: leaf, host: agent1, shell: "true", after: nope}']
    path = write(tmp_path, '\n'.join(lines) + '\n')
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    nets = '/'.join('n%d' % level for level in range(depth))
    assert info.value.item == nets + '/leaf'
    assert info.value.line == 2 * depth + 3
    assert "unknown dependency 'nope' (known at this level: none)" in str(info.value)


# ------------------------------------------------------------------------------------------------------
# One case per kind of error: (YAML, item, line, problem)

ERRORS = [
    ('unknown key in a job', '''
        frame: f
        jobs:
          - name: extract
            host: agent1
            comand: [/bin/true]
     ''', 'extract', 5, "unknown key 'comand' (did you mean 'command'?)"),
    ('unknown key at the top', '''
        frame: f
        net: []
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 2, "unknown key 'net' (did you mean 'nets'?)"),
    ('unknown key without a close one', '''
        frame: f
        jobs: [{name: a, host: agent1, shell: "true", colour: red}]
     ''', 'a', 2, "unknown key 'colour' (known keys: after, chdir, command, description, end_by, env, host, "
                  "max_duration, name, notify, on_delay, on_end, pause, priority, resources, secret_env, shell, skip, "
                  "start_by, timeout, wait_for)"),
    ('wrong type: timeout', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            timeout: ten
     ''', 'a', 6, "timeout: expected a whole number of seconds greater than 0, got a string 'ten'"),
    ('timeout not positive', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: 0}
     ''', 'a', 3, 'timeout: expected a whole number of seconds greater than 0, got 0'),
    ('wrong type: skip', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            skip: maybe
     ''', 'a', 6, "skip: expected true or false, got a string 'maybe'"),
    ('wrong type: jobs', '''
        frame: f
        jobs: {name: a}
     ''', None, 2, 'jobs: expected a list of mappings, got a mapping'),
    ('wrong type: entry of jobs', '''
        frame: f
        jobs:
          - a
     ''', 'jobs[0]', 2, 'each entry of "jobs" must be a mapping, got a string \'a\''),
    ('wrong type: env value', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            env: {DEBUG: yes}
     ''', 'a', 6, 'env: variable DEBUG: got the boolean True; quote it to pass a string'),
    ('bad env name', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            env: {"A-B": "1"}
     ''', 'a', 6, "env: 'A-B' is not a valid environment variable name"),
    ('bad item name', '''
        frame: f
        jobs:
          - name: load.x
            host: agent1
            shell: "true"
     ''', 'jobs[0]', 3, "name: 'load.x' is not a valid name: use letters, digits, \"_\" and \"-\", starting "
                        "with a letter or digit, at most 64 characters (no dots, no slashes)"),
    ('bad frame name', '''
        frame: Nightly
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 1, "frame: 'Nightly' is not a valid frame name: use lower-case letters, digits, \"_\" and "
                   "\"-\", starting with a letter or digit, at most 64 characters"),
    ('missing frame', '''
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 1, "missing required key 'frame'"),
    ('missing host', '''
        frame: f
        jobs:
          - name: a
            shell: "true"
     ''', 'a', 3, "missing required key 'host'"),
    ('missing name', '''
        frame: f
        jobs:
          - host: agent1
            shell: "true"
     ''', 'jobs[0]', 3, "missing required key 'name'"),
    ('duplicate names at one level', '''
        frame: f
        jobs:
          - {name: extract, host: agent1, shell: "true"}
        nets:
          - name: extract
            jobs:
              - {name: stage, host: agent2, shell: "true"}
     ''', 'extract', 5, "duplicate name 'extract' at this level (lines 3 and 5)"),
    ('unknown dependency', '''
        frame: f
        jobs:
          - {name: extract, host: agent1, shell: "true"}
        nets:
          - name: load
            after: [extract]
            jobs:
              - {name: stage, host: agent2, shell: "true"}
              - name: merge
                host: agent3
                shell: "true"
                after: [stagex]
     ''', 'load/merge', 12, "unknown dependency 'stagex' (known at this level: stage)"),
    ('dependency on another level', '''
        frame: f
        jobs:
          - {name: extract, host: agent1, shell: "true"}
        nets:
          - name: load
            jobs:
              - {name: stage, host: agent2, shell: "true", after: extract}
     ''', 'load/stage', 7, "unknown dependency 'extract' (known at this level: none)"),
    ('dependency on itself', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            after: a
     ''', 'a', 6, 'depends on itself'),
    ('cycle', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", after: [c]}
          - {name: b, host: agent1, shell: "true", after: [a]}
          - {name: c, host: agent1, shell: "true", after: [b]}
          - {name: d, host: agent1, shell: "true"}
     ''', 'a', 3, 'dependency cycle: a -> c -> b -> a (each waits for the next)'),
    ('cycle between a job and a net', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            after: [n]
        nets:
          - name: n
            after: a
            jobs: [{name: x, host: agent1, shell: "true"}]
     ''', 'a', 6, 'dependency cycle: a -> n -> a (each waits for the next)'),
    ('unknown host', '''
        frame: f
        jobs:
          - name: a
            host: agnet1
            shell: "true"
     ''', 'a', 4, "unknown host 'agnet1' (inventory hosts: agent1, agent2, agent3, localhost)"),
    ('command and shell', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            command: [/bin/true]
            shell: "true"
     ''', 'a', 6, 'give either "command" (an argv list) or "shell" (a command line), not both'),
    ('neither command nor shell', '''
        frame: f
        jobs:
          - name: a
            host: agent1
     ''', 'a', 3, 'give "command" (an argv list) or "shell" (a command line)'),
    ('empty command', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            command: []
     ''', 'a', 5, 'command: must not be empty'),
    ('command as a string', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            command: /bin/true -x
     ''', 'a', 5, 'command: expected a list of strings (the argv), got a string; use "shell" for a command '
                  'line'),
    ('empty shell', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "  "
     ''', 'a', 5, 'shell: must not be empty'),
    ('skip and pause', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            skip: true
            pause: true
     ''', 'a', 7, 'skip and pause cannot both be true'),
    ('bad start_at', '''
        frame: f
        start_at: "25:00"
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 2, "start_at: '25:00' is neither \"HH:MM\", \"HH:MM:SS\" nor an ISO-8601 datetime with offset"),
    ('start_at without offset', '''
        frame: f
        start_at: 2026-11-21T01:00:00
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 2, "start_at: '2026-11-21T01:00:00' has no UTC offset; add one (e.g. +09:00 or Z)"),
    ('bad option value', '''
        frame: f
        options:
          recovery: maybe
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 3, "options.recovery: expected true or false, got a string 'maybe'"),
    ('unknown option', '''
        frame: f
        options:
          autorerun: false
        jobs: [{name: a, host: agent1, shell: "true"}]
     ''', None, 3, "unknown key 'options.autorerun' (did you mean 'auto_rerun'?)"),
    ('empty frame', '''
        frame: f
        description: nothing to do
     ''', None, 1, 'the frame has no jobs: give at least one job under "jobs" or in a net'),
    ('empty net', '''
        frame: f
        jobs: [{name: a, host: agent1, shell: "true"}]
        nets:
          - name: hollow
            after: a
     ''', 'hollow', 4, 'a net needs at least one job or net'),
    ('duplicate key in a mapping', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            host: agent2
     ''', None, 6, "duplicate key 'host' (lines 4 and 6); the last one would win"),
]


@pytest.mark.parametrize('text, item, line, problem', [case[1:] for case in ERRORS],
                         ids=[case[0] for case in ERRORS])
def test_each_kind_of_error_names_frame_item_line_and_problem(tmp_path, text, item, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    error = info.value
    assert len(error.problems) == 1, str(error)
    assert (error.item, error.line, error.problem, error.source) == (item, line, problem, path)
    match = re.search(r'^frame: (\S+)$', textwrap.dedent(text), re.M)
    frame = match.group(1) if match else None
    assert error.frame == frame
    head = ("frame %r" % frame if frame else 'frame') + ' (%s line %d)' % (path, line)
    if item:
        head += ', item %r' % item
    assert str(error) == '%s: %s' % (head, problem)


def test_the_sample_bad_files_fail(tmp_path):
    for name in sorted(os.listdir(FRAMES)):
        if name.startswith('bad_'):
            with pytest.raises(FrameError):
                read_frame(os.path.join(FRAMES, name), hosts=HOSTS)


def test_the_sample_good_files_pass():
    for name in sorted(os.listdir(FRAMES)):
        if not name.startswith('bad_'):
            assert read_frame(os.path.join(FRAMES, name), hosts=HOSTS)['items']


def test_all_problems_are_collected_and_listed_by_line():
    path = os.path.join(FRAMES, 'bad_many.yml')
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    error = info.value
    assert [p.line for p in error.problems] == [3, 5, 7, 12, 14, 18, 23, 27, 29, 34]
    assert [p.item for p in error.problems] == [None, None, 'jobs[0]', 'both', 'neither', 'empty', 'flags',
                                                'self', 'offsite', 'slow']
    assert (error.line, error.item) == (3, None)
    text = str(error)
    assert text.splitlines()[0] == "frame 'many' (%s): 10 problems" % path
    assert "  - line 29, item 'offsite': unknown host 'agent9' (inventory hosts: " in text
    assert str(error.problems[8]).startswith("frame 'many' (%s line 29), item 'offsite': unknown host" % path)


def test_more_than_ten_problems_are_summarised(tmp_path):
    jobs = ''.join('  - {name: j%02d, host: nowhere, shell: "true"}\n' % i for i in range(14))
    path = write(tmp_path, 'frame: wide\njobs:\n' + jobs)
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    assert len(info.value.problems) == 14
    lines = str(info.value).splitlines()
    assert len(lines) == 12
    assert lines[-1] == '  - ... and 4 more'


def test_misspelt_command_is_reported_once(tmp_path):
    path = os.path.join(FRAMES, 'bad_unknown_key.yml')
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    assert [p.problem for p in info.value.problems] == ["unknown key 'comand' (did you mean 'command'?)"]


def test_hosts_none_skips_the_host_check(tmp_path):
    path = write(tmp_path, 'frame: f\njobs: [{name: a, host: anywhere, shell: "true"}]\n')
    assert read_frame(path)['hosts'] == ['anywhere']
    with pytest.raises(FrameError, match="unknown host 'anywhere'"):
        read_frame(path, hosts=[])


def test_a_dict_without_a_file_gives_messages_without_lines():
    raw = {'frame': 'mem', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'true', 'after': 'b'}]}
    with pytest.raises(FrameError) as info:
        normalise(raw, hosts=HOSTS)
    assert str(info.value) == "frame 'mem', item 'a': unknown dependency 'b' (known at this level: none)"
    assert info.value.line is None and info.value.source is None


def test_normalise_does_not_change_its_input():
    raw = load_frame_file(os.path.join(FRAMES, 'full.yml'))
    before = copy.deepcopy(raw)
    normalise(raw, hosts=HOSTS)
    assert raw == before


def test_scalar_coercions(tmp_path):
    path = write(tmp_path, '''
        frame: f
        start_at: 23:00
        jobs:
          - name: 2024
            host: agent1
            command: [at, 12:30, 5, 1.5]
            env: {N: 3}
            after: []
    ''')
    result = read_frame(path)
    job = result['items'][0]
    assert result['start_at'] == '23:00:00'     # not the YAML 1.1 base-60 number 1380
    assert job['name'] == '2024'
    assert job['command'] == ['at', '12:30', '5', '1.5']
    assert job['env'] == {'N': '3'}


@pytest.mark.parametrize('value, canonical', [
    ('"7:05"', '07:05:00'),
    ('"07:05:09"', '07:05:09'),
    ('2026-11-21T01:00:00+09:00', '2026-11-21T01:00:00+09:00'),
    ('2026-11-21T01:00:00Z', '2026-11-21T01:00:00+00:00'),
    ('~', None),
])
def test_start_at_forms(tmp_path, value, canonical):
    path = write(tmp_path, 'frame: f\nstart_at: %s\njobs: [{name: a, host: agent1, shell: "true"}]\n' % value)
    assert read_frame(path)['start_at'] == canonical


def test_after_list_is_deduplicated_in_order(tmp_path):
    path = write(tmp_path, '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true"}
          - {name: b, host: agent1, shell: "true"}
          - {name: c, host: agent1, shell: "true", after: [b, a, b]}
    ''')
    assert read_frame(path)['items'][2]['after'] == ['b', 'a']


# ------------------------------------------------------------------------------------------------------
# Reading files

def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.yml')
    with pytest.raises(FrameError) as info:
        load_frame_file(path)
    assert str(info.value) == 'frame (%s): cannot read the frame file: No such file or directory' % path


def test_yaml_syntax_error_points_at_the_line(tmp_path):
    # written here, not kept as a sample file: yamllint (ansible-test sanity) would refuse the file itself
    path = write(tmp_path, '''
        frame: broken
        jobs:
          - name: extract
            host: agent1
           shell: "true"
    ''')
    with pytest.raises(FrameError) as info:
        load_frame_file(path)
    assert info.value.line == 5
    assert str(info.value).startswith('frame (%s line 5): YAML syntax error: ' % path)


@pytest.mark.parametrize('text, kind', [('- a\n- b\n', 'a list'), ('just text\n', 'a string'), ('', 'null')])
def test_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = write(tmp_path, text)
    with pytest.raises(FrameError) as info:
        load_frame_file(path)
    assert str(info.value) == ('frame (%s line 1): the top level must be a mapping with a "frame" key, not %s'
                               % (path, kind))


def test_loaded_mappings_are_plain_dicts():
    raw = load_frame_file(os.path.join(FRAMES, 'nightly.yml'))
    assert raw.__class__ is dict
    assert raw['nets'][0]['jobs'][0].__class__ is dict
    assert '__line__' not in json.dumps(raw)


# ------------------------------------------------------------------------------------------------------
# Helpers

def test_start_datetime_of_a_time_in_a_named_zone():
    frame = {'start_at': '01:30:00'}
    assert start_datetime(frame, '2026-11-21', tz='Asia/Tokyo') == \
        datetime.datetime(2026, 11, 20, 16, 30, tzinfo=datetime.timezone.utc)


def test_start_datetime_of_a_time_in_the_local_zone(monkeypatch):
    monkeypatch.setenv('TZ', 'America/New_York')
    time.tzset()
    try:
        result = start_datetime({'start_at': '23:00:00'}, '2026-07-01')
    finally:
        monkeypatch.undo()
        time.tzset()
    assert result == datetime.datetime(2026, 7, 2, 3, 0, tzinfo=datetime.timezone.utc)


def test_start_datetime_of_a_full_datetime_ignores_the_date():
    result = start_datetime({'start_at': '2026-11-21T01:00:00+09:00'}, '2030-01-01')
    assert result == datetime.datetime(2026, 11, 20, 16, 0, tzinfo=datetime.timezone.utc)
    assert result.tzinfo is datetime.timezone.utc


def test_start_datetime_none_without_start_at():
    assert start_datetime(NIGHTLY, '2026-11-21') is None


@pytest.mark.parametrize('date', ['2026-13-01', '21/11/2026', ''])
def test_start_datetime_refuses_a_bad_operation_date(date):
    with pytest.raises(ValueError, match='operation date'):
        start_datetime({'start_at': '01:00:00'}, date)


def test_attempt_id_short():
    assert attempt_id('nightly', '2026-11-21', 'k3x9q2', 'load/stage', 1) == \
        'nightly.20261121.k3x9q2.load.stage.1'


def test_attempt_id_long_stays_unique_and_bounded():
    path_a = '/'.join(['n' * 60] * 3) + '/a'
    path_b = '/'.join(['n' * 60] * 3) + '/b'
    first = attempt_id('nightly', '2026-11-21', 'k3x9q2', path_a, 1)
    second = attempt_id('nightly', '2026-11-21', 'k3x9q2', path_b, 1)
    third = attempt_id('nightly', '2026-11-21', 'k3x9q2', path_a, 2)
    assert len({first, second, third}) == 3
    for value in (first, second, third):
        assert len(value) == 128
        assert _model.ATTEMPT_ID_RE.match(value)
        assert value.startswith('nightly.20261121.k3x9q2.nnnn')
    assert attempt_id('nightly', '2026-11-21', 'k3x9q2', path_a, 1) == first


def test_attempt_id_refuses_bad_characters():
    with pytest.raises(ValueError, match='outside'):
        attempt_id('nightly', '2026-11-21', 'k3 x', 'a', 1)


# ------------------------------------------------------------------------------------------------------
# Bad input: every class is refused with the file, the line, the item, the field and what is allowed.
# (YAML, item, line, problem); each must be the only problem of its file.

BAD_INPUT = [
    ('job name with a final line break', '''
        frame: f
        jobs:
          - {name: "a\\n", host: agent1, shell: "true"}
     ''', 'jobs[0]', 3, "name: 'a\\n' is not a valid name: use letters, digits, \"_\" and \"-\", starting with a "
                        "letter or digit, at most 64 characters (no dots, no slashes)"),
    ('net name with a final line break', '''
        frame: f
        nets:
          - name: "n\\n"
            jobs: [{name: a, host: agent1, shell: "true"}]
     ''', 'nets[0]', 3, "name: 'n\\n' is not a valid name: use letters, digits, \"_\" and \"-\", starting with a "
                        "letter or digit, at most 64 characters (no dots, no slashes)"),
    ('name of 65 characters', '''
        frame: f
        jobs:
          - {name: %s, host: agent1, shell: "true"}
     ''' % ('a' * 65), 'jobs[0]', 3, "name: '%s' is not a valid name: use letters, digits, \"_\" and \"-\", "
                                     "starting with a letter or digit, at most 64 characters (no dots, no "
                                     "slashes)" % ('a' * 65)),
    ('timeout over 31 days', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: 2678401}
     ''', 'a', 3, 'timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got 2678401'),
    ('timeout of 401 digits', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: %s}
     ''' % ('9' * 401), 'a', 3, 'timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got a '
                                'number of 401 digits'),
    ('timeout of 5001 digits (more than Python reads)', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: %s}
     ''' % ('9' * 5001), 'a', 3, 'timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got '
                                 'a number of 5001 digits'),
    ('timeout 1e400', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: 1e400}
     ''', 'a', 3, "timeout: expected a whole number of seconds greater than 0, got a string '1e400'"),
    ('timeout 1.0e+400 (infinite)', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", timeout: 1.0e+400}
     ''', 'a', 3, 'timeout: expected a whole number of seconds greater than 0, got a number inf'),
    ('a number of 5001 digits as a command argument', '''
        frame: f
        jobs:
          - {name: a, host: agent1, command: [/bin/echo, %s]}
     ''' % ('7' * 5001), 'a', 3, 'command: element 1: expected a string, got a number of 5001 digits'),
    ('NUL in an env value', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", env: {A: "x\\0y"}}
     ''', 'a', 3, 'env: variable A: the value contains a NUL byte at character 1; a NUL byte (\\0) cannot be '
                  'passed to a program'),
    ('NUL in an env name', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", env: {"A\\0": "x"}}
     ''', 'a', 3, "env: 'A\\x00' is not a valid environment variable name"),
    ('NUL in a command element', '''
        frame: f
        jobs:
          - {name: a, host: agent1, command: [/bin/echo, "x\\0"]}
     ''', 'a', 3, 'command: element 1 contains a NUL byte at character 1; a NUL byte (\\0) cannot be passed to a '
                  'program'),
    ('NUL in shell', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "echo \\0"}
     ''', 'a', 3, 'shell: the command line contains a NUL byte at character 5; a NUL byte (\\0) cannot be passed '
                  'to a program'),
    ('NUL in chdir', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", chdir: "/tmp\\0"}
     ''', 'a', 3, 'chdir: the path contains a NUL byte at character 4; a NUL byte (\\0) cannot be passed to a '
                  'program'),
    ('empty chdir', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true", chdir: ""}
     ''', 'a', 3, 'chdir: must not be empty; leave chdir out to run in the home folder'),
    ('a program that begins with -', '''
        frame: f
        jobs:
          - {name: a, host: agent1, command: [-x]}
     ''', 'a', 3, 'command: element 0 (the program) \'-x\' begins with "-"; give it as a path (./-x)'),
    ('jobs given as a string', '''
        frame: f
        jobs: abc
     ''', None, 2, "jobs: expected a list of mappings, got a string 'abc'"),
    ('jobs of a net given as a string', '''
        frame: f
        nets:
          - name: n
            jobs: abc
     ''', 'n', 4, "jobs: expected a list of mappings, got a string 'abc'"),
    ('a list inside a list of jobs', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true"}
          - [b]
     ''', 'jobs[1]', 2, "each entry of \"jobs\" must be a mapping, got a list"),
    ('after given a mapping', '''
        frame: f
        jobs:
          - {name: a, host: agent1, shell: "true"}
          - {name: b, host: agent1, shell: "true", after: {a: 1}}
     ''', 'b', 4, 'after: expected a name or a list of names, got a mapping'),
    ('a key that is a number of 5001 digits', '''
        frame: f
        jobs:
          - name: a
            host: agent1
            shell: "true"
            ? %s
            : 1
     ''' % ('1' * 5001), 'a', 3, 'key <a number of 5001 digits> is not a string'),
    ('an unhashable key', '''
        frame: f
        ? [a]
        : 1
     ''', None, 2, 'YAML syntax error: while constructing a mapping: found unhashable key (column 3)'),
    ('an undefined alias', '''
        frame: f
        jobs: *nothing
     ''', None, 2, "YAML syntax error: found undefined alias 'nothing' (column 7)"),
    ('an anchor given twice', '''
        frame: f
        description: &d one
        jobs:
          - {name: a, host: agent1, shell: &d "true"}
     ''', None, 4, "YAML syntax error: found duplicate anchor 'd' (first on line 2) (column 36)"),
    ('two documents', '''
        frame: f
        jobs: [{name: a, host: agent1, shell: "true"}]
        ---
        frame: g
     ''', None, 3, 'YAML syntax error: expected a single document in the stream, but found another document '
                   '(column 1)'),
    ('an unsupported tag', '''
        frame: f
        jobs: !!set {a}
     ''', None, 2, "YAML syntax error: the tag 'tag:yaml.org,2002:set' is not supported in a frame file: use plain "
                   "mappings, lists and scalars (column 7)"),
    ('an unknown tag', '''
        frame: f
        description: !mine x
     ''', None, 2, "YAML syntax error: could not determine a constructor for the tag '!mine' of a scalar (column 14)"),
    ('a bad timestamp', '''
        frame: f
        start_at: !!timestamp soon
     ''', None, 2, "YAML syntax error: 'soon' is not a valid !!timestamp (column 11)"),
    ('a merge of a scalar', '''
        frame: f
        jobs:
          - <<: 3
            name: a
     ''', None, 3, 'YAML syntax error: a merge key (<<) takes a mapping or a list of mappings, got an integer 3 '
                   '(column 9)'),
]


@pytest.mark.parametrize('text, item, line, problem', [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_names_file_line_item_field_and_what_is_allowed(tmp_path, text, item, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    error = info.value
    assert len(error.problems) == 1, str(error)
    assert (error.item, error.line, error.problem, error.source) == (item, line, problem, path)
    assert '(%s line %d)' % (path, line) in str(error)


# Files that are not YAML text: (bytes, line, problem)
BAD_FILES = [
    ('invalid UTF-8', b'frame: f\njobs:\n  - {name: a, host: agent1, shell: "caf\xe9"}\n', 3,
     'the file is not valid UTF-8 text: invalid continuation byte at byte 54 (line 3, column 40); save the frame '
     'file as UTF-8'),
    ('a NUL byte', b'frame: f\njobs:\n  - {name: a, host: agent1, shell: "tr\x00ue"}\n', 3,
     'the file holds a NUL byte at column 39; a frame file is text: tabs, line breaks and printable characters '
     'only'),
    ('a control character', b'frame: f\ndescription: "\x07"\n', 2,
     'the file holds the control character U+0007 at column 15; a frame file is text: tabs, line breaks and '
     'printable characters only'),
    ('an escaped lone surrogate', b'frame: f\ndescription: "\\ud800"\n', 2, None),
]


@pytest.mark.parametrize('data, line, problem', [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_file_that_is_not_text_is_refused_with_its_line(tmp_path, data, line, problem):
    path = tmp_path / 'frame.yml'
    path.write_bytes(data)
    with pytest.raises(FrameError) as info:
        read_frame(str(path), hosts=HOSTS)
    assert (info.value.source, info.value.line) == (str(path), line)
    if problem is not None:
        assert info.value.problem == problem
    assert str(info.value).startswith('frame (%s line %d): ' % (path, line))


def test_a_utf16_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / 'frame.yml'
    path.write_bytes('frame: f\njobs: [{name: a, host: agent1, shell: "echo é"}]\n'.encode('utf-16'))
    assert read_frame(str(path), hosts=HOSTS)['items'][0]['shell'] == 'echo é'


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(_model, 'MAX_FILE_BYTES', 1024 * 1024)
    path = tmp_path / 'frame.yml'
    path.write_bytes(b'frame: f\n' + b'#' * (1024 * 1024) + b'\n')
    with pytest.raises(FrameError) as info:
        load_frame_file(str(path))
    assert str(info.value) == ('frame (%s): the frame file is larger than 1 MiB; a frame file may have at most '
                               '1048576 bytes' % path)


def nested(depth, leaf='{name: leaf, host: agent1, shell: "true"}'):
    lines = ['frame: deeper']
    indent = ''
    for level in range(depth):
        lines += [indent + 'nets:', indent + '  - name: n%d' % level]
        indent += '    '
    lines += [indent + 'jobs:', indent + '  - ' + leaf]
    return '\n'.join(lines) + '\n'


def test_nets_nest_64_deep():
    result = normalise(yaml_load(nested(_model.MAX_NESTING)), hosts=HOSTS)
    assert result['items'][-1]['path'].count('/') == 64


@pytest.mark.parametrize('depth', [65, 250, 490])
def test_nets_nested_deeper_than_64_are_refused_at_the_65th(tmp_path, depth):
    path = write(tmp_path, nested(depth))
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    net = '/'.join('n%d' % level for level in range(65))
    assert [(p.item, p.line, p.problem) for p in info.value.problems] == [
        (net, 2 * 64 + 3, 'nets are nested more than 64 deep here; nets may nest at most 64 deep')]


def test_mappings_and_lists_nested_deeper_than_1000_are_refused(tmp_path):
    path = write(tmp_path, 'frame: f\njobs: ' + '[' * 100000 + ']' * 100000 + '\n')
    with pytest.raises(FrameError) as info:
        load_frame_file(path)
    assert str(info.value) == ('frame (%s line 2): mappings and lists are nested more than 1000 deep here; a frame '
                               'file may nest them at most 1000 deep (nets at most 64)' % path)


def test_a_net_that_holds_itself_through_an_alias_is_refused(tmp_path):
    path = write(tmp_path, '''
        frame: f
        jobs: [{name: a, host: agent1, shell: "true"}]
        nets: &n
          - name: x
            nets: *n
    ''')
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    assert [(p.item, p.line, p.problem) for p in info.value.problems] == [
        ('/'.join(['x'] * 65), 4, 'nets are nested more than 64 deep here; nets may nest at most 64 deep')]


def test_an_alias_bomb_stops_at_the_item_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(_model, 'MAX_ITEMS', 1000)
    lines = ['frame: f', 'description: &l0 [{name: a, host: agent1, shell: "true"}]']
    for level in range(1, 31):   # each level holds the one below twice: 2**30 jobs once expanded
        lines.append('%s: &l%d [{name: b, jobs: [], nets: *l%d}, {name: c, nets: *l%d}]'
                     % ('nets' if level == 30 else 'x%d' % level, level, level - 1, level - 1))
    loaded = yaml_load('\n'.join(lines) + '\n')
    raw = {'frame': 'f', 'nets': loaded['nets']}
    start = time.monotonic()
    with pytest.raises(FrameError) as info:
        normalise(raw, hosts=HOSTS)
    assert time.monotonic() - start < 10
    assert [p.problem for p in info.value.problems if 'jobs and nets' in p.problem] == [
        'the frame has more than 1000 jobs and nets; a frame may have at most 1000 (split it into frames)']


def test_a_merge_key_fills_in_keys_and_is_not_a_duplicate(tmp_path):
    path = write(tmp_path, '''
        frame: f
        jobs:
          - &base {name: a, host: agent1, shell: "true", timeout: 60}
          - <<: *base
            name: b
            after: a
          - <<: [{host: agent2}, *base]
            name: c
    ''')
    items = read_frame(path, hosts=HOSTS)['items']
    assert [(i['name'], i['host'], i['timeout'], i['after']) for i in items] == [
        ('a', 'agent1', 60, []), ('b', 'agent1', 60, ['a']), ('c', 'agent2', 60, [])]


def test_an_unknown_key_from_a_merge_names_the_line_of_the_key(tmp_path):
    path = write(tmp_path, '''
        frame: f
        jobs:
          - &base {name: a, host: agent1, shell: "true"}
          - <<: {colour: red}
            name: b
            host: agent1
            shell: "true"
    ''')
    with pytest.raises(FrameError) as info:
        read_frame(path, hosts=HOSTS)
    assert (info.value.item, info.value.line) == ('b', 4)
    assert info.value.problem.startswith("unknown key 'colour'")


# Given as a mapping (the frame argument of frame_submit): no file, no lines. (raw, item, problem)
BAD_MAPPINGS = [
    ('a lone surrogate in shell', {'frame': 'f', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'x\ud800'}]},
     'a', "shell: 'x\\ud800' holds the lone surrogate U+D800 at character 1, which is not a character; write the "
          "character itself (or one \\U escape)"),
    ('an infinite timeout', {'frame': 'f', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'x',
                                                     'timeout': float('inf')}]},
     'a', 'timeout: expected a whole number of seconds greater than 0, got a number inf'),
    ('a timeout of 401 digits', {'frame': 'f', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'x',
                                                         'timeout': 10 ** 400}]},
     'a', 'timeout: expected a whole number of seconds from 1 to 2678400 (31 days), got a number of 401 digits'),
    ('a name with a final line break', {'frame': 'f\n', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'x'}]},
     None, "frame: 'f\\n' is not a valid frame name: use lower-case letters, digits, \"_\" and \"-\", starting with "
           "a letter or digit, at most 64 characters"),
    ('a set as after', {'frame': 'f', 'jobs': [{'name': 'a', 'host': 'agent1', 'shell': 'x', 'after': {'b'}}]},
     'a', "after: expected a name or a list of names, got set {'b'}"),
]


@pytest.mark.parametrize('raw, item, problem', [case[1:] for case in BAD_MAPPINGS],
                         ids=[case[0] for case in BAD_MAPPINGS])
def test_bad_input_given_as_a_mapping(raw, item, problem):
    with pytest.raises(FrameError) as info:
        normalise(raw, hosts=HOSTS)
    assert [(p.item, p.problem) for p in info.value.problems] == [(item, problem)]


def test_nets_nested_deeper_than_64_in_a_mapping_are_refused():
    raw = {'name': 'leaf', 'jobs': [{'name': 'j', 'host': 'agent1', 'shell': 'x'}]}
    for level in range(5000):
        raw = {'name': 'n%d' % level, 'nets': [raw]}
    with pytest.raises(FrameError) as info:
        normalise({'frame': 'f', 'nets': [raw]}, hosts=HOSTS)
    assert [p.problem for p in info.value.problems] == [
        'nets are nested more than 64 deep here; nets may nest at most 64 deep']


# ------------------------------------------------------------------------------------------------------
# Command sizes: long shell text is fine, the kernel's limits on one argument and one variable are checked.

def job_frame(**job):
    base = {'name': 'a', 'host': 'agent1'}
    base.update(job)
    return {'frame': 'f', 'jobs': [base]}


def test_a_shell_line_of_256_kib_is_accepted():
    shell = 'echo ' + 'x' * (256 * 1024)
    assert normalise(job_frame(shell=shell), hosts=HOSTS)['items'][0]['shell'] == shell


@pytest.mark.parametrize('job, problem', [
    ({'shell': 'x' * (1024 * 1024 + 1)},
     'shell: the command line is 1048577 bytes; a command can be at most 1048576 bytes (1 MiB): run a script file '
     'instead'),
    ({'command': ['/bin/echo', 'x' * 131072]},
     "command: element 1 is 131072 bytes; one argument can be at most 131071 bytes (Linux's MAX_ARG_STRLEN): pass "
     'large data in a file, or use "shell" (up to 1048576 bytes)'),
    ({'command': ['/bin/echo'] + ['x' * 100000] * 11},
     'command: the arguments are 1100021 bytes together; a command can be at most 1048576 bytes (1 MiB)'),
    ({'shell': 'true', 'env': {'BIG': 'x' * 131068}},
     "env: variable BIG is 131072 bytes (NAME=value); one variable can be at most 131071 bytes (Linux's "
     'MAX_ARG_STRLEN): pass large data in a file'),
    ({'command': ['/bin/echo'] + ['x' * 100000] * 6, 'env': {'V%d' % i: 'y' * 100000 for i in range(5)}},
     'command and env are 1100036 bytes together; a program can get at most 1048576 bytes (1 MiB) of '
     'arguments and variables: pass large data in a file'),
], ids=['shell over 1 MiB', 'one argument over MAX_ARG_STRLEN', 'arguments over 1 MiB', 'one variable too big',
        'arguments and variables over 1 MiB'])
def test_command_sizes(job, problem):
    with pytest.raises(FrameError) as info:
        normalise(job_frame(**job), hosts=HOSTS)
    assert [p.problem for p in info.value.problems] == [problem]


# ------------------------------------------------------------------------------------------------------
# Bounds: a frame of 100,000 jobs in 1000 nets is checked in seconds

def big_frame_text(nets=1000, jobs=100, bad=True):
    out = ['frame: big', 'nets:']
    for n in range(nets):
        out.append('  - name: net%d' % n)
        if n:
            out.append('    after: [net%d]' % (n - 1))
        out.append('    jobs:')
        for j in range(jobs):
            out += ['      - name: job%d' % j, '        host: agent1', '        shell: "echo %d %d"' % (n, j),
                    '        timeout: 600']
            if j:
                out.append('        after: [job%d]' % (j - 1))
    if bad:
        out += ['  - name: last', '    after: [nope]', '    jobs: [{name: x, host: agent1, shell: "true"}]']
    return '\n'.join(out) + '\n'


def test_a_frame_of_100000_jobs_is_checked_in_seconds(tmp_path):
    path = tmp_path / 'big.yml'
    path.write_text(big_frame_text())
    start = time.monotonic()
    with pytest.raises(FrameError) as info:
        read_frame(str(path), hosts=HOSTS)
    elapsed = time.monotonic() - start
    assert [(p.item, p.line) for p in info.value.problems] == [('last', 502003)]
    assert info.value.problem.startswith("unknown dependency 'nope' (known at this level: net0, net1, net10")
    assert elapsed < 30, elapsed   # about 6 s on a small machine; the argument-spec validator took 50 to 90 s


# ------------------------------------------------------------------------------------------------------
# The per-mapping checks give what Ansible's ArgumentSpecValidator gives (the rules they replace)

def _reference_check(kind, raw):
    """The mapping checks as they were, with Ansible's ArgumentSpecValidator: [(key_or_None, message)], params."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    spec = _model._SPECS[kind]
    extra = {'mutually_exclusive': [['command', 'shell']], 'required_one_of': [['command', 'shell']]} \
        if kind == 'job' else {}
    params = {k: v for k, v in raw.items() if isinstance(k, str) and (v is not None or spec.get(k, {}).get('required'))}
    result = ArgumentSpecValidator(spec, **extra).validate(params)
    out = []
    bad = set()
    guesses = set()
    for key in sorted(result.unsupported_parameters, key=str):
        bad.add(key)
        guess = _model._suggest(key, spec)
        guesses.add(guess)
        hint = 'did you mean %r?' % guess if guess else 'known keys: %s' % ', '.join(sorted(spec))
        out.append((key, 'unknown key %r (%s)' % (key, hint)))
    for error in result.errors:
        name, message = type(error).__name__, str(error)
        if name == 'UnsupportedError':
            continue
        if name == 'ArgumentTypeError':
            match = re.match(r"^argument '(?P<key>[^']+)' is of type .*? and we were unable to convert to "
                             r"[^:]+: (?P<detail>.*)$", message, re.S)
            bad.add(match.group('key'))
            out.append((match.group('key'), '%s: %s' % (match.group('key'), match.group('detail'))))
        elif name == 'RequiredError':
            for key in message.split(': ', 1)[1].split(', '):
                bad.add(key)
                out.append((None, 'missing required key %r' % key))
        elif name == 'MutuallyExclusiveError':
            bad.update(('command', 'shell'))
            out.append(('shell', 'give either "command" (an argv list) or "shell" (a command line), not both'))
        elif name == 'RequiredOneOfError':
            bad.update(('command', 'shell'))
            if not guesses & {'command', 'shell'}:
                out.append((None, 'give "command" (an argv list) or "shell" (a command line)'))
    validated = {k: v for k, v in result.validated_parameters.items() if not (k in spec and k in bad)}
    return out, validated, bad


class _Recorder:
    def __init__(self):
        self.added = []

    def add(self, message, item=None, mapping=None, key=None, line=None):
        self.added.append((key, message))


_VALUES = [None, 'x', '', 'a\n', 'agent1', 3, 0, -5, 2678401, 1.5, True, False, ['a'], [], ['/bin/true', 2],
           {'A': '1'}, {'A': True}, {'a-b': 1}, [None], '12:30', 'maybe']


@pytest.mark.parametrize('kind', ['job', 'net', 'frame', 'options'])
def test_mapping_checks_match_the_argument_spec_validator(kind):
    import random
    rnd = random.Random(kind)
    keys = list(_model._SPECS[kind]) + ['comand', 'colour', 'nme']
    for _round in range(1500):
        raw = {key: rnd.choice(_VALUES) for key in rnd.sample(keys, rnd.randint(0, len(keys)))}
        recorder = _Recorder()
        params, bad = _model._check_mapping(kind, raw, recorder, None)
        expected, expected_params, expected_bad = _reference_check(kind, raw)
        assert recorder.added == expected, raw
        assert bad == expected_bad, raw
        assert {k: v for k, v in params.items() if k in _model._SPECS[kind]} == \
            {k: v for k, v in expected_params.items() if k in _model._SPECS[kind]}, raw


# ------------------------------------------------------------------------------------------------------
# The reader gives what PyYAML's SafeLoader gives (without base-60 numbers and implicit timestamps)

class _ReferenceLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = {first: [(tag, regexp) for tag, regexp in resolvers if tag != _model._TIMESTAMP_TAG]
                               for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


for _first, _resolvers in _ReferenceLoader.yaml_implicit_resolvers.items():
    _ReferenceLoader.yaml_implicit_resolvers[_first] = [
        (tag, _model._INT_RE if tag == _model._INT_TAG else _model._FLOAT_RE if tag == _model._FLOAT_TAG else rx)
        for tag, rx in _resolvers]


def yaml_load(text):
    return yaml.load(text, Loader=_ReferenceLoader)


SNIPPETS = [
    'a: 1\nb: 0x1F\nc: 017\nd: 1_000\ne: +12\nf: -0\ng: 0b101\n',
    'a: 1.5\nb: .5\nc: 1.5e+3\nd: .inf\ne: -.Inf\nf: 1e3\ng: 12:30\nh: 1:2:3\n',
    'a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: true\ng: null\nh: ~\ni:\nj: Null\n',
    'a: 2026-01-01\nb: 2026-01-01T01:00:00Z\nc: !!str 12\nd: !!int "12"\ne: !!float "1"\nf: !!binary aGk=\n',
    "a: 'q'\nb: \"d\\tx\"\nc: |\n  lit\n  two\nd: >\n  fold\n  ed\ne: ! 12\n",
    'a: &x [1, {b: 2}]\nc: *x\nd: {<<: {e: 1, f: 2}, f: 3}\ng: [{<<: [{h: 1}, {h: 2, i: 3}]}]\n',
    'a: {b: [c, {d: [e, [f, [g]]]}]}\n? complex key\n: v\n"quoted key": 1\n12: int key\n',
]


@pytest.mark.parametrize('text', SNIPPETS)
def test_the_reader_reads_what_safe_loader_reads(tmp_path, text):
    path = write(tmp_path, text)
    assert _model.load_frame_file(path) == yaml_load(text)


def test_the_reader_reads_the_sample_files_as_safe_loader_does():
    for name in sorted(os.listdir(FRAMES)):
        with open(os.path.join(FRAMES, name), encoding='utf-8') as handle:
            text = handle.read()
        assert _model.load_frame_file(os.path.join(FRAMES, name)) == yaml_load(text), name


def test_the_pure_python_parser_reads_the_same(monkeypatch):
    for name in sorted(os.listdir(FRAMES)):
        with_libyaml = _model.load_frame_file(os.path.join(FRAMES, name))
        monkeypatch.setattr(_model.yaml, '__with_libyaml__', False)
        try:
            assert _model.load_frame_file(os.path.join(FRAMES, name)) == with_libyaml, name
        finally:
            monkeypatch.undo()


def test_names_are_matched_whole():
    for pattern in (_model.FRAME_NAME_RE, _model.ITEM_NAME_RE, _model.ENV_NAME_RE, _model.ATTEMPT_ID_RE):
        assert pattern.match('abc\n') is None and pattern.fullmatch('abc\n') is None
    assert _model.TIME_RE.match('01:30\n') is None
    assert _model.DATE_RE.match('2026-11-21\n') is None


@pytest.mark.parametrize('date', ['20261121', '2026-11-21\n', '2026-W47-6'])
def test_start_datetime_and_attempt_id_take_only_yyyy_mm_dd(date):
    with pytest.raises(ValueError, match='operation date'):
        attempt_id('nightly', date, 'k3x9q2', 'a', 1)
