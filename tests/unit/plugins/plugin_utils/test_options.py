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
