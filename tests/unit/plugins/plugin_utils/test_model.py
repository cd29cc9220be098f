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
     ''', 'a', 2, "unknown key 'colour' (known keys: after, chdir, command, description, env, host, name, "
                  "pause, shell, skip, timeout)"),
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
