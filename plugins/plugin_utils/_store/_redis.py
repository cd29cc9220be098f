# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis backend of the state store: keys under a prefix (default ``jobnet:``), every write one Lua script.

A script is applied whole or not at all as long as it does not fail half way: every write script checks
everything it depends on (the version, the lease, the types of the keys it writes) before its first write.
The client never retries on its own, so a script is never applied twice. See ``docs/store.md`` for the keys.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import _checks
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._base import Store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    DEFAULT_REDIS_PREFIX,
    DEFAULT_TIMEOUT,
    IID_RE,
    InstanceExists,
    Lease,
    LeaseLost,
    StoreError,
    StoreWriteError,
    UnknownInstance,
    parse_iid,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._url import mask_url


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

# refuses (before any write) a key of another type than the script writes: a Lua error half way through a
# script would leave its first writes in place
_LUA_TYPES = """
local function wrongtype(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then return 'WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. want end
  return nil
end
"""

# removes every index entry of an instance (keys "<iid><tab><path>"); returns how many
_LUA_DROP = """
local function drop_entries(index, iid)
  local prefix = iid .. '\t'
  local gone = 0
  for _, key in ipairs(redis.call('HKEYS', index)) do
    if string.sub(key, 1, #prefix) == prefix then redis.call('HDEL', index, key); gone = gone + 1 end
  end
  return gone
end
"""

_LUA_CREATE = """#!lua
-- KEYS: instances, versions, items, order, itemver, events, index, indexver
-- ARGV: iid, instance json, number of items n, then n pairs: path, item json; number of index entries m, then m
--       pairs: key, entry json; then event json...
""" + _LUA_TYPES + _LUA_DROP + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'EXISTS' end
local p = 4 + 2 * tonumber(ARGV[3])
local last = p + 2 * tonumber(ARGV[p])
local bad = wrongtype(KEYS[1], 'hash') or wrongtype(KEYS[7], 'hash') or wrongtype(KEYS[8], 'string')
if not bad and #ARGV > last then bad = wrongtype(KEYS[6], 'list') end
if bad then return bad end
local bump = drop_entries(KEYS[7], ARGV[1]) > 0 or last > p
for i = p + 1, last, 2 do redis.call('HSET', KEYS[7], ARGV[i], ARGV[i + 1]) end
if bump then redis.call('INCR', KEYS[8]) end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], '1')
for i = 4, p - 1, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('RPUSH', KEYS[4], ARGV[i])
  redis.call('ZADD', KEYS[5], 1, ARGV[i])
end
for i = last + 1, #ARGV do redis.call('RPUSH', KEYS[6], ARGV[i]) end
return 'OK'
"""

_LUA_UPDATE = """#!lua
-- KEYS: instances, versions, items, order, itemver, lease, events, index, indexver
-- ARGV: iid, expected version, lease token ('' = none), lease epoch, instance json ('' = unchanged),
--       new version, number of item triples n, then n triples: op ('s' set / 'd' delete), path, item json;
--       number of index pairs m, then m pairs: key, entry json ('' = remove); reindex ('1': first remove every
--       entry of the instance); expected index version ('' = not checked);
--       then event json... (appended to the events list in this same script)
""" + _LUA_TYPES + _LUA_DROP + """
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 'UNKNOWN' end
if v ~= ARGV[2] then return 'CONFLICT' end
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[6], 'token') ~= ARGV[3] or redis.call('HGET', KEYS[6], 'epoch') ~= ARGV[4] then
    return 'LEASE'
  end
end
local p = 8 + 3 * tonumber(ARGV[7])
local q = p + 1 + 2 * tonumber(ARGV[p])
local last = q + 1
if ARGV[q + 1] ~= '' and (redis.call('GET', KEYS[9]) or '0') ~= ARGV[q + 1] then return 'INDEX' end
local bad = wrongtype(KEYS[1], 'hash') or wrongtype(KEYS[3], 'hash') or wrongtype(KEYS[4], 'list')
  or wrongtype(KEYS[5], 'zset') or wrongtype(KEYS[8], 'hash') or wrongtype(KEYS[9], 'string')
if not bad and #ARGV > last then bad = wrongtype(KEYS[7], 'list') end
if bad then return bad end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[5]) end
local nv = tonumber(ARGV[6])
for i = 8, p - 1, 3 do
  local path = ARGV[i + 1]
  if ARGV[i] == 's' then
    if redis.call('HSET', KEYS[3], path, ARGV[i + 2]) == 1 then redis.call('RPUSH', KEYS[4], path) end
    redis.call('ZADD', KEYS[5], nv, path)
  else
    if redis.call('HDEL', KEYS[3], path) == 1 then redis.call('LREM', KEYS[4], 0, path) end
    redis.call('ZREM', KEYS[5], path)
  end
end
local bump = ARGV[q] == '1' and drop_entries(KEYS[8], ARGV[1]) > 0
for i = p + 1, q - 1, 2 do
  local cur = redis.call('HGET', KEYS[8], ARGV[i])
  if ARGV[i + 1] == '' then
    if cur then redis.call('HDEL', KEYS[8], ARGV[i]); bump = true end
  elseif cur ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[8], ARGV[i], ARGV[i + 1]); bump = true
  end
end
if bump then redis.call('INCR', KEYS[9]) end
for i = last + 1, #ARGV do redis.call('RPUSH', KEYS[7], ARGV[i]) end
return 'OK'
"""

_LUA_BUILD = """#!lua
-- KEYS: versions, index, indexver, built   ARGV: iid, version read, then pairs: key, entry json
-- the index entries of one instance of a store written before the index existed, if it did not change since
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('INCR', KEYS[3]) end
return 1
"""

_LUA_VIEW = """#!lua flags=no-writes
-- KEYS: index, resources, indexver
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('GET', KEYS[3]) or '0'}
"""

_LUA_RESOURCE = """#!lua
-- KEYS: resources, indexver   ARGV: name, json ('' = delete), create only ('1')
""" + _LUA_TYPES + """
local bad = wrongtype(KEYS[1], 'hash') or wrongtype(KEYS[2], 'string')
if bad then return bad end
local n
if ARGV[2] == '' then n = redis.call('HDEL', KEYS[1], ARGV[1])
elseif ARGV[3] == '1' then n = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); n = 1 end
if n == 1 then redis.call('INCR', KEYS[2]) end
return n
"""

_LUA_DELETE = """#!lua
-- KEYS: instances, versions, items, order, itemver, lease, events, index, indexver
-- ARGV: iid, lease token ('' = no check), lease epoch
""" + _LUA_DROP + """
if ARGV[2] ~= '' then
  if redis.call('HGET', KEYS[6], 'token') ~= ARGV[2] or redis.call('HGET', KEYS[6], 'epoch') ~= ARGV[3] then
    return 'LEASE'
  end
end
local n = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
if redis.call('TYPE', KEYS[8])['ok'] == 'hash' and drop_entries(KEYS[8], ARGV[1]) > 0 then
  redis.call('INCR', KEYS[9])
end
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
        self._index_built = False
        self.lock_ttl = min(30.0, max(2.0, timeout / 2.0))

    def durability_warning(self) -> str | None:
        """What the server's persistence settings lose of an acknowledged commit when it restarts (``CONFIG GET``;
        None when they keep every commit, or when the server does not let a client read them)."""
        try:
            conf = self._r.config_get('appendonly')
            conf.update(self._r.config_get('appendfsync'))
            conf.update(self._r.config_get('save'))
        except Exception:  # pylint: disable=broad-except
            return None   # CONFIG renamed or refused: nothing to say

        def value(key):
            raw = conf.get(key, conf.get(key.encode()))
            return (raw.decode() if isinstance(raw, bytes) else str(raw or '')).strip().lower()
        where = 'the Redis server of the state store %s' % self.url
        if value('appendonly') != 'yes':
            if not value('save'):
                return ('%s keeps nothing on disk (appendonly no, no save points): every frame state is lost when it '
                        'restarts; set appendonly yes and appendfsync always (docs/store.md)' % where)
            return ('%s keeps only its snapshots (appendonly no, save "%s"): what was recorded since the last one is '
                    'lost when it restarts; set appendonly yes and appendfsync always (docs/store.md)'
                    % (where, value('save')))
        if value('appendfsync') != 'always':
            return ('%s syncs its append-only file %s (appendfsync %s): a crash of its machine loses the commits of '
                    'up to the last second; set appendfsync always to keep every one (docs/store.md)'
                    % (where, 'every second' if value('appendfsync') == 'everysec' else 'when the system does',
                       value('appendfsync')))
        return None

    #: how long (seconds) the measured difference between this machine's clock and the Redis server's is used
    CLOCK_REFRESH = 30.0

    def clock(self) -> float:
        """The Redis server's time: leases expire on the store's clock, whatever a controller's clock says. The
        difference to this machine's clock is measured with ``TIME`` and used for CLOCK_REFRESH seconds of this
        machine's monotonic clock, so a lease check costs no round trip; a jump of this machine's wall clock
        between two measurements is noticed, since the monotonic clock does not jump."""
        mono = time.monotonic()
        measured = getattr(self, '_clock_at', None)
        if measured is None or mono - measured[0] > self.CLOCK_REFRESH:
            seconds, micros = self._call_read('the server time', self._r.time)
            measured = self._clock_at = (mono, float(seconds) + float(micros) / 1e6)
        return measured[1] + (mono - measured[0])

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
                self._k('itemver', iid), self._k('lease', iid), self._k('events', iid), self._k('index'),
                self._k('indexver')]

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

    def create_instance(self, instance: dict, items=None, events=None) -> dict:
        """Create an instance, its items and events in one Lua script; see :meth:`Store.create_instance`."""
        iid, inst_json, rows, event_rows = _checks.prepare_create(instance, items, events)
        k = self._ikeys(iid)
        args = [iid, inst_json, str(len(rows))]
        for p, d in rows:
            args.extend((p, d))
        index_rows = _checks.create_index_rows(iid, items)
        args.append(str(len(index_rows)))
        for key, data in index_rows:
            args.extend((key, data))
        args.extend(event_rows)
        what = 'instance %s (%d items)' % (iid, len(rows))
        res = self._s(self._call_write(what, lambda: self._script('create', _LUA_CREATE)(
            keys=k[:5] + k[6:9], args=args)))
        if res == 'EXISTS':
            raise InstanceExists('frame instance %s already exists in state store %s' % (iid, self.url))
        self._refused(what, res)
        return self.get_instance(iid)

    def _refused(self, what: str, res: str) -> None:
        if res.startswith('WRONGTYPE'):
            raise StoreWriteError(self.url, what, '%s; nothing was written' % res)

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

    #: how many times an update that read the index decides again when another write changed the index first
    INDEX_RETRIES = 200

    def update(self, iid: str, fn, lease: Lease | None = None, *, paths=None, index=False, reindex=False):
        """Under the instance's lock: one snapshot read, ``fn``, then one Lua script that checks the version and
        the lease and writes records, events and index entries; see :meth:`Store.update`. Returns ``fn``'s result.

        With ``index=True`` the script also checks that the index and the resources are as ``fn`` saw them; when
        another write changed them first, nothing is written and ``fn`` decides again from a fresh read.
        """
        parse_iid(iid)
        self._check_update_args(paths, reindex)
        self._ensure_index()
        k = self._ikeys(iid)
        what = 'an update of instance %s' % iid
        lkey, ltoken = self._lock(iid)
        try:
            for attempt in range(self.INDEX_RETRIES):
                res, result = self._update_once(iid, fn, lease, paths, index, reindex, k, what)
                if res != 'INDEX':
                    return result
                time.sleep(min(0.05, 0.001 * (attempt + 1)))
            raise StoreWriteError(self.url, what, 'the index of holders and waiters kept changing under %d decisions '
                                  'in a row; nothing was written' % self.INDEX_RETRIES)
        finally:
            self._unlock(lkey, ltoken)

    def _update_once(self, iid, fn, lease, paths, index, reindex, k, what):
        view, indexver = None, ''
        if index:
            got = self._call_read('the index of holders and waiters', lambda: self._script('view', _LUA_VIEW)(
                keys=[self._k('index'), self._k('resources'), self._k('indexver')], args=[]))
            view = {'entries': _checks.parse_index(self._pairs(got[0])),
                    'resources': _checks.parse_resources(self._pairs(got[1]))}
            indexver = self._s(got[2])
        raw, ver, rows, lraw = self._snap(iid, 'all' if paths is None else 'some',
                                          None if paths is None else [str(p) for p in paths])
        if ver is None:
            raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
        self._lease_matches(iid, lease, lraw)
        problems: list = []
        inst = _checks.parse_instance(iid, raw, ver, problems)
        items = _checks.parse_items(iid, rows, problems)
        self._raise_problems(problems)
        version = ver + 1
        inst_json, writes, result, event_rows, index_rows = _checks.run_fn(
            iid, fn, inst, items, version, view=view, reindex=reindex)
        args = [iid, str(ver), lease.token if lease else '', str(lease.epoch) if lease else '', inst_json or '',
                str(version), str(len(writes))]
        for p, d in writes:
            args.extend(('d', p, '') if d is None else ('s', p, d))
        args.append(str(len(index_rows)))
        for key, data in index_rows:
            args.extend((key, data or ''))
        args.extend(('1' if reindex else '', indexver))
        args.extend(event_rows)
        res = self._s(self._call_write(what, lambda: self._script('update', _LUA_UPDATE)(keys=k, args=args)))
        if res == 'UNKNOWN':
            raise UnknownInstance('frame instance %s was deleted from state store %s during the update; nothing '
                                  'was written' % (iid, self.url))
        if res == 'LEASE':
            raise LeaseLost(iid, lease, self.get_lease(iid))
        if res == 'CONFLICT':
            raise StoreWriteError(self.url, what, 'the instance changed after its lock expired (the update took '
                                  'longer than %.0f s); nothing was written' % self.lock_ttl)
        self._refused(what, res)
        return res, result

    def _ensure_index(self):
        """Once per store: a store written before the index existed gets the entries of its running jobs (from
        their items, instance by instance, each only if it did not change meanwhile), then a mark that it has it."""
        if self._index_built:
            return
        built = self._k('index-built')
        if not self._call_read('the index mark', lambda: self._r.exists(built)):
            for iid, _raw, _ver in self._list_instances_raw(None, None):
                for _attempt in range(20):
                    _inst, ver, rows, _lease = self._snap(iid, 'all')
                    if ver is None:
                        break
                    problems: list = []
                    items = _checks.parse_items(iid, rows, problems)
                    args = [iid, str(ver)]
                    for key, data in _checks.index_rows(iid, items):
                        if data is not None:
                            args.extend((key, data))
                    done = self._call_write('the index of %s' % iid, lambda: self._script('build', _LUA_BUILD)(
                        keys=[self._k('versions'), self._k('index'), self._k('indexver'), built], args=args))
                    if int(done):
                        break
            self._call_write('the index mark', lambda: self._r.set(built, '1'))
        self._index_built = True

    def _pairs(self, flat):
        return [(self._s(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]

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

    # ---- schedules

    def _put_schedule_raw(self, key, raw, create_only):
        if create_only:
            return bool(self._call_write('schedule record %s' % key,
                                         lambda: self._r.hsetnx(self._k('schedules'), key, raw)))
        self._call_write('schedule record %s' % key, lambda: self._r.hset(self._k('schedules'), key, raw))
        return True

    def _get_schedules_raw(self, key, exact):
        if exact:
            raw = self._call_read('schedule record %s' % key, lambda: self._r.hget(self._k('schedules'), key))
            return [] if raw is None else [(key, raw)]
        data = self._call_read('schedule records', lambda: self._r.hgetall(self._k('schedules')))
        return sorted((self._s(k), v) for k, v in data.items() if self._s(k).startswith(key))

    def _delete_schedule_raw(self, key):
        return bool(self._call_write('the deletion of schedule record %s' % key,
                                     lambda: self._r.hdel(self._k('schedules'), key)))

    # ---- the index of holders and waiters, resource definitions

    def _get_index_raw(self):
        data = self._call_read('the index of holders and waiters', lambda: self._r.hgetall(self._k('index')))
        return sorted((self._s(k), v) for k, v in data.items())

    def _get_resources_raw(self):
        data = self._call_read('resource definitions', lambda: self._r.hgetall(self._k('resources')))
        return sorted((self._s(k), v) for k, v in data.items())

    def _resource_write(self, name, raw, create_only):
        res = self._call_write('resource %s' % name, lambda: self._script('resource', _LUA_RESOURCE)(
            keys=[self._k('resources'), self._k('indexver')], args=[name, raw, '1' if create_only else '']))
        if isinstance(res, (bytes, str)):
            self._refused('resource %s' % name, self._s(res))
        return int(res) > 0

    def get_index_version(self):
        v = self._call_read('the index version', lambda: self._r.get(self._k('indexver')))
        return int(v) if v else 0

    def _put_resource_raw(self, name, raw, create_only):
        return self._resource_write(name, raw, create_only)

    def _delete_resource_raw(self, name):
        return self._resource_write(name, '', False)

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
