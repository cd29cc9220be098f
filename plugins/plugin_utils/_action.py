# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's action plugins share: opening the store, options, leases, displaying messages."""

from __future__ import annotations

import datetime as _dt
import os

from ansible import context
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _options, _store

display = Display()

#: At most this many state changes are returned in a result's ``events`` (for the recorder's history; the store's
#: event log keeps them all).
EVENTS_RETURNED = 10000


class JobnetAction(ActionBase):
    """Base of the frame_* action plugins: they run on the controller only."""

    TRANSFERS_FILES = False
    _requires_connection = False
    # they record and launch for real: under --check the tasks are skipped instead of pretending
    _supports_check_mode = False

    # ------------------------------------------------------------------ options and store
    def option(self, name, task_vars, default=None):
        explicit = self._task.args.get(name)
        return _options.resolve_option(name, task_vars, default, explicit=explicit, templar=self._templar)

    def open_store(self, task_vars):
        try:
            return _options.open_configured_store(task_vars, self._task.args.get('store'), templar=self._templar)
        except _store.StoreError as exc:
            raise AnsibleActionFail('cannot open the state store: %s' % exc)

    def engine(self, store, task_vars, what):
        ttl = float(self.option('lease_ttl', task_vars, _engine.DEFAULTS['lease_ttl']))
        try:
            owner = _engine.controller_owner(what)
        except _engine.ControllerGone:
            # ansible-playbook died after forking this worker: nobody reads its result, and a lease taken now
            # would name the process that adopted the worker. It ends here; the next recovery takes over.
            store.close()
            os._exit(3)  # pylint: disable=protected-access
        return _engine.Engine(store, _store, owner=owner, lease_ttl=ttl)

    @staticmethod
    def today():
        return _dt.date.today().isoformat()

    @staticmethod
    def check_date(value):
        try:
            return _dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise AnsibleActionFail('operation_date %r is not a date of the form YYYY-MM-DD' % (value,))

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


def say(message):
    """A message for the operator (proxied to the controller's output from a worker)."""
    display.display(message)
