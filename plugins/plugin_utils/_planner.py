# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of the frame runner: no I/O, nothing from Ansible.

Given a frame definition (as normalised by ``_model``), the instance record and its item records, a
:class:`Planner` works out every state change the rules allow right now (start conditions met, skip and pause
marks applied, nets and the frame derived from their children) and which queued jobs a host may launch.
Operations (rerun, init, skip, pause, release, stop, force start) are methods too, so that every state change
goes through :func:`_states.transition`, checked against the rules of the operation that makes it.

Records are plain dicts (see ``docs/design.md``), built and reset through ``_records`` (new items, events, the
fields an init clears); the planner works on copies and reports the records it changed, so that the store writes
one record per changed item and never a whole frame.
"""

from __future__ import annotations

import contextlib
import functools

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import Event, Instance, Item, Phase
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _monitor, _triggers
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._messages import message
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._resources import holds_a_slot
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import (
    HostState,
    Kind,
    Op,
    State,
    SUCCESS,
    TERMINAL,
    WAITING_LIKE,
    derive_in,
    transition,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime, utcnow  # noqa: F401 (re-exported)

FRAME = Kind.FRAME.value
NET = Kind.NET.value
JOB = Kind.JOB.value

# Classes of an item for deriving its parent's state.
_OK = 'ok'            # ended normally or skipped
_FAIL = 'fail'        # ended abnormally
_LIVE = 'live'        # running, queued, or waiting for conditions that can still be met
_LIVE_FAIL = 'live+fail'  # a net still active with an abnormal end inside (has_errors)
_HELD = 'held'        # needs an operator: paused, or waiting behind a paused item
_BLOCKED = 'blocked'  # waiting behind an abnormal end: cannot start until a rerun

# the launch phases of an attempt, as the records hold them (plain strings: see _records.Phase)
LAUNCHING = Phase.LAUNCHING.value
LAUNCHED = Phase.LAUNCHED.value


class OperationError(ValueError):
    """An operation that does not apply to the item in its current state (message says what and why)."""


def new_item(definition):
    """The ``not_submitted`` record of one net or job of a definition (:meth:`_records.Item.new`)."""
    return Item.new(definition).to_dict()


def initial_items(defn):
    """``{path: record}`` of every net and job of a definition, not submitted."""
    return {d['path']: new_item(d) for d in defn['items']}


def _state(record):
    return State(record['state'])


# skip / pause marks: the state an item waits in, the other mark's state, and the word for messages
_MARKS = {
    'skip': (State.SKIP_WAIT, State.PAUSE_WAIT, 'skipped'),
    'pause': (State.PAUSE_WAIT, State.SKIP_WAIT, 'paused'),
}


# the operation of each mark
_MARK_OPS = {'skip': Op.SKIP, 'pause': Op.PAUSE, 'release': Op.RELEASE}


def _runs(op):
    """A public planner method runs the operation ``op``: the derives it makes are checked as derives within
    ``op``. A method called by another one (``advance`` within ``rerun``) runs within the caller's operation."""
    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            with self.running(op):
                return method(self, *args, **kwargs)
        return run
    return wrap


def _runs_mark(method):
    """``_runs`` for mark / mark_frame: the operation is the mark (their last argument, ``what``)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        what = kwargs['what'] if 'what' in kwargs else args[-1]
        with self.running(_MARK_OPS.get(what)):
            return method(self, *args, **kwargs)
    return run


def _copy_record(record):
    out = dict(record)
    if isinstance(out.get('flags'), dict):
        out['flags'] = dict(out['flags'])
    return out


class Planner:
    """Decisions over one frame instance.

    ``changed_items`` / ``instance_changed`` say what to write back; ``events`` lists every state change as
    ``{'path', 'kind', 'from', 'to', 'reason'}`` (path ``''`` is the frame) for the history.

    ``op`` is the operation the planner runs now (:data:`_states.CONTEXTS`), set by each public method: every move
    is checked against the rules of the operation that makes it, a frame or net following its children against
    those of a derive within ``op``.
    """

    def __init__(self, defn, instance, items, *, now=None, start_at=None):
        self.defn = defn
        self.defs = {d['path']: d for d in defn['items']}
        self.children = {'': []}
        for d in defn['items']:
            self.children.setdefault(d.get('parent', ''), []).append(d['path'])
            if d['kind'] == NET:
                self.children.setdefault(d['path'], [])
        self.order = {d['path']: i for i, d in enumerate(defn['items'])}
        # records are copied one level deep (their flags too): the planner never changes a nested value in place
        # otherwise, and the definition it only reads is shared, not copied
        self.instance = _copy_record(instance)
        self.items = {}
        for path in self.defs:
            if path in items:
                self.items[path] = _copy_record(items[path])
            else:  # a record the store does not have yet (never for a complete instance)
                self.items[path] = new_item(self.defs[path])
        self.now = now or utcnow()
        self.start_at = start_at
        self.changed_items = set()
        self.instance_changed = False
        self.events = []
        self.op = None
        #: makes the attempt id of an action: (path, attempt) -> id (the engine's attempt_id_factory)
        self.attempt_id_for = None
        #: what monitoring found in this planner's run: [(path, late kind, setting, deadline)] delays recorded, and
        #: the keys of the actions decided (for the driver's lines)
        self.delays = []
        self.actions_decided = []

    @contextlib.contextmanager
    def running(self, op):
        """Run ``op`` (nested calls keep the outer operation)."""
        if self.op is not None:
            yield self.op
            return
        self.op = op
        try:
            yield op
        finally:
            self.op = None

    def _rule_of(self, op):
        """The rule set of a move made by ``op``: a derive is checked within the operation that runs."""
        if op is Op.DERIVE:
            return derive_in(self.op or Op.STEP)
        return op

    # ------------------------------------------------------------------ recording changes
    def _touch(self, path):
        self.items[path]['updated'] = isotime(self.now)
        self.changed_items.add(path)

    def set_item_state(self, path, new, reason='', *, op):
        item = self.items[path]
        old = _state(item)
        new = transition(item['kind'], self._rule_of(op), path, old, new, reason=reason)
        if new not in (State.QUEUING, State.QUEUING_ENV_DOWN) and ('waiting' in item or 'ready_at' in item):
            # out of the queue: its place in the waiting order goes (a rerun queues it again, last)
            item.pop('waiting', None)
            item.pop('ready_at', None)
        elif new == State.QUEUING and item['kind'] == JOB and not item.get('ready_at'):
            # its place in the waiting order: when its start conditions were met (the same instant for the jobs
            # made ready by one change, which then follow the frame's order), kept in the record
            item['ready_at'] = isotime(self.now)
        if new != old:
            item['state'] = new.value
            if item['kind'] == NET:
                if new == State.RUNNING and not item.get('started'):
                    item['started'] = isotime(self.now)
                if new in TERMINAL:
                    item['ended'] = isotime(self.now)
                elif new in (State.RUNNING, State.HAS_ERRORS, State.WAITING):
                    item['ended'] = None
            self.events.append(Event.new(path, item['kind'], item.get('host'), old, new, reason,
                                         item.get('attempt_id'), isotime(self.now)).to_dict())
            if new in (State.NORMAL_END, State.ABNORMAL_END):
                self._ended(path, new)
        self._touch(path)
        return new

    def set_frame_state(self, new, reason='', *, op):
        old = _state(self.instance)
        new = transition(FRAME, self._rule_of(op), self.instance['frame'], old, new, reason=reason)
        if new != old:
            self.instance['state'] = new.value
            self.events.append(Event.new('', FRAME, None, old, new, reason, None, isotime(self.now)).to_dict())
            if new in (State.NORMAL_END, State.ABNORMAL_END):
                self._ended('', new)
            if new in TERMINAL:
                self.instance['ended'] = isotime(self.now)
            elif new == State.RUNNING and not self.instance.get('started'):
                self.instance['started'] = isotime(self.now)
        self.instance['updated'] = isotime(self.now)
        self.instance_changed = True
        return new

    def changed(self):
        return {p: self.items[p] for p in sorted(self.changed_items, key=self.order.get)}

    # ------------------------------------------------------------------ tree helpers
    def ancestors(self, path):
        parent = self.defs[path].get('parent', '')
        while parent:
            yield parent
            parent = self.defs[parent].get('parent', '')

    def descendants(self, path):
        for child in self.children.get(path, []):
            yield child
            yield from self.descendants(child)

    def jobs(self):
        return [p for p, d in self.defs.items() if d['kind'] == JOB]

    def frame_stopped(self):
        return bool(self.instance.get('flags', {}).get('stopped'))

    def under_stop(self, path):
        """True when the frame or a net above ``path`` is stopped: nothing new starts there."""
        if self.frame_stopped():
            return True
        return any(self.items[a]['flags'].get('stopped') for a in self.ancestors(path))

    def frame_open(self):
        return (_state(self.instance) not in (State.NOT_SUBMITTED, State.STANDBY)
                and self.instance.get('opened', False))

    # ------------------------------------------------------------------ submit
    @_runs(Op.SUBMIT)
    def submit(self):
        """``not_submitted`` → ``standby`` (before the start time) or ``waiting``; items to their marks."""
        if _state(self.instance) != State.NOT_SUBMITTED:
            raise OperationError("frame instance %s is %s, not not_submitted: it was submitted already"
                                 % (self.instance['id'], self.instance['state']))
        self.instance['opened'] = False
        self.instance.setdefault('flags', {})['stopped'] = False
        for path in self.defs:
            item = self.items[path]
            flags = item['flags']
            if flags.get('skip'):
                self.set_item_state(path, State.SKIP_WAIT, 'submitted with skip', op=Op.SUBMIT)
            elif flags.get('pause'):
                self.set_item_state(path, State.PAUSE_WAIT, 'submitted with pause', op=Op.SUBMIT)
            else:
                self.set_item_state(path, State.WAITING, 'submitted', op=Op.SUBMIT)
            if item['kind'] == NET:
                item['opened'] = False
        frame_flags = self.instance['flags']
        if frame_flags.get('skip'):
            self.set_frame_state(State.SKIP_WAIT, 'submitted with skip', op=Op.SUBMIT)
        elif frame_flags.get('pause'):
            self.set_frame_state(State.PAUSE_WAIT, 'submitted with pause', op=Op.SUBMIT)
        elif self.start_at is not None and self.now < self.start_at:
            self.set_frame_state(State.STANDBY, 'start time %s not reached' % isotime(self.start_at), op=Op.SUBMIT)
        else:
            self.set_frame_state(State.WAITING, 'submitted', op=Op.SUBMIT)
        self.advance()

    # ------------------------------------------------------------------ the rules
    def deps_ok(self, path):
        return all(_state(self.items[a]) in SUCCESS for a in self.defs[path].get('after', []))

    # ------------------------------------------------------------------ delay monitoring, actions (see _monitor)
    def _def_of(self, path):
        return self.defn if path == '' else self.defs[path]

    def _record_of(self, path):
        return self.instance if path == '' else self.items[path]

    def _actions(self):
        return dict(self.instance.get('actions') or {})

    def _decide_action(self, kind, path, what, spec, *, run=True, message=''):
        """Write-ahead: the action's record ``launching`` (or ``not_executed``), in this transaction; its number is
        the next of its kind, path and what (a rerun's end, a delay found again after an init: run 2, ...)."""
        actions = self._actions()
        number = 1 + len([a for a in actions.values()
                          if a.get('kind') == kind and a.get('path') == path and a.get('what') == what])
        key = _monitor.action_key(kind, path, what, number)
        ref = _monitor.attempt_path(kind, path, what)
        aid = self.attempt_id_for(ref, number) if self.attempt_id_for else '%s.%s.%d' % (
            self.instance['id'].replace('@', '.'), ref, number)
        actions[key] = _monitor.new_action(kind, path, what, spec, aid, self.now, run=run, message=message)
        self.instance['actions'] = actions
        self.instance_changed = True
        if run:
            self.actions_decided.append(key)
        return key

    def _notice(self, path, kind, what, extra):
        d = self._def_of(path)
        if not d.get('notify'):
            return
        notices = list(self.instance.get('notices') or [])
        nid = '%s|%s|%s|%s|%d' % (self.instance['id'], path, kind, what, len(notices) + 1)
        rec = self._record_of(path)
        document = {'id': nid, 'instance': self.instance['id'], 'frame': self.instance['frame'],
                    'operation_date': self.instance['operation_date'], 'path': path, 'event': kind, 'what': what,
                    'state': rec.get('state'), 'time': isotime(self.now)}
        document.update(extra)
        notices.append(_monitor.new_notice(nid, d['notify']['url'], document, self.now))
        self.instance['notices'] = notices
        self.instance_changed = True

    def _ended(self, path, new):
        """An end: its end command is decided (frames and nets whatever the operation, a recovery included - note
        10; jobs only when a driver records the end, never by a recovery), and its notice queued."""
        d = self._def_of(path)
        what = new.value
        action = (d.get('on_end') or {}).get(what)
        if action and not (path and d['kind'] == JOB and self.op == Op.RECOVERY):
            self._decide_action(_monitor.END_COMMAND, path, what, action)
        self._notice(path, 'end', what, {})

    def check_deadlines(self, run_actions=True, messages=None):
        """Record every deadline that has passed now (once each: ``late`` of the item), with a history event, its
        action decided (write-ahead) and its notice queued. ``run_actions`` False: a recovery - the action is
        recorded ``not_executed`` and ``messages`` gets PEX174 (note 12). Returns the delays found."""
        found = []
        for path in [''] + list(self.defs):
            d = self._def_of(path)
            if not _monitor.monitors(d):
                continue
            rec = self._record_of(path)
            st = _state(rec)
            if st == State.NOT_SUBMITTED or (path and _state(self.instance) == State.NOT_SUBMITTED):
                continue
            ended = st in TERMINAL
            if st == State.SKIP_END:
                continue   # skipped: it never runs, so it is never late
            for kind, at, setting in _monitor.deadlines(d, rec, self.instance):
                if self.now < at:
                    continue
                if kind == _monitor.DURATION and st in WAITING_LIKE | {State.QUEUING, State.QUEUING_ENV_DOWN}:
                    continue   # not running (queued again by a rerun: its last start does not count)
                # late: not started (ended) by the deadline - still not, or only after it (an end applied after the
                # deadline passed, by a driver's poll or by a recovery, is late too)
                if kind == _monitor.START:
                    moment = rec.get('started') if st != State.QUEUING else None
                else:
                    moment = rec.get('ended') if ended else None
                    if ended and not moment:
                        continue   # ended with no time recorded (skipped before it started): not late
                if moment and _monitor.parse_time(moment) <= at:
                    continue
                found.append(self._late(path, d, rec, kind, at, setting, run_actions, messages))
        self.delays.extend(found)
        return found

    def _late(self, path, d, rec, kind, at, setting, run_actions, messages):
        late = dict(rec.get('late') or {})
        entry = {'deadline': isotime(at), 'detected': isotime(self.now), 'setting': setting}
        if d.get('on_delay'):
            if run_actions:
                entry['action'] = self._decide_action(_monitor.DELAY, path, kind, d['on_delay'])
            else:
                text = message('PEX174', iid=self.instance['id'], what=path or 'the frame', late=kind,
                               setting=setting, deadline=isotime(at))
                entry['action'] = self._decide_action(_monitor.DELAY, path, kind, d['on_delay'], run=False,
                                                      message=text)
                entry['message'] = text
                if messages is not None:
                    messages.append(text)
        late[kind] = entry
        rec['late'] = late
        st = _state(rec)
        reason = 'delay: %s passed (late %s, deadline %s)' % (setting, kind, isotime(at))
        kind_of = FRAME if path == '' else rec['kind']
        self.events.append(Event.new(path, kind_of, rec.get('host'), st, st, reason, rec.get('attempt_id'),
                                     isotime(self.now)).to_dict())
        if path:
            self._touch(path)
        else:
            self.instance['updated'] = isotime(self.now)
            self.instance_changed = True
        self._notice(path, 'delay', kind, {'deadline': isotime(at), 'setting': setting})
        return (path, kind, setting, isotime(at))

    def next_deadline(self):
        """The earliest deadline not passed yet (a driver's timer), or None."""
        best = None
        for path in [''] + list(self.defs):
            d = self._def_of(path)
            if not _monitor.monitors(d):
                continue
            rec = self._record_of(path)
            if _state(rec) in TERMINAL or _state(rec) == State.NOT_SUBMITTED:
                continue
            for _kind, at, _setting in _monitor.deadlines(d, rec, self.instance):
                if at > self.now and (best is None or at < best):
                    best = at
        return best

    def action_launches(self, host):
        """[(key, record, definition)] of the actions to launch on ``host`` now (write-ahead ``launching``)."""
        out = []
        for key, act in sorted(self._actions().items()):
            if act.get('host') == host and act.get('state') == _monitor.LAUNCHING:
                out.append((key, act, self._action_def(act)))
        return out

    def _action_def(self, act):
        d = self._def_of(act['path']) if act['path'] in self.defs or act['path'] == '' else {}
        if act['kind'] == _monitor.DELAY:
            return d.get('on_delay') or {}
        return (d.get('on_end') or {}).get(act['what']) or {}

    def apply_action(self, key, job):
        actions = self._actions()
        if key not in actions:
            return None
        actions[key] = _monitor.apply_result(actions[key], job)
        self.instance['actions'] = actions
        self.instance_changed = True
        return actions[key]

    def action_refused(self, key, message):
        actions = self._actions()
        if key in actions:
            actions[key] = _monitor.refused(actions[key], message)
            self.instance['actions'] = actions
            self.instance_changed = True

    def recover_actions(self, fetched, unreachable):
        """Recovery: each action that was launching or running takes what its host says (``fetched``: {attempt
        id: view}; None under recovery skip: nothing is known). One its host has is adopted (running, or its end);
        one launched that its host does not have is lost; one still launching that its host does not have was never
        started: a driver of its host starts it (the same attempt id)."""
        if fetched is None:
            return
        for key, act in self._actions().items():
            if not _monitor.is_live(act) or act.get('host') in unreachable:
                continue
            view = fetched.get(act.get('attempt_id'))
            if view is not None:
                self.apply_action(key, view)
            elif act.get('phase') == 'launched':
                self.apply_action(key, None)

    def pending_notices(self):
        return [n for n in self.instance.get('notices') or [] if n.get('state') == 'pending']

    def live_actions(self, host=None):
        return [k for k, a in self._actions().items() if _monitor.is_live(a) and (host is None or a['host'] == host)]

    # ------------------------------------------------------------------ triggers (see _triggers)
    def wait_for(self, path):
        """The triggers ``path`` waits for ('' the frame)."""
        return (self.defn.get('wait_for') if path == '' else self.defs[path].get('wait_for')) or []

    def triggers_ok(self, path):
        names = self.wait_for(path)
        if not names:
            return True
        records = self.instance.get('triggers') or {}
        return all(_triggers.is_on(records, name) for name in names)

    def take_triggers(self, view):
        """The trigger records as their sources say now (``view``: see :func:`_triggers.evaluate`), kept in the
        instance; returns the changes of state [(name, before, after)]."""
        if not self.defn.get('triggers'):
            return []
        records, changes = _triggers.evaluate(self.instance, view, self.now)
        if records != (self.instance.get('triggers') or {}):
            self.instance['triggers'] = records
            self.instance_changed = True
        return changes

    def set_trigger(self, name, state, by='operator'):
        """An operator's ON / OFF (``auto``: back to its source) of one trigger of this instance."""
        try:
            self.instance['triggers'] = _triggers.set_manual(self.instance, name, state, self.now, by=by)
        except _triggers.TriggerError as exc:
            raise OperationError(str(exc))
        self.instance['updated'] = isotime(self.now)
        self.instance_changed = True

    def trigger_waiters(self):
        """{trigger name: [paths that wait for it and have not started]} ('' is the frame)."""
        out = {}
        if self.defn.get('wait_for') and not self.instance.get('opened') and _state(self.instance) in (
                State.WAITING, State.STANDBY, State.SKIP_WAIT, State.PAUSE_WAIT):
            for name in self.defn['wait_for']:
                out.setdefault(name, []).append('')
        for path, d in self.defs.items():
            if d.get('wait_for') and _state(self.items[path]) in WAITING_LIKE:
                for name in d['wait_for']:
                    out.setdefault(name, []).append(path)
        return out

    def _parent_open(self, path):
        parent = self.defs[path].get('parent', '')
        if not parent:
            return self.frame_open()
        item = self.items[parent]
        return bool(item.get('opened')) and _state(item) not in (State.PAUSED, State.SKIP_END, State.NOT_SUBMITTED)

    def waiting_on_triggers(self):
        """(live, unknown): the frame ('') and items whose only missing start condition is a trigger that is not ON:
        ``live`` those a trigger can still free (a driver keeps driving for them), ``unknown`` those held by a
        trigger of unknown state (after a recovery skip: only the next recovery frees them)."""
        records = self.instance.get('triggers') or {}
        live, unknown = [], []

        def sort(path, names):
            states = [(records.get(n) or {}).get('state') for n in names if not _triggers.is_on(records, n)]
            if not states:
                return
            (unknown if _triggers.UNKNOWN in states else live).append(path)

        inst_state = _state(self.instance)
        if self.frame_stopped() or inst_state in TERMINAL or inst_state == State.NOT_SUBMITTED:
            return live, unknown
        if not self.instance.get('opened'):
            if inst_state == State.WAITING or (inst_state in (State.SKIP_WAIT, State.PAUSE_WAIT)
                                               and self.start_time_reached()):
                sort('', self.wait_for(''))
            return live, unknown
        for path, d in self.defs.items():
            if not d.get('wait_for') or _state(self.items[path]) not in WAITING_LIKE:
                continue
            if self._parent_open(path) and self.deps_ok(path) and not self.under_stop(path):
                sort(path, d['wait_for'])
        return live, unknown

    @_runs(Op.STEP)
    def advance(self):
        """Apply every change the rules allow now, until nothing changes."""
        inst_state = _state(self.instance)
        if inst_state == State.NOT_SUBMITTED:
            return
        if inst_state in (State.STANDBY, State.SKIP_WAIT, State.PAUSE_WAIT):
            if not self.start_time_reached():
                return
            if inst_state in (State.SKIP_WAIT, State.PAUSE_WAIT) and not self.triggers_ok(''):
                return
            if inst_state == State.SKIP_WAIT:
                self._skip_frame('start conditions met: skipped', Op.CONDITIONS_MET)
                return
            if inst_state == State.PAUSE_WAIT:
                self.set_frame_state(State.PAUSED, 'start conditions met: paused', op=Op.CONDITIONS_MET)
                return
            self.set_frame_state(State.WAITING, 'start time reached', op=Op.START_TIME)
        if inst_state == State.PAUSED and self.frame_held():
            return  # paused by an operator before it started: nothing inside starts until release
        if not self.instance.get('opened') and _state(self.instance) == State.WAITING and not self.frame_stopped() \
                and self.triggers_ok(''):
            self.instance['opened'] = True
            self.instance_changed = True
        for _round in range(len(self.defs) + 2):
            before = (len(self.events), len(self.changed_items))
            if self.frame_open() and not self.frame_stopped():
                self._open_level('')
            self._force_starts()
            self._derive_all()
            if (len(self.events), len(self.changed_items)) == before:
                break

    def start_time_reached(self):
        return self.start_at is None or self.now >= self.start_at

    def frame_held(self):
        """True for a frame paused by an operator's mark before it started (not opened)."""
        return _state(self.instance) == State.PAUSED and not self.instance.get('opened')

    def _skip_frame(self, reason, op):
        """The whole frame to skip_end: every net and job that has not started is skipped with it."""
        for path in self.defs:
            st = _state(self.items[path])
            if st in WAITING_LIKE or st == State.PAUSED or (
                    st == State.QUEUING and self.items[path].get('phase') is None):
                self.set_item_state(path, State.SKIP_END, 'frame %s skipped' % self.instance['frame'], op=op)
        self.set_frame_state(State.SKIP_END, reason, op=op)

    def _open_level(self, parent):
        for path in self.children.get(parent, []):
            item = self.items[path]
            st = _state(item)
            if st in WAITING_LIKE and self.deps_ok(path) and self.triggers_ok(path):
                self._conditions_met(path)
                st = _state(item)
            if (item['kind'] == NET and item.get('opened') and not item['flags'].get('stopped')
                    and st not in (State.PAUSED, State.SKIP_END, State.NOT_SUBMITTED)):
                self._open_level(path)

    def _conditions_met(self, path):
        item = self.items[path]
        st = _state(item)
        if st == State.SKIP_WAIT:
            self.set_item_state(path, State.SKIP_END, 'start conditions met: skipped', op=Op.CONDITIONS_MET)
            if item['kind'] == NET:
                for sub in self.descendants(path):
                    if _state(self.items[sub]) in WAITING_LIKE or _state(self.items[sub]) == State.PAUSED:
                        self.set_item_state(sub, State.SKIP_END, 'net %s skipped' % path, op=Op.CONDITIONS_MET)
        elif st == State.PAUSE_WAIT:
            self.set_item_state(path, State.PAUSED, 'start conditions met: paused', op=Op.CONDITIONS_MET)
        elif st == State.WAITING:
            if item['kind'] == JOB:
                self.set_item_state(path, State.QUEUING, 'start conditions met', op=Op.CONDITIONS_MET)
            else:
                item['opened'] = True
                self.set_item_state(path, State.RUNNING, 'start conditions met', op=Op.CONDITIONS_MET)

    def _force_starts(self):
        for path in self.jobs():
            item = self.items[path]
            if item['flags'].get('force') and _state(item) in (
                    State.WAITING, State.SKIP_WAIT, State.PAUSE_WAIT, State.PAUSED, State.QUEUING_ENV_DOWN,
                    State.ABNORMAL_END):
                if _state(item) == State.ABNORMAL_END:
                    item['phase'] = None
                self.set_item_state(path, State.QUEUING, 'force start', op=Op.FORCE_START)

    # ------------------------------------------------------------------ derived states
    def classify(self, path, memo):
        if path in memo:
            return memo[path]
        memo[path] = _BLOCKED  # guards against a cycle (validation refuses them anyway)
        item = self.items[path]
        st = _state(item)
        if st in SUCCESS:
            cls = _OK
        elif st == State.ABNORMAL_END:
            cls = _FAIL
        elif st == State.HAS_ERRORS:
            cls = _LIVE_FAIL
        elif st in (State.RUNNING, State.QUEUING, State.QUEUING_ENV_DOWN):
            cls = _LIVE if item['kind'] == JOB or not item.get('opened') else self._net_class(path, memo)
        elif st in (State.PAUSED, State.STOPPED):
            cls = _HELD
        elif st in WAITING_LIKE:
            dep_classes = [self.classify(a, memo) for a in self.defs[path].get('after', [])]
            if any(c in (_FAIL, _BLOCKED) for c in dep_classes):
                cls = _BLOCKED
            elif any(c == _HELD for c in dep_classes) or self.under_stop(path):
                cls = _HELD
            else:
                cls = _LIVE
        else:
            # not_submitted inside a submitted frame: it had ended and recovery (end_recover off) put it back; it
            # runs again only when an operator reruns the frame, and the frame is not over until then
            cls = _LIVE
        memo[path] = cls
        return cls

    def _net_class(self, path, memo):
        derived = self._derive_from(self.children.get(path, []), memo)
        return {State.NORMAL_END: _OK, State.ABNORMAL_END: _FAIL, State.HAS_ERRORS: _LIVE_FAIL,
                State.RUNNING: _LIVE, State.PAUSED: _HELD}[derived]

    def _derive_from(self, children, memo):
        classes = [self.classify(c, memo) for c in children]
        if all(c == _OK for c in classes):
            return State.NORMAL_END
        failed = any(c in (_FAIL, _LIVE_FAIL) for c in classes)
        if any(c in (_LIVE, _LIVE_FAIL) for c in classes):
            return State.HAS_ERRORS if failed else State.RUNNING
        if failed or any(c == _BLOCKED for c in classes):
            return State.ABNORMAL_END
        return State.PAUSED

    @_runs(Op.RECOVERY)
    def take_recovered(self, instance, items):
        """Take records recovery decided (tables 5.429-5.432) as changes of this planner, to be written with
        what the planner derives and decides next in the same transaction."""
        if instance is not None:
            self.instance = _copy_record(instance)
            self.instance_changed = True
        for path, item in items.items():
            if path in self.defs:
                self.items[path] = _copy_record(item)
                self.changed_items.add(path)

    @_runs(Op.RECOVERY)
    def derive(self):
        """Frame and net states from their children, as they are now (after recovery applied its rows)."""
        self._derive_all()

    def _derive_all(self):
        # deepest nets first, so that a parent sees its nets' new states
        nets = [p for p, d in self.defs.items() if d['kind'] == NET]
        nets.sort(key=lambda p: -p.count('/'))
        for path in nets:
            item = self.items[path]
            if not item.get('opened'):
                continue
            st = _state(item)
            if item['flags'].get('stopped'):
                if st != State.STOPPED:
                    self.set_item_state(path, State.STOPPED, 'stopped by operator', op=Op.DERIVE)
                continue
            derived = self._derive_from(self.children.get(path, []), {})
            if derived != st:
                self.set_item_state(path, derived, 'derived from its children', op=Op.DERIVE)
        if _state(self.instance) in (State.NOT_SUBMITTED, State.STANDBY):
            return
        if self.frame_stopped():
            if _state(self.instance) != State.STOPPED:
                self.set_frame_state(State.STOPPED, 'stopped by operator', op=Op.DERIVE)
            return
        if not self.instance.get('opened'):
            return
        derived = self._derive_from(self.children[''], {})
        if derived != _state(self.instance):
            self.set_frame_state(derived, 'derived from its children', op=Op.DERIVE)

    # ------------------------------------------------------------------ driving
    def running_on(self, host):
        return [p for p in self.jobs()
                if self.items[p]['host'] == host
                and (_state(self.items[p]) == State.RUNNING or self.items[p].get('phase') == LAUNCHING)]

    def queued_on(self, host):
        """Jobs of ``host`` whose start conditions are met, in definition order (force-started first)."""
        ready = []
        for path in self.jobs():
            item = self.items[path]
            if item['host'] != host or _state(item) != State.QUEUING:
                continue
            if not item['flags'].get('force') and self.under_stop(path):
                continue
            ready.append(path)
        ready.sort(key=lambda p: (not self.items[p]['flags'].get('force'), self.order[p]))
        return ready

    @_runs(Op.STEP)
    def pick_launches(self, host, room, attempt_id_for, *, occupancy=None, limit=None):
        """Mark the queued jobs of ``host`` that may start now as launching (write-ahead) and return their paths.

        With ``occupancy`` (a :class:`_resources.Occupancy` of the whole store, what the driver passes) the jobs
        are served in their waiting order and each takes its resources and a slot of ``host`` (``limit``: the
        host's ``jobnet_max_running``, None: no limit); a job that cannot start records what it waits for
        (``waiting``), which makes it a waiter in the store's index. Without it, ``room`` is the number of free
        slots on the host (None: no limit) and resources are not looked at.

        Force-started jobs pass the host's limit (never a resource's capacity). A job already in phase
        ``launching`` (a launch whose outcome is unknown) is launched again with the same attempt id, which the
        host treats as the same attempt; it already holds what it needs.
        """
        if occupancy is not None:
            return self._pick_served(host, attempt_id_for, occupancy, limit)
        picked = []
        for path in self.queued_on(host):
            item = self.items[path]
            forced = item['flags'].get('force')
            if room is not None and room <= 0 and not forced:
                if _state(item) == State.QUEUING and item.get('message') != 'waiting for a free slot on %s' % host:
                    item['message'] = 'waiting for a free slot on %s' % host
                    self._touch(path)
                continue
            self._mark_launching(path, attempt_id_for)
            picked.append(path)
            if room is not None and not forced:
                room -= 1
        return picked

    def _mark_launching(self, path, attempt_id_for, needs=None):
        item = self.items[path]
        if item.get('phase') != LAUNCHING:
            item['attempt'] = int(item.get('attempt') or 0) + 1
            item['attempt_id'] = attempt_id_for(path, item['attempt'])
            item['phase'] = LAUNCHING
            item['rc'] = item['signal'] = item['ended'] = None
            if needs:
                item['needs'] = dict(needs)
            else:
                item.pop('needs', None)
            item.pop('unclaimed', None)
        item.pop('waiting', None)
        item.pop('ready_at', None)
        item['message'] = ''
        item['flags']['force'] = False
        self._touch(path)

    def _pick_served(self, host, attempt_id_for, occupancy, limit):
        picked = []
        candidates = []
        for path in self.queued_on(host):
            item = self.items[path]
            if item.get('phase') == LAUNCHING:   # in flight: it holds already
                self._mark_launching(path, attempt_id_for)
                picked.append(path)
                continue
            if not item.get('ready_at'):
                item['ready_at'] = isotime(self.now)   # its place in the waiting order, kept in the record
                self._touch(path)
            d = self.defs[path]
            candidates.append({'iid': self.instance.get('id'), 'path': path, 'host': host,
                               'needs': dict(d.get('resources') or {}), 'priority': int(d.get('priority') or 0),
                               'ready_at': item['ready_at'], 'rank': self.order[path],
                               'forced': bool(item['flags'].get('force'))})
        for cand, blocked in occupancy.take(host, limit, candidates):
            path = cand['path']
            item = self.items[path]
            if not blocked:
                self._mark_launching(path, attempt_id_for, cand['needs'])
                picked.append(path)
                continue
            waiting = {'for': blocked, 'needs': cand['needs'], 'priority': cand['priority'], 'forced': cand['forced'],
                       'rank': cand['rank']}
            message = occupancy.why(host, limit, cand['needs'], blocked)
            if item.get('waiting') != waiting or item.get('message') != message:
                item['waiting'] = waiting
                item['message'] = message
                self._touch(path)
        return picked

    @_runs(Op.STEP)
    def apply_job(self, path, job):
        """Take a job's state as the host reports it (``job``/``job_info`` return dicts)."""
        item = self.items[path]
        reported = job.get('state')
        item['phase'] = LAUNCHED
        item['rc'] = job.get('rc')
        item['signal'] = job.get('signal')
        if job.get('started'):
            item['started'] = job['started']
        if job.get('ended'):
            item['ended'] = job['ended']
        st = _state(item)
        if reported == HostState.RUNNING.value:
            if st != State.RUNNING:
                self.set_item_state(path, State.RUNNING, 'started on %s' % item['host'], op=Op.LAUNCH)
            else:
                self._touch(path)
            return
        if reported == HostState.NORMAL_END.value:
            new, why = State.NORMAL_END, 'ended with rc 0'
        else:
            signal = ' signal %s' % job['signal'] if job.get('signal') else ''
            why = {HostState.ABNORMAL_END.value: 'ended with rc %s%s' % (job.get('rc'), signal),
                   HostState.STOPPED.value: 'stopped on its host',
                   HostState.LOST.value: 'lost: its supervisor vanished without a result'}.get(
                       reported, 'ended: %s' % reported)
            if job.get('reason') == 'timeout':
                why = 'timed out'
            new = State.ABNORMAL_END
        item['message'] = '' if new == State.NORMAL_END else why
        if st == State.QUEUING or st == State.QUEUING_ENV_DOWN:
            self.set_item_state(path, State.RUNNING, 'started on %s' % item['host'], op=Op.LAUNCH)
        self.set_item_state(path, new, why, op=Op.END)

    @_runs(Op.STEP)
    def launch_failed(self, path, message, env_down):
        """A launch call failed: the host is down (retry later, same attempt) or refused the job."""
        item = self.items[path]
        item['message'] = message
        if env_down:
            if _state(item) == State.QUEUING:
                self.set_item_state(path, State.QUEUING_ENV_DOWN, message, op=Op.LAUNCH)
            else:
                self._touch(path)
        else:
            item['phase'] = LAUNCHED
            item['ended'] = isotime(self.now)
            self.set_item_state(path, State.ABNORMAL_END, message, op=Op.LAUNCH)

    @_runs(Op.STEP)
    def host_back(self, host):
        """The host answers again: its env-down jobs queue again (those with an attempt are polled first)."""
        for path in self.jobs():
            item = self.items[path]
            if item['host'] == host and _state(item) == State.QUEUING_ENV_DOWN and item.get('phase') != LAUNCHED:
                self.set_item_state(path, State.QUEUING, '%s answers again' % host, op=Op.LAUNCH)

    @_runs(Op.STEP)
    def host_down(self, host, message):
        for path in self.jobs():
            item = self.items[path]
            if item['host'] == host and _state(item) == State.QUEUING:
                item['message'] = message
                self.set_item_state(path, State.QUEUING_ENV_DOWN, message, op=Op.LAUNCH)

    def active_jobs(self, host=None):
        """Jobs that keep a driver busy: running, or queued on a host that can take them. A ``queuing_env_down``
        job whose launch was in flight (a recovery skip, a lost host) is not: no driver resolves it, the next
        recovery does (table 5.432)."""
        out = []
        for path in self.jobs():
            item = self.items[path]
            if host is not None and item['host'] != host:
                continue
            st = _state(item)
            if st == State.RUNNING or (item.get('phase') == LAUNCHING and st != State.QUEUING_ENV_DOWN):
                out.append(path)
            elif st == State.QUEUING and (item['flags'].get('force') or not self.under_stop(path)):
                out.append(path)
        return out

    def forget_claims(self):
        """Recovery with ``resource_reset`` (the original's notes 2 and 11): the jobs that may still run hold
        nothing (``unclaimed`` names their attempt) and the waiting jobs lose their place. Returns (jobs that held,
        waiting jobs)."""
        count = lost = 0
        for path in self.jobs():
            item = self.items[path]
            if holds_a_slot(item) and item.get('unclaimed') != item.get('attempt_id'):
                item['unclaimed'] = item.get('attempt_id')
                count += 1
                self._touch(path)
            if item.get('waiting') or item.get('ready_at'):
                lost += 1 if item.get('waiting') else 0
                item.pop('waiting', None)
                item.pop('ready_at', None)
                self._touch(path)
        return count, lost

    def quiescent(self, down_hosts=(), ignore=()):
        """No more progress without an operator (or a host coming back): the driver may end. ``ignore``: queued jobs
        that nothing but a recovery can free (they wait for what attempts of unknown state hold)."""
        st = _state(self.instance)
        if [k for k in self.live_actions() if self._actions()[k]['host'] not in down_hosts]:
            return False   # an action or end command still to launch or running: its driver keeps going
        if self.pending_notices():
            return False   # a notice still to send (a bounded number of tries)
        if st in TERMINAL or st == State.NOT_SUBMITTED:
            return True
        if st in (State.STANDBY, State.SKIP_WAIT, State.PAUSE_WAIT) and not self.start_time_reached():
            return False  # its start time comes: the driver waits for it
        if self.waiting_on_triggers()[0]:
            return False  # a trigger can still turn ON: the driver waits for it (docs/triggers.md)
        if st in (State.STANDBY, State.SKIP_WAIT, State.PAUSE_WAIT):
            return False
        return not [p for p in self.active_jobs() if self.items[p]['host'] not in down_hosts and p not in ignore]

    # ------------------------------------------------------------------ operations
    def _find(self, path):
        if path not in self.defs:
            known = ', '.join(sorted(self.defs)[:12])
            raise OperationError("frame instance %s has no net or job '%s' (known: %s)"
                                 % (self.instance['id'], path, known))
        return self.items[path]

    @_runs(Op.RERUN)
    def rerun(self):
        """Restart abnormal ends, clear stops, and let waiting and queued items go on."""
        st = _state(self.instance)
        if st in (State.NOT_SUBMITTED, State.STANDBY):
            raise OperationError('frame instance %s is %s: it cannot be rerun (submit it, or wait for its start '
                                 'time)' % (self.instance['id'], st.value))
        if st == State.SKIP_END:
            raise OperationError('frame instance %s was skipped (skip_end): init it (jobnet.scheduler.init) to run '
                                 'it again' % self.instance['id'])
        if st in (State.SKIP_WAIT, State.PAUSE_WAIT) or self.frame_held():
            raise OperationError('frame instance %s is %s by an operator: release it first (jobnet.scheduler.release '
                                 'without path)' % (self.instance['id'], st.value))
        if self.instance.get('flags', {}).get('stopped'):
            self.instance['flags']['stopped'] = False
            self.instance_changed = True
        if self.instance.get('opened') or self.triggers_ok(''):
            self.instance['opened'] = True   # a frame that waits for its triggers opens when they are ON
        for path in self.defs:
            item = self.items[path]
            if item['flags'].get('stopped'):
                item['flags']['stopped'] = False
                self._touch(path)
            ist = _state(item)
            if item['kind'] == JOB and ist == State.ABNORMAL_END:
                item['phase'] = None
                item['message'] = ''
                self.set_item_state(path, State.WAITING, 'rerun', op=Op.RERUN)
            elif item['kind'] == JOB and ist == State.QUEUING_ENV_DOWN and item.get('phase') != LAUNCHED:
                self.set_item_state(path, State.QUEUING, 'rerun', op=Op.RERUN)
            elif item['kind'] == NET and ist == State.STOPPED:
                self.set_item_state(path, State.RUNNING, 'rerun', op=Op.RERUN)
        self._resubmit_not_submitted('resubmitted by rerun (it had ended; recovery with end_recover off)', Op.RERUN)
        if _state(self.instance) in TERMINAL or _state(self.instance) in (State.STOPPED, State.PAUSED):
            self.set_frame_state(State.RUNNING, 'rerun', op=Op.RERUN)
        self.advance()

    @_runs(Op.AUTO_RERUN)
    def resume(self):
        """The automatic rerun after recovery: stopped frames and nets start again, waiting and queued items
        go on, running jobs are followed; abnormal ends are only fetched, not restarted (tables 5.429-5.431)."""
        st = _state(self.instance)
        if st == State.SKIP_WAIT:
            # table 5.429: skip_wait -> skip_end
            self._skip_frame('automatic rerun after recovery: skipped', Op.AUTO_RERUN)
            return
        if st in (State.NOT_SUBMITTED, State.STANDBY, State.PAUSE_WAIT) or self.frame_held():
            self.advance()
            return
        if self.instance.get('flags', {}).get('stopped'):
            self.instance['flags']['stopped'] = False
            self.instance_changed = True
            if self.instance.get('opened') or self.triggers_ok(''):
                self.instance['opened'] = True
            self.set_frame_state(State.RUNNING, 'automatic rerun after recovery', op=Op.AUTO_RERUN)
        for path in self.defs:
            item = self.items[path]
            if item['kind'] == NET and item['flags'].get('stopped'):
                item['flags']['stopped'] = False
                self.set_item_state(path, State.RUNNING, 'automatic rerun after recovery', op=Op.AUTO_RERUN)
            # items that recovery put back to not_submitted (end_recover off) had ended: they do not run again
            # by themselves and their successors wait for them; the rerun operation resubmits them
        self.advance()

    def _resubmit_not_submitted(self, reason, op):
        """Items of a started frame that are not_submitted (recovery with end_recover off put them back) are
        submitted again, each to its mark (skip, pause) or waiting."""
        for path in self.defs:
            item = self.items[path]
            if _state(item) != State.NOT_SUBMITTED:
                continue
            if item['kind'] == NET:
                item['opened'] = False
            item['message'] = ''
            new = State.SKIP_WAIT if item['flags'].get('skip') else (
                State.PAUSE_WAIT if item['flags'].get('pause') else State.WAITING)
            self.set_item_state(path, new, reason, op=op)

    @_runs(Op.RECOVERY)
    def record_recovery_stops(self, jobs):
        """The real end (rc, signal, end time) of attempts recovery stopped on the manager node: recovery recorded
        them abnormal_end before stopping them; what the host reported of the stop is taken now."""
        by_id = {self.items[p].get('attempt_id'): p for p in self.jobs() if self.items[p].get('attempt_id')}
        for job in jobs:
            path = by_id.get(job.get('id')) if isinstance(job, dict) else None
            if path is None or _state(self.items[path]) != State.ABNORMAL_END or job.get('state') == 'running':
                continue
            item = self.items[path]
            item['rc'] = job.get('rc')
            item['signal'] = job.get('signal')
            if job.get('ended'):
                item['ended'] = job['ended']
            self._touch(path)

    @_runs(Op.INIT)
    def init(self, path=None, force=False):
        """Back to not_submitted (whole frame, or one net / job). Returns the jobs that must be stopped."""
        targets = [path] + list(self.descendants(path)) if path else list(self.defs)
        if path:
            self._find(path)
        running = [p for p in targets if self.items[p]['kind'] == JOB
                   and (_state(self.items[p]) == State.RUNNING or self.items[p].get('phase') == LAUNCHING)]
        if running and not force:
            raise OperationError('frame instance %s: %s still running (%s); use force_init to stop them'
                                 % (self.instance['id'], 'a job is' if len(running) == 1 else 'jobs are',
                                    ', '.join(running[:10])))
        to_stop = [(p, self.items[p]['host'], self.items[p]['attempt_id']) for p in running
                   if self.items[p].get('attempt_id')]
        for p in targets:
            item = self.items[p]
            fields, flags = Item.init_reset(self.defs[p])  # the attempt counter is kept
            item.pop('late', None)
            item.update(fields)
            item['flags'].update(flags)
            self.set_item_state(p, State.NOT_SUBMITTED, 'force init' if force else 'init', op=Op.INIT)
        if not path:
            self.instance.update(Instance.cleared_run())
            self.instance.setdefault('flags', {}).update(stopped=False, skip=False, pause=False)
            # its triggers start afresh: OFF, no operator's setting; each follows its source again when driven;
            # its delays are watched again (the actions already run stay in its records)
            self.instance.pop('triggers', None)
            self.instance.pop('late', None)
            self.set_frame_state(State.NOT_SUBMITTED, 'force init' if force else 'init', op=Op.INIT)
        else:
            # a net or job put back into a running frame waits for its conditions again
            if _state(self.instance) not in (State.NOT_SUBMITTED, State.STANDBY):
                for p in targets:
                    self.set_item_state(p, State.WAITING, 'init within a submitted frame', op=Op.INIT)
                self.advance()
        return to_stop

    @_runs_mark
    def mark_frame(self, what):
        """skip / pause / release of the whole frame, before it starts (not_submitted, standby)."""
        inst = self.instance
        flags = inst.setdefault('flags', {})
        st = _state(inst)
        iid = inst['id']
        if what in _MARKS:
            wait_state, other_state, done = _MARKS[what]
            other = 'pause' if what == 'skip' else 'skip'
            if st == State.NOT_SUBMITTED:
                flags[what], flags[other] = True, False  # taken when the frame is next run
                inst['updated'] = isotime(self.now)
                self.instance_changed = True
            elif st in (State.STANDBY, other_state) or (st == State.WAITING and not inst.get('opened')):
                flags[what], flags[other] = True, False
                self.set_frame_state(wait_state, '%s by operator' % what, op=_MARK_OPS[what])
            elif st != wait_state:
                raise OperationError('frame instance %s is %s: only a frame that has not started (not_submitted, '
                                     'standby) can be %s as a whole; give the path of a net or job to mark it '
                                     'instead' % (iid, st.value, done))
        elif what == 'release':
            if st in (State.PAUSE_WAIT, State.SKIP_WAIT):
                flags['skip'] = flags['pause'] = False
                if self.start_time_reached():
                    self.set_frame_state(State.WAITING, 'released by operator', op=Op.RELEASE)
                else:
                    self.set_frame_state(State.STANDBY, 'released by operator; start time %s not reached'
                                         % isotime(self.start_at), op=Op.RELEASE)
            elif self.frame_held():
                flags['skip'] = flags['pause'] = False
                self.set_frame_state(State.WAITING, 'released by operator', op=Op.RELEASE)
            elif st == State.NOT_SUBMITTED:
                flags['skip'] = flags['pause'] = False
                inst['updated'] = isotime(self.now)
                self.instance_changed = True
            else:
                raise OperationError('frame instance %s is %s: only a frame paused before it started, or in '
                                     'pause_wait or skip_wait, can be released as a whole; give the path of a '
                                     'paused net or job to release it instead' % (iid, st.value))
        else:
            raise OperationError('unknown mark %r' % what)
        self.advance()

    @_runs_mark
    def mark(self, path, what):
        """skip / pause / release of a net or job that has not started (of the frame when ``path`` is empty)."""
        if not path:
            self.mark_frame(what)
            return
        item = self._find(path)
        st = _state(item)
        if what in _MARKS:
            wait_state, other_state, done = _MARKS[what]
            other = 'pause' if what == 'skip' else 'skip'
            if st in (State.WAITING, other_state) or (st == State.QUEUING and item.get('phase') is None):
                item['flags'][what], item['flags'][other] = True, False
                self.set_item_state(path, wait_state, '%s by operator' % what, op=_MARK_OPS[what])
            elif st == State.NOT_SUBMITTED:
                item['flags'][what], item['flags'][other] = True, False
                self._touch(path)
            elif st != wait_state:
                raise OperationError("%s '%s' is %s: only a net or job that has not started can be %s"
                                     % (item['kind'], path, st.value, done))
        elif what == 'release':
            item['flags']['pause'] = item['flags']['skip'] = False
            if st in (State.PAUSE_WAIT, State.SKIP_WAIT):
                self.set_item_state(path, State.WAITING, 'released by operator', op=Op.RELEASE)
            elif st == State.PAUSED:
                if item['kind'] == NET:
                    item['opened'] = True
                    self.set_item_state(path, State.RUNNING, 'released by operator', op=Op.RELEASE)
                else:
                    self.set_item_state(path, State.QUEUING, 'released by operator', op=Op.RELEASE)
            elif st == State.NOT_SUBMITTED:
                self._touch(path)
            else:
                raise OperationError("%s '%s' is %s: only a paused, pause_wait or skip_wait item can be released"
                                     % (item['kind'], path, st.value))
        else:
            raise OperationError('unknown mark %r' % what)
        self.advance()

    @_runs(Op.STOP)
    def stop(self, path=None):
        """Frame or net to stopped: nothing new starts there. Returns its running jobs."""
        if path:
            item = self._find(path)
            if item['kind'] != NET:
                raise OperationError("'%s' is a job: stop applies to a frame or a net (to end a job, use "
                                     "jobnet.scheduler.job state=stopped)" % path)
            item['flags']['stopped'] = True
            item['opened'] = True
            self.set_item_state(path, State.STOPPED, 'stopped by operator', op=Op.STOP)
            scope = list(self.descendants(path))
        else:
            if _state(self.instance) in (State.NOT_SUBMITTED,):
                raise OperationError('frame instance %s is not submitted: nothing to stop' % self.instance['id'])
            self.instance.setdefault('flags', {})['stopped'] = True
            self.set_frame_state(State.STOPPED, 'stopped by operator', op=Op.STOP)
            scope = list(self.defs)
        for p in scope:
            item = self.items[p]
            if item['kind'] == JOB and item.get('waiting') and not item['flags'].get('force'):
                # nothing starts under a stop: its jobs no longer wait for resources (they keep their ready time,
                # and wait again when released)
                item.pop('waiting', None)
                self._touch(p)
        self.advance()
        return [(p, self.items[p]['host'], self.items[p]['attempt_id']) for p in scope
                if self.items[p]['kind'] == JOB and _state(self.items[p]) == State.RUNNING
                and self.items[p].get('attempt_id')]

    @_runs(Op.STEP)
    def record_stopped(self, jobs):
        """Take the states the hosts reported for jobs an operation stopped (stop with kill)."""
        by_id = {self.items[p].get('attempt_id'): p for p in self.jobs() if self.items[p].get('attempt_id')}
        for job in jobs:
            path = by_id.get(job.get('id'))
            if path is not None and _state(self.items[path]) == State.RUNNING and job.get('state') != 'running':
                self.apply_job(path, job)
        self.advance()

    @_runs(Op.FORCE_START)
    def force_start(self, path):
        item = self._find(path)
        if item['kind'] != JOB:
            raise OperationError("'%s' is a net: force start applies to a job" % path)
        st = _state(item)
        if st == State.RUNNING or item.get('phase') == LAUNCHING:
            raise OperationError("job '%s' is already running (attempt %s)" % (path, item.get('attempt_id')))
        if st in (State.NORMAL_END, State.SKIP_END):
            raise OperationError("job '%s' is %s: init it first to run it again" % (path, st.value))
        if _state(self.instance) in (State.NOT_SUBMITTED, State.STANDBY):
            raise OperationError('frame instance %s is %s: submit or run it first'
                                 % (self.instance['id'], _state(self.instance).value))
        item['flags']['force'] = True
        self._touch(path)
        self.instance['opened'] = True
        self.advance()
