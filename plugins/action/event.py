# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.event (documented in plugins/modules/event.py)."""

from __future__ import annotations

import getpass
import socket

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _recovery, _store, _triggers
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import Event
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import Kind, State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime, utcnow


class ActionModule(JobnetAction):

    _supports_check_mode = True

    _VALID_ARGS = frozenset(('name', 'state', 'trigger', 'instance', 'sender', 'store'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('event', {
            'name': {'type': 'str'},
            'state': {'type': 'raw'},
            'trigger': {'type': 'str'},
            'instance': {'type': 'str'},
            'sender': {'type': 'str'},
            'store': {'type': 'str', 'no_log': False},
        }))
        state = _state_of(args.get('state'))
        sender = args.get('sender') or self._sender(task_vars)
        if args.get('trigger') or args.get('instance'):
            return self._trigger(result, task_vars, args, state, sender)
        name = (args.get('name') or '').strip() or None
        try:
            if name:
                _triggers.check_event_name(name)
        except _triggers.TriggerError as exc:
            raise AnsibleActionFail(str(exc))
        if state == 'auto':
            raise AnsibleActionFail('state=auto gives a trigger of one instance back to its source: give it with '
                                    '-e instance=FRAME@DATE -e trigger=NAME; an event is set on or off')
        if state in ('on', 'off') and not name:
            raise AnsibleActionFail('give the event to set %s: -e event=NAME' % state)
        if state == 'query' or self._task.check_mode:
            events = self.read_store_if_any(task_vars, lambda store: store.get_trigger_events(problems=[])) or {}
            old = events.get(name) if name else None
            changed = state in ('on', 'off') and (old or {}).get('state', 'off') != state
            if changed:
                say('jobnet: check mode: would set event %s %s (now %s); nothing was recorded'
                    % (name, state.upper(), (old or {}).get('state', 'off').upper()))
            for ev_name, ev in sorted(events.items()):
                if not name or ev_name == name:
                    say(_event_line(ev_name, ev))
            result.update(changed=changed, events=events)
            if name:
                result['event'] = old
            return result
        store = self.open_store(task_vars)
        try:
            old = store.get_trigger_event(name)
            record = store.put_trigger_event(name, state, sender)
            events = store.get_trigger_events(problems=[])
        except (_store.StoreError, _triggers.TriggerError) as exc:
            raise AnsibleActionFail('event: %s' % exc)
        finally:
            store.close()
        changed = (old or {}).get('state', 'off') != state or old is None
        say(_event_line(name, record) if changed else 'jobnet: event %s is %s already (since %s, by %s)'
            % (name, state.upper(), record.get('updated'), record.get('sender')))
        result.update(changed=changed, event=record, events=events)
        return result

    def _trigger(self, result, task_vars, args, state, sender):
        """An operator's ON / OFF / auto of one trigger of one instance (kept across recovery)."""
        iid, name = args.get('instance'), args.get('trigger')
        if not iid or not name:
            raise AnsibleActionFail('a trigger of one instance is set with both -e instance=FRAME@DATE and '
                                    '-e trigger=NAME')
        if state == 'query':
            raise AnsibleActionFail('give the state of trigger %s of %s: on, off or auto' % (name, iid))
        if args.get('name'):
            raise AnsibleActionFail('give either an event (name) or a trigger of an instance (instance, trigger), '
                                    'not both')
        store = self.open_store(task_vars, create=False)
        engine = self.engine(store, task_vars, 'event')
        holder = {}

        def decide(inst, items):
            pl = _engine.planner_for(inst, items)
            before = (inst.get('triggers') or {}).get(name) or {}
            pl.set_trigger(name, state, by=sender)
            after = pl.instance['triggers'][name]
            holder.update(before=before, after=after)
            text = 'trigger %s set %s by %s' % (name, state.upper() if state != 'auto' else 'back to its source',
                                                sender)
            st = State(inst['state'])
            event = Event.new('', Kind.FRAME, None, st, st, text, None, isotime(utcnow())).to_dict()
            return pl.instance, {}, (None, [event])
        try:
            if store.get_instance(iid) is None:
                raise AnsibleActionFail('no frame instance %s in the store' % iid)
            lease = store.get_lease(iid)
            if lease is not None and lease.token and not lease.expired and \
                    (lease.owner or {}).get('what') == 'recover' and not _store.owner_is_dead(lease.owner):
                # like the other operations: nothing of an instance changes while a recovery decides it
                raise AnsibleActionFail(_recovery.refusal_message('event', iid))
            if self._task.check_mode:
                inst, items = store.load(iid)
                decide(inst, items)
            else:
                _engine.commit(store, iid, decide, None, engine.events)
        except _engine.OperationError as exc:
            raise AnsibleActionFail(str(exc))
        except (_store.StoreError, _engine.EngineError) as exc:
            raise AnsibleActionFail('event: %s' % exc)
        finally:
            store.close()
        before, after = holder['before'], holder['after']
        changed = before.get('state') != after.get('state') or before.get('manual') != after.get('manual')
        mode = 'check mode: would set' if self._task.check_mode else 'set'
        say('jobnet: %s %s trigger %s %s (was %s)%s' % (
            mode, iid, name, 'back to its source' if state == 'auto' else state.upper(),
            (before.get('state') or 'off').upper(), '; nothing was recorded' if self._task.check_mode else ''))
        result.update(changed=changed, instance=iid, trigger=after, events=engine.events[-EVENTS_RETURNED:])
        return result

    @staticmethod
    def _sender(task_vars):
        host = task_vars.get('inventory_hostname') or 'localhost'
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = '?'
        where = socket.gethostname()
        return 'operator %s@%s%s' % (user, where, '' if host == 'localhost' else ' (for %s)' % host)


_STATES = {'on': 'on', 'true': 'on', 'yes': 'on', '1': 'on', 'off': 'off', 'false': 'off', 'no': 'off', '0': 'off',
           'auto': 'auto', 'query': 'query'}


def _state_of(value):
    """on, off, auto or query (an unquoted YAML on / off is a boolean: read as on / off)."""
    if value is None or value == '':
        return 'query'
    key = str(value).strip().lower()
    if key not in _STATES:
        raise AnsibleActionFail('state must be one of on, off, auto, query, not %r' % (value,))
    return _STATES[key]


def _event_line(name, record):
    return 'jobnet: event %s %s (since %s, by %s)' % (
        name, (record.get('state') or 'off').upper(), record.get('updated'), record.get('sender'))
