# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract of the state store (``_store._base.Store``), run against both backends.

Every test here runs twice through the ``store`` fixture of ``conftest.py``: on a fresh SQLite file and on Redis
at ``JOBNET_TEST_REDIS_URL`` (under a key prefix of its own; skipped only when that variable is unset). What one
backend does on its own (SQLite files, Redis servers that die, processes, size) is in ``test_store.py``.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

IID = 'nightly@2026-11-21'
OTHER = 'weekly@2026-11-21'


def _instance(iid=IID, **extra):
    frame, date = iid.split('@', 1)
    rec = {'id': iid, 'frame': frame, 'operation_date': date, 'uid': 'k3x9q2', 'state': 'not_submitted',
           'definition': {'frame': frame, 'jobs': []}, 'options': {}, 'flags': {}, 'submitted': S.iso_utc(),
           'started': None, 'ended': None, 'schema': 1}
    rec.update(extra)
    return rec


def _item(path, **extra):
    parent = path.rsplit('/', 1)[0] if '/' in path else None
    rec = {'path': path, 'kind': 'job', 'parent': parent, 'host': 'agent1', 'state': 'waiting',
           'flags': {'skip': False, 'pause': False}, 'attempt': 0, 'attempt_id': None, 'phase': None,
           'started': None, 'ended': None, 'rc': None, 'signal': None, 'message': ''}
    rec.update(extra)
    return rec


def _items(n, prefix='j'):
    return [_item('%s%05d' % (prefix, i)) for i in range(n)]


# ----------------------------------------------------------------------------------------------------------------
# stored records, behind the store's back


def _sql(store, sql, args=()):
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute(sql, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _set_raw_instance(store, iid, raw):
    if store.backend == 'sqlite':
        _sql(store, 'UPDATE instances SET data = ? WHERE iid = ?', (raw, iid))
    else:
        store._r.hset(store._k('instances'), iid, raw)


def _set_raw_lease(store, iid, raw):
    if store.backend == 'sqlite':
        _sql(store, 'UPDATE leases SET data = ? WHERE iid = ?', (raw, iid))
    else:
        store._r.hset(store._k('lease', iid), 'data', raw)


def _raw_lease(store, iid):
    if store.backend == 'sqlite':
        return _sql(store, 'SELECT data FROM leases WHERE iid = ?', (iid,))[0][0]
    return store._r.hget(store._k('lease', iid), 'data').decode()


def _set_raw_fact(store, key, raw):
    if store.backend == 'sqlite':
        _sql(store, 'INSERT INTO facts (key, data) VALUES (?, ?)', (key, raw))
    else:
        store._r.hset(store._k('facts'), key, raw)


def _raw_events(store, iid):
    if store.backend == 'sqlite':
        return [r[0] for r in _sql(store, 'SELECT data FROM events WHERE iid = ? ORDER BY seq', (iid,))]
    return [r.decode() for r in store._r.lrange(store._k('events', iid), 0, -1)]


def _snapshot(store, iid):
    """Everything the store holds of one instance: records, version, events."""
    return store.load(iid), store.get_version(iid), store.read_events(iid)


# ----------------------------------------------------------------------------------------------------------------
# instances and items


def test_create_then_load_returns_records_in_creation_order(store):
    items = [_item('load', kind='net', host=None), _item('load/stage'), _item('extract'), _item('load/merge')]
    created = store.create_instance(_instance(), items)
    assert created['version'] == 1 and created['id'] == IID
    inst, got = store.load(IID)
    assert list(got) == ['load', 'load/stage', 'extract', 'load/merge']
    assert got['load/stage']['parent'] == 'load' and got['load/stage']['version'] == 1
    assert inst['definition'] == {'frame': 'nightly', 'jobs': []}
    assert store.get_instance(IID) == inst
    assert store.get_instance('weekly@2026-11-21') is None


def test_create_accepts_items_as_dict(store):
    store.create_instance(_instance(), {'a': _item('a'), 'b': _item('b')})
    assert list(store.load(IID)[1]) == ['a', 'b']


def test_create_of_taken_id_raises_and_changes_nothing(store):
    store.create_instance(_instance(state='running'), [_item('a')])
    before = store.load(IID)
    with pytest.raises(S.InstanceExists) as e:
        store.create_instance(_instance(state='waiting'), [_item('b')])
    assert IID in str(e.value)
    assert store.load(IID) == before


@pytest.mark.parametrize('instance, items, words', [
    (_instance('Bad@2026-11-21'), [], ['invalid frame instance id']),
    (_instance('nightly@2026-13-40'), [], ['not a calendar date']),
    (dict(_instance(), frame='other'), [], ['must match']),
    (_instance(), [_item('a'), _item('a')], ["'a' appears twice"]),
    (_instance(), [{k: v for k, v in _item('a').items() if k != 'state'}], ["lacks the key(s) state"]),
    (_instance(), [_item('a', started=object())], ['not plain JSON']),
    (_instance(), [_item('/abs')], ['invalid item path']),
    (_instance(), [_item('a', rc=float('nan'))], ['not plain JSON']),
])
def test_bad_records_are_refused_and_nothing_is_written(store, instance, items, words):
    with pytest.raises(S.InvalidRecord) as e:
        store.create_instance(instance, items)
    for w in words:
        assert w in str(e.value)
    assert store.list_instances() == []


def test_list_instances_sorted_by_date_then_frame_and_filtered(store):
    for iid in ['zeta@2026-11-20', 'alpha@2026-11-21', 'beta@2026-11-20', 'alpha@2026-11-20']:
        store.create_instance(_instance(iid), [])
    assert [i['id'] for i in store.list_instances()] == [
        'alpha@2026-11-20', 'beta@2026-11-20', 'zeta@2026-11-20', 'alpha@2026-11-21']
    assert [i['id'] for i in store.list_instances('2026-11-21')] == ['alpha@2026-11-21']
    assert [i['id'] for i in store.list_instances(frame='alpha')] == ['alpha@2026-11-20', 'alpha@2026-11-21']


def test_update_writes_only_the_returned_items(store):
    store.create_instance(_instance(), _items(50))
    inst0, items0 = store.load(IID)

    def fn(inst, items):
        it = items['j00007']
        it['state'] = 'running'
        return None, {'j00007': it}, 'done'

    assert store.update(IID, fn) == 'done'
    inst1, items1 = store.load(IID)
    assert inst1['version'] == 2
    assert inst1['updated'] == inst0['updated']  # the instance record was not rewritten
    assert items1['j00007']['state'] == 'running' and items1['j00007']['version'] == 2
    untouched = [p for p in items1 if p != 'j00007']
    assert all(items1[p] == items0[p] for p in untouched)  # same version, same updated stamp
    version, changed = store.items_since(IID, 1)
    assert version == 2 and list(changed) == ['j00007']


def test_update_can_rewrite_instance_add_and_delete_items(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])

    def fn(inst, items):
        inst['state'] = 'running'
        return inst, {'c': _item('c'), 'a': None}, None

    store.update(IID, fn)
    inst, items = store.load(IID)
    assert inst['state'] == 'running' and inst['version'] == 2
    assert list(items) == ['b', 'c']


def test_update_function_that_raises_writes_nothing(store):
    store.create_instance(_instance(), [_item('a')])
    before = store.load(IID)

    def fn(inst, items):
        items['a']['state'] = 'running'
        raise RuntimeError('planner refused')

    with pytest.raises(RuntimeError):
        store.update(IID, fn)
    assert store.load(IID) == before


def test_update_returning_a_bad_item_writes_nothing(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    before = store.load(IID)

    def fn(inst, items):
        items['a']['state'] = 'running'
        return None, {'a': items['a'], 'b': {'path': 'b'}}, None

    with pytest.raises(S.InvalidRecord) as e:
        store.update(IID, fn)
    assert "item 'b'" in str(e.value)
    assert store.load(IID) == before


def test_update_of_unknown_instance_raises(store):
    with pytest.raises(S.UnknownInstance) as e:
        store.update(IID, lambda inst, its: (None, {}, None))
    assert IID in str(e.value)


def test_update_with_only_some_paths_loaded(store):
    store.create_instance(_instance(), _items(20))
    seen = store.update(IID, lambda i, its: (None, {}, sorted(its)), paths=['j00003', 'j00011', 'nope'])
    assert seen == ['j00003', 'j00011']
    assert list(store.get_items(IID, ['j00011', 'j00003'])) == ['j00003', 'j00011']


def test_delete_instance_removes_items_lease_and_events(store):
    store.create_instance(_instance(), [_item('a')])
    store.acquire_lease(IID, S.default_owner('run'), 30)
    store.append_events(IID, [{'event': 'x'}])
    assert store.delete_instance(IID) is True
    assert store.get_instance(IID) is None and store.get_lease(IID) is None and store.read_events(IID) == []
    assert store.delete_instance(IID) is False
    store.create_instance(_instance(), [_item('b')])
    assert list(store.load(IID)[1]) == ['b']


def test_version_grows_by_one_per_update_and_is_none_when_unknown(store):
    assert store.get_version(IID) is None
    store.create_instance(_instance(), [_item('a')])
    assert store.get_version(IID) == 1
    store.update(IID, lambda i, its: (None, {}, None))
    store.update(IID, lambda i, its: (None, {}, None, [{'event': 'an event alone is a change too'}]))
    assert store.get_version(IID) == 3 and store.load(IID)[0]['version'] == 3
    assert store.items_since(IID, 3) == (3, {})
    assert store.items_since(OTHER, 0) == (None, {})


def test_store_contract_is_abstract_and_both_backends_fulfil_it():
    with pytest.raises(TypeError):
        S.Store(1.0)  # pylint: disable=abstract-class-instantiated
    assert S.SQLiteStore.__abstractmethods__ == frozenset() and S.RedisStore.__abstractmethods__ == frozenset()
    assert {'create_instance', 'update', 'delete_instance', 'close', 'fact_keys', 'fact_contains', 'fact_delete',
            'fact_flush', '_get_instance_raw', '_list_instances_raw', '_load_raw', '_get_items_raw',
            '_get_version_raw', '_items_since_raw', '_lease_get_raw', '_lease_cas', '_read_events_raw',
            '_append_events_raw', '_set_host_raw', '_get_hosts_raw', '_fact_get_raw',
            '_fact_set_raw', '_put_schedule_raw', '_get_schedules_raw',
            '_delete_schedule_raw', '_get_index_raw', '_get_resources_raw', '_put_resource_raw',
            '_delete_resource_raw'} == set(S.Store.__abstractmethods__)

    class Half(S.Store):
        def close(self):
            pass

    with pytest.raises(TypeError) as e:
        Half(1.0)  # pylint: disable=abstract-class-instantiated
    assert 'update' in str(e.value)
    for cls in (S.SQLiteStore, S.RedisStore):
        public = [n for n in vars(cls) if not n.startswith('_') and callable(getattr(cls, n))]
        for name in public:  # every method a backend offers is declared, with its contract, on the base
            assert getattr(S.Store, name, None) is not None and getattr(S.Store, name).__doc__, (cls, name)


# ----------------------------------------------------------------------------------------------------------------
# events in the same transaction as the records


def _without_at(events):
    return [{k: v for k, v in e.items() if k != 'at'} for e in events]


def test_update_writes_records_and_events_together(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    store.append_events(IID, [{'event': 'before'}])
    new_events = [{'path': 'a', 'from': 'waiting', 'to': 'running', 'seq': 99},
                  {'path': '', 'from': 'waiting', 'to': 'running', 'at': '2026-11-21T00:00:00Z'}]

    def fn(inst, items):
        inst['state'] = 'running'
        return inst, {'a': dict(items['a'], state='running')}, 'decided', new_events

    assert store.update(IID, fn) == 'decided'
    inst, items = store.load(IID)
    assert inst['state'] == 'running' and items['a']['state'] == 'running' and inst['version'] == 2
    evs = store.read_events(IID)
    assert [e['seq'] for e in evs] == [1, 2, 3]
    assert evs[1] == {'path': 'a', 'from': 'waiting', 'to': 'running', 'seq': 2, 'at': evs[1]['at']}
    assert evs[1]['at'].endswith('Z') and evs[2]['at'] == '2026-11-21T00:00:00Z'
    assert [e['seq'] for e in store.read_events(IID, since=1)] == [2, 3]
    # the very records append_events writes: same keys, same numbering, nothing else stored
    store.append_events(OTHER, [{'event': 'before'}] + new_events)
    twin = store.read_events(OTHER)
    assert _without_at(twin) == _without_at(evs) and [sorted(e) for e in twin] == [sorted(e) for e in evs]
    assert [sorted(json.loads(r)) for r in _raw_events(store, IID)] == \
        [sorted(json.loads(r)) for r in _raw_events(store, OTHER)]
    assert all('seq' not in json.loads(r) for r in _raw_events(store, IID))
    assert store.append_events(IID, [{'event': 'after'}]) == 4  # the numbering goes on


def test_update_returning_three_values_or_no_events_writes_no_events(store):
    store.create_instance(_instance(), [_item('a')])
    store.append_events(IID, [{'event': 'x'}])
    store.update(IID, lambda i, its: (None, {'a': dict(its['a'], state='running')}, None))
    store.update(IID, lambda i, its: (None, {}, None, None))
    store.update(IID, lambda i, its: (None, {}, None, []))
    assert [e['event'] for e in store.read_events(IID)] == ['x']
    assert store.get_version(IID) == 4 and store.load(IID)[1]['a']['state'] == 'running'


def test_create_instance_writes_its_events_in_the_same_transaction(store):
    created = store.create_instance(_instance(), [_item('a')], events=[{'path': '', 'to': 'not_submitted'}])
    assert created['version'] == 1
    assert [(e['seq'], e['to']) for e in store.read_events(IID)] == [(1, 'not_submitted')]
    with pytest.raises(S.InstanceExists):
        store.create_instance(_instance(), [], events=[{'path': '', 'to': 'waiting'}])
    assert [e['to'] for e in store.read_events(IID)] == ['not_submitted']
    assert store.create_instance(_instance(OTHER), {'a': _item('a')})['version'] == 1  # events stay optional
    assert store.read_events(OTHER) == []


@pytest.mark.parametrize('events, words', [
    ([{'path': 'a', 'data': object()}], ['event #0 of %s' % IID, 'not plain JSON']),
    ([{'path': 'a'}, {'rc': float('nan')}], ['event #1 of %s' % IID, 'not plain JSON']),
    (['not a dict'], ['must be a dict']),
    ({'path': 'a'}, ['must be a list']),
])
def test_bad_events_leave_neither_records_nor_events(store, events, words):
    store.create_instance(_instance(), [_item('a')])
    store.append_events(IID, [{'event': 'x'}])
    before = _snapshot(store, IID)

    def fn(inst, items):  # the records are fine and prepared first; the events then fail
        return dict(inst, state='running'), {'a': dict(items['a'], state='running'), 'b': _item('b')}, None, events

    with pytest.raises(S.InvalidRecord) as e:
        store.update(IID, fn)
    for w in words:
        assert w in str(e.value)
    assert _snapshot(store, IID) == before
    with pytest.raises(S.InvalidRecord):
        store.create_instance(_instance(OTHER), [_item('a')], events=events)
    assert store.get_instance(OTHER) is None and store.read_events(OTHER) == []


class _EventWriteFault:
    """The write of the events of ``iid`` fails inside the store's own transaction.

    SQLite: a trigger aborts the INSERT into ``events``, which comes after the instance and item rows were
    written in the same ``BEGIN IMMEDIATE`` transaction. Redis: the events key holds a value of another type; the
    write script finds it (it checks every key it writes before its first write, Redis having no rollback).
    """

    def __init__(self, store, iid):
        self.store = store
        self.iid = iid
        self.saved = []

    def __enter__(self):
        if self.store.backend == 'sqlite':
            _sql(self.store, "CREATE TRIGGER fail_events BEFORE INSERT ON events BEGIN "
                             "SELECT RAISE(ABORT, 'injected fault'); END")
        else:
            key = self.store._k('events', self.iid)
            self.saved = self.store._r.lrange(key, 0, -1)
            self.store._r.delete(key)
            self.store._r.set(key, 'not a list')
        return self

    def __exit__(self, *exc):
        if self.store.backend == 'sqlite':
            _sql(self.store, 'DROP TRIGGER fail_events')
        else:
            key = self.store._k('events', self.iid)
            self.store._r.delete(key)
            if self.saved:
                self.store._r.rpush(key, *self.saved)


def test_fault_writing_the_events_leaves_neither_records_nor_events(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    store.append_events(IID, [{'event': 'x'}])
    before = _snapshot(store, IID)

    def fn(inst, items):
        return (dict(inst, state='running'), {'a': dict(items['a'], state='running'), 'b': None, 'c': _item('c')},
                'r', [{'path': 'a', 'to': 'running'}])

    with _EventWriteFault(store, IID):
        with pytest.raises(S.StoreWriteError) as e:
            store.update(IID, fn)
    assert str(e.value).startswith('PEX209 state store write failed:') and 'instance %s' % IID in str(e.value)
    assert _snapshot(store, IID) == before
    assert store.update(IID, fn) == 'r'  # once the fault is gone the same update goes through, whole
    inst, items = store.load(IID)
    assert inst['state'] == 'running' and list(items) == ['a', 'c'] and items['a']['state'] == 'running'
    assert [e.get('to') for e in store.read_events(IID)] == [None, 'running']


def test_fault_writing_the_events_of_a_new_instance_creates_nothing(store):
    with _EventWriteFault(store, OTHER):
        with pytest.raises(S.StoreWriteError) as e:
            store.create_instance(_instance(OTHER), [_item('a')], events=[{'path': '', 'to': 'not_submitted'}])
    assert str(e.value).startswith('PEX209 state store write failed:')
    assert store.get_instance(OTHER) is None and store.read_events(OTHER) == [] and store.list_instances() == []


class _FailingCommit:
    """An SQLite connection whose COMMIT fails (everything of the transaction was staged before)."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if sql == 'COMMIT':
            raise sqlite3.OperationalError('disk I/O error (injected)')
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_write_lost_at_the_end_of_the_transaction_leaves_nothing(store, monkeypatch):
    store.create_instance(_instance(), [_item('a')])
    store.append_events(IID, [{'event': 'x'}])
    before = _snapshot(store, IID)
    if store.backend == 'sqlite':
        monkeypatch.setattr(store, '_conn_obj', _FailingCommit(store._conn()))
        reason = 'disk I/O error (injected)'
    else:
        import redis
        real = store._script

        def script(name, src):
            if name != 'update':
                return real(name, src)

            def call(keys, args):
                raise redis.exceptions.ConnectionError('connection dropped (injected)')
            return call
        monkeypatch.setattr(store, '_script', script)
        reason = 'ConnectionError: connection dropped (injected)'
    with pytest.raises(S.StoreWriteError) as e:
        store.update(IID, lambda i, its: (dict(i, state='running'), {'a': dict(its['a'], state='running')}, None,
                                          [{'path': 'a', 'to': 'running'}]))
    assert reason in str(e.value)
    monkeypatch.undo()
    assert _snapshot(store, IID) == before


# ----------------------------------------------------------------------------------------------------------------
# corrupt records


def _corrupt_item(store, path, raw):
    if store.backend == 'sqlite':
        conn = sqlite3.connect(store.path)
        conn.execute('UPDATE items SET data = ? WHERE iid = ? AND path = ?', (raw, IID, path))
        conn.commit()
        conn.close()
    else:
        store._r.hset(store._k('items', IID), path, raw)


def _raw_item(store, path):
    if store.backend == 'sqlite':
        conn = sqlite3.connect(store.path)
        raw = conn.execute('SELECT data FROM items WHERE iid = ? AND path = ?', (IID, path)).fetchone()[0]
        conn.close()
        return raw
    return store._r.hget(store._k('items', IID), path).decode()


@pytest.mark.parametrize('raw, key, words', [
    ('{"path": "load/stage", "kind": "job"', None, ['does not parse']),
    (json.dumps({'path': 'load/stage', 'kind': 'job'}), 'state', ["missing key 'state'"]),
    ('[1, 2]', None, ['not an object']),
])
def test_corrupt_item_is_named_and_kept(store, raw, key, words):
    store.create_instance(_instance(), [_item('load', kind='net'), _item('load/stage')])
    _corrupt_item(store, 'load/stage', raw)
    for call in (lambda: store.load(IID), lambda: store.update(IID, lambda inst, its: (None, {}, None))):
        with pytest.raises(S.CorruptRecord) as e:
            call()
        assert e.value.instance == IID and e.value.path == 'load/stage' and e.value.key == key
        assert IID in str(e.value) and "'load/stage'" in str(e.value)
        for w in words:
            assert w in str(e.value)
    assert _raw_item(store, 'load/stage') == raw  # never deleted or rewritten


def test_corrupt_instance_reported_in_listing_others_still_listed(store):
    store.create_instance(_instance(), [])
    store.create_instance(_instance('weekly@2026-11-21'), [])
    if store.backend == 'sqlite':
        conn = sqlite3.connect(store.path)
        conn.execute("UPDATE instances SET data = '{\"id\": \"nightly@2026-11-21\"}' WHERE iid = ?", (IID,))
        conn.commit()
        conn.close()
    else:
        store._r.hset(store._k('instances'), IID, '{"id": "nightly@2026-11-21"}')
    with pytest.raises(S.CorruptRecord) as e:
        store.list_instances()
    assert e.value.instance == IID and e.value.key == 'frame'
    listed = store.list_instances(corrupt='report')
    assert [i['id'] for i in listed] == [IID, 'weekly@2026-11-21']
    assert 'missing key' in listed[0]['corrupt'] and 'corrupt' not in listed[1]


@pytest.mark.parametrize('key, value', [
    ('attempt_id', 5),
    ('attempt', 'x'),
    ('attempt', True),
    ('attempt', -1),
    ('attempt', None),
    ('state', 'bogus'),
    ('state', 3),
    ('kind', 'frame'),
    ('phase', 'started'),
    ('flags', ['skip']),
    ('flags', None),
    ('opened', 'no'),
    ('host', 5),
    ('parent', 7),
])
def test_item_key_of_a_wrong_type_is_corrupt_named_and_kept(store, key, value):
    store.create_instance(_instance(), [_item('load', kind='net', host=None, opened=False), _item('load/stage')])
    store.create_instance(_instance(OTHER), [_item('a')])
    raw = json.dumps(dict(_item('load/stage'), **{key: value}))
    _corrupt_item(store, 'load/stage', raw)
    calls = (lambda: store.load(IID), lambda: store.update(IID, lambda inst, its: (None, {}, None)),
             lambda: store.get_items(IID, ['load/stage']), lambda: store.items_since(IID, 0))
    for call in calls:
        with pytest.raises(S.CorruptRecord) as e:
            call()
        assert e.value.instance == IID and e.value.path == 'load/stage' and e.value.key == key
        assert [(p['instance'], p['path'], p['key']) for p in e.value.problems] == [(IID, 'load/stage', key)]
        assert "item 'load/stage': key %r is " % key in str(e.value)
    assert _raw_item(store, 'load/stage') == raw  # never rewritten
    assert list(store.get_items(IID, ['load'])) == ['load']  # its sound neighbour still reads
    store.update(OTHER, lambda i, its: (None, {'a': dict(its['a'], state='running')}, None))  # others go on
    assert store.load(OTHER)[1]['a']['state'] == 'running'
    assert [i['id'] for i in store.list_instances()] == [IID, OTHER]


def test_every_wrong_key_of_a_record_is_named(store):
    store.create_instance(_instance(), [_item('a')])
    _corrupt_item(store, 'a', json.dumps(dict(_item('a'), attempt='1', phase='done', opened=None)))
    with pytest.raises(S.CorruptRecord) as e:
        store.load(IID)
    assert sorted(p['key'] for p in e.value.problems) == ['attempt', 'opened', 'phase']


def test_records_as_the_scheduler_writes_them_pass_the_checks(store):
    net = _item('load', kind='net', host=None, parent='', opened=True, state='running')
    job = _item('load/stage', parent='load', state='running', attempt=2, attempt_id='nightly.20261121.k3x9q2.load.'
                'stage.2', phase='launched', flags={'skip': False, 'pause': False, 'stopped': False, 'force': True})
    defn = {'frame': 'nightly', 'items': [{'path': 'load', 'kind': 'net'}, {'path': 'load/stage', 'kind': 'job'}]}
    store.create_instance(_instance(definition=defn, opened=True, flags={'stopped': False}, state='running'),
                          [net, job])
    inst, items = store.load(IID)
    assert inst['definition'] == defn and items['load/stage']['attempt'] == 2


@pytest.mark.parametrize('key, value, problem_key', [
    ('state', 'bogus', 'state'),
    ('state', None, 'state'),
    ('flags', 'x', 'flags'),
    ('opened', 1, 'opened'),
    ('definition', [], 'definition'),
    ('definition', None, 'definition'),
    ('definition', {'frame': 'nightly', 'items': {}}, 'definition.items'),
    ('definition', {'frame': 'nightly', 'items': [{'kind': 'job'}]}, 'definition.items'),
    ('definition', {'frame': 'nightly', 'items': [{'path': 'a', 'kind': 'frame'}]}, 'definition.items'),
    ('definition', {'frame': 'nightly', 'items': ['a']}, 'definition.items'),
])
def test_instance_key_of_a_wrong_type_is_corrupt_named_and_kept(store, key, value, problem_key):
    store.create_instance(_instance(), [_item('a')])
    store.create_instance(_instance(OTHER), [_item('a')])
    raw = json.dumps(dict(_instance(), **{key: value}))
    _set_raw_instance(store, IID, raw)
    for call in (lambda: store.get_instance(IID), lambda: store.load(IID),
                 lambda: store.update(IID, lambda inst, its: (None, {}, None))):
        with pytest.raises(S.CorruptRecord) as e:
            call()
        assert e.value.instance == IID and e.value.path is None and e.value.key == problem_key
        assert 'instance %s: ' % IID in str(e.value)
    problems = []
    assert [i['id'] for i in store.list_instances(problems=problems)] == [OTHER]
    assert [(p['instance'], p['path'], p['key']) for p in problems] == [(IID, None, problem_key)]
    store.update(OTHER, lambda i, its: (dict(i, state='waiting'), {}, None))
    assert store.get_instance(OTHER)['state'] == 'waiting'
    if store.backend == 'sqlite':
        assert _sql(store, 'SELECT data FROM instances WHERE iid = ?', (IID,))[0][0] == raw
    else:
        assert store._r.hget(store._k('instances'), IID).decode() == raw


def test_list_instances_with_problems_returns_the_sound_ones_and_reports_the_corrupt(store):
    daily = 'daily@2026-11-21'
    for iid in (IID, OTHER, daily):
        store.create_instance(_instance(iid), [])
    _set_raw_instance(store, IID, '{"id": ')
    _set_raw_instance(store, daily, json.dumps(_instance(daily, state='bogus')))
    problems = []
    assert [i['id'] for i in store.list_instances(problems=problems)] == [OTHER]
    assert sorted((p['instance'], p['key']) for p in problems) == [(daily, 'state'), (IID, None)]
    assert all(p['path'] is None and p['reason'] for p in problems)
    with pytest.raises(S.CorruptRecord) as e:  # without problems: as before, one error naming every corrupt one
        store.list_instances()
    assert sorted(p['instance'] for p in e.value.problems) == [daily, IID]
    problems = []
    assert [i['id'] for i in store.list_instances(frame='weekly', problems=problems)] == [OTHER]
    assert problems == []  # instances filtered out are not read, so not reported
    problems = []
    listed = store.list_instances(corrupt='report', problems=problems)
    assert [i['id'] for i in listed] == [daily, IID, OTHER] and len(problems) == 2
    assert 'corrupt' in listed[0] and 'corrupt' in listed[1] and 'corrupt' not in listed[2]
    with pytest.raises(S.StoreError):
        store.list_instances(corrupt='ignore')


@pytest.mark.parametrize('raw, words', [
    ('{"token": "t", "epoch": ', ['does not parse']),
    ('[1]', ['not an object']),
    ('{"token": "t"}', ["missing key 'epoch'"]),
    ('{"token": "t", "epoch": "two", "expires": 0}', ['key \'epoch\' is "two" (str)']),
    ('{"token": 5, "epoch": 1, "expires": 0}', ["key 'token' is 5 (int)"]),
    ('{"token": "t", "epoch": 1, "expires": "soon"}', ["key 'expires' is"]),
    ('{"token": "t", "epoch": 1, "expires": 0, "owner": "me"}', ["key 'owner' is"]),
])
def test_corrupt_lease_refuses_only_its_own_instance(store, raw, words):
    owner = {'host': 'ctl.example.com', 'pid': 1234, 'what': 'run'}
    for iid in (IID, OTHER):
        store.create_instance(_instance(iid), [_item('a')])
    lease = store.acquire_lease(IID, owner, 60)
    theirs = store.acquire_lease(OTHER, owner, 60)
    _set_raw_lease(store, IID, raw)
    calls = (lambda: store.get_lease(IID), lambda: store.acquire_lease(IID, owner, 60),
             lambda: store.acquire_lease(IID, owner, 60, is_dead=lambda o: True),
             lambda: store.update(IID, lambda i, its: (None, {}, None), lease=lease),
             lambda: store.renew_lease(lease, 60), lambda: store.release_lease(lease))
    for call in calls:
        with pytest.raises(S.CorruptRecord) as e:
            call()
        assert e.value.instance == IID and e.value.key == 'lease' and e.value.path is None
        assert 'instance %s lease record: ' % IID in str(e.value)
        for w in words:
            assert w in str(e.value)
    assert _raw_lease(store, IID) == raw  # kept as it is
    assert store.load(IID)[1]['a']['state'] == 'waiting'  # its records still read
    assert store.get_lease(OTHER).epoch == 1  # and nothing else is affected
    store.renew_lease(theirs, 60)
    store.update(OTHER, lambda i, its: (None, {'a': dict(its['a'], state='running')}, None), lease=theirs)
    assert store.load(OTHER)[1]['a']['state'] == 'running'
    assert [i['id'] for i in store.list_instances()] == [IID, OTHER]


# ----------------------------------------------------------------------------------------------------------------
# leases


def test_lease_held_message_names_owner_and_expiry(store):
    owner = {'host': 'ctl.example.com', 'pid': 1234, 'start': '99', 'what': 'run', 'program': 'ansible-playbook'}
    lease = store.acquire_lease(IID, owner, 60)
    assert lease.epoch == 1 and lease.token
    with pytest.raises(S.LeaseHeld) as e:
        store.acquire_lease(IID, S.default_owner('recover'), 60)
    msg = str(e.value)
    assert msg == ('frame instance %s is driven by ansible-playbook pid 1234 on host ctl.example.com (what=run) '
                   'until %s; wait for it to end or for the lease to expire' % (IID, lease.expires_at))
    assert e.value.owner == owner and e.value.expires == pytest.approx(lease.expires)


def test_expired_lease_is_taken_over_with_a_higher_epoch(store):
    old = store.acquire_lease(IID, {'host': 'x', 'pid': 1, 'what': 'run'}, 0.2)
    time.sleep(0.3)
    new = store.acquire_lease(IID, S.default_owner('recover'), 30)
    assert new.epoch == old.epoch + 1
    with pytest.raises(S.LeaseLost) as e:
        store.renew_lease(old, 30)
    assert 'epoch %d' % new.epoch in str(e.value)


def test_lease_of_dead_owner_is_taken_over_only_when_is_dead_says_so(store):
    old = store.acquire_lease(IID, {'host': 'x', 'pid': 1, 'what': 'run'}, 60)
    with pytest.raises(S.LeaseHeld):
        store.acquire_lease(IID, S.default_owner('run'), 60, is_dead=lambda owner: False)
    seen = []
    new = store.acquire_lease(IID, S.default_owner('run'), 60, is_dead=lambda owner: seen.append(owner) or True)
    assert seen == [old.owner] and new.epoch == 2


def test_renew_and_release(store):
    lease = store.acquire_lease(IID, S.default_owner('run'), 5)
    before = lease.expires
    time.sleep(0.01)
    store.renew_lease(lease, 60)
    assert lease.expires > before and store.get_lease(IID).expires == pytest.approx(lease.expires)
    assert store.release_lease(lease) is True
    assert store.release_lease(lease) is False  # already gone: no error
    assert store.get_lease(IID).token == ''
    nxt = store.acquire_lease(IID, S.default_owner('run'), 5)
    assert nxt.epoch == 2
    with pytest.raises(S.LeaseLost):
        store.renew_lease(lease, 5)


def test_update_with_lost_lease_writes_nothing(store):
    store.create_instance(_instance(), [_item('a')])
    old = store.acquire_lease(IID, {'host': 'x', 'pid': 1, 'what': 'run'}, 60)
    assert store.update(IID, lambda i, its: (None, {'a': dict(its['a'], state='running')}, 1), lease=old) == 1
    new = store.acquire_lease(IID, S.default_owner('recover'), 60, is_dead=lambda o: True)
    before = store.load(IID)
    called = []
    with pytest.raises(S.LeaseLost):
        store.update(IID, lambda i, its: called.append(1) or (None, {'a': dict(its['a'], state='x')}, 1), lease=old)
    assert called == [] and store.load(IID) == before
    store.update(IID, lambda i, its: (None, {'a': dict(its['a'], state='queuing')}, 1), lease=new)
    assert store.load(IID)[1]['a']['state'] == 'queuing'


def test_fenced_update_writes_no_events_either(store):
    store.create_instance(_instance(), [_item('a')])
    old = store.acquire_lease(IID, {'host': 'x', 'pid': 1, 'what': 'run'}, 60)
    new = store.acquire_lease(IID, S.default_owner('recover'), 60, is_dead=lambda o: True)
    assert new.epoch == old.epoch + 1
    with pytest.raises(S.LeaseLost):
        store.update(IID, lambda i, its: (None, {}, None, [{'to': 'from the old driver'}]), lease=old)
    assert store.read_events(IID) == [] and store.get_version(IID) == 1
    store.update(IID, lambda i, its: (None, {}, None, [{'to': 'from the new driver'}]), lease=new)
    assert [e['to'] for e in store.read_events(IID)] == ['from the new driver']
    assert store.release_lease(new) is True
    with pytest.raises(S.LeaseLost):  # a released lease fences its holder too
        store.update(IID, lambda i, its: (None, {}, None), lease=new)
    with pytest.raises(S.LeaseLost):
        store.delete_instance(IID, lease=new)
    assert store.acquire_lease(IID, S.default_owner('run'), 60).epoch == new.epoch + 1
    assert store.get_instance(IID) is not None


def test_lease_expires_without_renewal_and_renewal_keeps_it(store):
    lease = store.acquire_lease(IID, {'host': 'x', 'pid': 1, 'what': 'run'}, 0.3)
    store.renew_lease(lease, 60)
    time.sleep(0.4)
    with pytest.raises(S.LeaseHeld):
        store.acquire_lease(IID, S.default_owner('recover'), 60)
    assert store.get_lease(IID).expired is False
    store.renew_lease(lease, 0.1)
    time.sleep(0.2)
    assert store.get_lease(IID).expired is True
    assert store.acquire_lease(IID, S.default_owner('recover'), 60).epoch == 2


# ----------------------------------------------------------------------------------------------------------------
# events, hosts, facts


def test_events_append_in_order_with_sequence_numbers(store):
    assert store.append_events(IID, [{'event': 'a'}, {'event': 'b'}]) == 2
    assert store.append_events(IID, [{'event': 'c', 'at': '2026-11-21T00:00:00Z'}]) == 3
    evs = store.read_events(IID)
    assert [(e['seq'], e['event']) for e in evs] == [(1, 'a'), (2, 'b'), (3, 'c')]
    assert evs[2]['at'] == '2026-11-21T00:00:00Z' and evs[0]['at'].endswith('Z')
    assert [e['event'] for e in store.read_events(IID, since=2)] == ['c']


def test_host_states(store):
    store.set_host_state('agent1', {'env_down': True, 'message': 'unreachable'})
    store.set_host_state('agent2', {'env_down': False})
    store.set_host_state('agent1', {'env_down': False})
    states = store.get_host_states()
    assert sorted(states) == ['agent1', 'agent2'] and states['agent1']['env_down'] is False


def test_fact_namespace_is_apart_from_instances(store):
    store.create_instance(_instance(), [_item('a')])
    store.fact_set('s1_localhost', {'__payload__': '{"x": 1}'})
    store.fact_set('p_other', {'y': 2})
    value, stored = store.fact_get('s1_localhost')
    assert value == {'__payload__': '{"x": 1}'} and stored <= time.time()
    assert store.fact_keys() == ['p_other', 's1_localhost'] and store.fact_contains('p_other')
    store.fact_flush('s1_')
    assert store.fact_keys() == ['p_other']
    store.fact_delete('p_other')
    assert store.fact_get('p_other') is None and not store.fact_contains('p_other')
    assert [i['id'] for i in store.list_instances()] == [IID]


def test_corrupt_fact_entry_is_named_and_kept(store):
    store.fact_set('good', {'x': 1})
    _set_raw_fact(store, 'bad', '{"value": 1')
    _set_raw_fact(store, 'half', '{"value": 1}')
    for key, words in (('bad', 'does not parse'), ('half', "missing key 'stored'")):
        with pytest.raises(S.CorruptRecord) as e:
            store.fact_get(key)
        assert 'fact cache entry %r' % key in str(e.value) and words in str(e.value)
    assert store.fact_get('good')[0] == {'x': 1}
    assert store.fact_keys() == ['bad', 'good', 'half'] and store.fact_contains('bad')


def test_schedule_records_are_written_read_listed_by_prefix_and_deleted(store):
    assert store.get_schedule_record('schedule/nightly') is None
    assert store.put_schedule_record('schedule/nightly', {'base_time': '05:00:00'}) is True
    assert store.put_schedule_record('day/nightly/2027-01-04', {'frames': ['a']}) is True
    assert store.put_schedule_record('day/nightly/2027-01-05', {'frames': ['b']}) is True
    assert store.get_schedule_record('schedule/nightly')['base_time'] == '05:00:00'
    assert list(store.list_schedule_records('day/nightly/')) == ['day/nightly/2027-01-04', 'day/nightly/2027-01-05']
    assert store.put_schedule_record('schedule/nightly', {'base_time': '06:00:00'}) is True
    assert store.get_schedule_record('schedule/nightly')['base_time'] == '06:00:00'
    assert store.delete_schedule_record('day/nightly/2027-01-04') is True
    assert store.delete_schedule_record('day/nightly/2027-01-04') is False
    assert list(store.list_schedule_records('day/')) == ['day/nightly/2027-01-05']
    assert store.list_instances() == []   # apart from every frame record


def test_a_day_schedule_created_only_once_keeps_the_first_record(store):
    assert store.put_schedule_record('day/nightly/2027-01-04', {'by': 'first'}, create_only=True) is True
    assert store.put_schedule_record('day/nightly/2027-01-04', {'by': 'second'}, create_only=True) is False
    assert store.get_schedule_record('day/nightly/2027-01-04')['by'] == 'first'


def test_a_corrupt_schedule_record_is_named_and_left_out_of_a_listing(store):
    store.put_schedule_record('day/n/2027-01-04', {'ok': True})
    if store.backend == 'sqlite':
        _sql(store, "INSERT INTO schedules (key, data) VALUES ('day/n/2027-01-05', '{bad')")
    else:
        store._r.hset(store._k('schedules'), 'day/n/2027-01-05', '{bad')
    problems = []
    assert list(store.list_schedule_records('day/n/', problems=problems)) == ['day/n/2027-01-04']
    assert problems and 'day/n/2027-01-05' in str(problems[0])
    with pytest.raises(S.CorruptRecord, match='day/n/2027-01-05'):
        store.get_schedule_record('day/n/2027-01-05')
