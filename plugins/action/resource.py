# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.resource (documented in plugins/modules/resource.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _resources, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import JobnetAction, documented_spec, say


class ActionModule(JobnetAction):

    _supports_check_mode = True

    _VALID_ARGS = frozenset(('name', 'capacity', 'state', 'store'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('resource', {
            'name': {'type': 'str'},
            'capacity': {'type': 'int'},
            'state': {'type': 'str', 'choices': ['present', 'absent', 'query']},
            'store': {'type': 'str', 'no_log': False},
        }))
        name = args.get('name')
        state = args.get('state') or 'present'
        capacity = None
        if name is not None:
            name = name.strip()
        if not name:
            if name is not None:
                raise AnsibleActionFail('name is empty: give the name of a resource (-e name=db), or leave it out to '
                                        'list every resource')
            state = 'query'
        try:
            if name:
                _resources.check_name(name)
            if state == 'present':
                if args.get('capacity') is None:
                    raise AnsibleActionFail('capacity is required to define resource %s: the number of units jobs may '
                                            'hold at once (-e capacity=2)' % name)
                capacity = _resources.check_capacity(args['capacity'], name)
        except _resources.ResourceError as exc:
            raise AnsibleActionFail(str(exc))
        if state == 'query' or self._task.check_mode:
            # reads only (under --check a store that does not exist yet is not created)
            view = self.read_store_if_any(task_vars, lambda store: (store.get_resources(), store.get_index()))
            defs, entries = view or ({}, {})
            old = defs.get(name) if name else None
            changed = _changes(state, old, capacity)
            self._say_change(state, name, old, capacity if state == 'present' else None, changed)
            return self._answer(result, defs, entries, name, changed)
        store = self.open_store(task_vars, create=state == 'present')
        try:
            defs = store.get_resources()
            old = defs.get(name) if name else None
            changed = _changes(state, old, capacity)
            if changed and state == 'present':
                store.put_resource(name, {'capacity': capacity, 'by': 'jobnet.scheduler.resource'})
            elif changed:
                store.delete_resource(name)
            defs = store.get_resources()
            entries = store.get_index()
        except (_store.StoreError, _resources.ResourceError) as exc:
            raise AnsibleActionFail('resource: %s' % exc)
        finally:
            store.close()
        self._say_change(state, name, old, capacity if state == 'present' else None, changed)
        return self._answer(result, defs, entries, name, changed)

    def _say_change(self, state, name, old, capacity, changed):
        if not changed:
            return
        check = self._task.check_mode
        if state == 'present' and old is None:
            say('jobnet: check mode: would define resource %s with capacity %d; nothing was recorded' % (name, capacity)
                if check else 'jobnet: resource %s defined with capacity %d' % (name, capacity))
        elif state == 'present':
            say('jobnet: check mode: would set the capacity of resource %s to %d (now %d); nothing was recorded'
                % (name, capacity, old['capacity']) if check else
                'jobnet: resource %s: capacity %d (was %d)' % (name, capacity, old['capacity']))
        elif state == 'absent':
            say('jobnet: check mode: would remove resource %s; nothing was recorded' % name if check else
                'jobnet: resource %s removed' % name)

    @staticmethod
    def _answer(result, defs, entries, name, changed):
        resources, hosts = _resources.status(entries, _resources.capacities_of(defs))
        for res_name, res in resources.items():
            holders = ', '.join('%s %s' % (h['instance'], h['path']) for h in res['holders']) or 'none'
            waiters = ', '.join('%s %s' % (w['instance'], w['path']) for w in res['waiters']) or 'none'
            cap = 'not defined' if res['capacity'] is None else 'capacity %d' % res['capacity']
            say('jobnet: resource %s: %s, %d held by %s; waiting: %s' % (res_name, cap, res['held'], holders, waiters))
        result.update({'changed': changed, 'resources': resources, 'hosts': hosts})
        if name:
            result['resource'] = defs.get(name)
        return result


def _changes(state, old, capacity):
    """Whether the task changes the definition ``old`` (None: there is none): present with another capacity, or
    absent while it exists; a query never does."""
    if state == 'present':
        return old is None or old.get('capacity') != capacity
    return state == 'absent' and old is not None
