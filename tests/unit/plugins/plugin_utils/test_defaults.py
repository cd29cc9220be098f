# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every default the code uses is the documented one.

The jobnet settings are declared in the doc fragments ``jobnet.scheduler.store`` and ``jobnet.scheduler.options``
(read by ``_options``), the arguments of each frame action in its documentation (``plugins/modules/frame_*.py``,
read by ``_action.documented_spec``). What still holds a default of its own (the store's timeout, the recovery
options' dataclass, the recorder callback's own option, the prose of the action documentation) is held against
those declarations here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

import ansible_collections.jobnet.scheduler.plugins as _plugins  # noqa: E402 - where the collection is found
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _options, _recovery, _store

PLUGINS = list(_plugins.__path__)[0]
COLLECTIONS = os.path.abspath(os.path.join(PLUGINS, '..', '..', '..', '..'))
DOC = _options.DECLARED
#: the frame actions whose argument defaults come from their documentation
ACTIONS = ('frame_log', 'frame_op', 'frame_recover', 'frame_report', 'frame_step', 'frame_submit')
TYPES = {'float': float, 'int': int, 'integer': int, 'bool': bool, 'boolean': bool, 'str': str, 'path': str}


def _doc(text):
    return yaml.safe_load(text)


def _plugin_doc(kind, name):
    with open(os.path.join(PLUGINS, kind, name + '.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ['DOCUMENTATION']:
            return _doc(node.value.value)
    raise AssertionError('%s/%s.py has no DOCUMENTATION' % (kind, name))


# ---------------------------------------------------------------------------------------------- the declarations
def test_the_settings_are_read_from_the_fragments_the_lookup_extends():
    lookup = _plugin_doc('lookup', 'frame_state')
    assert [name for name, _module in _options.FRAGMENTS] == lookup['extends_documentation_fragment']
    for name, module in _options.FRAGMENTS:
        assert set(_doc(module.ModuleDocFragment.DOCUMENTATION)['options']) <= set(DOC), name


@pytest.mark.parametrize('name', sorted(_options.DEFAULTS))
def test_documented_defaults_have_the_declared_type(name):
    value = _options.DEFAULTS[name]
    assert value.__class__ is TYPES[DOC[name]['type']]     # exactly: a bool is no int, an int no float
    assert value == DOC[name]['default']


RESOLVE = r'''
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _options as O
print(json.dumps({name: O.resolve_option_and_origin(name) for name in O.DEFAULTS}))
'''


def test_ansible_resolves_every_unset_setting_to_the_documented_default(tmp_path):
    """What the action plugins get for a setting nobody sets (Ansible's own reading of the same declarations)."""
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text('[defaults]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith('JOBNET_') and k != 'ANSIBLE_CONFIG'}
    env.update(ANSIBLE_CONFIG=str(cfg), HOME=str(tmp_path))
    out = subprocess.run([sys.executable, '-c', RESOLVE, COLLECTIONS], env=env, capture_output=True, text=True,
                         timeout=120, cwd=str(tmp_path), check=False)
    assert out.returncode == 0, out.stderr
    resolved = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(resolved) == set(_options.DEFAULTS)
    for name, (value, origin) in resolved.items():
        assert origin == 'default', name
        expected = _options.DEFAULTS[name]
        if DOC[name]['type'] == 'path':
            expected = os.path.join(str(tmp_path), os.path.relpath(os.path.expanduser(expected), os.path.expanduser('~')))
        assert value == expected and type(value) is type(expected), name


# ---------------------------------------------------------------------------------------------- the engine
def test_the_engine_s_defaults_are_the_documented_ones():
    assert _engine.DEFAULTS == {name: _options.DEFAULTS[name] for name in _engine.DEFAULTS}
    assert set(_engine.DEFAULTS) == {'poll_interval', 'step_seconds', 'lease_ttl', 'unreachable_retries',
                                     'unreachable_delay', 'progress_interval', 'trigger_timeout'}
    for cls in (_engine.Engine, _engine.HostDriver):
        params = inspect.signature(cls).parameters
        used = [name for name in _engine.DEFAULTS if name in params]
        assert used, cls
        for name in used:
            assert params[name].default == _options.DEFAULTS[name], (cls.__name__, name)


def test_the_store_s_timeout_is_the_documented_one():
    assert _store.DEFAULT_TIMEOUT == _options.DEFAULTS['store_timeout']
    assert inspect.signature(_store.open_store).parameters['timeout'].default == _options.DEFAULTS['store_timeout']
    for cls in (_store.SQLiteStore, _store.RedisStore):
        assert inspect.signature(cls).parameters['timeout'].default == _options.DEFAULTS['store_timeout']


def test_the_recovery_options_are_the_documented_settings():
    names = _recovery.RecoveryOptions.names()
    defaults = _recovery.RecoveryOptions()
    for name in names:
        assert DOC[name]['type'] == 'bool', name
        assert getattr(defaults, name) == _options.DEFAULTS[name], name
    assert set(_model.OPTION_NAMES) <= set(names)     # what a frame file's options may set
    frame_recover = importlib.import_module('ansible_collections.jobnet.scheduler.plugins.action.frame_recover')
    assert frame_recover.OPTION_NAMES == names
    documented = _plugin_doc('modules', 'frame_recover')['options']
    assert set(names) <= set(documented) and all(documented[n]['type'] == 'bool' for n in names)


def test_the_recorder_s_progress_interval_is_the_setting():
    """The callback declares its own option (a callback reads no variables); the same default, env and ini."""
    own = _plugin_doc('callback', 'recorder')['options']['progress_interval']
    setting = DOC['progress_interval']
    assert (own['type'], own['default']) == (setting['type'], setting['default'])
    assert own['env'] == setting['env'] and own['ini'] == setting['ini']


def test_every_numeric_bound_is_of_a_declared_setting():
    for name in _options.BOUNDS:
        assert DOC[name]['type'] in ('int', 'float'), name
        least, inclusive, most = _options.BOUNDS[name]
        value = _options.DEFAULTS[name]
        assert (value >= least if inclusive else value > least) and value <= most, name


# ---------------------------------------------------------------------------------------------- the actions
def _spec_defaults(action):
    """The 'default' keys written in an action plugin's source (there must be none)."""
    with open(os.path.join(PLUGINS, 'action', action + '.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            found += [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value == 'default']
    return found


@pytest.mark.parametrize('action', ACTIONS)
def test_an_action_s_argument_defaults_are_only_in_its_documentation(action):
    assert _spec_defaults(action) == []
    plugin = importlib.import_module('ansible_collections.jobnet.scheduler.plugins.action.' + action)
    documented = _plugin_doc('modules', action)['options']
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _action
    defaults = _action.documented_defaults(action)
    assert defaults == {name: decl['default'] for name, decl in documented.items() if 'default' in decl}
    assert set(defaults) <= plugin.ActionModule._VALID_ARGS   # pylint: disable=protected-access


def test_documented_spec_fills_in_the_documented_defaults_and_refuses_its_own():
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _action
    spec = _action.documented_spec('frame_recover', {'phase': {'type': 'str'}, 'manager_hosts': {'type': 'list'},
                                                     'frame': {'type': 'str'}})
    assert spec == {'phase': {'type': 'str', 'default': 'plan'},
                    'manager_hosts': {'type': 'list', 'default': ['localhost']}, 'frame': {'type': 'str'}}
    spec['manager_hosts']['default'].append('x')     # a copy: the next spec is not changed
    assert _action.documented_defaults('frame_recover')['manager_hosts'] == ['localhost']
    with pytest.raises(ValueError, match='the default of phase belongs in its documentation'):
        _action.documented_spec('frame_recover', {'phase': {'type': 'str', 'default': 'apply'}})


# ---------------------------------------------------------------------------------------------- the prose
_SETTING_RE = re.compile(r'C\(jobnet_([a-z_]+)\)')
_PROSE_RES = (
    re.compile(r'\bdefault C\(([^)]*)\)'),        # (C(jobnet_lease_ttl), default C(60))
    re.compile(r'\bC\(([^)]*)\), the default\b'),  # C(0), the default
    re.compile(r'\belse V\(([^)]*)\)'),           # ... or store_timeout in [jobnet], else V(10)
    re.compile(r'\(default (on|off)\b'),          # (default on; C(jobnet_recovery))
)


def _as_documented(text, kind):
    if kind in ('bool', 'boolean'):
        return {'on': True, 'off': False}[text]
    if kind in ('int', 'float'):
        return float(text)
    return text


def _prose_mentions():
    docs = [('modules/%s.py' % a, _plugin_doc('modules', a)) for a in ACTIONS]
    docs.append(('doc_fragments/store.py MODULES', _doc(_options.FRAGMENTS[0][1].ModuleDocFragment.MODULES)))
    for where, doc in docs:
        for option, decl in (doc.get('options') or {}).items():
            text = decl.get('description')
            text = ' '.join(text) if isinstance(text, list) else str(text)
            mentioned = _SETTING_RE.findall(text)
            setting = mentioned[0] if mentioned else option
            if setting not in DOC:
                continue
            for pattern in _PROSE_RES:
                for found in pattern.findall(text):
                    yield where, option, setting, found


def test_the_defaults_the_documentation_states_in_words_are_the_declared_ones():
    mentions = list(_prose_mentions())
    assert len(mentions) >= 15, mentions
    for where, option, setting, text in mentions:
        kind = DOC[setting]['type']
        assert _as_documented(text, kind) == _options.DEFAULTS[setting], (where, option, setting, text)
