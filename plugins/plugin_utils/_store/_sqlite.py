# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SQLite backend of the state store: one file, WAL journal, ``synchronous=FULL``, ``BEGIN IMMEDIATE``.

Tables (schema 1): ``meta`` (the schema number), ``instances``, ``items`` (with their creation order ``ord``),
``leases``, ``events`` (``seq`` per instance), ``hosts`` and ``facts``.
"""

from __future__ import annotations

import json
import os
import sqlite3

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import _checks
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._base import Store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    DEFAULT_TIMEOUT,
    SCHEMA,
    InstanceExists,
    Lease,
    NoStore,
    StoreError,
    StoreWriteError,
    UnknownInstance,
    parse_iid,
)


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
    'CREATE TABLE IF NOT EXISTS schedules (key TEXT PRIMARY KEY, data TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, iid TEXT NOT NULL, data TEXT NOT NULL) WITHOUT ROWID',
    'CREATE INDEX IF NOT EXISTS claims_iid ON claims (iid)',
    'CREATE TABLE IF NOT EXISTS resources (name TEXT PRIMARY KEY, data TEXT NOT NULL)',
)
#: tables a store must have to be read; ``schedules``, ``claims`` (the index of holders and waiters) and
#: ``resources`` are added on the first write by a version that knows them (the index is then built from the items)
_CORE_TABLES = frozenset({'meta', 'instances', 'items', 'leases', 'events', 'hosts', 'facts'})
_LATER_TABLES = frozenset({'schedules', 'claims', 'resources'})


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
        needed = _CORE_TABLES | _LATER_TABLES
        if not needed <= tables:
            try:
                conn.execute('BEGIN IMMEDIATE')
                for stmt in _SQLITE_SCHEMA:
                    conn.execute(stmt)
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA),))
                if 'claims' not in tables:
                    self._build_index(conn)
                conn.execute('COMMIT')
            except sqlite3.Error as e:
                try:
                    conn.execute('ROLLBACK')
                except sqlite3.Error:
                    pass
                if not _CORE_TABLES <= tables:
                    conn.close()
                    raise StoreWriteError(self.url, 'the store tables', str(e))
                # a store of an earlier version on a read-only file: readable; it has no schedule records
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

    @staticmethod
    def _build_index(conn) -> None:
        """Build the index of holders and waiters from every item (a store written before the index existed)."""
        rows = []
        for iid, path, data in conn.execute("SELECT iid, path, data FROM items WHERE data LIKE '%\"kind\":\"job\"%'"):
            try:
                item = json.loads(data)
            except ValueError:
                continue
            rows.extend((key, iid, d) for key, d in _checks.index_rows(iid, {path: item}) if d is not None)
        conn.executemany('INSERT OR REPLACE INTO claims (key, iid, data) VALUES (?, ?, ?)', rows)

    @staticmethod
    def _bump_index(conn) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('indexver', '1') ON CONFLICT (key) DO UPDATE "
                     "SET value = CAST(value AS INTEGER) + 1")

    @classmethod
    def _write_index(cls, conn, iid, rows, reindex=False) -> None:
        """Write index rows; the index version grows only when an entry really changed (a driver whose jobs wait
        wakes on it, not on every write of a job record)."""
        changed = 0
        if reindex:
            changed += conn.execute('DELETE FROM claims WHERE iid = ?', (iid,)).rowcount
        sets = [(key, iid, data) for key, data in rows if data is not None]
        dels = [(key,) for key, data in rows if data is None]
        if sets:
            changed += conn.executemany(
                'INSERT INTO claims (key, iid, data) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE '
                'SET iid = excluded.iid, data = excluded.data WHERE claims.data != excluded.data', sets).rowcount
        if dels:
            changed += conn.executemany('DELETE FROM claims WHERE key = ?', dels).rowcount
        if changed > 0:
            cls._bump_index(conn)

    @staticmethod
    def _view(conn) -> dict:
        return {'entries': _checks.parse_index(conn.execute('SELECT key, data FROM claims').fetchall()),
                'resources': _checks.parse_resources(conn.execute('SELECT name, data FROM resources').fetchall())}

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

    def create_instance(self, instance: dict, items=None, events=None) -> dict:
        """Create an instance, its items and events in one transaction; see :meth:`Store.create_instance`."""
        iid, inst_json, rows, event_rows = _checks.prepare_create(instance, items, events)
        frame, date = parse_iid(iid)

        def run(conn):
            if conn.execute('SELECT 1 FROM instances WHERE iid = ?', (iid,)).fetchone():
                raise InstanceExists('frame instance %s already exists in state store %s' % (iid, self.url))
            conn.execute('DELETE FROM items WHERE iid = ?', (iid,))
            conn.execute('INSERT INTO instances (iid, operation_date, frame, version, data) VALUES (?, ?, ?, 1, ?)',
                         (iid, date, frame, inst_json))
            conn.executemany('INSERT INTO items (iid, path, ord, version, data) VALUES (?, ?, ?, 1, ?)',
                             [(iid, p, i, d) for i, (p, d) in enumerate(rows)])
            if event_rows:
                self._insert_events(conn, iid, event_rows)
            self._write_index(conn, iid, _checks.create_index_rows(iid, items), reindex=True)
        self._write('instance %s (%d items)' % (iid, len(rows)), run)
        return self.get_instance(iid)

    def update(self, iid: str, fn, lease: Lease | None = None, *, paths=None, index=False, reindex=False):
        """One ``BEGIN IMMEDIATE`` transaction: read, check the lease, ``fn``, write records, events and index
        entries; see :meth:`Store.update`. Returns ``fn``'s result. Every writer of the file waits for this one, so
        what ``fn`` sees of the index (``index=True``) cannot change before the write."""
        parse_iid(iid)
        self._check_update_args(paths, reindex)

        def run(conn):
            row = conn.execute('SELECT data, version FROM instances WHERE iid = ?', (iid,)).fetchone()
            if row is None:
                raise UnknownInstance('frame instance %s is not in state store %s' % (iid, self.url))
            if lease is not None:
                lrow = conn.execute('SELECT data FROM leases WHERE iid = ?', (iid,)).fetchone()
                self._lease_matches(iid, lease, lrow[0] if lrow else None)
            version = int(row[1]) + 1
            problems: list = []
            inst = _checks.parse_instance(iid, row[0], row[1], problems)
            items = _checks.parse_items(iid, self._items_rows(conn, iid, paths), problems)
            self._raise_problems(problems)
            view = self._view(conn) if index else None
            inst_json, writes, result, event_rows, index_rows = _checks.run_fn(
                iid, fn, inst, items, version, view=view, reindex=reindex)
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
            if event_rows:
                self._insert_events(conn, iid, event_rows)
            self._write_index(conn, iid, index_rows, reindex)
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
            conn.execute('DELETE FROM claims WHERE iid = ?', (iid,))
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

    @staticmethod
    def _insert_events(conn, iid, rows) -> int:
        """Append event rows inside the caller's transaction; returns the last ``seq``."""
        last = conn.execute('SELECT COALESCE(MAX(seq), 0) FROM events WHERE iid = ?', (iid,)).fetchone()[0]
        if rows:
            conn.executemany('INSERT INTO events (iid, seq, data) VALUES (?, ?, ?)',
                             [(iid, last + 1 + i, d) for i, d in enumerate(rows)])
        return last + len(rows)

    def _append_events_raw(self, iid, rows):
        return self._write('%d event(s) of %s' % (len(rows), iid), lambda conn: self._insert_events(conn, iid, rows))

    def _set_host_raw(self, host, raw):
        self._write('the record of host %s' % host, lambda conn: conn.execute(
            'INSERT INTO hosts (host, data) VALUES (?, ?) ON CONFLICT (host) DO UPDATE SET data = excluded.data',
            (host, raw)))

    def _get_hosts_raw(self):
        return self._read('host records', 'SELECT host, data FROM hosts ORDER BY host')

    # ---- schedules

    def _has_table(self, name):
        """Whether the file has table ``name`` (a store of an earlier version, read-only, may lack the later ones)."""
        return bool(self._read('the table list', "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)))

    def _put_schedule_raw(self, key, raw, create_only):
        if create_only:
            sql = 'INSERT OR IGNORE INTO schedules (key, data) VALUES (?, ?)'
        else:
            sql = 'INSERT INTO schedules (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data'
        return self._write('schedule record %s' % key, lambda conn: conn.execute(sql, (key, raw)).rowcount) > 0

    def _get_schedules_raw(self, key, exact):
        if not self._has_table('schedules'):
            return []
        if exact:
            return self._read('schedule record %s' % key, 'SELECT key, data FROM schedules WHERE key = ?', (key,))
        return self._read('schedule records', 'SELECT key, data FROM schedules WHERE substr(key, 1, ?) = ? '
                          'ORDER BY key', (len(key), key))

    def _delete_schedule_raw(self, key):
        if not self._has_table('schedules'):
            return False
        return self._write('the deletion of schedule record %s' % key, lambda conn: conn.execute(
            'DELETE FROM schedules WHERE key = ?', (key,)).rowcount) > 0

    # ---- the index of holders and waiters, resource definitions

    def _get_index_raw(self):
        if not self._has_table('claims'):
            return []   # a store of an earlier version, read-only: nothing holds
        return self._read('the index of holders and waiters', 'SELECT key, data FROM claims ORDER BY key')

    def _get_resources_raw(self):
        if not self._has_table('resources'):
            return []
        return self._read('resource definitions', 'SELECT name, data FROM resources ORDER BY name')

    def _put_resource_raw(self, name, raw, create_only):
        if create_only:
            sql = 'INSERT OR IGNORE INTO resources (name, data) VALUES (?, ?)'
        else:
            sql = 'INSERT INTO resources (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET data = excluded.data'

        def run(conn):
            n = conn.execute(sql, (name, raw)).rowcount
            if n:
                self._bump_index(conn)
            return n
        return self._write('resource %s' % name, run) > 0

    def _delete_resource_raw(self, name):
        def run(conn):
            n = conn.execute('DELETE FROM resources WHERE name = ?', (name,)).rowcount
            if n:
                self._bump_index(conn)
            return n
        return self._write('the deletion of resource %s' % name, run) > 0

    def get_index_version(self):
        rows = self._read('the index version', "SELECT value FROM meta WHERE key = 'indexver'")
        return int(rows[0][0]) if rows else 0

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
