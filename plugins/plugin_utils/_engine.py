# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frame engine: the store, the planner and the modules on the hosts, put together.

Used by the action plugins. Nothing here talks to a host directly: a ``run_module(name, args)`` callable
(the action plugin's ``_execute_module`` on the task's host) is passed in, so the engine is testable with a
real store and scripted host answers.

Every decision follows the same order: read the instance in a store transaction, let the planner decide,
write what changed (write-ahead for launches), then talk to the host, then record what it said before the
next decision.
"""

from __future__ import annotations

import functools
import os
import time

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import (
    _model, _monitor, _options, _report, _resources, _secrets, _store, _triggers,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._planner import (
    LAUNCHED,
    OperationError,
    Planner,
    initial_items,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import Instance, instance_id
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import TERMINAL, State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime, utcnow

#: The settings the engine takes, with their defaults as the doc fragment jobnet.scheduler.options documents them
#: (read by _options; nothing else declares them). Each is resolvable as task argument > vars jobnet_<name> > env
#: JOBNET_<NAME> > ini [jobnet] <name> (see docs/store.md and docs/frames.md):
#: poll_interval (seconds a host's job_info call waits for a change), step_seconds (seconds one frame_step task runs
#: before it returns; 0: until the frame is done), lease_ttl (seconds a controller's lease lasts without renewal),
#: unreachable_retries (failed calls in a row before a host counts as down), unreachable_delay (seconds between
#: those retries), progress_interval (least seconds between two progress lines of one instance).
#: the states of an instance that has ended (its progress line is printed once)
_ENDED = frozenset(s.value for s in TERMINAL)

DEFAULTS = _options.defaults('poll_interval', 'step_seconds', 'lease_ttl', 'unreachable_retries', 'unreachable_delay',
                             'progress_interval', 'trigger_timeout')

#: least seconds between two rewrites of a running instance's chart
CHART_INTERVAL = 15.0

#: least seconds between two reads of the named events by a driver that waits for an event-wait trigger
EVENTS_LOOK = 0.5

#: at most this many state changes are kept for a driver's result (the store's event log keeps them all)
EVENTS_KEPT = 10000


class EngineError(Exception):
    """A refusal or failure with a message for the operator."""


class ControllerGone(EngineError):
    """The ansible-playbook process that owns this driver died: the driver must stop at once."""


def commit(store, iid, decide, lease, into, *, index=False, reindex=False):
    """The one decide-and-commit step: ``decide(instance, items)`` returns ``(instance or None, {path: item},
    (result, events))``; the store writes the records **and** the events in one transaction (fenced by ``lease``),
    so no state change is ever recorded without its history, and it rewrites the index entries of the items it
    writes (who holds and who waits for resources and host slots) in that same transaction. The events are kept in
    ``into`` with their instance (what an action returns for the recorder's history). Returns ``result``.

    ``index=True``: ``decide(instance, items, view)`` also sees the store's index and resource definitions (a
    launch decision), and the store writes only if nobody changed them meanwhile (it decides again otherwise).
    ``reindex=True``: every index entry of the instance is rebuilt from its items (recovery)."""
    def with_events(inst, items, *view):
        new, changed, (result, events) = decide(inst, items, *view)
        return new, changed, (result, events), events
    result, events = store.update(iid, with_events, lease=lease, index=index, reindex=reindex)
    if events:
        into.extend(dict(e, instance=iid) for e in events)
    return result


# ---------------------------------------------------------------------- controller identity (leases)
def controller_pid():
    """The pid of the ansible-playbook process that runs this action plugin, or ControllerGone.

    Action plugins run in a worker process that ansible-playbook forked. When ansible-playbook dies, the worker is
    re-parented (to init or to a subreaper) and ``os.getppid()`` then names a process that will never die: a lease
    recorded with it would block every recovery until it expires. multiprocessing keeps the pid of the process
    that forked the worker, so the two are compared; outside a worker (tests, tools) the parent is the caller.
    """
    import multiprocessing
    pid = os.getppid()
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid and parent.pid != pid:
        raise ControllerGone('the controller process %d is gone; this worker stops' % parent.pid)
    return pid


def controller_owner(what, pid=None):
    """Who drives: the ansible-playbook process (the parent of the worker running the action plugin)."""
    pid = pid or controller_pid()
    return _store.default_owner(what, pid=pid, start=_store.process_start_time(pid), program='ansible-playbook',
                                user=os.environ.get('USER') or str(os.getuid()))


def lease_from_dict(store_mod, data):
    if isinstance(data, store_mod.Lease):
        return data
    return store_mod.Lease(iid=data['iid'], token=data['token'], epoch=int(data['epoch']),
                           owner=dict(data.get('owner') or {}), expires=float(data.get('expires') or 0))


def chart_path(folder, iid):
    """The run chart file of an instance in ``folder``: ``<frame>@<date>.html``."""
    safe = ''.join(c if c.isalnum() or c in '@._-' else '_' for c in iid)
    return os.path.join(os.path.expanduser(folder), safe + '.html')


def release_leases(store, store_mod, leases):
    """Give up every lease of ``leases`` ({iid: Lease or its dict}) that is still ours; errors are ignored (a
    lease that cannot be released expires)."""
    for data in (leases or {}).values():
        try:
            store.release_lease(lease_from_dict(store_mod, data))
        except (store_mod.StoreError, KeyError, TypeError, ValueError):
            pass


# ---------------------------------------------------------------------- instances

def make_instance(defn, operation_date, options=None):
    """The ``not_submitted`` instance record of a frame for ``operation_date`` (:meth:`_records.Instance.new`)."""
    return Instance.new(defn, operation_date, options, now=isotime()).to_dict()


def start_at_of(instance):
    return _model.start_datetime(instance['definition'], instance['operation_date'])


def planner_for(instance, items, now=None):
    pl = Planner(instance['definition'], instance, items, now=now or utcnow(), start_at=start_at_of(instance))
    pl.attempt_id_for = attempt_id_factory(instance)
    return pl


def attempt_id_factory(instance):
    def make(path, attempt):
        return _model.attempt_id(instance['frame'], instance['operation_date'], instance['uid'], path, attempt)
    return make


def job_spec(instance, item_def, item, root=None):
    spec = {
        'id': item['attempt_id'],
        'name': item_def['path'],
        'labels': {'frame': instance['frame'], 'operation_date': instance['operation_date'],
                   'instance': instance['id'], 'path': item_def['path'], 'attempt': str(item['attempt']),
                   'host': item['host']},
    }
    spec.update(_monitor.command_fields(item_def))
    if item_def.get('env'):
        spec['env'] = dict(item_def['env'])
    if item_def.get('secret_env'):
        # the names only (env name -> Ansible variable): the host's driver looks the values up just before the
        # launch call (see _secrets); no value is ever part of a record
        spec['secret_env'] = dict(item_def['secret_env'])
    return spec


def summary_of(instance, items):
    counts = {}
    for item in items.values():
        if item['kind'] == 'job':
            counts[item['state']] = counts.get(item['state'], 0) + 1
    return {'id': instance['id'], 'state': instance['state'], 'counts': counts}


class Engine:
    """Operations on instances in one store, on behalf of one controller process."""

    def __init__(self, store, store_mod, *, owner=None, lease_ttl=DEFAULTS['lease_ttl']):
        self.store = store
        self.store_mod = store_mod
        self.owner = owner or controller_owner('run')
        self.lease_ttl = float(lease_ttl)
        #: every state change this engine wrote, with its ``instance`` (for the recorder's history)
        self.events = []
        #: resources the inventory declares ({name: capacity}, ``jobnet_resources``): written to the store when a
        #: frame that needs them is submitted and the store has no definition of that name (the store wins)
        self.resources_declared = {}

    def check_resources(self, defn):
        """Refuse a frame whose jobs need a resource nobody defined, or more units than its capacity (the store's
        definition, else the inventory's); then write the inventory's definitions the store lacks (create-only:
        of two controllers, the first one's stays). Nothing is recorded for a refused frame."""
        needed = {name for d in defn.get('items') or [] for name in (d.get('resources') or {})}
        if not needed:
            return
        stored = self.store.get_resources()
        capacities = _resources.capacities_of(stored, self.resources_declared)
        problems = _resources.needs_beyond(defn, capacities)
        if problems:
            raise EngineError('invalid frame %s: %s' % (defn['frame'], '; '.join(problems)))
        for name in sorted(needed - set(stored)):
            self.store.put_resource(name, {'capacity': capacities[name], 'by': 'inventory (jobnet_resources)'},
                                    create_only=True)

    # ------------------------------------------------------------------ leases
    def acquire(self, iid):
        try:
            lease = self.store.acquire_lease(iid, self.owner, self.lease_ttl, is_dead=self._dead_or_us)
        except self.store_mod.LeaseHeld as exc:
            what = (exc.owner or {}).get('what')
            mine = self.owner.get('what')
            if what == 'recover' and mine != 'recover':
                from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _recovery
                raise EngineError('%s (%s)' % (_recovery.refusal_message(mine, iid), exc))
            raise EngineError(str(exc))
        return lease

    def _dead_or_us(self, owner):
        if isinstance(owner, dict) and owner.get('host') == self.owner.get('host') \
                and owner.get('pid') == self.owner.get('pid') and owner.get('start') == self.owner.get('start'):
            return True  # this very controller (an earlier play of the same run)
        return _store.owner_is_dead(owner)

    def release(self, lease_dicts):
        release_leases(self.store, self.store_mod, lease_dicts)

    # ------------------------------------------------------------------ run: submit a frame
    def submit(self, defn, operation_date, *, hosts_known=None):
        """Create (or re-submit a not_submitted) instance and take its lease. Returns (instance, lease)."""
        iid = instance_id(defn['frame'], operation_date)
        existing = self.store.get_instance(iid)
        if existing is None or State(existing['state']) == State.NOT_SUBMITTED:
            self.check_resources(defn)
        if existing is not None and State(existing['state']) != State.NOT_SUBMITTED:
            st = existing['state']
            lease = self.store.get_lease(iid)
            if lease is not None and not self._dead_or_us(lease.owner) and not lease.expired:
                raise EngineError(str(self.store_mod.LeaseHeld(iid, lease.owner, lease.expires)))
            hint = {
                'normal_end': 'it ended normally; init it (jobnet.scheduler.init) to run it again',
                'skip_end': 'it was skipped; init it (jobnet.scheduler.init) to run it again',
                'abnormal_end': 'it ended abnormally; fix the cause and run jobnet.scheduler.rerun',
            }.get(st, 'its controller is gone; run jobnet.scheduler.recover to adopt its jobs and carry it on')
            raise EngineError('frame instance %s is already submitted (state %s): %s' % (iid, st, hint))
        lease = self.acquire(iid)
        try:
            if existing is None:
                instance = make_instance(defn, operation_date)
                try:
                    self.store.create_instance(instance, initial_items(defn))
                except self.store_mod.InstanceExists:
                    raise EngineError('frame instance %s was created by another controller just now' % iid)
            else:
                def redefine(inst, items):
                    new = dict(inst)
                    new['definition'] = defn
                    fresh = initial_items(defn)
                    for path, item in fresh.items():
                        if path in items:  # keep the attempt counter: an attempt id is never reused
                            item['attempt'] = items[path].get('attempt', 0)
                            old_flags = items[path].get('flags') or {}
                            if old_flags.get('skip') or old_flags.get('pause'):  # an operator's mark
                                item['flags']['skip'] = bool(old_flags.get('skip'))
                                item['flags']['pause'] = bool(old_flags.get('pause'))
                    return new, fresh, None
                self.store.update(iid, redefine, lease=lease)

            def do_submit(inst, items):
                pl = planner_for(inst, items)
                pl.instance['submitted'] = isotime(pl.now)
                pl.submit()
                return pl.instance, pl.changed(), (None, pl.events)
            commit(self.store, iid, do_submit, lease, self.events)
        except Exception:
            self.store.release_lease(lease)
            raise
        return self.store.get_instance(iid), lease

    # ------------------------------------------------------------------ operations
    def operate(self, iid, operation, path=None, lease=None, jobs=None, preview=False):
        """rerun, resume, init, force_init, skip, pause, release, stop, force_start.

        Returns a result dict that holds ``stop``: {host: [attempt ids]} to stop on hosts, and ``state``. With
        ``preview`` (check mode) the decision is made on the records as they are and nothing is written; the
        result then also holds the ``events`` the operation would record.
        """
        def fn(inst, items):
            pl = planner_for(inst, items)
            stop = []
            if operation == 'rerun':
                pl.rerun()
            elif operation == 'resume':
                pl.resume()
            elif operation in ('init', 'force_init'):
                stop = pl.init(path, force=operation == 'force_init')
            elif operation in ('skip', 'pause', 'release'):
                pl.mark(path, operation)  # without path: the whole frame
            elif operation == 'stop':
                stop = pl.stop(path)
            elif operation == 'record':
                pl.record_stopped(jobs or [])
            elif operation == 'force_start':
                if not path:
                    raise OperationError('force_start needs the path of a job (-e path=NET/JOB)')
                pl.force_start(path)
            else:
                raise OperationError('unknown operation %r' % operation)
            stops = {}
            for _path, host, aid in stop:
                stops.setdefault(host, []).append(aid)
            return pl.instance, pl.changed(), ({'stop': stops, 'state': pl.instance['state']}, pl.events)
        try:
            if preview:
                inst, items = self.store.load(iid)
                _new, _changed, (result, events) = fn(inst, items)
                return dict(result, events=[dict(e, instance=iid) for e in events])
            return commit(self.store, iid, fn, lease, self.events)
        except OperationError as exc:
            raise EngineError(str(exc))

    # ------------------------------------------------------------------ recovery
    def recover(self, iid, lease, *, fetched, unreachable, options, now, manager_hosts, preview=False, files=None):
        """Recover one instance in one store transaction: the recovery tables (5.429-5.432) with the hosts'
        answers, the frame and net states derived from the result, then (``auto_rerun``) the automatic rerun.

        ``fetched`` is {attempt id: job_info view} of every host that answered, ``unreachable`` the hosts that
        did not, ``files`` {(host, path): {'exists', 'mtime'}} what they said of the files of file triggers (note 1).
        Returns the :class:`_recovery.RecoveryResult` (messages, rows, the attempts to stop on the manager node).
        """
        from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _recovery

        def fn(inst, items):
            res = _recovery.recover_instance(
                inst, items, fetched=None if options.recovery_skip else fetched, unreachable=unreachable,
                options=options, now=now, start_at=start_at_of(inst), manager_hosts=manager_hosts)
            pl = planner_for(inst, items, now=now)
            pl.take_recovered(res.instance, res.items)
            if options.recovery:
                # actions adopted from their hosts; deadlines passed during the failure reported, not acted on
                pl.recover_actions(None if options.recovery_skip else fetched, unreachable)
                pl.check_deadlines(run_actions=False, messages=res.messages)
                if (inst.get('definition') or {}).get('triggers'):
                    pl.instance['triggers'] = _triggers.recover(pl.instance, {'files': files or {}}, now,
                                                                options.as_dict())
                    pl.instance_changed = True
                pl.derive()
                if options.auto_rerun and State(pl.instance['state']) != State.NOT_SUBMITTED:
                    pl.resume()
                said = _resources_after_recovery(pl, options.resource_reset)
                if said:
                    res.messages.append(said)
            events = list(res.events) + pl.events
            return (pl.instance if pl.instance_changed else None), pl.changed(), (res, events)
        if preview:   # check mode: the decision on the records as they are, nothing written
            inst, items = self.store.load(iid)
            return fn(inst, items)[2][0]
        if options.recovery and not options.recovery_skip:
            self.raise_recovered_ends(iid, fetched)
        # the index of holders and waiters is rebuilt from the recovered records, in the same transaction: the
        # occupancy every launch decision sees after this is that of the jobs as recovery found them
        return commit(self.store, iid, fn, lease, self.events, reindex=True)

    def raise_recovered_ends(self, iid, fetched):
        """Before recovery records them: the events of the jobs that ended normally while the controller was down
        (``on_end: {event:}``), set ON first, as a driver does (see HostDriver._raise_on_end)."""
        inst, items = self.store.load(iid)
        for d in (inst.get('definition') or {}).get('items') or []:
            event = (d.get('on_end') or {}).get('event')
            item = items.get(d['path']) or {}
            view = fetched.get(item.get('attempt_id')) if event and item.get('attempt_id') else None
            if view and view.get('state') == 'normal_end' and item.get('state') != State.NORMAL_END.value:
                self.store.put_trigger_event(event, _triggers.ON, 'job %s %s (attempt %s, found by recovery)'
                                             % (iid, d['path'], item['attempt_id']))

    def record_recovery_stops(self, iid, lease, jobs):
        """Record what the manager node reported of the attempts recovery stopped there (rc, signal, end)."""
        def fn(inst, items):
            pl = planner_for(inst, items)
            pl.record_recovery_stops(jobs)
            return (pl.instance if pl.instance_changed else None), pl.changed(), (None, pl.events)
        commit(self.store, iid, fn, lease, self.events)


class HostDriver:
    """Drives every job of one host for a set of instances, for a bounded time.

    ``run_module(name, args)`` runs a module on this host and returns its result dict; it raises
    ``HostUnreachable`` (or returns ``{'unreachable': True}``) when the host cannot be reached.
    """

    def __init__(self, store, store_mod, host, leases, run_module, *, limit=None, root=None,
                 poll_interval=DEFAULTS['poll_interval'], lease_ttl=DEFAULTS['lease_ttl'],
                 unreachable_retries=DEFAULTS['unreachable_retries'],
                 unreachable_delay=DEFAULTS['unreachable_delay'], sleep=time.sleep, clock=time.monotonic,
                 say=None, progress_interval=DEFAULTS['progress_interval'], chart_dir=None, secrets=None,
                 trigger_timeout=DEFAULTS['trigger_timeout']):
        self.store = store
        self.store_mod = store_mod
        self.host = host
        self.leases = {iid: lease_from_dict(store_mod, d) if isinstance(d, dict) else d for iid, d in leases.items()}
        self.run_module = run_module
        self.limit = int(limit) if limit not in (None, '', 0, '0') else None
        self.root = root
        self.poll = float(poll_interval)
        self.lease_ttl = float(lease_ttl)
        self.retries = int(unreachable_retries)
        self.retry_delay = float(unreachable_delay)
        self.sleep = sleep
        self.clock = clock
        self.failures = 0
        self.down = False
        self.events = []
        self.launched = 0
        self.ended = 0
        self._renewed = 0.0
        self.summaries = {}
        self.parent = controller_pid()
        #: prints a line for the operator (the display proxy of the action plugin); None prints nothing
        self.say = say
        self.progress_interval = float(progress_interval)
        self._progress_at = None
        self._progress_for = set()
        self._progress_shown = {}
        #: where the run chart of each instance is rewritten while it runs (by the driver that prints its progress)
        self.chart_dir = chart_dir
        self._chart_at = None
        #: looks up a secret_env variable of this host (``_secrets.Resolver``); None: jobs with secrets are refused
        self.secrets = secrets
        #: the waiting jobs already said to wait for attempts of unknown state
        self._stuck_shown = set()
        #: instances with waiters that no live controller drives (their controller died, not recovered yet), and
        #: when that was last looked at
        self._undriven = frozenset()
        self._undriven_at = None
        #: triggers (see _triggers): the definitions of the leased instances (read once), what this host's
        #: job_info calls last said of the watched files ({path: {'exists', 'mtime'}}), since when only trigger
        #: waiters keep this driver going (trigger_timeout), the waiters said to wait for an unknown trigger
        self._defs = {}
        self.files = {}
        self.trigger_timeout = float(trigger_timeout or 0)
        self._trigger_only_since = {}
        self._unknown_shown = set()
        #: delays this driver recorded (for its lines), the earliest deadline of its instances (its timer)
        self._seen_delays = []
        self._next_deadline = None
        #: the lines of delay monitoring this driver printed (the step's ``monitoring``, for the recorder)
        self.monitoring = []
        #: module calls made, by module name, and rounds driven (a round: plan, launch, one poll of the host)
        self.calls = {}
        self.rounds = 0

    # ------------------------------------------------------------------ store helpers
    def _check_parent(self):
        if os.getppid() != self.parent:
            # the controller (ansible-playbook) died and this worker was orphaned: stop driving at once, the
            # recovery of the next controller takes over
            raise ControllerGone('the controller process %d is gone; this driver stops' % self.parent)

    def _update(self, iid, fn, index=False):
        def guarded(inst, items, *view):
            self._check_parent()  # inside the transaction: an orphaned driver never writes
            return fn(inst, items, *view)
        try:
            result = commit(self.store, iid, guarded, self.leases[iid], self.events, index=index)
        except self.store_mod.LeaseLost as exc:
            raise EngineError(self._lost_message(iid, exc))
        if len(self.events) > 2 * EVENTS_KEPT:
            del self.events[:-EVENTS_KEPT]
        return result

    def _lost_message(self, iid, exc):
        current = getattr(exc, 'current', None)
        if current is None or not current.token:
            return ('frame instance %s is no longer leased by this run (the driver of another host stopped with an '
                    'error, or the lease was released): the driver of %s stops too' % (iid, self.host))
        return 'lost the lease of frame instance %s: another controller drives it now (%s)' % (iid, exc)

    def _renew(self, force=False):
        now = self.clock()
        if not force and now - self._renewed < self.lease_ttl / 4.0:
            return
        for iid, lease in list(self.leases.items()):
            try:
                self.leases[iid] = self.store.renew_lease(lease, self.lease_ttl) or lease
            except self.store_mod.LeaseLost as exc:
                raise EngineError(self._lost_message(iid, exc))
        self._renewed = now

    def _host_states(self):
        try:
            return self.store.get_host_states() or {}
        except (AttributeError, self.store_mod.StoreError):
            return {}

    def _set_host(self, down, message=''):
        try:
            self.store.set_host_state(self.host, {'down': bool(down), 'message': message, 'updated': isotime()})
        except (AttributeError, self.store_mod.StoreError):
            pass

    def down_hosts(self):
        return {h for h, rec in self._host_states().items() if isinstance(rec, dict) and rec.get('down')}

    # ------------------------------------------------------------------ one round
    def _plan(self):
        """Advance every instance and mark this host's launches (write-ahead). Returns [(iid, specs)].

        Each instance is one transaction that sees the store's index of holders and waiters, over every instance
        and every controller on the store: the resources a job takes and its host slot are recorded with its
        ``launching`` record, so the host's limit and every resource's capacity hold globally."""
        plans = []
        self._look_for_undriven()
        views = self._trigger_views()
        for iid in self.leases:
            specs, changes = self._update(iid, functools.partial(self._pick, triggers=views.get(iid)), index=True)
            self._tell_triggers(iid, changes)
            self._tell_delays()
            if specs:
                plans.append((iid, specs))
        return plans

    # ------------------------------------------------------------------ triggers
    def _definition(self, iid):
        defn = self._defs.get(iid)
        if defn is None:
            inst = self.store.get_instance(iid) or {}
            defn = self._defs[iid] = inst.get('definition') or {}
        return defn

    def _trigger_views(self):
        """{iid: what its triggers' sources say now} (see _triggers.evaluate), for the instances that have
        triggers: the store's events and the linked frames are read once per round for all of them."""
        views = {}
        events = None
        frames = {}
        for iid in self.leases:
            defn = self._definition(iid)
            if not defn.get('triggers'):
                continue
            view = {'host': self.host, 'files': dict(self.files)}
            if _triggers.needs_events(defn):
                if events is None:
                    events = self._events()
                view['events'] = events
            linked = _triggers.linked_frames(defn)
            if linked:
                date = iid.rpartition('@')[2]
                view['frames'] = {}
                for frame in linked:
                    key = instance_id(frame, date)
                    if key not in frames:
                        frames[key] = self._summary(key)
                    view['frames'][frame] = frames[key]
            views[iid] = view
        return views

    def _events(self):
        try:
            return self.store.get_trigger_events(problems=[])
        except self.store_mod.StoreError:
            return None   # not readable now: the event triggers stay as they are

    def _summary(self, iid):
        try:
            inst = self.store.get_instance(iid)
        except (self.store_mod.StoreError, ValueError):
            return None
        if inst is None:
            return {}
        return {k: inst.get(k) for k in ('id', 'state', 'ended', 'updated')}

    def _tell_delays(self):
        for iid, path, kind, setting, deadline in self._seen_delays:
            self._monitored(iid, 'delay', 'jobnet: LATE %s %s: %s passed (late %s, deadline %s)'
                            % (iid, path or '(the frame)', setting, kind, deadline),
                            path=path, late=kind, setting=setting, deadline=deadline)
        self._seen_delays = []

    def _monitored(self, iid, what, line, **fields):
        """Print a line of delay monitoring and keep it for the step's result (``monitoring``: the recorder)."""
        self._print(line)
        self.monitoring.append(dict(fields, instance=iid, kind=what, line=line, time=isotime()))
        if len(self.monitoring) > 2 * EVENTS_KEPT:
            del self.monitoring[:-EVENTS_KEPT]

    def _tell_triggers(self, iid, changes):
        if not changes:
            return
        tdefs = {t['name']: t for t in self._definition(iid).get('triggers') or []}
        for name, before, after in changes:
            self._print(_triggers.change_line(iid, name, tdefs.get(name), before, after))

    def _watched_files(self, iid, inst):
        if inst.get('state') in _ENDED:
            return []
        return _triggers.files_on(inst.get('definition') or {}, self.host, _triggers.records_of(inst))

    def _pick(self, inst, items, view, triggers=None):
        """In one transaction: take what the triggers' sources say, advance the instance and mark this host's
        launches (write-ahead)."""
        pl = planner_for(inst, items)
        changes = pl.take_triggers(triggers) if triggers is not None else []
        pl.advance()
        capacities = _resources.capacities_of(view.get('resources'))
        entries = view.get('entries') or {}
        if self._undriven:
            # the waiters of an instance nobody drives do not hold others back (they keep their ready time: once
            # recovered, they are in their place again); what its jobs hold is always counted
            entries = {key: e for key, e in entries.items()
                       if not (e.get('kind') == _resources.WAIT and e.get('iid') in self._undriven)}
        occupancy = _resources.Occupancy(entries, capacities, inst['id'], pl.items)
        picked = pl.pick_launches(self.host, None, attempt_id_factory(inst), occupancy=occupancy, limit=self.limit)
        specs = [job_spec(inst, pl.defs[p], pl.items[p], self.root) for p in picked]
        # delay monitoring: every deadline passed now is recorded (once) and its action decided, write-ahead; the
        # actions of this host still to launch go with this round's launches
        pl.check_deadlines()
        for key, act, spec in pl.action_launches(self.host):
            specs.append(dict(_monitor.action_spec(inst, key, act, spec), action=key))
        self._seen_delays.extend((inst['id'],) + d for d in pl.delays)
        return (pl.instance if pl.instance_changed else None), pl.changed(), ((specs, changes), pl.events)

    def _call(self, name, args):
        """Run a module on the host; returns its result, or None when the host did not answer."""
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            result = self.run_module(name, args)
        except HostUnreachable as exc:
            return self._unreachable(str(exc))
        if result.get('unreachable'):
            return self._unreachable(result.get('msg', 'unreachable'))
        if self.failures:
            self._set_host(False)
            self._mark_back()
        self.failures = 0
        return result

    def _unreachable(self, message):
        self.failures += 1
        if self.failures >= self.retries:
            self.down = True
            self._set_host(True, message)
            for iid in self.leases:
                def fn(inst, items):
                    pl = planner_for(inst, items)
                    pl.host_down(self.host, '%s unreachable: %s' % (self.host, message))
                    pl.advance()
                    return (pl.instance if pl.instance_changed else None), pl.changed(), (None, pl.events)
                self._update(iid, fn)
        return None

    def _mark_back(self):
        for iid in self.leases:
            def fn(inst, items):
                pl = planner_for(inst, items)
                pl.host_back(self.host)
                pl.advance()
                return (pl.instance if pl.instance_changed else None), pl.changed(), (None, pl.events)
            self._update(iid, fn)

    def _launch(self, plans):
        self._check_parent()  # no launch for a controller that is gone: the attempts stay launching
        specs = []
        unresolved = {}
        for _iid, ss in plans:
            for spec in ss:
                # a copy with the secrets' values, for this call only: the plans keep the names
                call_spec = dict(spec)
                call_spec.pop('action', None)
                try:
                    _secrets.resolve(call_spec, self.secrets)
                except _secrets.SecretError as exc:
                    unresolved[spec['id']] = ('refused', 'launch refused on %s: %s' % (self.host, exc))
                    continue
                specs.append(call_spec)
        outcome = {}
        if specs:
            args = {'state': 'started', 'jobs': specs}
            if self.root:
                args['root'] = self.root
            result = self._call('jobnet.scheduler.job', args)
            outcome = self._launch_outcome(result, [spec['id'] for spec in specs])
            del args, specs   # the secrets' values are not kept
        outcome.update(unresolved)
        for iid, ss in plans:
            acts = {spec['id']: spec['action'] for spec in ss if spec.get('action')}
            ids = {spec['id']: spec['name'] for spec in ss if not spec.get('action')}
            # a job that ended already in its launch call raises its on_end event before its end is recorded
            self._raise_on_end(iid, [(ids[aid], value) for aid, (what, value) in outcome.items()
                                     if aid in ids and what == 'job'])
            moves = self._update(iid, functools.partial(self._launched, ids=ids, outcome=outcome, acts=acts))
            self.launched += len(ids)
            self._tell(moves, {})
            self._tell_actions(iid, acts, outcome)

    def _launch_outcome(self, result, ids):
        """What the host says of each attempt of a launch call: {attempt id: ('job', view) | ('refused', why)}.

        An attempt is recorded as refused only when the host says it did not start it: listed in the call's
        ``refused``, or absent from the host after a failed call. A call that failed without saying what it
        started (a module that crashed half way) is followed by one ``job_info`` call for the attempts it did
        not report, so that an attempt that runs is never recorded as ended. An attempt the host could not be
        asked about is absent from the answer: it stays ``launching`` and is launched again with the same id.
        """
        if result is None:
            return {}
        outcome = {}
        for job in result.get('jobs') or []:
            if isinstance(job, dict) and job.get('id') in ids and job.get('state'):
                outcome[job['id']] = ('job', job)
        for entry in result.get('refused') or []:
            if isinstance(entry, dict) and entry.get('id') in ids and entry['id'] not in outcome:
                outcome[entry['id']] = ('refused', 'launch refused by %s: %s'
                                        % (self.host, entry.get('msg') or 'not started'))
        unknown = [aid for aid in ids if aid not in outcome]
        if not unknown:
            return outcome
        if not result.get('failed'):
            for aid in unknown:
                outcome[aid] = ('refused', 'the host %s did not report attempt %s' % (self.host, aid))
            return outcome
        message = 'launch refused by %s: %s' % (self.host, result.get('msg', 'module failed'))
        args = {'ids': unknown, 'wait': 0, 'output': False, 'missing': 'ignore'}
        if self.root:
            args['root'] = self.root
        check = self._call('jobnet.scheduler.job_info', args)
        if check is None:
            return outcome   # the host went away: the unknown attempts stay launching
        if check.get('failed'):
            # the host runs no module at all (a broken interpreter, a refused root): nothing of this call started
            for aid in unknown:
                outcome[aid] = ('refused', message)
            return outcome
        seen = {j['id']: j for j in check.get('jobs') or [] if isinstance(j, dict) and j.get('id')}
        for aid in unknown:
            outcome[aid] = ('job', seen[aid]) if aid in seen else ('refused', message)
        return outcome

    def _tell_actions(self, iid, acts, outcome):
        for aid, key in sorted(acts.items()):
            what, value = outcome.get(aid, (None, None))
            if what == 'job':
                self._tell_action(iid, key, value.get('state'), ': %s (attempt %s)' % (value.get('state'), aid))
            elif what == 'refused':
                self._tell_action(iid, key, 'refused', ' refused: %s' % value)

    def _tell_action(self, iid, key, state, tail):
        """The line of an action or end command that started, was refused or ended on this host."""
        self._monitored(iid, 'action', 'jobnet: ACTION %s %s on %s%s' % (iid, _monitor.describe(key), self.host, tail),
                        action=key, state=state)

    def _launched(self, inst, items, ids, outcome, acts=None):
        """In one transaction: record what the host said of the attempts just launched."""
        pl = planner_for(inst, items)
        for aid, key in (acts or {}).items():
            what, value = outcome.get(aid, (None, None))
            if what == 'job':
                pl.apply_action(key, value)
            elif what == 'refused':
                pl.action_refused(key, value)
            # else: no answer yet; it stays launching and is launched again with the same id
        before = {path: items[path]['state'] for path in ids.values() if path in items}
        for aid, path in ids.items():
            what, value = outcome.get(aid, (None, None))
            if what == 'job':
                pl.apply_job(path, value)
            elif what == 'refused':
                pl.launch_failed(path, value, env_down=False)
            elif self.down:
                pl.launch_failed(path, '%s unreachable' % self.host, env_down=True)
            # else: no answer yet; the attempt stays launching and is launched again with the same id
        pl.advance()
        moves = _job_moves(inst['id'], before, pl.items)
        return (pl.instance if pl.instance_changed else None), pl.changed(), (moves, pl.events)

    def _poll(self, wait):
        """One job_info call for every job of this host that runs (or ran while the host was away)."""
        watch = {}
        files = set()
        for iid in self.leases:
            inst, items = self.store.load(iid)
            self._defs[iid] = inst.get('definition') or {}
            files.update(self._watched_files(iid, inst))
            for key, act in (inst.get('actions') or {}).items():
                if act.get('host') == self.host and act.get('state') == 'running' and act.get('phase') == LAUNCHED:
                    watch[act['attempt_id']] = (iid, ('action', key))
            for path, it in items.items():
                if it['kind'] != 'job' or it['host'] != self.host or not it.get('attempt_id'):
                    continue
                # queuing_env_down jobs are not asked about: the next recovery resolves them (table 5.432)
                if it['state'] == State.RUNNING.value and it.get('phase') == LAUNCHED:
                    watch[it['attempt_id']] = (iid, path)
        if not watch and not files:
            self.files = {}
            if wait > 0:
                self._wait_store(wait)
            return
        # one call for every job of this host and every file a trigger waits for here, whatever their number
        args = {'ids': sorted(watch), 'wait': wait, 'output': False, 'missing': 'ignore'}
        if files:
            args['files'] = sorted(files)
            args['files_present'] = sorted(p for p in files if (self.files.get(p) or {}).get('exists'))
        if self.root:
            args['root'] = self.root
        result = self._call('jobnet.scheduler.job_info', args)
        if result is None:
            if not self.down and self.retry_delay > 0:
                self.sleep(min(self.retry_delay, wait or self.retry_delay))
            return
        if result.get('failed'):
            raise EngineError('job_info on %s failed: %s' % (self.host, result.get('msg') or result.get('exception')
                                                             or 'no message'))
        if files:
            self.files = {f['path']: {'exists': bool(f.get('exists')), 'mtime': f.get('mtime')}
                          for f in result.get('files') or [] if isinstance(f, dict) and f.get('path') in files}
        seen = {j['id']: j for j in result.get('jobs', [])}
        missing = set(result.get('missing', []))
        per_iid = {}
        for aid, (iid, path) in watch.items():
            per_iid.setdefault(iid, []).append((aid, path))
        for iid, pairs in per_iid.items():
            changes = []
            for aid, path in pairs:
                if aid in seen:
                    changes.append((path, seen[aid]))
                elif aid in missing:
                    changes.append((path, None))
            if not changes:
                continue
            acts = [(path[1], job) for path, job in changes if isinstance(path, tuple)]
            changes = [(path, job) for path, job in changes if not isinstance(path, tuple)]
            self._raise_on_end(iid, changes)
            moves = self._update(iid, functools.partial(self._polled, changes=changes, acts=acts))
            self._tell(moves, seen)
            for key, job in acts:
                if job is None or job.get('state') != 'running':
                    state = (job or {}).get('state', 'lost')
                    self._tell_action(iid, key, state, ': %s%s' % (
                        state, '' if not job or job.get('rc') is None else ' rc %s' % job['rc']))

    def _raise_on_end(self, iid, changes):
        """The events of the jobs that ended normally with ``on_end: {event:}``, set ON before their end is
        recorded: a controller that dies in between leaves the event ON and the end to recovery, which sets it
        again (the same state: nothing changes), so an end is never recorded without its event."""
        defs = {d['path']: d for d in self._definition(iid).get('items') or []}
        for path, job in changes:
            event = (defs.get(path, {}).get('on_end') or {}).get('event')
            if event and job is not None and job.get('state') == 'normal_end':
                sender = 'job %s %s (attempt %s)' % (iid, path, job.get('id'))
                try:
                    self.store.put_trigger_event(event, _triggers.ON, sender)
                except self.store_mod.StoreError as exc:
                    raise EngineError('the event %s of %s %s could not be set: %s' % (event, iid, path, exc))
                self._print('jobnet: event %s ON by %s' % (event, sender))

    def _polled(self, inst, items, changes, acts=()):
        """In one transaction: record the states the host reported (None: the host does not have it)."""
        pl = planner_for(inst, items)
        for key, job in acts:
            pl.apply_action(key, job)
        before = {path: items[path]['state'] for path, _job in changes if path in items}
        for path, job in changes:
            item = pl.items[path]
            if job is None:
                pl.apply_job(path, {'state': 'lost', 'rc': None, 'signal': None})
                pl.items[path]['message'] = 'attempt %s not found on %s' % (item['attempt_id'], self.host)
                self.ended += 1
            elif job.get('state') != 'running' or item['state'] != State.RUNNING.value:
                pl.apply_job(path, job)
                if job.get('state') != 'running':
                    self.ended += 1
        pl.advance()
        moves = _job_moves(inst['id'], before, pl.items)
        return (pl.instance if pl.instance_changed else None), pl.changed(), (moves, pl.events)

    def _wait_store(self, wait):
        """Nothing runs here: wait until another host's driver changes an instance, or ``wait`` passes."""
        events, linked = False, set()
        for iid in self.leases:
            defn = self._definition(iid)
            events = events or _triggers.needs_events(defn)
            linked.update(instance_id(f, iid.rpartition('@')[2]) for f in _triggers.linked_frames(defn))

        def versions():
            # its own instances, and what is held (a unit freed by another instance or controller wakes it); the
            # linked frames its triggers wait for
            out = [self.store.get_version(iid) for iid in self.leases] + [self._index_version()]
            out.extend(self.store.get_version(iid) for iid in sorted(linked))
            return out
        before = versions()
        seen_events = self._events() if events else None
        deadline = self.clock() + wait
        looked = self.clock()
        while self.clock() < deadline:
            self.sleep(min(0.1, max(0.0, deadline - self.clock())))
            if versions() != before:
                return
            if events and self.clock() - looked >= EVENTS_LOOK:
                # the named events are read less often (on Redis they share one hash with the day schedules)
                looked = self.clock()
                if self._events() != seen_events:
                    return

    # ------------------------------------------------------------------ what the operator sees
    def _print(self, line):
        if self.say is not None:
            self.say(line)

    def _tell(self, moves, seen):
        """One line when a job starts, one (with the last lines of its stderr on a failure) when it ends."""
        if self.say is None or not moves:
            return
        ends = [(iid, item) for kind, iid, item in moves if kind == 'end']
        tails = self._stderr_tails([item for _iid, item in ends if item['state'] != State.NORMAL_END.value
                                    and item.get('started')], seen)
        for kind, iid, item in moves:
            if kind == 'start':
                self._print(_report.start_line(iid, item))
                continue
            tail = tails.get(item.get('attempt_id'))
            last = [line.strip() for line in (tail or '').splitlines() if line.strip()][-1:]
            if last:
                # the reason of a failure says what the job last wrote to stderr (status table, failure message)
                item['message'] = self._note_stderr(iid, item, last[0][:200]) or item.get('message')
            for line in _report.end_line(iid, item, tail):
                self._print(line)

    def _note_stderr(self, iid, ended, line):
        def fn(inst, items):
            item = items.get(ended['path'])
            if (item is None or item.get('attempt_id') != ended.get('attempt_id')
                    or item['state'] != State.ABNORMAL_END.value or 'stderr:' in (item.get('message') or '')):
                return None, {}, (None, [])
            item = dict(item, message='%s (stderr: %s)' % (item.get('message') or 'abnormal_end', line))
            return None, {item['path']: item}, (item['message'], [])
        try:
            return self._update(iid, fn)
        except EngineError:
            return None

    def _stderr_tails(self, items, seen):
        """{attempt id: the end of its stderr} for failed attempts, read in one job_info call (nothing on error)."""
        ids = [it['attempt_id'] for it in items if it.get('attempt_id')]
        if not ids:
            return {}
        offsets = {}
        for aid in ids:
            view = seen.get(aid) or {}
            size = int(view.get('stderr_size') or 0)
            offsets[aid] = {'stdout': int(view.get('stdout_size') or 0),
                            'stderr': max(0, size - _report.STDERR_BYTES)}
        args = {'ids': ids, 'output': True, 'offsets': offsets, 'max_bytes': _report.STDERR_BYTES,
                'missing': 'ignore', 'wait': 0}
        if self.root:
            args['root'] = self.root
        try:
            result = self.run_module('jobnet.scheduler.job_info', args)
        except HostUnreachable:
            return {}
        if not isinstance(result, dict) or result.get('failed') or result.get('unreachable'):
            return {}
        out = {}
        for job in result.get('jobs') or []:
            text = job.get('stderr') or ''
            if offsets.get(job.get('id'), {}).get('stderr'):
                text = text.partition('\n')[2]   # read from the middle of a line: drop its start
            out[job.get('id')] = text
        return out

    def _progress(self, force=False):
        now = self.clock()
        if self.say is None or (not force and self._progress_at is not None
                                and now - self._progress_at < self.progress_interval):
            return
        self._progress_at = now
        for iid in sorted(self._progress_for):
            summary = self.summaries.get(iid)
            if summary is None:
                continue
            if summary.get('state') in _ENDED and self._progress_shown.get(iid) == summary:
                continue   # an ended instance's line is printed once, not at every interval
            self._progress_shown[iid] = summary
            self._print(_report.progress_line(iid, summary))
        if self.chart_dir and self._progress_for and (force or self._chart_at is None
                                                      or now - self._chart_at >= CHART_INTERVAL):
            self._chart_at = now
            for iid in sorted(self._progress_for):
                try:
                    _report.write_chart(self.store, iid, chart_path(self.chart_dir, iid))
                except (OSError, self.store_mod.StoreError) as exc:
                    self._print('jobnet: the run chart of %s cannot be written in %s: %s' % (iid, self.chart_dir, exc))
                    self.chart_dir = None

    def finished(self):
        down = self.down_hosts()
        done = True
        self._progress_for = set()
        entries = None
        next_deadline = None
        for iid in self.leases:
            inst, items = self.store.load(iid)
            pl = planner_for(inst, items)
            self.summaries[iid] = summary_of(inst, items)
            # one driver prints an instance's progress: that of its first host that is up
            up = sorted(h for h in (inst.get('definition') or {}).get('hosts', []) if h not in down)
            if up and up[0] == self.host:
                self._progress_for.add(iid)
            live, unknown = pl.waiting_on_triggers()
            if unknown:
                self._say_unknown(iid, pl, unknown)
            if live and self._trigger_timed_out(iid, pl, live):
                continue
            at = pl.next_deadline()
            if at is not None and (next_deadline is None or at < next_deadline):
                next_deadline = at
            if pl.quiescent(down):
                continue
            if any(it.get('waiting') for it in items.values() if it['kind'] == 'job'):
                if entries is None:
                    entries = self._index()
                stuck = _resources.stuck(iid, items, entries)
                if stuck:
                    self._say_stuck(iid, stuck)
                if pl.quiescent(down, ignore=stuck):
                    continue
            done = False
        self._next_deadline = next_deadline
        return done

    def _wait_bound(self, wait):
        """A wait of this driver ends at the next deadline of its instances (the timer of delay monitoring)."""
        if self._next_deadline is None:
            return wait
        left = (self._next_deadline - utcnow()).total_seconds()
        return max(0.0, min(wait, left + 0.05))

    #: sends one notice (url, document) -> (ok, error text); replaced in tests of the pure logic
    @staticmethod
    def _post(url, document):
        import json
        import urllib.error
        from ansible.module_utils.urls import open_url
        data = json.dumps(document, sort_keys=True).encode('utf-8')
        try:
            url, headers = _monitor.request_of(url)
            headers.update({'Content-Type': 'application/json'})
            answer = open_url(url, data=data, headers=headers, method='POST', timeout=_monitor.NOTICE_TIMEOUT,
                              http_agent='jobnet.scheduler', follow_redirects='none')
            with answer:
                code = answer.status
        except urllib.error.HTTPError as exc:
            return False, 'HTTP %d' % exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return False, type(exc).__name__ + ': ' + str(getattr(exc, 'reason', exc))[:100]
        return 200 <= code < 300, 'HTTP %d' % code

    def _send_notices(self):
        """The driver that shows an instance's progress sends its due notices, one try each round, and records
        the outcome (the document, never the URL, is what a line shows of it)."""
        for iid in sorted(self._progress_for):
            inst = self.store.get_instance(iid) or {}
            now = utcnow()
            for notice in list(inst.get('notices') or []):
                if not _monitor.due(notice, now):
                    continue
                ok, error = self._post(notice['url'], notice['document'])
                self._update(iid, functools.partial(self._noticed, nid=notice['id'], ok=ok, error=error))
                where = _monitor.target(notice['url'])
                doc = notice['document']
                if ok:
                    line = 'jobnet: NOTIFY %s %s %s %s sent to %s (%s)' % (
                        iid, doc.get('path') or '(the frame)', doc.get('event'), doc.get('what'), where, error)
                else:
                    line = 'jobnet: NOTIFY %s %s %s %s to %s failed (try %d of %d): %s' % (
                        iid, doc.get('path') or '(the frame)', doc.get('event'), doc.get('what'), where,
                        int(notice.get('tries') or 0) + 1, _monitor.NOTICE_TRIES, error)
                self._monitored(iid, 'notice', line, notice=notice['id'], target=where, ok=ok, outcome=error)

    @staticmethod
    def _noticed(inst, items, nid, ok, error):
        notices = []
        for notice in inst.get('notices') or []:
            if notice.get('id') == nid and notice.get('state') == 'pending':
                notice = _monitor.after_try(notice, ok, error, utcnow())
            notices.append(notice)
        return dict(inst, notices=notices), {}, (None, [])

    def _trigger_timed_out(self, iid, pl, live):
        """Whether this driver stops driving an instance whose only live things wait for triggers, because they have
        waited ``trigger_timeout`` seconds (docs/triggers.md); says so once."""
        if self.trigger_timeout <= 0 or pl.active_jobs():
            self._trigger_only_since.pop(iid, None)
            return False
        now = self.clock()
        since = self._trigger_only_since.setdefault(iid, now)
        if now - since < self.trigger_timeout:
            return False
        if (iid, 'timeout') not in self._unknown_shown:
            self._unknown_shown.add((iid, 'timeout'))
            names = sorted({n for p in live for n in pl.wait_for(p)
                            if not _triggers.is_on(pl.instance.get('triggers') or {}, n)})
            self._print('jobnet: %s has waited %d s for trigger%s %s (trigger_timeout): this run stops driving it; '
                        'it stays in the store as it is and goes on when driven again (jobnet.scheduler.recover)'
                        % (iid, self.trigger_timeout, 's' if len(names) > 1 else '', ', '.join(names)))
        return True

    def _say_unknown(self, iid, pl, paths):
        """Once per waiter: it waits for a trigger of unknown state (a recovery skip); only a recovery frees it."""
        records = pl.instance.get('triggers') or {}
        for path in paths:
            if (iid, path) in self._unknown_shown:
                continue
            self._unknown_shown.add((iid, path))
            names = [n for n in pl.wait_for(path) if (records.get(n) or {}).get('state') == _triggers.UNKNOWN]
            self._print('jobnet: %s %s waits for trigger%s %s of unknown state (not looked at by a recovery skip, or '
                        'its host was not reached): run jobnet.scheduler.recover to resolve %s'
                        % (iid, path or '(the frame)', 's' if len(names) > 1 else '', ', '.join(names),
                           'them' if len(names) > 1 else 'it'))

    #: how often (seconds) a driver looks whether the instances of other waiters are still driven
    UNDRIVEN_INTERVAL = 5.0

    def _look_for_undriven(self):
        now = self.clock()
        if self._undriven_at is not None and now - self._undriven_at < self.UNDRIVEN_INTERVAL:
            return
        self._undriven_at = now
        others = {e.get('iid') for e in self._index().values()
                  if e.get('kind') == _resources.WAIT and e.get('iid') not in self.leases}
        undriven = set()
        for iid in others:
            try:
                lease = self.store.get_lease(iid)
            except (self.store_mod.StoreError, ValueError):
                continue
            if lease is None or not lease.token or lease.expired or self.store_mod.owner_is_dead(lease.owner):
                undriven.add(iid)
        self._undriven = frozenset(undriven)

    def _index_version(self):
        try:
            return self.store.get_index_version()
        except (AttributeError, self.store_mod.StoreError):
            return None

    def _index(self):
        try:
            return self.store.get_index()
        except (AttributeError, self.store_mod.StoreError):
            return {}

    def _say_stuck(self, iid, stuck):
        """Once per job: it waits only for what attempts of unknown state hold; nothing frees it but a recovery."""
        shown = self._stuck_shown
        for path, holders in sorted(stuck.items()):
            if (iid, path) in shown:
                continue
            shown.add((iid, path))
            self._print('jobnet: %s %s waits for what %s hold%s, whose state is unknown (queuing_env_down): run '
                        'jobnet.scheduler.recover to resolve %s' % (iid, path, ', '.join(holders),
                                                                    's' if len(holders) == 1 else '',
                                                                    'it' if len(holders) == 1 else 'them'))

    def run(self, seconds=None):
        """Drive for up to ``seconds`` (None: until nothing more can happen; 0: one round); returns a summary dict
        (``done`` when nothing more can happen)."""
        deadline = None if seconds is None else self.clock() + float(seconds)
        self._renew(force=True)
        while True:
            self._check_parent()
            self._renew()
            self.rounds += 1
            if not self.down:
                plans = self._plan()
                if plans:
                    self._launch(plans)
            left = self.poll if deadline is None else deadline - self.clock()
            if self.down:
                done = True
            else:
                self._poll(self._wait_bound(max(0.0, min(self.poll, left))))
                self._send_notices()
                done = self.finished()
                self._progress(force=done)
            # a step does not end in the middle of a host's retries: the count of failed calls lives in this driver
            if done or (deadline is not None and self.clock() >= deadline and self.failures == 0):
                if not self.summaries:
                    self.finished()
                return {
                    'done': done,
                    'host': self.host,
                    'down': self.down,
                    'launched': self.launched,
                    'ended': self.ended,
                    'instances': self.summaries,
                    'events': self.events[-EVENTS_KEPT:],
                    'progress_printed': self.say is not None,
                    'calls': dict(self.calls),
                    'monitoring': self.monitoring[-EVENTS_KEPT:],
                    'rounds': self.rounds,
                }


#: whether a job holds its resources and a slot of its host (``_resources.holds_a_slot``)
holds_a_slot = _resources.holds_a_slot


def _resources_after_recovery(pl, reset):
    """After recovery: restore (say what is held and who waits, in order) or, with ``resource_reset``, forget what
    the recovered jobs hold and their places, as the original does (notes 2 and 11). Returns the message, None when
    nothing is held or waits."""
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils._messages import message
    iid = pl.instance['id']
    if reset:
        count, lost = pl.forget_claims()
        return message('JNR128', iid=iid, count=count, waiters=lost) if count or lost else None
    holds, waits = {}, []
    for entry in _resources.current_entries(None, iid, pl.items).values():
        if entry['kind'] == _resources.HOLD:
            slot = 'slot on %s' % entry['host']
            holds[slot] = holds.get(slot, 0) + 1
            for name, units in entry['needs'].items():
                holds[name] = holds.get(name, 0) + units
        else:
            waits.append(entry)
    if not holds and not waits:
        return None
    held = ', '.join('%s %d' % (name, n) for name, n in sorted(holds.items())) or 'nothing held'
    waiting = ', '.join('%s (%s)' % (e['path'], ', '.join(e['for'])) for e in sorted(waits, key=_resources.order_key))
    return message('JNR127', iid=iid, holds=held, waits=waiting or 'none')


def _job_moves(iid, before, items):
    """[('start' | 'end', iid, item copy)] for the jobs whose state moved into running, or from an active state into
    an end, between ``before`` ({path: state}) and ``items``."""
    moves = []
    for path, old in before.items():
        item = items.get(path)
        if item is None or item['kind'] != 'job' or item['state'] == old:
            continue
        new = State(item['state'])
        if new == State.RUNNING:
            moves.append(('start', iid, dict(item)))
        elif new in (State.NORMAL_END, State.ABNORMAL_END) and old in _ACTIVE_JOB_STATES:
            if old != State.RUNNING.value and item.get('started'):
                moves.append(('start', iid, dict(item)))   # started and ended between two looks
            moves.append(('end', iid, dict(item)))
    return moves


_ACTIVE_JOB_STATES = frozenset(s.value for s in (State.RUNNING, State.QUEUING, State.QUEUING_ENV_DOWN,
                                                 State.WAITING))


class HostUnreachable(Exception):
    """The host did not answer (raised by the run_module callable)."""
