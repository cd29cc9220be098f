# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's action plugins share: opening the store, options, leases, displaying messages."""

from __future__ import annotations

import copy
import datetime as _dt
import importlib
import json
import os
import re

import yaml

from ansible import context
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _options, _report, _resources, _store, _time

display = Display()

#: At most this many state changes are returned in a result's ``events`` (for the recorder's history; the store's
#: event log keeps them all).
EVENTS_RETURNED = 10000

#: The largest host limit (jobnet_max_running) taken; 0 is no limit.
MAX_RUNNING_MAX = 1000000

#: Where the documentation of the frame actions is (``plugins/modules/<action>.py``, documentation only).
DOC_PACKAGE = 'ansible_collections.jobnet.scheduler.plugins.modules.'

_DOCUMENTED = {}


def documented_defaults(action):
    """``{option: default}`` as the documentation of the action ``action`` (``plugins/modules/<action>.py``)
    declares them: the one place the defaults of an action's arguments are written."""
    if action not in _DOCUMENTED:
        text = importlib.import_module(DOC_PACKAGE + action).DOCUMENTATION
        options = (yaml.load(text, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader)) or {}).get('options') or {}
        _DOCUMENTED[action] = {name: decl['default'] for name, decl in options.items()
                               if isinstance(decl, dict) and 'default' in decl}
    return copy.deepcopy(_DOCUMENTED[action])


def documented_spec(action, spec):
    """The argument spec ``spec`` of ``action`` with the defaults of its documentation (see
    :func:`documented_defaults`). A default written in ``spec`` itself is refused: it would be a second one."""
    defaults = documented_defaults(action)
    out = {}
    for name, entry in spec.items():
        if 'default' in entry:
            raise ValueError('%s: the default of %s belongs in its documentation (plugins/modules/%s.py)'
                             % (action, name, action))
        out[name] = dict(entry, default=defaults[name]) if name in defaults else dict(entry)
    return out


class JobnetAction(ActionBase):
    """Base of the frame_* action plugins: they run on the controller only."""

    TRANSFERS_FILES = False
    _requires_connection = False
    # they record and launch for real: under --check the tasks are skipped instead of pretending
    _supports_check_mode = False

    # ------------------------------------------------------------------ options and store
    def option(self, name, task_vars, default=None):
        """A jobnet setting: the task argument ``name`` > ``jobnet_<name>`` > ``JOBNET_<NAME>`` > ini > the default
        its doc fragment documents (``default``, when given, replaces that one; the frame actions give none)."""
        explicit = self._task.args.get(name)
        return _options.resolve_option(name, task_vars, default, explicit=explicit, templar=self._templar)

    def open_store(self, task_vars, create=True):
        """The configured store; ``create=False`` raises ``_store.NoStore`` for a SQLite file not created yet."""
        try:
            return _options.open_configured_store(task_vars, self._task.args.get('store'), templar=self._templar,
                                                  create=create)
        except _store.NoStore:
            raise
        except _store.StoreError as exc:
            raise AnsibleActionFail('cannot open the state store: %s' % exc)

    #: the stores whose durability was already looked at by this process (a warning is given once)
    _durability_seen = set()

    def warn_durability(self, store):
        """At the start of a run, a schedule or a recovery: warn once when the store's server could lose a commit it
        acknowledged (its persistence settings)."""
        url = getattr(store, 'url', '')
        if url in JobnetAction._durability_seen:
            return
        JobnetAction._durability_seen.add(url)
        try:
            message = store.durability_warning()
        except _store.StoreError:
            message = None
        if message:
            display.warning('jobnet: %s' % message)

    def read_store_if_any(self, task_vars, read):
        """``read(store)`` on the configured store when it exists (check mode reads, never creates); None when
        there is no store yet. A store error fails the task."""
        try:
            store = self.open_store(task_vars, create=False)
        except _store.NoStore:
            return None
        try:
            return read(store)
        except _store.StoreError as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()

    def engine(self, store, task_vars, what):
        ttl = float(self.option('lease_ttl', task_vars))
        try:
            owner = _engine.controller_owner(what)
        except _engine.ControllerGone:
            # ansible-playbook died after forking this worker: nobody reads its result, and a lease taken now
            # would name the process that adopted the worker. It ends here; the next recovery takes over.
            store.close()
            os._exit(3)  # pylint: disable=protected-access
        engine = _engine.Engine(store, _store, owner=owner, lease_ttl=ttl)
        engine.resources_declared = self.declared_resources(task_vars)
        return engine

    def resource_problems(self, task_vars, defns):
        """The problems of the frame definitions' needs against the resources (the store's, if there is a store,
        else the inventory's), read only: what is refused before anything is recorded, under --check too."""
        stored = self.read_store_if_any(task_vars, lambda store: store.get_resources()) or {}
        capacities = _resources.capacities_of(stored, self.declared_resources(task_vars))
        return [problem for defn in defns for problem in _resources.needs_beyond(defn, capacities)]

    def declared_resources(self, task_vars):
        """``{name: capacity}`` of the inventory's ``jobnet_resources`` (group ``all`` or the controller's host
        vars); a bad declaration is refused, naming it, before anything is recorded."""
        value = task_vars.get('jobnet_resources')
        if value is None or value == '':
            return {}
        if isinstance(value, str) and self._templar is not None and self._templar.is_template(value):
            value = self._templar.template(value)
        if not isinstance(value, dict):
            raise AnsibleActionFail('jobnet_resources must be a mapping of resource names to capacities ({db: 2}), '
                                    'got %s' % type(value).__name__)
        out = {}
        try:
            for name, capacity in value.items():
                _resources.check_name(name)
                out[name] = _resources.check_capacity(capacity, name)
        except _resources.ResourceError as exc:
            raise AnsibleActionFail('jobnet_resources: %s' % exc)
        return out

    @staticmethod
    def today():
        return _dt.date.today().isoformat()

    @staticmethod
    def check_date(value):
        """``value`` as an operation date ``YYYY-MM-DD``; AnsibleActionFail naming operation_date otherwise."""
        return check_date(value)

    @staticmethod
    def forks():
        try:
            return int(context.CLIARGS.get('forks') or 0)
        except (TypeError, ValueError, AttributeError):
            return 0

    def check_forks(self, hosts):
        forks = self.forks()
        if forks and forks < len(hosts):
            raise AnsibleActionFail(
                'forks is %d but the frame runs on %d hosts (%s): each host holds one fork while the frame runs; '
                'raise forks to at least %d (ansible-playbook --forks %d, ANSIBLE_FORKS, or forks in the '
                '[defaults] section of ansible.cfg)' % (forks, len(hosts), ', '.join(hosts), len(hosts), len(hosts)))

    def max_running(self, task_vars, hosts):
        """``{host: limit or None}`` of ``jobnet_max_running`` for ``hosts``; refuses a bad value, naming the
        variable and the host, before anything is recorded (see :func:`check_max_running`)."""
        hostvars = task_vars.get('hostvars') or {}
        out = {}
        for host in hosts:
            try:
                host_vars = hostvars[host]
            except (KeyError, TypeError):
                host_vars = {}
            try:
                value = host_vars.get('jobnet_max_running') if hasattr(host_vars, 'get') else None
                if isinstance(value, str) and self._templar is not None and self._templar.is_template(value):
                    value = self._templar.template(value)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                raise AnsibleActionFail('jobnet_max_running of %s cannot be read: %s' % (host, exc))
            out[host] = check_max_running(value, host)
        return out

    def inventory_hosts(self, task_vars):
        groups = task_vars.get('groups') or {}
        hosts = set(groups.get('all') or [])
        hosts.add('localhost')
        return hosts

    def module_runner(self, task_vars):
        """A ``run_module(name, args)`` for the engine, on this task's host."""
        def run_module(name, args):
            try:
                return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
            except AnsibleConnectionFailure as exc:
                raise _engine.HostUnreachable(str(exc))
        return run_module


def check_date(value):
    """``value`` as an operation date ``YYYY-MM-DD`` (a real date); AnsibleActionFail naming operation_date and
    the form otherwise."""
    text = value if isinstance(value, str) else str(value)
    if not _time.is_date_form(text):
        raise AnsibleActionFail('operation_date %r is not a date of the form YYYY-MM-DD (for example 2026-11-21)'
                                % (value,))
    try:
        return _time.parse_date(text).isoformat()
    except ValueError as exc:
        raise AnsibleActionFail('operation_date %r is not a date of the form YYYY-MM-DD: %s' % (value, exc))


def check_max_running(value, host):
    """A host limit (the variable ``jobnet_max_running``) as an int, or None for no limit (unset or 0).

    Takes a whole number from 0 to MAX_RUNNING_MAX, or its digits as text (``-e jobnet_max_running=2``);
    refuses anything else with AnsibleActionFail naming the variable, the host and what is allowed. A negative
    limit would keep every job of the host queuing for ever.
    """
    if value is None:
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r'\s*[0-9]{1,7}\s*', value):
        number = int(value)
    if number is None or not 0 <= number <= MAX_RUNNING_MAX:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + '...'
        raise AnsibleActionFail('jobnet_max_running of %s is %s: give a whole number from 0 (no limit) to %d, the '
                                'most jobs running at once on the host (a host variable, or -e for every host)'
                                % (host, shown, MAX_RUNNING_MAX))
    return number or None


def write_json_file(path, doc):
    """Write ``doc`` as JSON to ``path`` on the controller: tmp + fsync + rename, the temp file removed on failure.

    Refuses, with AnsibleActionFail naming the path and what is wrong, a path whose folder does not exist or is
    not a folder, and a path that is a folder; nothing is left behind then.
    """
    path = os.fspath(path)
    if not path:
        raise AnsibleActionFail('cannot write the JSON file: the path is empty')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise AnsibleActionFail('cannot write %s: the folder %s does not exist' % (path, folder))
    if not os.path.isdir(folder):
        raise AnsibleActionFail('cannot write %s: %s is not a folder' % (path, folder))
    if os.path.isdir(path):
        raise AnsibleActionFail('cannot write %s: it is a folder; give the path of a file' % path)
    try:
        text = json.dumps(doc, indent=2, sort_keys=True) + '\n'
    except (TypeError, ValueError) as exc:
        raise AnsibleActionFail('cannot write %s: the document is not JSON: %s' % (path, exc))
    try:
        _report.write_text_atomic(path, text)
    except OSError as exc:
        raise AnsibleActionFail('cannot write %s: %s' % (path, exc.strerror or exc)) from None


def say(message):
    """A message for the operator (proxied to the controller's output from a worker)."""
    display.display(message)
