# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durable state store of jobnet.scheduler: SQLite (default) and Redis backends.

Private helper (the leading underscore says: not a public API). Standard library only; ``redis`` is imported
when a ``redis://`` store is opened. Nothing here imports Ansible, so it can be tested on its own.

Records (see ``docs/design.md``, "Records in the store"):

- one **instance** record per frame and operation date, id ``<frame>@<YYYY-MM-DD>``;
- one **item** record per net and per job of an instance, keyed by ``(instance id, path)``;
- one **lease** per instance (owner, token, epoch, expiry): who drives the instance;
- an append-only **event** list per instance; **host** records; a separate **fact** namespace for the cache
  plugins.

Every write is one transaction: a failed write raises :class:`StoreWriteError` (``PEX209``) and leaves the
store as it was. A record that does not parse or lacks a required key raises :class:`CorruptRecord`, which
names it; such a record is never deleted or rewritten by the store.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
import uuid

from dataclasses import dataclass, field

SCHEMA = 1
DEFAULT_SQLITE_PATH = '~/.ansible/jobnet/state.db'
DEFAULT_REDIS_PREFIX = 'jobnet:'
DEFAULT_TIMEOUT = 10.0

ACCEPTED_FORMS = ('sqlite:///ABSOLUTE/PATH.db, redis://[:PASSWORD@]HOST:PORT/DB[?prefix=PREFIX] '
                  'or rediss://... (TLS)')

IID_RE = re.compile(r'^(?P<frame>[a-z0-9_-]+)@(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})$')

INSTANCE_REQUIRED = ('id', 'frame', 'operation_date', 'state')
"""Keys an instance record must carry; a stored record without one of them is a :class:`CorruptRecord`."""

ITEM_REQUIRED = ('path', 'kind', 'state')
"""Keys an item record must carry; a stored record without one of them is a :class:`CorruptRecord`."""

# keys the store maintains itself (stripped from what callers hand in, set on what it returns)
_STORE_KEYS_INSTANCE = ('version',)


# --------------------------------------------------------------------------------------------------------------
# errors


class StoreError(Exception):
    """Base class of every error raised by the state store."""


class InvalidRecord(StoreError, ValueError):
    """A record handed to the store is not acceptable (bad id, missing key, not JSON). Nothing was written."""


class StoreWriteError(StoreError):
    """A write failed (disk full, read-only file, Redis down, lock timeout). Nothing of it was written.

    The message starts with ``PEX209 state store write failed:`` and names the store and the record.
    """

    def __init__(self, store: str, record: str, reason: str) -> None:
        self.store = store
        self.record = record
        self.reason = reason
        super().__init__(
            'PEX209 state store write failed: could not write %s to %s: %s. Nothing of this write was recorded; '
            'new launches stop until the store can be written again.' % (record, store, reason))


class LeaseHeld(StoreError):
    """Another live controller drives the instance."""

    def __init__(self, iid: str, owner: dict, expires: float, epoch: int = 0) -> None:
        self.iid = iid
        self.owner = dict(owner or {})
        self.expires = expires
        self.epoch = epoch
        super().__init__('frame instance %s is driven by %s until %s; wait for it to end or for the lease to expire'
                         % (iid, describe_owner(self.owner), iso_utc(expires, micro=False)))


class LeaseLost(StoreError):
    """The lease given is no longer the current one (taken over, released or the instance deleted)."""

    def __init__(self, iid: str, lease: Lease, current: Lease | None) -> None:
        self.iid = iid
        self.lease = lease
        self.current = current
        if current is None or not current.token:
            now = 'nobody holds it now'
        else:
            now = 'it is now held by %s (epoch %d) until %s' % (describe_owner(current.owner), current.epoch,
                                                                iso_utc(current.expires, micro=False))
        super().__init__('the lease on frame instance %s (epoch %d) was lost: %s; this controller must stop driving it'
                         % (iid, lease.epoch, now))


class CorruptRecord(StoreError):
    """Stored records that do not parse or lack required keys. They are kept as they are.

    ``problems`` lists every bad record found as dicts ``{"instance", "path", "key", "reason"}`` (``path`` is
    ``None`` for the instance record, ``key`` is ``None`` when the record does not parse at all).
    """

    def __init__(self, store: str, problems: list[dict]) -> None:
        self.store = store
        self.problems = problems
        first = problems[0]
        self.instance = first.get('instance')
        self.path = first.get('path')
        self.key = first.get('key')
        parts = []
        for p in problems[:10]:
            where = 'instance %s' % p['instance']
            if p.get('path') is not None:
                where += ' item %r' % p['path']
            elif p.get('record'):
                where += ' %s record' % p['record']
            parts.append('%s: %s' % (where, p['reason']))
        more = '' if len(problems) <= 10 else ' (and %d more)' % (len(problems) - 10)
        super().__init__('corrupt record(s) in state store %s: %s%s. The records were left as they are; repair '
                         'them or restore the store from a backup' % (store, '; '.join(parts), more))


class InstanceExists(StoreError):
    """``create_instance`` of an id that is already taken."""


class UnknownInstance(StoreError):
    """The instance id is not in the store."""


class NoStore(StoreError):
    """``open_store(..., create=False)`` of an SQLite file that does not exist."""


# --------------------------------------------------------------------------------------------------------------
# small helpers


def iso_utc(ts: float | None = None, micro: bool = True) -> str:
    """ISO-8601 UTC time with a ``Z``: ``2026-11-21T01:02:03.123456Z`` (or without the fraction)."""
    d = _dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=_dt.timezone.utc)
    return d.strftime('%Y-%m-%dT%H:%M:%S.%fZ' if micro else '%Y-%m-%dT%H:%M:%SZ')


def make_iid(frame: str, operation_date: str) -> str:
    """``nightly`` + ``2026-11-21`` -> ``nightly@2026-11-21`` (validated)."""
    iid = '%s@%s' % (frame, operation_date)
    parse_iid(iid)
    return iid


def parse_iid(iid: object) -> tuple[str, str]:
    """``nightly@2026-11-21`` -> ``('nightly', '2026-11-21')``; :class:`InvalidRecord` when malformed."""
    m = IID_RE.match(iid) if isinstance(iid, str) else None
    if not m:
        raise InvalidRecord('invalid frame instance id %r: expected <frame>@<YYYY-MM-DD> with a frame name of '
                            'lower-case letters, digits, "_" and "-" (e.g. nightly@2026-11-21)' % (iid,))
    try:
        _dt.date.fromisoformat(m.group('date'))
    except ValueError:
        raise InvalidRecord('invalid frame instance id %r: %s is not a calendar date' % (iid, m.group('date')))
    return m.group('frame'), m.group('date')


def describe_owner(owner: dict) -> str:
    """``ansible-playbook pid 1234 on host h (what=run)`` from a lease owner dict."""
    owner = owner or {}
    prog = owner.get('program') or 'process'
    return '%s pid %s on host %s (what=%s)' % (prog, owner.get('pid', '?'), owner.get('host', '?'),
                                               owner.get('what', '?'))


def _boot_id() -> str | None:
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            return f.read().strip()
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    """Start time of a process (``/proc/<pid>/stat`` field 22, clock ticks since boot), or ``None`` if gone."""
    try:
        with open('/proc/%d/stat' % int(pid)) as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = data[data.rfind(')') + 2:].split()
    try:
        return rest[19]
    except IndexError:
        return None


def default_owner(what: str, **extra) -> dict:
    """A lease owner dict for this process: host, pid, start, boot, program, what (+ extra keys)."""
    pid = os.getpid()
    owner = {'host': socket.getfqdn(), 'pid': pid, 'start': process_start_time(pid), 'boot': _boot_id(),
             'program': os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python', 'what': what}
    owner.update(extra)
    return owner


def owner_is_dead(owner: dict) -> bool:
    """True only when the owner is provably dead: same machine and (other boot, pid gone or start time changed).

    A lease held from another machine is never declared dead here (it may only expire).
    """
    owner = owner or {}
    if owner.get('host') != socket.getfqdn():
        return False
    boot = _boot_id()
    if owner.get('boot') and boot and owner['boot'] != boot:
        return True
    try:
        pid = int(owner.get('pid'))
    except (TypeError, ValueError):
        return False
    start = process_start_time(pid)
    if start is None:
        return True
    return owner.get('start') is not None and str(owner.get('start')) != start


def _dumps(value: object, what: str) -> str:
    try:
        return json.dumps(value, separators=(',', ':'), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise InvalidRecord('%s cannot be stored: it is not plain JSON data (%s); nothing was written' % (what, e))


@dataclass
class Lease:
    """A lease on one frame instance. ``expires`` is a UNIX time (seconds, UTC)."""

    iid: str
    token: str
    epoch: int
    owner: dict = field(default_factory=dict)
    expires: float = 0.0

    @property
    def expired(self) -> bool:
        return self.expires <= time.time()

    @property
    def expires_at(self) -> str:
        return iso_utc(self.expires, micro=False)

    def to_dict(self) -> dict:
        return {'iid': self.iid, 'token': self.token, 'epoch': self.epoch, 'owner': dict(self.owner),
                'expires': self.expires, 'expires_at': self.expires_at}


# --------------------------------------------------------------------------------------------------------------
# URL handling


def default_sqlite_path() -> str:
    return os.path.expanduser(DEFAULT_SQLITE_PATH)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return '<unparsable store URL>'
    if p.password is None:
        return url
    user = p.username or ''
    host = p.hostname or ''
    if p.port:
        host += ':%d' % p.port
    return urllib.parse.urlunsplit((p.scheme, '%s:***@%s' % (user, host), p.path, p.query, p.fragment))


def parse_store_url(url: str | None) -> tuple[str, dict]:
    """Check a store URL: ``('sqlite', {'path': ...})`` or ``('redis', {'url': ..., 'prefix': ...})``."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return 'sqlite', {'path': default_sqlite_path()}
    if not isinstance(url, str):
        raise StoreError('invalid state store %r: expected a string, one of %s' % (url, ACCEPTED_FORMS))
    url = str(url).strip()
    scheme = url.split(':', 1)[0].lower() if ':' in url else ''
    if scheme == 'sqlite':
        if not url.lower().startswith('sqlite://'):
            raise StoreError('invalid state store %r: expected %s' % (url, ACCEPTED_FORMS))
        path = urllib.parse.unquote(url[len('sqlite://'):])
        path = path.split('?', 1)[0]
        if not path.startswith('/'):
            raise StoreError('invalid state store %r: the SQLite path must be absolute (three slashes: '
                             'sqlite:///var/lib/jobnet/state.db); accepted forms: %s' % (url, ACCEPTED_FORMS))
        if path.endswith('/'):
            raise StoreError('invalid state store %r: the SQLite path names a folder, not a file; accepted forms: %s'
                             % (url, ACCEPTED_FORMS))
        return 'sqlite', {'path': os.path.normpath(path)}
    if scheme in ('redis', 'rediss'):
        try:
            p = urllib.parse.urlsplit(url)
            p.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as e:
            raise StoreError('invalid state store %r: %s; accepted forms: %s' % (mask_url(url), e, ACCEPTED_FORMS))
        if not p.hostname:
            raise StoreError('invalid state store %r: no host; accepted forms: %s' % (mask_url(url), ACCEPTED_FORMS))
        db = p.path.strip('/') or '0'
        if not db.isdigit():
            raise StoreError('invalid state store %r: the database %r is not a number; accepted forms: %s'
                             % (mask_url(url), db, ACCEPTED_FORMS))
        query = urllib.parse.parse_qsl(p.query, keep_blank_values=True)
        prefix = DEFAULT_REDIS_PREFIX
        rest = []
        for k, v in query:
            if k == 'prefix':
                prefix = v
            else:
                rest.append((k, v))
        clean = urllib.parse.urlunsplit((p.scheme, p.netloc, '/' + db, urllib.parse.urlencode(rest), ''))
        return 'redis', {'url': clean, 'prefix': prefix}
    if scheme == '' and url.startswith('/'):
        raise StoreError('invalid state store %r: a bare path is not a store URL; write sqlite://%s '
                         '(accepted forms: %s)' % (url, url, ACCEPTED_FORMS))
    raise StoreError('invalid state store %r: unknown scheme %r; accepted forms: %s'
                     % (mask_url(url), scheme or '(none)', ACCEPTED_FORMS))


def open_store(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, create: bool = True) -> Store:
    """Open the store named by ``url`` (``None``: the default SQLite file ``~/.ansible/jobnet/state.db``).

    ``create=False`` (for readers) raises :class:`NoStore` instead of creating a missing SQLite file.
    """
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise StoreError('invalid state store timeout %r: expected a number of seconds' % (timeout,))
    if timeout <= 0:
        raise StoreError('invalid state store timeout %r: expected a positive number of seconds' % (timeout,))
    kind, args = parse_store_url(url)
    if kind == 'sqlite':
        return SQLiteStore(args['path'], timeout=timeout, create=create)
    return RedisStore(args['url'], prefix=args['prefix'], timeout=timeout)


# --------------------------------------------------------------------------------------------------------------
# the common part


class Store:
    """What both backends share: validation, record checks, the lease protocol. See the module docstring."""

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

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    # ---- record checks

    def _check_instance_in(self, iid: str, instance: dict) -> dict:
        if not isinstance(instance, dict):
            raise InvalidRecord('instance record for %s must be a dict, not %s' % (iid, type(instance).__name__))
        frame, date = parse_iid(iid)
        inst = {k: v for k, v in instance.items() if k not in _STORE_KEYS_INSTANCE}
        inst.setdefault('id', iid)
        inst.setdefault('frame', frame)
        inst.setdefault('operation_date', date)
        inst.setdefault('schema', SCHEMA)
        if inst['id'] != iid or inst['frame'] != frame or inst['operation_date'] != date:
            raise InvalidRecord('instance record for %s has id %r, frame %r, operation_date %r: they must match '
                                'the instance id; nothing was written'
                                % (iid, inst['id'], inst['frame'], inst['operation_date']))
        missing = [k for k in INSTANCE_REQUIRED if k not in inst]
        if missing:
            raise InvalidRecord('instance record for %s lacks the key(s) %s; nothing was written'
                                % (iid, ', '.join(missing)))
        return inst

    def _check_item_in(self, iid: str, path: str, item: dict) -> dict:
        if not isinstance(path, str) or not path or path.startswith('/') or path.endswith('/') or '//' in path:
            raise InvalidRecord('invalid item path %r in instance %s: expected slash-joined names such as '
                                '"load/stage"; nothing was written' % (path, iid))
        if not isinstance(item, dict):
            raise InvalidRecord('item %r of instance %s must be a dict, not %s; nothing was written'
                                % (path, iid, type(item).__name__))
        it = dict(item)
        it.setdefault('path', path)
        if it['path'] != path:
            raise InvalidRecord('item %r of instance %s carries path %r: they must match; nothing was written'
                                % (path, iid, it['path']))
        missing = [k for k in ITEM_REQUIRED if k not in it]
        if missing:
            raise InvalidRecord('item %r of instance %s lacks the key(s) %s; nothing was written'
                                % (path, iid, ', '.join(missing)))
        return it

    def _parse_instance(self, iid: str, raw, version, problems: list) -> dict | None:
        rec = self._parse(raw, iid, None, INSTANCE_REQUIRED, problems)
        if rec is None:
            return None
        if rec.get('id') != iid:
            problems.append({'instance': iid, 'path': None, 'key': 'id',
                             'reason': 'the record carries id %r' % (rec.get('id'),)})
            return None
        rec['version'] = int(version or 0)
        return rec

    def _parse(self, raw, iid, path, required, problems, record=None) -> dict | None:
        if isinstance(raw, bytes):
            try:
                raw = raw.decode('utf-8')
            except UnicodeDecodeError as e:
                problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                                 'reason': 'not UTF-8 (%s)' % e})
                return None
        try:
            rec = json.loads(raw)
        except (TypeError, ValueError) as e:
            problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                             'reason': 'does not parse as JSON (%s)' % e})
            return None
        if not isinstance(rec, dict):
            problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                             'reason': 'is a JSON %s, not an object' % type(rec).__name__})
            return None
        for k in required:
            if k not in rec:
                problems.append({'instance': iid, 'path': path, 'key': k, 'record': record,
                                 'reason': 'missing key %r' % k})
                return None
        return rec

    def _parse_items(self, iid: str, rows, problems: list) -> dict:
        items = {}
        for path, raw in rows:
            rec = self._parse(raw, iid, path, ITEM_REQUIRED, problems)
            if rec is None:
                continue
            if rec.get('path') != path:
                problems.append({'instance': iid, 'path': path, 'key': 'path',
                                 'reason': 'the record carries path %r' % (rec.get('path'),)})
                continue
            items[path] = rec
        return items

    def _raise_problems(self, problems: list) -> None:
        if problems:
            raise CorruptRecord(self.url, problems)

    def _run_fn(self, iid: str, fn, instance: dict, items: dict, version: int):
        """Call ``fn`` and check what it returns: (instance JSON or None, [(path, JSON or None)], result)."""
        out = fn(instance, items)
        if not isinstance(out, tuple) or len(out) != 3:
            raise InvalidRecord('the update function for %s must return (instance or None, {path: item}, result), '
                                'got %r; nothing was written' % (iid, type(out).__name__))
        new_inst, changed, result = out
        now = iso_utc()
        inst_json = None
        if new_inst is not None:
            inst = self._check_instance_in(iid, new_inst)
            inst['updated'] = now
            inst_json = _dumps(inst, 'instance record %s' % iid)
        writes = []
        if changed:
            if not isinstance(changed, dict):
                raise InvalidRecord('the update function for %s must return items as {path: item}, got %s; '
                                    'nothing was written' % (iid, type(changed).__name__))
            for path, item in changed.items():
                if item is None:
                    if not isinstance(path, str):
                        raise InvalidRecord('invalid item path %r in instance %s' % (path, iid))
                    writes.append((path, None))
                    continue
                it = self._check_item_in(iid, path, item)
                it['updated'] = now
                it['version'] = version
                writes.append((path, _dumps(it, 'item %r of instance %s' % (path, iid))))
        return inst_json, writes, result

    def _prepare_create(self, instance: dict, items) -> tuple[str, str, list]:
        if not isinstance(instance, dict):
            raise InvalidRecord('instance record must be a dict, not %s' % type(instance).__name__)
        iid = instance.get('id')
        if iid is None and 'frame' in instance and 'operation_date' in instance:
            iid = '%s@%s' % (instance['frame'], instance['operation_date'])
        parse_iid(iid)
        inst = self._check_instance_in(iid, instance)
        now = iso_utc()
        inst.setdefault('updated', now)
        if items is None:
            items = []
        if isinstance(items, dict):
            pairs = list(items.items())
        elif isinstance(items, (list, tuple)):
            pairs = []
            for i, it in enumerate(items):
                if not isinstance(it, dict) or 'path' not in it:
                    raise InvalidRecord('item #%d of instance %s must be a dict with a "path"; nothing was written'
                                        % (i, iid))
                pairs.append((it['path'], it))
        else:
            raise InvalidRecord('items of instance %s must be a dict {path: item} or a list of items, not %s'
                                % (iid, type(items).__name__))
        seen = set()
        rows = []
        for path, it in pairs:
            it = self._check_item_in(iid, path, it)
            if path in seen:
                raise InvalidRecord('item %r appears twice in instance %s; nothing was written' % (path, iid))
            seen.add(path)
            it.setdefault('updated', now)
            it['version'] = 1
            rows.append((path, _dumps(it, 'item %r of instance %s' % (path, iid))))
        return iid, _dumps(inst, 'instance record %s' % iid), rows

    def _parse_lease(self, iid: str, raw) -> Lease | None:
        if raw is None:
            return None
        problems: list = []
        rec = self._parse(raw, iid, None, ('epoch',), problems, record='lease')
        self._raise_problems(problems)
        if not rec.get('token'):
            return Lease(iid=iid, token='', epoch=int(rec['epoch']), owner=rec.get('owner') or {},
                         expires=float(rec.get('expires') or 0))
        return Lease(iid=iid, token=rec['token'], epoch=int(rec['epoch']), owner=rec.get('owner') or {},
                     expires=float(rec.get('expires') or 0))

    def _check_ttl(self, ttl) -> float:
        try:
            ttl = float(ttl)
        except (TypeError, ValueError):
            raise StoreError('invalid lease time %r: expected a number of seconds' % (ttl,))
        if ttl <= 0:
            raise StoreError('invalid lease time %r: expected a positive number of seconds' % (ttl,))
        return ttl

    # ---- leases (the protocol is the same for both backends: read, decide, compare-and-set)

    def acquire_lease(self, iid: str, owner: dict, ttl: float, *, is_dead=None) -> Lease:
        """Take the lease of ``iid`` for ``ttl`` seconds.

        A live lease of another token raises :class:`LeaseHeld`, unless ``is_dead(owner_dict)`` says its
        owner is provably dead; an expired or released lease is taken over. Every new lease has a higher epoch.
        """
        parse_iid(iid)
        ttl = self._check_ttl(ttl)
        if not isinstance(owner, dict):
            raise StoreError('lease owner for %s must be a dict (host, pid, start, what), not %s'
                             % (iid, type(owner).__name__))
        deadline = time.monotonic() + self.timeout
        while True:
            cur = self.get_lease(iid)
            now = time.time()
            if cur is not None and cur.token and cur.expires > now:
                if not (is_dead is not None and is_dead(dict(cur.owner))):
                    raise LeaseHeld(iid, cur.owner, cur.expires, cur.epoch)
            epoch = (cur.epoch if cur is not None else 0) + 1
            new = Lease(iid=iid, token=uuid.uuid4().hex, epoch=epoch, owner=dict(owner), expires=now + ttl)
            rec = {'token': new.token, 'epoch': epoch, 'owner': new.owner, 'expires': new.expires,
                   'acquired': iso_utc(now), 'renewed': iso_utc(now)}
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
        """Extend ``lease`` by ``ttl`` seconds from now; :class:`LeaseLost` if it is no longer current."""
        ttl = self._check_ttl(ttl)
        cur = self.get_lease(lease.iid)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            raise LeaseLost(lease.iid, lease, cur)
        now = time.time()
        new = Lease(iid=lease.iid, token=lease.token, epoch=lease.epoch, owner=dict(lease.owner), expires=now + ttl)
        rec = {'token': new.token, 'epoch': new.epoch, 'owner': new.owner, 'expires': new.expires,
               'renewed': iso_utc(now)}
        if not self._lease_cas(lease.iid, lease.token, lease.epoch, _dumps(rec, 'lease of %s' % lease.iid),
                               new.token, new.epoch):
            raise LeaseLost(lease.iid, lease, self.get_lease(lease.iid))
        lease.expires = new.expires
        return lease

    def release_lease(self, lease: Lease) -> bool:
        """Give the lease up (keeps its epoch so the next one is higher). No error if it is already gone."""
        cur = self.get_lease(lease.iid)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            return False
        rec = {'token': None, 'epoch': lease.epoch, 'owner': lease.owner, 'expires': 0,
               'released': iso_utc()}
        return self._lease_cas(lease.iid, lease.token, lease.epoch, _dumps(rec, 'lease of %s' % lease.iid), '',
                               lease.epoch)

    def get_lease(self, iid: str) -> Lease | None:
        """The lease record of ``iid``: ``None`` if there never was one; ``token`` is empty once released.

        An expired lease is returned as it is (see ``Lease.expired``).
        """
        parse_iid(iid)
        return self._parse_lease(iid, self._lease_get_raw(iid))

    def _lease_matches(self, iid: str, lease: Lease | None, raw) -> None:
        if lease is None:
            return
        cur = self._parse_lease(iid, raw)
        if cur is None or cur.token != lease.token or cur.epoch != lease.epoch:
            raise LeaseLost(iid, lease, cur)

    # ---- reading helpers shared by both backends

    def get_instance(self, iid: str) -> dict | None:
        """The instance record (with the store's ``version``), or ``None``."""
        parse_iid(iid)
        raw, version = self._get_instance_raw(iid)
        if raw is None:
            return None
        problems: list = []
        rec = self._parse_instance(iid, raw, version, problems)
        self._raise_problems(problems)
        return rec

    def list_instances(self, operation_date: str | None = None, *, frame: str | None = None,
                       corrupt: str = 'raise') -> list[dict]:
        """Instance records sorted by (operation_date, frame).

        ``corrupt='raise'`` raises :class:`CorruptRecord` naming every bad one; ``corrupt='report'`` returns them
        as ``{"id", "frame", "operation_date", "corrupt": message}`` in their place.
        """
        if corrupt not in ('raise', 'report'):
            raise StoreError("corrupt must be 'raise' or 'report', not %r" % (corrupt,))
        out = []
        problems: list = []
        for iid, raw, version in self._list_instances_raw(operation_date, frame):
            p: list = []
            rec = self._parse_instance(iid, raw, version, p)
            if rec is None:
                if corrupt == 'raise':
                    problems.extend(p)
                else:
                    try:
                        f, d = parse_iid(iid)
                    except InvalidRecord:
                        f, d = None, None
                    out.append({'id': iid, 'frame': f, 'operation_date': d, 'version': int(version or 0),
                                'corrupt': str(CorruptRecord(self.url, p))})
                continue
            out.append(rec)
        self._raise_problems(problems)
        out.sort(key=lambda r: (r.get('operation_date') or '', r.get('frame') or '', r['id']))
        return out

    def load(self, iid: str) -> tuple[dict, dict]:
        """``(instance, {path: item})`` from one consistent snapshot; items in creation order."""
        parse_iid(iid)
        raw, version, rows = self._load_raw(iid, None)
        if raw is None:
            raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
        problems: list = []
        inst = self._parse_instance(iid, raw, version, problems)
        items = self._parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return inst, items

    def get_items(self, iid: str, paths) -> dict:
        """``{path: item}`` of the given paths that exist (one round trip)."""
        parse_iid(iid)
        paths = list(paths)
        rows = self._get_items_raw(iid, paths)
        problems: list = []
        items = self._parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return items

    def get_version(self, iid: str) -> int | None:
        """The instance's version (bumped by every update), ``None`` if unknown. Cheap: for polling."""
        parse_iid(iid)
        return self._get_version_raw(iid)

    def items_since(self, iid: str, version: int) -> tuple[int | None, dict]:
        """``(current version, {path: item})`` of the items written after ``version`` (deleted ones not listed)."""
        parse_iid(iid)
        cur, rows = self._items_since_raw(iid, int(version))
        problems: list = []
        items = self._parse_items(iid, rows, problems)
        self._raise_problems(problems)
        return cur, items

    def read_events(self, iid: str, since: int = 0) -> list[dict]:
        """Events of ``iid`` with a sequence number above ``since``, in order; each carries its ``seq``."""
        parse_iid(iid)
        out = []
        problems: list = []
        for seq, raw in self._read_events_raw(iid, int(since)):
            rec = self._parse(raw, iid, None, (), problems, record='event #%d' % seq)
            if rec is not None:
                rec['seq'] = seq
                out.append(rec)
        self._raise_problems(problems)
        return out

    def append_events(self, iid: str, events: list) -> int:
        """Append events (dicts) to the history of ``iid``; returns the last sequence number."""
        parse_iid(iid)
        rows = []
        for i, ev in enumerate(events or []):
            if not isinstance(ev, dict):
                raise InvalidRecord('event #%d for %s must be a dict, not %s' % (i, iid, type(ev).__name__))
            ev = {k: v for k, v in ev.items() if k != 'seq'}
            ev.setdefault('at', iso_utc())
            rows.append(_dumps(ev, 'event #%d of %s' % (i, iid)))
        return self._append_events_raw(iid, rows)

    def set_host_state(self, host: str, record: dict) -> None:
        """Record the state of a host (e.g. environment down) as a dict; ``updated`` is stamped."""
        if not isinstance(host, str) or not host:
            raise InvalidRecord('host name must be a non-empty string, not %r' % (host,))
        if not isinstance(record, dict):
            raise InvalidRecord('host record for %s must be a dict' % host)
        rec = dict(record)
        rec['updated'] = iso_utc()
        self._set_host_raw(host, _dumps(rec, 'host record %s' % host))

    def get_host_states(self) -> dict:
        """``{host: record}`` of every host record."""
        out = {}
        problems: list = []
        for host, raw in self._get_hosts_raw():
            rec = self._parse(raw, '-', None, (), problems, record='host %s' % host)
            if rec is not None:
                out[host] = rec
        self._raise_problems(problems)
        return out

    def fact_get(self, key: str) -> tuple[object, float] | None:
        """``(value, stored UNIX time)`` of a fact-cache entry, or ``None``."""
        raw = self._fact_get_raw(key)
        if raw is None:
            return None
        problems: list = []
        rec = self._parse(raw, '-', None, ('value', 'stored'), problems, record='fact cache entry %r' % key)
        self._raise_problems(problems)
        return rec['value'], float(rec['stored'])

    def fact_set(self, key: str, value: object) -> None:
        self._fact_set_raw(key, _dumps({'value': value, 'stored': time.time()}, 'fact cache entry %r' % key))

    # ---- backend primitives

    def _get_instance_raw(self, iid):  # pragma: no cover
        raise NotImplementedError

    def _list_instances_raw(self, operation_date, frame):  # pragma: no cover
        raise NotImplementedError

    def _load_raw(self, iid, paths):  # pragma: no cover
        raise NotImplementedError

    def _get_items_raw(self, iid, paths):  # pragma: no cover
        raise NotImplementedError

    def _get_version_raw(self, iid):  # pragma: no cover
        raise NotImplementedError

    def _items_since_raw(self, iid, version):  # pragma: no cover
        raise NotImplementedError

    def _lease_get_raw(self, iid):  # pragma: no cover
        raise NotImplementedError

    def _lease_cas(self, iid, expect_token, expect_epoch, new_json, new_token, new_epoch):  # pragma: no cover
        raise NotImplementedError

    def _read_events_raw(self, iid, since):  # pragma: no cover
        raise NotImplementedError

    def _append_events_raw(self, iid, rows):  # pragma: no cover
        raise NotImplementedError

    def _set_host_raw(self, host, raw):  # pragma: no cover
        raise NotImplementedError

    def _get_hosts_raw(self):  # pragma: no cover
        raise NotImplementedError

    def _fact_get_raw(self, key):  # pragma: no cover
        raise NotImplementedError

    def _fact_set_raw(self, key, raw):  # pragma: no cover
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------------------
# SQLite

_SQLITE_SCHEMA = (
    'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS instances (iid TEXT PRIMARY KEY, operation_date TEXT NOT NULL, frame TEXT NOT NULL,'
    ' version INTEGER NOT NULL, data TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS items (iid TEXT NOT NULL, path TEXT NOT NULL, ord INTEGER NOT NULL,'
    ' version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (iid, path)) WITHOUT ROWID',
    'CREATE TABLE IF NOT EXISTS leases (iid TEXT PRIMARY KEY, token TEXT, epoch INTEGER NOT NULL, data TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS events (iid TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,'
    ' PRIMARY KEY (iid, seq)) WITHOUT ROWID',
    'CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, data TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, data TEXT NOT NULL)',
)


class SQLiteStore(Store):
    """SQLite backend: one file, WAL journal, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for every write."""

    backend = 'sqlite'

    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT, create: bool = True) -> None:
        super().__init__(timeout)
        self.path = path
        self.url = 'sqlite://' + path
        if not create and not os.path.exists(path):
            raise NoStore('state store %s does not exist (nothing has been recorded there yet)' % self.url)
        self._conn_obj = None
        self._conn_pid = None
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            try:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                os.chmod(folder, 0o700)
            except OSError as e:
                raise StoreWriteError(self.url, 'the store folder %s' % folder, e.strerror or str(e))
        if not os.path.exists(path):
            # the records may name hosts and commands: readable by the owner only (WAL files follow the file)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as e:
                raise StoreWriteError(self.url, 'the store file', e.strerror or str(e))
        self._conn()

    # ---- connection

    def _conn(self) -> sqlite3.Connection:
        if self._conn_obj is not None and self._conn_pid == os.getpid():
            return self._conn_obj
        # a connection inherited over fork() must not be used: open a new one in this process
        self._conn_obj = None
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError('cannot open state store %s: %s' % (self.url, e))
        try:
            conn.execute('PRAGMA busy_timeout = %d' % int(self.timeout * 1000))
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StoreError('cannot open state store %s: %s (is it an SQLite database?)' % (self.url, e))
        try:
            conn.execute('PRAGMA journal_mode = WAL')
        except sqlite3.OperationalError:
            pass  # a read-only file can still be read; writes report PEX209
        conn.execute('PRAGMA synchronous = FULL')
        needed = {'meta', 'instances', 'items', 'leases', 'events', 'hosts', 'facts'}
        if not needed <= tables:
            try:
                conn.execute('BEGIN IMMEDIATE')
                for stmt in _SQLITE_SCHEMA:
                    conn.execute(stmt)
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA),))
                conn.execute('COMMIT')
            except sqlite3.Error as e:
                try:
                    conn.execute('ROLLBACK')
                except sqlite3.Error:
                    pass
                conn.close()
                raise StoreWriteError(self.url, 'the store tables', str(e))
        else:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is not None and int(row[0]) > SCHEMA:
                conn.close()
                raise StoreError('state store %s has schema %s, newer than this collection understands (%d); '
                                 'upgrade jobnet.scheduler' % (self.url, row[0], SCHEMA))
        self._conn_obj = conn
        self._conn_pid = os.getpid()
        return conn

    def close(self) -> None:
        if self._conn_obj is not None and self._conn_pid == os.getpid():
            try:
                self._conn_obj.close()
            except sqlite3.Error:
                pass
        self._conn_obj = None

    def _read(self, what: str, sql: str, args=()):
        with self._tlock:
            try:
                return self._conn().execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise StoreError('state store read failed: could not read %s from %s: %s' % (what, self.url, e))

    def _snapshot(self, what: str, fn):
        """Run ``fn(conn)`` inside one read transaction (a consistent snapshot under WAL)."""
        with self._tlock:
            conn = self._conn()
            try:
                conn.execute('BEGIN')
                try:
                    return fn(conn)
                finally:
                    conn.execute('COMMIT')
            except sqlite3.Error as e:
                self._rollback(conn)
                raise StoreError('state store read failed: could not read %s from %s: %s' % (what, self.url, e))

    @staticmethod
    def _rollback(conn) -> None:
        try:
            if conn.in_transaction:
                conn.execute('ROLLBACK')
        except sqlite3.Error:
            pass

    def _write(self, what: str, fn):
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction; any SQLite error is PEX209 and rolls back."""
        with self._tlock:
            conn = self._conn()
            try:
                conn.execute('BEGIN IMMEDIATE')
            except sqlite3.Error as e:
                self._rollback(conn)
                raise StoreWriteError(self.url, what, str(e))
            try:
                result = fn(conn)
                conn.execute('COMMIT')
                return result
            except sqlite3.Error as e:
                self._rollback(conn)
                raise StoreWriteError(self.url, what, str(e))
            except BaseException:
                self._rollback(conn)
                raise

    # ---- primitives

    def _get_instance_raw(self, iid):
        rows = self._read('instance %s' % iid, 'SELECT data, version FROM instances WHERE iid = ?', (iid,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def _list_instances_raw(self, operation_date, frame):
        sql = 'SELECT iid, data, version FROM instances'
        cond, args = [], []
        if operation_date is not None:
            cond.append('operation_date = ?')
            args.append(operation_date)
        if frame is not None:
            cond.append('frame = ?')
            args.append(frame)
        if cond:
            sql += ' WHERE ' + ' AND '.join(cond)
        return self._read('the instance list', sql + ' ORDER BY operation_date, frame', args)

    def _load_raw(self, iid, paths):
        def run(conn):
            row = conn.execute('SELECT data, version FROM instances WHERE iid = ?', (iid,)).fetchone()
            if row is None:
                return None, None, []
            return row[0], row[1], self._items_rows(conn, iid, paths)
        return self._snapshot('instance %s' % iid, run)

    @staticmethod
    def _items_rows(conn, iid, paths):
        if paths is None:
            return conn.execute('SELECT path, data FROM items WHERE iid = ? ORDER BY ord', (iid,)).fetchall()
        rows = []
        paths = list(paths)
        for i in range(0, len(paths), 500):
            chunk = paths[i:i + 500]
            rows.extend(conn.execute('SELECT path, data FROM items WHERE iid = ? AND path IN (%s) ORDER BY ord'
                                     % ','.join('?' * len(chunk)), [iid] + chunk).fetchall())
        return rows

    def _get_items_raw(self, iid, paths):
        return self._snapshot('items of %s' % iid, lambda conn: self._items_rows(conn, iid, paths))

    def _get_version_raw(self, iid):
        rows = self._read('instance %s' % iid, 'SELECT version FROM instances WHERE iid = ?', (iid,))
        return int(rows[0][0]) if rows else None

    def _items_since_raw(self, iid, version):
        def run(conn):
            row = conn.execute('SELECT version FROM instances WHERE iid = ?', (iid,)).fetchone()
            if row is None:
                return None, []
            return int(row[0]), conn.execute('SELECT path, data FROM items WHERE iid = ? AND version > ? ORDER BY ord',
                                             (iid, version)).fetchall()
        return self._snapshot('items of %s' % iid, run)

    def create_instance(self, instance: dict, items=None) -> dict:
        """Create an instance and all its items in one transaction; :class:`InstanceExists` if the id is taken."""
        iid, inst_json, rows = self._prepare_create(instance, items)
        frame, date = parse_iid(iid)

        def run(conn):
            if conn.execute('SELECT 1 FROM instances WHERE iid = ?', (iid,)).fetchone():
                raise InstanceExists('frame instance %s already exists in state store %s' % (iid, self.url))
            conn.execute('DELETE FROM items WHERE iid = ?', (iid,))
            conn.execute('INSERT INTO instances (iid, operation_date, frame, version, data) VALUES (?, ?, ?, 1, ?)',
                         (iid, date, frame, inst_json))
            conn.executemany('INSERT INTO items (iid, path, ord, version, data) VALUES (?, ?, ?, 1, ?)',
                             [(iid, p, i, d) for i, (p, d) in enumerate(rows)])
        self._write('instance %s (%d items)' % (iid, len(rows)), run)
        return self.get_instance(iid)

    def update(self, iid: str, fn, lease: Lease | None = None, *, paths=None):
        """One transaction under the instance's write lock; see the module docs. Returns what ``fn`` returns."""
        parse_iid(iid)

        def run(conn):
            row = conn.execute('SELECT data, version FROM instances WHERE iid = ?', (iid,)).fetchone()
            if row is None:
                raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
            if lease is not None:
                lrow = conn.execute('SELECT data FROM leases WHERE iid = ?', (iid,)).fetchone()
                self._lease_matches(iid, lease, lrow[0] if lrow else None)
            version = int(row[1]) + 1
            problems: list = []
            inst = self._parse_instance(iid, row[0], row[1], problems)
            items = self._parse_items(iid, self._items_rows(conn, iid, paths), problems)
            self._raise_problems(problems)
            inst_json, writes, result = self._run_fn(iid, fn, inst, items, version)
            conn.execute('UPDATE instances SET version = ? WHERE iid = ?', (version, iid))
            if inst_json is not None:
                conn.execute('UPDATE instances SET data = ? WHERE iid = ?', (inst_json, iid))
            sets = [(p, d) for p, d in writes if d is not None]
            dels = [p for p, d in writes if d is None]
            if sets:
                nxt = conn.execute('SELECT COALESCE(MAX(ord), -1) + 1 FROM items WHERE iid = ?', (iid,)).fetchone()[0]
                conn.executemany(
                    'INSERT INTO items (iid, path, ord, version, data) VALUES (?, ?, ?, ?, ?) '
                    'ON CONFLICT (iid, path) DO UPDATE SET version = excluded.version, data = excluded.data',
                    [(iid, p, nxt + i, version, d) for i, (p, d) in enumerate(sets)])
            if dels:
                conn.executemany('DELETE FROM items WHERE iid = ? AND path = ?', [(iid, p) for p in dels])
            return result
        return self._write('an update of instance %s' % iid, run)

    def delete_instance(self, iid: str, lease: Lease | None = None) -> bool:
        """Remove an instance with its items, lease and events. Returns False when it was not there."""
        parse_iid(iid)

        def run(conn):
            if lease is not None:
                lrow = conn.execute('SELECT data FROM leases WHERE iid = ?', (iid,)).fetchone()
                self._lease_matches(iid, lease, lrow[0] if lrow else None)
            n = conn.execute('DELETE FROM instances WHERE iid = ?', (iid,)).rowcount
            conn.execute('DELETE FROM items WHERE iid = ?', (iid,))
            conn.execute('DELETE FROM events WHERE iid = ?', (iid,))
            conn.execute('DELETE FROM leases WHERE iid = ?', (iid,))
            return n > 0
        return self._write('the deletion of instance %s' % iid, run)

    def _lease_get_raw(self, iid):
        rows = self._read('the lease of %s' % iid, 'SELECT data FROM leases WHERE iid = ?', (iid,))
        return rows[0][0] if rows else None

    def _lease_cas(self, iid, expect_token, expect_epoch, new_json, new_token, new_epoch):
        def run(conn):
            row = conn.execute('SELECT token, epoch FROM leases WHERE iid = ?', (iid,)).fetchone()
            if row is None:
                if expect_epoch is not None:
                    return False
            elif (row[0] or None) != (expect_token or None) or row[1] != expect_epoch:
                return False
            conn.execute('INSERT INTO leases (iid, token, epoch, data) VALUES (?, ?, ?, ?) ON CONFLICT (iid) DO UPDATE '
                         'SET token = excluded.token, epoch = excluded.epoch, data = excluded.data',
                         (iid, new_token or None, new_epoch, new_json))
            return True
        return self._write('the lease of %s' % iid, run)

    def _read_events_raw(self, iid, since):
        return self._read('events of %s' % iid, 'SELECT seq, data FROM events WHERE iid = ? AND seq > ? ORDER BY seq',
                          (iid, since))

    def _append_events_raw(self, iid, rows):
        def run(conn):
            last = conn.execute('SELECT COALESCE(MAX(seq), 0) FROM events WHERE iid = ?', (iid,)).fetchone()[0]
            conn.executemany('INSERT INTO events (iid, seq, data) VALUES (?, ?, ?)',
                             [(iid, last + 1 + i, d) for i, d in enumerate(rows)])
            return last + len(rows)
        return self._write('%d event(s) of %s' % (len(rows), iid), run)

    def _set_host_raw(self, host, raw):
        self._write('the record of host %s' % host, lambda conn: conn.execute(
            'INSERT INTO hosts (host, data) VALUES (?, ?) ON CONFLICT (host) DO UPDATE SET data = excluded.data',
            (host, raw)))

    def _get_hosts_raw(self):
        return self._read('host records', 'SELECT host, data FROM hosts ORDER BY host')

    # ---- fact cache namespace

    def _fact_get_raw(self, key):
        rows = self._read('fact cache entry %r' % key, 'SELECT data FROM facts WHERE key = ?', (key,))
        return rows[0][0] if rows else None

    def _fact_set_raw(self, key, raw):
        self._write('fact cache entry %r' % key, lambda conn: conn.execute(
            'INSERT INTO facts (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data',
            (key, raw)))

    def fact_keys(self) -> list[str]:
        return [r[0] for r in self._read('fact cache keys', 'SELECT key FROM facts ORDER BY key')]

    def fact_contains(self, key: str) -> bool:
        return bool(self._read('fact cache entry %r' % key, 'SELECT 1 FROM facts WHERE key = ?', (key,)))

    def fact_delete(self, key: str) -> None:
        self._write('the deletion of fact cache entry %r' % key,
                    lambda conn: conn.execute('DELETE FROM facts WHERE key = ?', (key,)))

    def fact_flush(self, prefix: str = '') -> None:
        self._write('the flush of the fact cache', lambda conn: conn.execute(
            "DELETE FROM facts WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)))


# --------------------------------------------------------------------------------------------------------------
# Redis

_LUA_READ = """#!lua flags=no-writes
-- KEYS: instances, versions, items, order, itemver, lease
-- ARGV: iid, mode ('inst' | 'all' | 'some' | 'since'), then paths ('some') or a version ('since')
local ver = redis.call('HGET', KEYS[2], ARGV[1])
if not ver then return {false, false} end
local inst = redis.call('HGET', KEYS[1], ARGV[1])
local mode = ARGV[2]
if mode == 'inst' then return {inst, ver, {}, {}, false} end
local order = redis.call('LRANGE', KEYS[4], 0, -1)
local data = {}
if mode == 'all' then
  data = redis.call('HGETALL', KEYS[3])
elseif mode == 'some' then
  for i = 3, #ARGV do data[#data + 1] = redis.call('HGET', KEYS[3], ARGV[i]) end
else
  local paths = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. ARGV[3], '+inf')
  for i = 1, #paths do
    local v = redis.call('HGET', KEYS[3], paths[i])
    if v then data[#data + 1] = paths[i]; data[#data + 1] = v end
  end
end
return {inst, ver, order, data, redis.call('HGET', KEYS[6], 'data')}
"""

_LUA_LIST = """#!lua flags=no-writes
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""

_LUA_CREATE = """#!lua
-- KEYS: instances, versions, items, order, itemver
-- ARGV: iid, instance json, then path, item json pairs
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'EXISTS' end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], '1')
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('RPUSH', KEYS[4], ARGV[i])
  redis.call('ZADD', KEYS[5], 1, ARGV[i])
end
return 'OK'
"""

_LUA_UPDATE = """#!lua
-- KEYS: instances, versions, items, order, itemver, lease
-- ARGV: iid, expected version, lease token ('' = none), lease epoch, instance json ('' = unchanged),
--       new version, then triples: op ('s' set / 'd' delete), path, item json
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 'UNKNOWN' end
if v ~= ARGV[2] then return 'CONFLICT' end
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[6], 'token') ~= ARGV[3] or redis.call('HGET', KEYS[6], 'epoch') ~= ARGV[4] then
    return 'LEASE'
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[5]) end
local nv = tonumber(ARGV[6])
for i = 7, #ARGV, 3 do
  local p = ARGV[i + 1]
  if ARGV[i] == 's' then
    if redis.call('HSET', KEYS[3], p, ARGV[i + 2]) == 1 then redis.call('RPUSH', KEYS[4], p) end
    redis.call('ZADD', KEYS[5], nv, p)
  else
    if redis.call('HDEL', KEYS[3], p) == 1 then redis.call('LREM', KEYS[4], 0, p) end
    redis.call('ZREM', KEYS[5], p)
  end
end
return 'OK'
"""

_LUA_DELETE = """#!lua
-- KEYS: instances, versions, items, order, itemver, lease, events
-- ARGV: iid, lease token ('' = no check), lease epoch
if ARGV[2] ~= '' then
  if redis.call('HGET', KEYS[6], 'token') ~= ARGV[2] or redis.call('HGET', KEYS[6], 'epoch') ~= ARGV[3] then
    return 'LEASE'
  end
end
local n = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return n
"""

_LUA_LEASE_CAS = """#!lua
-- KEYS: lease   ARGV: expected token ('' = none), expected epoch ('' = no lease record), json, token, epoch
local t = redis.call('HGET', KEYS[1], 'token')
local e = redis.call('HGET', KEYS[1], 'epoch')
if ARGV[2] == '' then
  if e then return 0 end
else
  if e ~= ARGV[2] then return 0 end
  if (t or '') ~= ARGV[1] then return 0 end
end
redis.call('HSET', KEYS[1], 'token', ARGV[4], 'epoch', ARGV[5], 'data', ARGV[3])
return 1
"""

_LUA_UNLOCK = """#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_LUA_EVENTS = """#!lua
-- KEYS: events   ARGV: event json...
local n = 0
for i = 1, #ARGV do n = redis.call('RPUSH', KEYS[1], ARGV[i]) end
if #ARGV == 0 then n = redis.call('LLEN', KEYS[1]) end
return n
"""


class RedisStore(Store):
    """Redis backend. Keys under a prefix (default ``jobnet:``); every write is one Lua script (atomic)."""

    backend = 'redis'

    def __init__(self, url: str, prefix: str = DEFAULT_REDIS_PREFIX, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout)
        try:
            import redis  # pylint: disable=import-outside-toplevel
            from redis.backoff import NoBackoff  # pylint: disable=import-outside-toplevel
            from redis.retry import Retry  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise StoreError('state store %s needs the Python package "redis" on the controller '
                             '(pip install redis)' % mask_url(url))
        self._redis_mod = redis
        self.url = mask_url(url) + ('' if prefix == DEFAULT_REDIS_PREFIX else
                                    ('&' if '?' in url else '?') + 'prefix=' + urllib.parse.quote(prefix))
        self.prefix = prefix
        # no automatic retries: a script re-sent after a dropped connection could be applied twice
        self._r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                       retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
        self._scripts = {}
        self.lock_ttl = min(30.0, max(2.0, timeout / 2.0))

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:  # pylint: disable=broad-except
            pass

    # ---- keys

    def _k(self, *parts: str) -> str:
        return self.prefix + ':'.join(parts)

    def _ikeys(self, iid: str) -> list[str]:
        return [self._k('instances'), self._k('versions'), self._k('items', iid), self._k('order', iid),
                self._k('itemver', iid), self._k('lease', iid), self._k('events', iid)]

    # ---- error mapping

    def _errors(self):
        r = self._redis_mod.exceptions
        return (r.RedisError, OSError)

    def _call_read(self, what: str, fn):
        try:
            return fn()
        except self._errors() as e:
            raise StoreError('state store read failed: could not read %s from %s: %s' % (what, self.url, e))

    def _call_write(self, what: str, fn):
        try:
            return fn()
        except StoreError:
            raise
        except self._errors() as e:
            raise StoreWriteError(self.url, what, '%s: %s' % (type(e).__name__, e))

    def _script(self, name: str, src: str):
        if name not in self._scripts:
            self._scripts[name] = self._r.register_script(src)
        return self._scripts[name]

    @staticmethod
    def _s(v):
        return v.decode('utf-8') if isinstance(v, bytes) else v

    # ---- primitives

    def _snap(self, iid: str, mode: str, arg=None):
        """One atomic read (a read-only script: consistent, and allowed while Redis is out of memory).

        Returns (instance raw, version, item rows in order, lease raw); version ``None`` when unknown.
        """
        k = self._ikeys(iid)
        args = [iid, mode]
        if mode == 'some':
            args.extend(arg)
        elif mode == 'since':
            args.append(str(int(arg)))
        res = self._call_read('instance %s' % iid, lambda: self._script('read', _LUA_READ)(keys=k[:6], args=args))
        raw, ver = res[0], res[1]
        if ver is None:
            return None, None, [], None
        order, data, lease_raw = res[2], res[3], res[4] if len(res) > 4 else None
        if mode == 'all':
            pairs = {self._s(data[i]): data[i + 1] for i in range(0, len(data), 2)}
            return raw, int(ver), self._order_rows(order, pairs), lease_raw
        if mode == 'some':
            pairs = {p: v for p, v in zip(arg, data) if v}
        else:
            pairs = {self._s(data[i]): data[i + 1] for i in range(0, len(data), 2)}
        pos = {self._s(p): i for i, p in enumerate(order)}
        rows = sorted(pairs.items(), key=lambda pv: (pos.get(pv[0], 1 << 60), pv[0]))
        return raw, int(ver), rows, lease_raw

    def _order_rows(self, order, data: dict):
        data = dict(data)
        rows = []
        for p in order:
            p = self._s(p)
            if p in data:
                rows.append((p, data.pop(p)))
        rows.extend(sorted(data.items()))
        return rows

    def _get_instance_raw(self, iid):
        raw, ver, _rows, _lease = self._snap(iid, 'inst')
        return raw, ver

    def _list_instances_raw(self, operation_date, frame):
        res = self._call_read('the instance list', lambda: self._script('list', _LUA_LIST)(
            keys=[self._k('instances'), self._k('versions')], args=[]))
        insts = {self._s(res[0][i]): res[0][i + 1] for i in range(0, len(res[0]), 2)}
        vers = {self._s(res[1][i]): res[1][i + 1] for i in range(0, len(res[1]), 2)}
        out = []
        for iid, raw in insts.items():
            m = IID_RE.match(iid)
            if m and ((operation_date is not None and m.group('date') != operation_date)
                      or (frame is not None and m.group('frame') != frame)):
                continue
            v = vers.get(iid)
            if v is None:
                continue
            out.append((iid, raw, int(v)))
        return out

    def _load_raw(self, iid, paths):
        raw, ver, rows, _lease = self._snap(iid, 'all' if paths is None else 'some', None if paths is None else
                                            [str(p) for p in paths])
        return raw, ver, rows

    def _get_items_raw(self, iid, paths):
        return self._load_raw(iid, list(paths))[2]

    def _get_version_raw(self, iid):
        v = self._call_read('instance %s' % iid, lambda: self._r.hget(self._k('versions'), iid))
        return None if v is None else int(v)

    def _items_since_raw(self, iid, version):
        _raw, ver, rows, _lease = self._snap(iid, 'since', version)
        return ver, rows

    def create_instance(self, instance: dict, items=None) -> dict:
        """Create an instance and all its items in one Lua script; :class:`InstanceExists` if the id is taken."""
        iid, inst_json, rows = self._prepare_create(instance, items)
        k = self._ikeys(iid)
        args = [iid, inst_json]
        for p, d in rows:
            args.extend((p, d))
        res = self._call_write('instance %s (%d items)' % (iid, len(rows)),
                               lambda: self._script('create', _LUA_CREATE)(keys=k[:5], args=args))
        if self._s(res) == 'EXISTS':
            raise InstanceExists('frame instance %s already exists in state store %s' % (iid, self.url))
        return self.get_instance(iid)

    def _lock(self, iid: str) -> tuple[str, str]:
        key = self._k('lock', iid)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            ok = self._call_write('the lock of instance %s' % iid,
                                  lambda: self._r.set(key, token, nx=True, px=int(self.lock_ttl * 1000)))
            if ok:
                return key, token
            if time.monotonic() > deadline:
                raise StoreWriteError(self.url, 'an update of instance %s' % iid,
                                      'its lock stayed taken for %.0f s' % self.timeout)
            time.sleep(delay)
            delay = min(0.05, delay * 2)

    def _unlock(self, key: str, token: str) -> None:
        try:
            self._script('unlock', _LUA_UNLOCK)(keys=[key], args=[token])
        except self._errors():
            pass  # it expires on its own

    def update(self, iid: str, fn, lease: Lease | None = None, *, paths=None):
        """One atomic write under the instance's lock; see the module docs. Returns what ``fn`` returns."""
        parse_iid(iid)
        k = self._ikeys(iid)
        what = 'an update of instance %s' % iid
        lkey, ltoken = self._lock(iid)
        try:
            raw, ver, rows, lraw = self._snap(iid, 'all' if paths is None else 'some',
                                              None if paths is None else [str(p) for p in paths])
            if ver is None:
                raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
            self._lease_matches(iid, lease, lraw)
            problems: list = []
            inst = self._parse_instance(iid, raw, ver, problems)
            items = self._parse_items(iid, rows, problems)
            self._raise_problems(problems)
            version = ver + 1
            inst_json, writes, result = self._run_fn(iid, fn, inst, items, version)
            args = [iid, str(ver), lease.token if lease else '', str(lease.epoch) if lease else '', inst_json or '',
                    str(version)]
            for p, d in writes:
                args.extend(('d', p, '') if d is None else ('s', p, d))
            res = self._s(self._call_write(what, lambda: self._script('update', _LUA_UPDATE)(keys=k[:6], args=args)))
            if res == 'UNKNOWN':
                raise UnknownInstance('frame instance %s was deleted from state store %s during the update; nothing '
                                      'was written' % (iid, self.url))
            if res == 'LEASE':
                raise LeaseLost(iid, lease, self.get_lease(iid))
            if res == 'CONFLICT':
                raise StoreWriteError(self.url, what, 'the instance changed after its lock expired (the update took '
                                      'longer than %.0f s); nothing was written' % self.lock_ttl)
            return result
        finally:
            self._unlock(lkey, ltoken)

    def delete_instance(self, iid: str, lease: Lease | None = None) -> bool:
        """Remove an instance with its items, lease and events. Returns False when it was not there."""
        parse_iid(iid)
        k = self._ikeys(iid)
        args = [iid, lease.token if lease else '', str(lease.epoch) if lease else '']
        res = self._call_write('the deletion of instance %s' % iid,
                               lambda: self._script('delete', _LUA_DELETE)(keys=k, args=args))
        if self._s(res) == 'LEASE':
            raise LeaseLost(iid, lease, self.get_lease(iid))
        return int(res) > 0

    def _lease_get_raw(self, iid):
        return self._call_read('the lease of %s' % iid, lambda: self._r.hget(self._k('lease', iid), 'data'))

    def _lease_cas(self, iid, expect_token, expect_epoch, new_json, new_token, new_epoch):
        args = [expect_token or '', '' if expect_epoch is None else str(expect_epoch), new_json, new_token or '',
                str(new_epoch)]
        res = self._call_write('the lease of %s' % iid, lambda: self._script('lease', _LUA_LEASE_CAS)(
            keys=[self._k('lease', iid)], args=args))
        return int(res) == 1

    def _read_events_raw(self, iid, since):
        rows = self._call_read('events of %s' % iid, lambda: self._r.lrange(self._k('events', iid), since, -1))
        return [(since + 1 + i, raw) for i, raw in enumerate(rows)]

    def _append_events_raw(self, iid, rows):
        return int(self._call_write('%d event(s) of %s' % (len(rows), iid), lambda: self._script(
            'events', _LUA_EVENTS)(keys=[self._k('events', iid)], args=rows)))

    def _set_host_raw(self, host, raw):
        self._call_write('the record of host %s' % host, lambda: self._r.hset(self._k('hosts'), host, raw))

    def _get_hosts_raw(self):
        data = self._call_read('host records', lambda: self._r.hgetall(self._k('hosts')))
        return sorted((self._s(k), v) for k, v in data.items())

    # ---- fact cache namespace

    def _fact_get_raw(self, key):
        return self._call_read('fact cache entry %r' % key, lambda: self._r.hget(self._k('facts'), key))

    def _fact_set_raw(self, key, raw):
        self._call_write('fact cache entry %r' % key, lambda: self._r.hset(self._k('facts'), key, raw))

    def fact_keys(self) -> list[str]:
        return sorted(self._s(k) for k in self._call_read('fact cache keys', lambda: self._r.hkeys(self._k('facts'))))

    def fact_contains(self, key: str) -> bool:
        return bool(self._call_read('fact cache entry %r' % key, lambda: self._r.hexists(self._k('facts'), key)))

    def fact_delete(self, key: str) -> None:
        self._call_write('the deletion of fact cache entry %r' % key, lambda: self._r.hdel(self._k('facts'), key))

    def fact_flush(self, prefix: str = '') -> None:
        keys = [k for k in self.fact_keys() if k.startswith(prefix)]
        if keys:
            self._call_write('the flush of the fact cache', lambda: self._r.hdel(self._k('facts'), *keys))
