# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jobnet settings resolved through Ansible's option system (explicit > vars > env > ini > default).

Each case runs in a fresh interpreter with its own environment and ansible.cfg, as an action plugin would
(Ansible reads its configuration once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ansible_collections.jobnet.scheduler.plugins as _plugins  # noqa: E402 - where the collection is found

# <root>/ansible_collections/jobnet/scheduler/plugins -> <root>, the collections path to give Ansible
COLLECTIONS = os.path.abspath(os.path.join(list(_plugins.__path__)[0], '..', '..', '..', '..'))

SCRIPT = r'''
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _options as O
from ansible.template import Templar, trust_as_template
from ansible.parsing.dataloader import DataLoader
case = json.loads(sys.argv[2])
if case.get('templar'):  # variables from playbooks and inventories are trusted templates
    case['vars'] = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in case['vars'].items()}
templar = Templar(loader=DataLoader(), variables=case.get('vars') or {}) if case.get('templar') else None
try:
    if case['name'] == 'store':
        out = [O.resolve_store_url(case.get('vars'), case.get('explicit'), templar=templar), 'n/a']
    else:
        out = list(O.resolve_option_and_origin(case['name'], case.get('vars'), case.get('default'),
                                               explicit=case.get('explicit'), templar=templar))
except Exception as e:
    out = ['ERROR', str(e)]
print(json.dumps(out))
'''


def resolve(tmp_path, case, env=None, ini=None):
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text(ini or '[defaults]\n')
    e = {k: v for k, v in os.environ.items() if not k.startswith('JOBNET_') and k != 'ANSIBLE_CONFIG'}
    e['ANSIBLE_CONFIG'] = str(cfg)
    e.update(env or {})
    out = subprocess.run([sys.executable, '-c', SCRIPT, COLLECTIONS, json.dumps(case)], env=e, capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path), check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


INI = '[jobnet]\nstore = sqlite:///from/ini.db\nauto_rerun = no\nlease_ttl = 33\n'


@pytest.mark.parametrize('case, env, ini, expected', [
    ({'name': 'auto_rerun'}, {}, None, [True, 'default']),
    ({'name': 'recovery_skip'}, {}, None, [False, 'default']),
    ({'name': 'auto_rerun'}, {}, INI, [False, 'ini']),
    ({'name': 'auto_rerun'}, {'JOBNET_AUTO_RERUN': 'yes'}, INI, [True, 'env: JOBNET_AUTO_RERUN']),
    ({'name': 'auto_rerun', 'vars': {'jobnet_auto_rerun': False}}, {'JOBNET_AUTO_RERUN': 'yes'}, INI,
     [False, 'var: jobnet_auto_rerun']),
    ({'name': 'auto_rerun', 'vars': {'jobnet_auto_rerun': False}, 'explicit': True}, {'JOBNET_AUTO_RERUN': 'no'}, INI,
     [True, 'Direct']),
    ({'name': 'lease_ttl'}, {}, INI, [33.0, 'ini']),
    ({'name': 'lease_ttl', 'default': 5}, {}, None, [5, 'default']),
    ({'name': 'lease_ttl', 'default': 5}, {'JOBNET_LEASE_TTL': '7.5'}, None, [7.5, 'env: JOBNET_LEASE_TTL']),
    ({'name': 'unreachable_retries'}, {'JOBNET_UNREACHABLE_RETRIES': '4'}, None, [4, 'env: JOBNET_UNREACHABLE_RETRIES']),
])
def test_option_precedence_and_types(tmp_path, case, env, ini, expected):
    value, origin = resolve(tmp_path, case, env, ini)
    assert value == expected[0] and type(value) is type(expected[0])
    if expected[1] == 'ini':
        assert origin.endswith('ansible.cfg')
    else:
        assert origin == expected[1]


@pytest.mark.parametrize('case, env, ini, expected', [
    ({'name': 'store'}, {}, None, None),
    ({'name': 'store'}, {}, INI, 'sqlite:///from/ini.db'),
    ({'name': 'store'}, {'JOBNET_STORE': 'redis://127.0.0.1:6390/0'}, INI, 'redis://127.0.0.1:6390/0'),
    ({'name': 'store', 'vars': {'jobnet_store': 'sqlite:///from/vars.db'}}, {'JOBNET_STORE': 'redis://h:1/0'}, INI,
     'sqlite:///from/vars.db'),
    ({'name': 'store', 'vars': {'jobnet_store': 'sqlite:///from/vars.db'}, 'explicit': 'sqlite:///task.db'}, {}, INI,
     'sqlite:///task.db'),
    ({'name': 'store', 'vars': {'jobnet_store': 'sqlite:///{{ d }}/s.db', 'd': 'tmp'}, 'templar': True}, {}, None,
     'sqlite:///tmp/s.db'),
])
def test_store_url_precedence(tmp_path, case, env, ini, expected):
    assert resolve(tmp_path, case, env, ini)[0] == expected


def test_invalid_value_names_its_source(tmp_path):
    value, msg = resolve(tmp_path, {'name': 'auto_rerun'}, {'JOBNET_AUTO_RERUN': 'perhaps'})
    assert value == 'ERROR' and 'JOBNET_AUTO_RERUN' in msg and 'auto_rerun' in msg


def test_unknown_setting_lists_declared_ones(tmp_path):
    value, msg = resolve(tmp_path, {'name': 'no_such_thing'})
    assert value == 'ERROR' and "unknown jobnet setting 'no_such_thing'" in msg and 'auto_rerun' in msg


# ------------------------------------------------------------------------------------------------------
# Values given on the command line (-e) or as host variables, checked by the action plugins before anything is
# recorded; and the JSON files they write on the controller.

def _action():
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _action as action
    return action


@pytest.mark.parametrize('value, expected', [
    ('2026-11-21', '2026-11-21'),
    ('2024-02-29', '2024-02-29'),
    ('20270101', "operation_date '20270101' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('2027-W05-1', "operation_date '2027-W05-1' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('31/12/2026', "operation_date '31/12/2026' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('2026-11-21\n', "operation_date '2026-11-21\\n' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('2026-11-21T00:00', "operation_date '2026-11-21T00:00' is not a date of the form YYYY-MM-DD (for example "
                         "2026-11-21)"),
    ('٢٠٢٦-١١-٢١', "operation_date '٢٠٢٦-١١-٢١' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('', "operation_date '' is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
    ('2026-02-30', "operation_date '2026-02-30' is not a date of the form YYYY-MM-DD: day is out of range for month"),
    ('0000-01-01', "operation_date '0000-01-01' is not a date of the form YYYY-MM-DD: year 0 is out of range"),
    (20270101, "operation_date 20270101 is not a date of the form YYYY-MM-DD (for example 2026-11-21)"),
], ids=repr)
def test_operation_date_is_exactly_yyyy_mm_dd(value, expected):
    action = _action()
    if expected.startswith('operation_date'):
        with pytest.raises(action.AnsibleActionFail) as info:
            action.check_date(value)
        assert info.value.message == expected
    else:
        assert action.check_date(value) == expected
        assert action.JobnetAction.check_date(value) == expected


REFUSED = object()


@pytest.mark.parametrize('value, expected', [
    (None, None), (0, None), ('0', None), (2, 2), ('2', 2), (' 3 ', 3), (1000000, 1000000),
    ('abc', REFUSED), ('', REFUSED), (-1, REFUSED), ('-1', REFUSED), (1000001, REFUSED), (2.0, REFUSED),
    (True, REFUSED), ('2.5', REFUSED), ('9' * 5000, REFUSED), ([2], REFUSED),
], ids=lambda v: repr(v)[:20])
def test_jobnet_max_running_is_a_whole_number_from_0(value, expected):
    action = _action()
    if expected is not REFUSED:
        assert action.check_max_running(value, 'agent1') == expected
        return
    with pytest.raises(action.AnsibleActionFail) as info:
        action.check_max_running(value, 'agent1')
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + '...'
    assert info.value.message == ('jobnet_max_running of agent1 is %s: give a whole number from 0 (no limit) to '
                                  '1000000, the most jobs running at once on the host (a host variable, or -e for '
                                  'every host)' % shown)


def test_write_json_file_writes_and_replaces(tmp_path):
    action = _action()
    path = tmp_path / 'status.json'
    action.write_json_file(str(path), {'b': 1, 'a': [1, 2]})
    assert json.loads(path.read_text()) == {'a': [1, 2], 'b': 1}
    action.write_json_file(str(path), {'c': 3})
    assert json.loads(path.read_text()) == {'c': 3}
    assert sorted(os.listdir(tmp_path)) == ['status.json']


@pytest.mark.parametrize('where, message', [
    ('missing/status.json', 'cannot write {path}: the folder {tmp}/missing does not exist'),
    ('afile/status.json', 'cannot write {path}: {tmp}/afile is not a folder'),
    ('afolder', 'cannot write {path}: it is a folder; give the path of a file'),
    ('', 'cannot write the JSON file: the path is empty'),
], ids=['missing folder', 'folder is a file', 'path is a folder', 'empty path'])
def test_write_json_file_refuses_a_bad_path_and_leaves_nothing(tmp_path, where, message):
    action = _action()
    (tmp_path / 'afile').write_text('x')
    (tmp_path / 'afolder').mkdir()
    path = str(tmp_path / where) if where else ''
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(action.AnsibleActionFail) as info:
        action.write_json_file(path, {'a': 1})
    assert info.value.message == message.format(path=path, tmp=tmp_path)
    assert sorted(os.listdir(tmp_path)) == before


def test_write_json_file_removes_its_temp_file_when_the_write_fails(tmp_path, monkeypatch):
    action = _action()

    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(action.os, 'replace', broken_replace)
    with pytest.raises(action.AnsibleActionFail) as info:
        action.write_json_file(str(tmp_path / 'status.json'), {'a': 1})
    assert info.value.message == 'cannot write %s: No space left on device' % (tmp_path / 'status.json')
    assert os.listdir(tmp_path) == []
    with pytest.raises(action.AnsibleActionFail) as info:
        action.write_json_file(str(tmp_path / 'status.json'), {'a': object()})
    assert info.value.message.startswith('cannot write %s: the document is not JSON: ' % (tmp_path / 'status.json'))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('name, env, message', [
    ('lease_ttl', 'nan', "invalid value nan for the jobnet setting lease_ttl from env: JOBNET_LEASE_TTL: expected a "
                         "number from 0 (not included) to 2678400"),
    ('lease_ttl', '0', "invalid value 0.0 for the jobnet setting lease_ttl from env: JOBNET_LEASE_TTL: expected a "
                       "number from 0 (not included) to 2678400"),
    ('poll_interval', '-1', "invalid value -1.0 for the jobnet setting poll_interval from env: JOBNET_POLL_INTERVAL: "
                            "expected a number from 0 to 86400"),
    ('step_seconds', 'inf', "invalid value inf for the jobnet setting step_seconds from env: JOBNET_STEP_SECONDS: "
                            "expected a number from 0 to 2678400"),
    ('unreachable_retries', '-3', "invalid value -3 for the jobnet setting unreachable_retries from env: "
                                  "JOBNET_UNREACHABLE_RETRIES: expected a number from 0 to 1000000"),
], ids=['lease_ttl nan', 'lease_ttl 0', 'poll_interval -1', 'step_seconds inf', 'unreachable_retries -3'])
def test_a_numeric_setting_out_of_its_range_is_refused_naming_its_source(tmp_path, name, env, message):
    value, msg = resolve(tmp_path, {'name': name}, {'JOBNET_%s' % name.upper(): env})
    assert (value, msg) == ('ERROR', message)


def test_numeric_settings_in_their_range_are_taken(tmp_path):
    assert resolve(tmp_path, {'name': 'step_seconds'}, {'JOBNET_STEP_SECONDS': '0'}) == [0.0, 'env: JOBNET_STEP_SECONDS']
    assert resolve(tmp_path, {'name': 'lease_ttl'}, {'JOBNET_LEASE_TTL': '0.5'}) == [0.5, 'env: JOBNET_LEASE_TTL']
