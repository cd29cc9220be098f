# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract of a state store backend (:class:`Store`), and what every backend shares.

A backend (``_sqlite.SQLiteStore``, ``_redis.RedisStore``) supplies the abstract methods: the writes that must
be one transaction (:meth:`Store.create_instance`, :meth:`Store.update`, :meth:`Store.delete_instance`), the
fact namespace, and small "raw" primitives that read or write the stored JSON text. Everything else - record
checks, the lease protocol, the reading helpers - is written here once, over those primitives, so both
backends behave the same (``tests/unit/plugins/plugin_utils/test_store_contract.py`` runs one suite against
both).
"""

from __future__ import annotations

import abc
import threading
import time
import uuid

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _resources, _triggers
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import _checks
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    CorruptRecord,
    InvalidRecord,
    Lease,
    LeaseHeld,
    LeaseLost,
    StoreError,
    StoreWriteError,
    UnknownInstance,
    _dumps,
    parse_iid,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._owner import describe_owner
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import epoch_isotime


class Store(abc.ABC):
    """A durable state store: frame instances with their items, leases, event histories, host records and a
    fact-cache namespace.

    Contract common to every method:

    - Every write is one transaction: it is applied whole or not at all. A write that fails raises
      :class:`StoreWriteError` (``PEX209``) and leaves the store as it was.
    - A record handed in that is not acceptable (bad id, missing required key, not plain JSON) raises
      :class:`InvalidRecord` and nothing is written.
    - A stored record that does not parse, lacks a required key or has a key of the wrong type raises
      :class:`CorruptRecord`, which names the instance, the item path (``None`` for the instance record) and the
      key. The store never changes or deletes such a record. A corrupt record refuses only its own instance: the
      others can still be read and written (see :meth:`list_instances`).
    - Records read back carry the keys the store maintains itself: ``version`` and ``updated``.
    """

    backend = 'abstract'
    url = ''

    def __init__(self, timeout: float) -> None:
        self.timeout = float(timeout)
        self._tlock = threading.RLock()

    def __repr__(self) -> str:
        return '<%s %s>' % (type(self).__name__, self.url)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection. The store may not be used afterwards (a new :func:`open_store` is needed)."""

    def _raise_problems(self, problems: list) -> None:
        if problems:
            raise CorruptRecord(self.url, problems)

    # ==== instances and items: the writes (one transaction each, per backend)

    @abc.abstractmethod
    def create_instance(self, instance: dict, items=None, events=None) -> dict:
        """Create an instance, all its items and its first events in one transaction.

        ``instance`` needs ``id`` (or ``frame`` and ``operation_date``) and ``state``; ``items`` is a dict
        ``{path: item}`` or a list of items with a ``path``, each with ``kind`` and ``state``; ``events`` is
        ``None`` or a list of event dicts, appended to the instance's history exactly as
        :meth:`append_events` does (same record, same sequence numbers), in the same transaction.

        Returns the stored instance record (``version`` 1). An id that exists raises :class:`InstanceExists`
        and nothing changes.
        """

    @abc.abstractmethod
    def update(self, iid: str, fn, lease: Lease | None = None, *, paths=None, index=False, reindex=False):
        """Read, decide and write one instance in one transaction; returns what ``fn`` returns as its result.

        Under the instance's exclusive lock the store reads the instance and its items (only ``paths`` when
        given; unknown paths are left out), checks them (:class:`CorruptRecord`), checks that ``lease`` - when
        given - is still the current lease of ``iid`` (else :class:`LeaseLost`, and ``fn`` is not called), then
        calls ``fn(instance, items)``, which returns either

        - ``(instance or None, {path: item or None}, result)``, or
        - ``(instance or None, {path: item or None}, result, events)``,

        where ``instance`` is the new instance record (``None``: unchanged), the dict holds only the items to
        write (``None`` deletes that item; new paths are added after the existing ones), and ``events`` is a
        list of event dicts (or ``None``). The store then writes, in that **same** transaction: the version bump
        (``version`` + 1 on the instance; the changed items get that version), the returned records, and the
        events, appended as :meth:`append_events` appends them (``seq`` dropped and renumbered after the last
        one, ``at`` stamped when absent). Either all of it is written or none of it.

        If ``fn`` raises, or returns something unacceptable (:class:`InvalidRecord`: a bad record, an event
        that is not a dict or not plain JSON), nothing is written. :class:`UnknownInstance` when ``iid`` is not
        in the store.

        **The index of holders and waiters.** In the same transaction the store rewrites the index entry of every
        item written (:func:`_resources.entry_of`, a function of the item alone: a job that holds resources and a
        slot, or waits for them), so the index never disagrees with the items. With ``index=True`` ``fn`` is
        called as ``fn(instance, items, view)``, ``view`` being ``{'entries': {key: entry}, 'resources': {name:
        record}}`` of the whole store, and the write is applied only if no other write changed the index or a
        resource since it was read (the backend decides again from a fresh read otherwise, so ``fn`` must decide
        from its arguments only). With ``reindex=True`` (``paths`` must be ``None``) every entry of the instance is
        rebuilt from its items as they will be (recovery).
        """

    @staticmethod
    def _check_update_args(paths, reindex) -> None:
        if reindex and paths is not None:
            raise InvalidRecord('an update that rebuilds the index (reindex) reads every item: paths must be None')

    @abc.abstractmethod
    def delete_instance(self, iid: str, lease: Lease | None = None) -> bool:
        """Remove an instance with its items, lease and events in one transaction; ``False`` when it was not
        there. With ``lease``, only while that lease is current (else :class:`LeaseLost`)."""

    # ==== instances and items: the reads

    def get_instance(self, iid: str) -> dict | None:
        """The instance record (with the store's ``version``), or ``None``; :class:`CorruptRecord` if bad."""
        parse_iid(iid)
        raw, version = self._get_instance_raw(iid)
        if raw is None:
            return None
        problems: list = []
        rec = _checks.parse_instance(iid, raw, version, problems)
        self._raise_problems(problems)
        return rec

    def list_instances(self, operation_date: str | None = None, *, frame: str | None = None,
                       corrupt: str = 'raise', problems: list | None = None) -> list[dict]:
        """Instance records sorted by (operation_date, frame), filtered by ``operation_date`` and ``frame``.

        A corrupt instance record is handled by the first of these that applies:

        - ``problems`` is a list: the corrupt instances are left out of the answer and their problem dicts
          (``{"instance", "path", "key", "reason"}``, as in :attr:`CorruptRecord.problems`) are appended to it;
          with ``corrupt='report'`` they are also listed as below;
        - ``corrupt='report'``: listed in their place as ``{"id", "frame", "operation_date", "version",
          "corrupt": message}``;
        - otherwise (the default): :class:`CorruptRecord` naming every corrupt instance, after all were read.
        """
        if corrupt not in ('raise', 'report'):
            raise StoreError("corrupt must be 'raise' or 'report', not %r" % (corrupt,))
        out = []
        found: list = []
        for iid, raw, version in self._list_instances_raw(operation_date, frame):
            p: list = []
            rec = _checks.parse_instance(iid, raw, version, p)
            if rec is None:
                found.extend(p)
                if corrupt == 'report':
                    try:
                        f, d = parse_iid(iid)
                    except InvalidRecord:
                        f, d = None, None
                    out.append({'id': iid, 'frame': f, 'operation_date': d, 'version': int(version or 0),
                                'corrupt': str(CorruptRecord(self.url, p))})
                continue
            out.append(rec)
        if problems is not None:
            problems.extend(found)
        elif corrupt == 'raise':
            self._raise_problems(found)
        out.sort(key=lambda r: (r.get('operation_date') or '', r.get('frame') or '', r['id']))
        return out

    def load(self, iid: str) -> tuple[dict, dict]:
        """``(instance, {path: item})`` from one consistent snapshot, items in creation order.

        :class:`UnknownInstance` when missing; :class:`CorruptRecord` naming every bad record of the instance.
        """
        parse_iid(iid)
        raw, version, rows = self._load_raw(iid, None)
        if raw is None:
            raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
        problems: list = []
        inst = _checks.parse_instance(iid, raw, version, problems)
        items = _checks.parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return inst, items

    def get_items(self, iid: str, paths) -> dict:
        """``{path: item}`` of the given paths that exist (one consistent read), in creation order."""
        parse_iid(iid)
        paths = list(paths)
        rows = self._get_items_raw(iid, paths)
        problems: list = []
        items = _checks.parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return items

    def get_version(self, iid: str) -> int | None:
        """The instance's version (bumped by every update), ``None`` if unknown. Cheap: for polling."""
        parse_iid(iid)
        return self._get_version_raw(iid)

    def items_since(self, iid: str, version: int) -> tuple[int | None, dict]:
        """``(current version, {path: item})`` of the items written after ``version`` (deleted ones not listed);
        ``(None, {})`` for an unknown instance."""
        parse_iid(iid)
        cur, rows = self._items_since_raw(iid, int(version))
        problems: list = []
        items = _checks.parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return cur, items

    # ==== leases (the protocol is the same for both backends: read, decide, compare-and-set)

    def acquire_lease(self, iid: str, owner: dict, ttl: float, *, is_dead=None) -> Lease:
        """Take the lease of ``iid`` for ``ttl`` seconds; the instance need not exist.

        A live lease of another token raises :class:`LeaseHeld`, unless ``is_dead(owner_dict)`` says its
        owner is provably dead; an expired or released lease is taken over. Every new lease has a higher epoch
        (fencing: an update made with an older lease raises :class:`LeaseLost`). A corrupt lease record raises
        :class:`CorruptRecord` (key ``lease``) for this instance only.
        """
        parse_iid(iid)
        ttl = self._check_ttl(ttl)
        if not isinstance(owner, dict):
            raise StoreError('lease owner for %s must be a dict (host, pid, start, what), not %s'
                             % (iid, type(owner).__name__))
        deadline = time.monotonic() + self.timeout
        while True:
            cur = self.get_lease(iid)
            now = self.clock()
            if cur is not None and cur.token and cur.expires > now:
                if not (is_dead is not None and is_dead(dict(cur.owner))):
                    raise LeaseHeld(iid, cur.owner, cur.expires, cur.epoch)
            epoch = (cur.epoch if cur is not None else 0) + 1
            new = Lease(iid=iid, token=uuid.uuid4().hex, epoch=epoch, owner=dict(owner), expires=now + ttl,
                        clock=self.clock)
            rec = {'token': new.token, 'epoch': epoch, 'owner': new.owner, 'expires': new.expires,
                   'acquired': epoch_isotime(now), 'renewed': epoch_isotime(now)}
            if cur is not None and cur.token:
                rec['previous'] = {'owner': cur.owner, 'epoch': cur.epoch, 'expires': cur.expires}
            ok = self._lease_cas(iid, cur.token if cur else None, cur.epoch if cur else None,
                                 _dumps(rec, 'lease of %s' % iid), new.token, epoch)
            if ok:
                return new
            if time.monotonic() > deadline:
                raise StoreWriteError(self.url, 'the lease of %s' % iid,
                                      'the lease kept changing for %.0f s' % self.timeout)
            time.sleep(0.01)

    def renew_lease(self, lease: Lease, ttl: float) -> Lease:
        """Extend ``lease`` by ``ttl`` seconds from now (in place, and returned); :class:`LeaseLost` if it is no
        longer the current lease."""
        ttl = self._check_ttl(ttl)
        cur = self.get_lease(lease.iid)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            raise LeaseLost(lease.iid, lease, cur)
        now = self.clock()
        new = Lease(iid=lease.iid, token=lease.token, epoch=lease.epoch, owner=dict(lease.owner), expires=now + ttl)
        rec = {'token': new.token, 'epoch': new.epoch, 'owner': new.owner, 'expires': new.expires,
               'renewed': epoch_isotime(now)}
        if not self._lease_cas(lease.iid, lease.token, lease.epoch, _dumps(rec, 'lease of %s' % lease.iid),
                               new.token, new.epoch):
            raise LeaseLost(lease.iid, lease, self.get_lease(lease.iid))
        lease.expires = new.expires
        lease.clock = self.clock
        return lease

    def release_lease(self, lease: Lease) -> bool:
        """Give the lease up (keeps its epoch so the next one is higher). ``False``, no error, if it is no
        longer current."""
        cur = self.get_lease(lease.iid)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            return False
        rec = {'token': None, 'epoch': lease.epoch, 'owner': lease.owner, 'expires': 0,
               'released': epoch_isotime()}
        return self._lease_cas(lease.iid, lease.token, lease.epoch, _dumps(rec, 'lease of %s' % lease.iid), '',
                               lease.epoch)

    def get_lease(self, iid: str) -> Lease | None:
        """The lease record of ``iid``: ``None`` if there never was one; ``token`` is empty once released.

        An expired lease is returned as it is (see ``Lease.expired``). A corrupt lease record raises
        :class:`CorruptRecord` naming ``iid`` with key ``lease``.
        """
        parse_iid(iid)
        return self._on_clock(_checks.parse_lease(self.url, iid, self._lease_get_raw(iid)))

    def durability_warning(self) -> str | None:
        """Why a commit this store acknowledges could still be lost when its server restarts (None: it cannot, or
        the store cannot tell). A SQLite store syncs every commit to its disk."""
        return None

    def clock(self) -> float:
        """The store's time (UNIX seconds) that every lease's expiry is measured on: this machine's clock for a
        store on this machine; a server's own clock for a shared store (Redis overrides it), so that a controller
        whose clock is wrong neither holds a lease too long nor takes one that is still live."""
        return time.time()

    def _on_clock(self, lease):
        if lease is not None:
            lease.clock = self.clock
        return lease

    def lease_info(self, iid: str) -> dict | None:
        """Who drives ``iid`` now, for the status: ``{'owner', 'driver', 'since', 'renewed', 'expires', 'live'}``
        (``driver`` the owner in words, ``since`` when that lease was taken), or ``None`` when no lease is held."""
        raw = self._lease_get_raw(iid)
        lease = self._on_clock(_checks.parse_lease(self.url, iid, raw))
        if lease is None or not lease.token:
            return None
        problems: list = []
        rec = _checks.parse_record(raw, iid, None, (), problems, record='lease of %s' % iid) or {}
        return {'owner': dict(lease.owner), 'driver': describe_owner(lease.owner), 'since': rec.get('acquired'),
                'renewed': rec.get('renewed'), 'expires': lease.expires_at, 'live': not lease.expired,
                'epoch': lease.epoch}

    def _lease_matches(self, iid: str, lease: Lease | None, raw) -> None:
        if lease is None:
            return
        cur = _checks.parse_lease(self.url, iid, raw)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            raise LeaseLost(iid, lease, cur)

    @staticmethod
    def _check_ttl(ttl) -> float:
        try:
            ttl = float(ttl)
        except (TypeError, ValueError):
            raise StoreError('invalid lease time %r: expected a number of seconds' % (ttl,))
        if ttl <= 0:
            raise StoreError('invalid lease time %r: expected a positive number of seconds' % (ttl,))
        return ttl

    # ==== events

    def read_events(self, iid: str, since: int = 0) -> list[dict]:
        """Events of ``iid`` with a sequence number above ``since``, in order; each carries its ``seq``
        (1, 2, 3 ... per instance)."""
        parse_iid(iid)
        out = []
        problems: list = []
        for seq, raw in self._read_events_raw(iid, int(since)):
            rec = _checks.parse_record(raw, iid, None, (), problems, record='event #%d' % seq)
            if rec is not None:
                rec['seq'] = seq
                out.append(rec)
        self._raise_problems(problems)
        return out

    def append_events(self, iid: str, events: list) -> int:
        """Append events (dicts) to the history of ``iid`` in one transaction; returns the last sequence number.

        A ``seq`` key of an event is dropped (the store numbers them), ``at`` is stamped when absent. Events that
        go with a change of the instance belong in :meth:`update` (its fourth element), which writes both in one
        transaction.
        """
        parse_iid(iid)
        return self._append_events_raw(iid, _checks.prepare_events(iid, events or []))

    # ==== hosts

    def set_host_state(self, host: str, record: dict) -> None:
        """Record the state of a host (e.g. environment down) as a dict; ``updated`` is stamped."""
        if not isinstance(host, str) or not host:
            raise InvalidRecord('host name must be a non-empty string, not %r' % (host,))
        if not isinstance(record, dict):
            raise InvalidRecord('host record for %s must be a dict' % host)
        rec = dict(record)
        rec['updated'] = epoch_isotime()
        self._set_host_raw(host, _dumps(rec, 'host record %s' % host))

    def get_host_states(self) -> dict:
        """``{host: record}`` of every host record."""
        out = {}
        problems: list = []
        for host, raw in self._get_hosts_raw():
            rec = _checks.parse_record(raw, '-', None, (), problems, record='host %s' % host)
            if rec is not None:
                out[host] = rec
        self._raise_problems(problems)
        return out

    # ==== schedules and day schedules (apart from every frame record)

    def put_schedule_record(self, key: str, record: dict, *, create_only: bool = False) -> bool:
        """Write the schedule record ``key`` (a schedule's definition, or the day schedule of one operation date) in
        one transaction; ``updated`` is stamped. With ``create_only`` an existing record is left as it is and
        ``False`` returned: of two controllers creating the same day schedule at once, exactly one gets ``True``.
        """
        if not isinstance(key, str) or not key or len(key) > 1024:
            raise InvalidRecord('a schedule record key must be a non-empty string, not %r' % (key,))
        if not isinstance(record, dict):
            raise InvalidRecord('schedule record %s must be a dict' % key)
        rec = dict(record)
        rec['updated'] = epoch_isotime()
        return bool(self._put_schedule_raw(key, _dumps(rec, 'schedule record %s' % key), bool(create_only)))

    def get_schedule_record(self, key: str) -> dict | None:
        """The schedule record ``key``, or ``None``; :class:`CorruptRecord` when it is not a JSON object."""
        raw = self._get_schedules_raw(key, exact=True)
        if not raw:
            return None
        problems: list = []
        rec = _checks.parse_record(raw[0][1], '-', None, (), problems, record='schedule record %s' % key)
        self._raise_problems(problems)
        return rec

    def list_schedule_records(self, prefix: str = '', problems: list | None = None) -> dict:
        """``{key: record}`` of every schedule record whose key starts with ``prefix``, sorted by key. A corrupt
        record is left out and described in ``problems`` when given (else :class:`CorruptRecord`)."""
        found: list = []
        out = {}
        for key, raw in self._get_schedules_raw(prefix, exact=False):
            rec = _checks.parse_record(raw, '-', None, (), found, record='schedule record %s' % key)
            if rec is not None:
                out[key] = rec
        if problems is not None:
            problems.extend(found)
        else:
            self._raise_problems(found)
        return out

    def delete_schedule_record(self, key: str) -> bool:
        """Remove one schedule record; ``True`` when it existed."""
        return bool(self._delete_schedule_raw(key))

    # ==== the triggers' named events (shared by every frame and controller; kept among the schedule records)

    #: the key prefix of an event record among the schedule records
    EVENT_PREFIX = 'event/'

    def get_trigger_events(self, problems: list | None = None) -> dict:
        """``{name: record}`` of every named event (``state`` ``on`` / ``off``, ``sender``, ``updated``)."""
        prefix = self.EVENT_PREFIX
        return {key[len(prefix):]: rec for key, rec in self.list_schedule_records(prefix, problems).items()}

    def get_trigger_event(self, name: str) -> dict | None:
        return self.get_schedule_record(self.EVENT_PREFIX + _triggers.check_event_name(name))

    def put_trigger_event(self, name: str, state: str, sender: str) -> dict:
        """Set a named event ON or OFF (``updated`` is stamped); returns the record written. Setting it to the state
        it has keeps the record as it is (its last update and sender stay). The record is read, then written: of two
        controllers that set one event at the same instant the last write stays (an ON / OFF state, so nothing a
        waiter depends on is lost), and ``changes`` may count one less."""
        _triggers.check_event_name(name)
        if state not in (_triggers.ON, _triggers.OFF):
            raise InvalidRecord('an event is set on or off, not %r' % (state,))
        current = self.get_trigger_event(name)
        if current is not None and current.get('state') == state:
            return current
        record = {'name': name, 'state': state, 'sender': str(sender)[:500],
                  'changes': int((current or {}).get('changes') or 0) + 1}
        self.put_schedule_record(self.EVENT_PREFIX + name, record)
        return self.get_trigger_event(name) or record

    # ==== resources and the index of holders and waiters (shared by every instance and controller)

    def get_index(self) -> dict:
        """``{key: entry}`` of the index: every job that holds (``kind`` ``hold``) or waits (``wait``), as
        :func:`_resources.entry_of` derives it from the items."""
        return _checks.parse_index(self._get_index_raw())

    def get_index_version(self) -> int:
        """A number that grows whenever the index or a resource definition changes (a driver whose jobs wait wakes
        on it); 0 for a store that never had one."""
        return 0

    def get_resources(self) -> dict:
        """``{name: record}`` of every resource definition (``capacity`` and who set it)."""
        return _checks.parse_resources(self._get_resources_raw())

    def put_resource(self, name: str, record: dict, *, create_only: bool = False) -> bool:
        """Define or change a resource in one transaction (``record`` needs ``capacity``; ``updated`` is stamped);
        with ``create_only`` an existing definition is kept and ``False`` returned. A change makes every launch
        decision made at the same time decide again."""
        _resources.check_name(name)
        if not isinstance(record, dict):
            raise InvalidRecord('resource %s must be a dict' % name)
        rec = dict(record)
        rec['capacity'] = _resources.check_capacity(rec.get('capacity'), name)
        rec['name'] = name
        rec['updated'] = epoch_isotime()
        return bool(self._put_resource_raw(name, _dumps(rec, 'resource %s' % name), bool(create_only)))

    def delete_resource(self, name: str) -> bool:
        """Remove a resource definition; ``True`` when it existed. Jobs that hold it keep running; jobs that need
        it wait until it is defined again."""
        _resources.check_name(name)
        return bool(self._delete_resource_raw(name))

    # ==== the fact-cache namespace (apart from every frame record)

    def fact_get(self, key: str) -> tuple[object, float] | None:
        """``(value, stored UNIX time)`` of a fact-cache entry, or ``None``; :class:`CorruptRecord` if bad."""
        raw = self._fact_get_raw(key)
        if raw is None:
            return None
        problems: list = []
        rec = _checks.parse_record(raw, '-', None, ('value', 'stored'), problems, record='fact cache entry %r' % key)
        self._raise_problems(problems)
        return rec['value'], float(rec['stored'])

    def fact_set(self, key: str, value: object) -> None:
        """Store ``value`` (plain JSON data) under ``key`` with the time now, in one transaction."""
        self._fact_set_raw(key, _dumps({'value': value, 'stored': time.time()}, 'fact cache entry %r' % key))

    @abc.abstractmethod
    def fact_keys(self) -> list[str]:
        """Every fact-cache key, sorted."""

    @abc.abstractmethod
    def fact_contains(self, key: str) -> bool:
        """Whether ``key`` has a fact-cache entry (expired or not: expiry is the cache plugin's business)."""

    @abc.abstractmethod
    def fact_delete(self, key: str) -> None:
        """Remove one fact-cache entry (no error when absent)."""

    @abc.abstractmethod
    def fact_flush(self, prefix: str = '') -> None:
        """Remove every fact-cache entry whose key starts with ``prefix`` (all of them for ``''``)."""

    # ==== backend primitives: raw JSON text in and out, no checks (the methods above check)

    @abc.abstractmethod
    def _get_index_raw(self):
        """``[(key, entry JSON)]`` of the whole index."""

    @abc.abstractmethod
    def _get_resources_raw(self):
        """``[(name, JSON)]`` of every resource definition."""

    @abc.abstractmethod
    def _put_resource_raw(self, name, raw, create_only):
        """Write one resource definition; with ``create_only`` only when absent. Returns whether it wrote."""

    @abc.abstractmethod
    def _delete_resource_raw(self, name):
        """Remove one resource definition; returns whether it existed."""

    @abc.abstractmethod
    def _put_schedule_raw(self, key, raw, create_only):
        """Write one schedule record's JSON; with ``create_only`` only when absent. Returns whether it wrote."""

    @abc.abstractmethod
    def _get_schedules_raw(self, key, exact):
        """``[(key, JSON)]`` of the record ``key`` (``exact``) or of every key starting with it, sorted by key."""

    @abc.abstractmethod
    def _delete_schedule_raw(self, key):
        """Remove one schedule record; returns whether it existed."""

    @abc.abstractmethod
    def _get_instance_raw(self, iid):
        """``(instance JSON, version)`` of ``iid``, or ``(None, None)``."""

    @abc.abstractmethod
    def _list_instances_raw(self, operation_date, frame):
        """``[(iid, instance JSON, version)]`` of the instances of ``operation_date`` and ``frame`` (each
        ``None``: any)."""

    @abc.abstractmethod
    def _load_raw(self, iid, paths):
        """``(instance JSON, version, [(path, item JSON)])`` from one snapshot, items in creation order
        (``paths`` ``None``: all); ``(None, None, [])`` for an unknown instance."""

    @abc.abstractmethod
    def _get_items_raw(self, iid, paths):
        """``[(path, item JSON)]`` of the existing ``paths``, in creation order, from one snapshot."""

    @abc.abstractmethod
    def _get_version_raw(self, iid):
        """The version of ``iid`` as an int, or ``None``."""

    @abc.abstractmethod
    def _items_since_raw(self, iid, version):
        """``(current version, [(path, item JSON)])`` of the items written after ``version``, from one snapshot;
        ``(None, [])`` for an unknown instance."""

    @abc.abstractmethod
    def _lease_get_raw(self, iid):
        """The lease record JSON of ``iid``, or ``None``."""

    @abc.abstractmethod
    def _lease_cas(self, iid, expect_token, expect_epoch, new_json, new_token, new_epoch):
        """Write the lease record ``new_json`` (token, epoch) only if the current one has ``expect_token`` and
        ``expect_epoch`` (``expect_epoch`` ``None``: only if there is no lease record); ``True`` if written."""

    @abc.abstractmethod
    def _read_events_raw(self, iid, since):
        """``[(seq, event JSON)]`` of the events of ``iid`` with ``seq`` above ``since``, in order."""

    @abc.abstractmethod
    def _append_events_raw(self, iid, rows):
        """Append event JSON rows in one transaction, numbered after the last ``seq``; returns the last ``seq``."""

    @abc.abstractmethod
    def _set_host_raw(self, host, raw):
        """Write the host record JSON of ``host``."""

    @abc.abstractmethod
    def _get_hosts_raw(self):
        """``[(host, record JSON)]`` sorted by host."""

    @abc.abstractmethod
    def _fact_get_raw(self, key):
        """The JSON of fact-cache entry ``key``, or ``None``."""

    @abc.abstractmethod
    def _fact_set_raw(self, key, raw):
        """Write the JSON of fact-cache entry ``key``."""
