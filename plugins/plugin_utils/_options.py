# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jobnet settings: declared in the doc fragments, resolved through Ansible's option system.

Every jobnet setting is declared once, in the doc fragments ``jobnet.scheduler.store`` and
``jobnet.scheduler.options``, which the lookup ``jobnet.scheduler.frame_state`` extends. Their YAML is read here at
import (:data:`DECLARED`, and :data:`DEFAULTS`, the documented defaults converted to the declared types): the
engine and the action plugins take their defaults from it and from nowhere else. That part needs only YAML, so
the engine imports it without Ansible.

A setting is resolved with Ansible's own precedence for plugin options: an explicit value (task argument) > the
variable ``jobnet_<name>`` > the environment variable ``JOBNET_<NAME>`` > ``<name>`` in the ``[jobnet]`` section
of ``ansible.cfg`` > the default. Values are converted to the declared type (``JOBNET_AUTO_RERUN=no`` is
``False``); an invalid value is an error that names its source.
"""

from __future__ import annotations

import math
import os

import yaml

from ansible_collections.jobnet.scheduler.plugins.doc_fragments import options as _options_fragment
from ansible_collections.jobnet.scheduler.plugins.doc_fragments import store as _store_fragment
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import Store, open_store

LOOKUP = 'jobnet.scheduler.frame_state'

#: the doc fragments that declare the jobnet settings (name, module)
FRAGMENTS = (('jobnet.scheduler.store', _store_fragment), ('jobnet.scheduler.options', _options_fragment))

_SafeLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


def _declared() -> dict:
    """{name: declaration} of every jobnet setting, from the ``DOCUMENTATION`` YAML of :data:`FRAGMENTS`."""
    out = {}
    for _name, fragment in FRAGMENTS:
        out.update(yaml.load(fragment.ModuleDocFragment.DOCUMENTATION, Loader=_SafeLoader)['options'])
    return out


def _typed(value, kind):
    """A documented default as the declared type gives it (``float`` 1 is 1.0); text and paths as written."""
    if value is None:
        return None
    if kind == 'float':
        return float(value)
    if kind in ('int', 'integer'):
        return int(value)
    if kind in ('bool', 'boolean'):
        return bool(value)
    if kind in ('str', 'string', 'path'):
        return str(value)
    return value


#: every jobnet setting as its doc fragment declares it (description, type, default, env, ini, vars)
DECLARED = _declared()

#: the documented default of every jobnet setting that has one, of the declared type (a path not expanded)
DEFAULTS = {name: _typed(decl['default'], decl.get('type')) for name, decl in DECLARED.items() if 'default' in decl}


def defaults(*names: str) -> dict:
    """``{name: documented default}`` of the settings ``names`` (KeyError for a setting without one)."""
    return {name: DEFAULTS[name] for name in names}


#: The range of each numeric setting: (least, whether the least itself is allowed, most). A value outside it (or
#: nan, inf) is refused with the setting's name and source before anything is recorded: a lease of nan seconds or
#: a negative poll interval would only fail later, or never end.
BOUNDS = {
    'lease_ttl': (0, False, 31 * 24 * 3600),
    'poll_interval': (0, True, 24 * 3600),
    'step_seconds': (0, True, 31 * 24 * 3600),
    'unreachable_retries': (0, True, 1000000),
    'unreachable_delay': (0, True, 24 * 3600),
    'progress_interval': (0, True, 24 * 3600),
    'trigger_timeout': (0, True, 366 * 24 * 3600),
    'store_timeout': (0, False, 24 * 3600),
    'live_days': (1, True, 3660),
}


def _plugin(loader=None, templar=None):
    from ansible.errors import AnsibleError
    from ansible.plugins.loader import lookup_loader
    plugin = lookup_loader.get(LOOKUP, loader=loader, templar=templar)
    if plugin is None:
        raise AnsibleError('cannot load the lookup %s that declares the jobnet settings: is the collection '
                           'jobnet.scheduler on the collections path?' % LOOKUP)
    return plugin


def _plain(value):
    """Drop Ansible's data tags: plain bool / int / float / str for the store and the engine."""
    if value is None or isinstance(value, bool):
        return value
    for t in (int, float, str):
        if isinstance(value, t):
            return t(value)
    return value


def _var_options(defs: dict, task_vars, templar) -> dict:
    """Only the variables that the option reads, templated when a templar is given."""
    out = {}
    if not task_vars:
        return out
    for entry in defs.get('vars') or []:
        name = entry.get('name')
        if name in task_vars:
            value = task_vars[name]
            if templar is not None:
                value = templar.template(value)
            out[name] = value
    return out


def resolve_option_and_origin(name: str, task_vars=None, default=None, *, explicit=None, loader=None,
                              templar=None) -> tuple[object, str]:
    """``(value, origin)`` of a jobnet setting; ``origin`` as Ansible reports it (``var: jobnet_x``,
    ``env: JOBNET_X``, the ini file path, ``Direct``, ``default``).

    ``default`` replaces the declared default when not ``None`` and no source sets the option.
    """
    from ansible import constants as C
    from ansible.errors import AnsibleError, AnsibleOptionsError
    from ansible.module_utils.parsing.convert_bool import BOOLEANS
    plugin = _plugin(loader, templar)
    defs = plugin.option_definitions
    if name not in defs or name.startswith('_') or name in ('operation_date', 'frame', 'items'):
        known = sorted(k for k in defs if not k.startswith('_') and k not in ('operation_date', 'frame', 'items'))
        raise AnsibleError('unknown jobnet setting %r; the declared ones are: %s (add new ones to the doc fragment '
                           'jobnet.scheduler.options)' % (name, ', '.join(known)))
    direct = {name: explicit} if explicit is not None else None
    value, origin = C.config.get_config_value_and_origin(name, plugin_type=plugin.plugin_type,
                                                         plugin_name=plugin._load_name,
                                                         variables=_var_options(defs[name], task_vars, templar),
                                                         direct=direct)
    if origin == 'default' and default is not None:
        return default, 'default'
    if defs[name].get('type') in ('bool', 'boolean') and origin.startswith('env: '):
        # Ansible reads any unknown word as false; a typo in a switch must not silently turn it off
        raw = os.environ.get(origin[len('env: '):], '')
        if raw.strip() and raw.strip().lower() not in {str(b).lower() for b in BOOLEANS}:
            raise AnsibleOptionsError('invalid value %r for the jobnet setting %s from %s: expected a boolean '
                                      '(yes / no, true / false, on / off, 1 / 0)' % (raw, name, origin))
    value = _plain(value)
    check_bounds(name, value, origin)
    return value, origin


def check_bounds(name: str, value, origin: str = 'Direct') -> None:
    """Refuse a numeric setting outside :data:`BOUNDS` (or not finite) with AnsibleOptionsError naming it."""
    if name not in BOUNDS or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    least, inclusive, most = BOUNDS[name]
    ok = math.isfinite(value) and (value >= least if inclusive else value > least) and value <= most
    if not ok:
        from ansible.errors import AnsibleOptionsError
        raise AnsibleOptionsError('invalid value %r for the jobnet setting %s from %s: expected a number from %s%s '
                                  'to %s' % (value, name, origin, least, '' if inclusive else ' (not included)',
                                             most))


def resolve_option(name: str, task_vars=None, default=None, *, explicit=None, loader=None, templar=None):
    """The value of a jobnet setting (see the module docstring for the precedence)."""
    return resolve_option_and_origin(name, task_vars, default, explicit=explicit, loader=loader, templar=templar)[0]


def resolve_store_url(task_vars=None, explicit=None, loader=None, templar=None) -> str | None:
    """The state store URL: explicit > ``jobnet_store`` > ``JOBNET_STORE`` > ``[jobnet] store``; ``None`` when
    unset (``open_store(None)`` then opens the default SQLite file)."""
    value = resolve_option('store', task_vars, explicit=explicit or None, loader=loader, templar=templar)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def resolve_store_timeout(task_vars=None, explicit=None, loader=None, templar=None) -> float:
    value = resolve_option('store_timeout', task_vars, explicit=explicit, loader=loader, templar=templar)
    return DEFAULTS['store_timeout'] if value is None else float(value)


def open_configured_store(task_vars=None, explicit=None, loader=None, templar=None, *,
                          explicit_timeout=None, create=True) -> Store:
    """``open_store()`` of the configured URL and timeout (raises ``StoreError`` for a bad URL).

    ``create=False`` (for readers) raises ``NoStore`` instead of creating a missing SQLite file.
    """
    return open_store(resolve_store_url(task_vars, explicit, loader, templar),
                      timeout=resolve_store_timeout(task_vars, explicit_timeout, loader, templar), create=create)
