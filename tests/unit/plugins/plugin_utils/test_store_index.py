# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The store's index of holders and waiters and its resource definitions, on both backends.

Every test runs through the ``store`` fixture of ``conftest.py`` (a fresh SQLite file, and Redis at
``JOBNET_TEST_REDIS_URL`` under a key prefix of its own), as ``test_store_contract.py`` does. What only one backend
does (Redis deciding again when the index changed under it, an SQLite file from before the index) is at the end.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _resources as R
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

IID = 'nightly@2026-11-21'
OTHER = 'weekly@2026-11-21'


def _instance(iid=IID, **extra):
    frame, date = iid.split('@', 1)
    rec = {'id': iid, 'frame': frame, 'operation_date': date, 'uid': 'k3x9q2', 'state': 'running',
           'definition': {'frame': frame, 'jobs': []}, 'options': {}, 'flags': {}, 'submitted': S.iso_utc(),
           'started': None, 'ended': None, 'schema': 1}
    rec.update(extra)
    return rec


def _item(path, **extra):
    parent = path.rsplit('/', 1)[0] if '/' in path else None
    rec = {'path': path, 'kind': 'job', 'parent': parent, 'host': 'agent1', 'state': 'queuing',
           'flags': {'skip': False, 'pause': False}, 'attempt': 0, 'attempt_id': None, 'phase': None,
           'started': None, 'ended': None, 'rc': None, 'signal': None, 'message': ''}
    rec.update(extra)
    return rec


def _launching(path, needs=None, host='agent1'):
    return _item(path, host=host, phase='launching', attempt=1, attempt_id='%s.1' % path, needs=dict(needs or {}))


def _running(path, needs=None, host='agent1'):
    return _item(path, host=host, state='running', phase='launched', attempt=1, attempt_id='%s.1' % path,
                 needs=dict(needs or {}), started=S.iso_utc())


def _ended(item):
    return dict(item, state='normal_end', phase='launched', rc=0, ended=S.iso_utc())


def _waiting(path, needs=None, wait_for=('db',), host='agent1'):
    return _item(path, host=host, ready_at='2026-11-21T01:00:00.000000Z',
                 waiting={'for': list(wait_for), 'needs': dict(needs or {}), 'priority': 0, 'rank': 0,
                          'forced': False})


def _key(iid, path):
    return R.index_key(iid, path)


def _write(store, iid, items, result=None, events=None, **kwargs):
    """One update that writes ``items`` ({path: item or None}), with ``events``."""
    def fn(inst, its, *view):
        return (None, dict(items), result) if events is None else (None, dict(items), result, events)
    return store.update(iid, fn, **kwargs)


# ------------------------------------------------------------------------------------------------------ raw index rows


def _sql(store, sql, args=()):
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute(sql, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _set_raw_entry(store, key, entry):
    iid = key.split('\t', 1)[0]
    data = json.dumps(entry, sort_keys=True, separators=(',', ':'))
    if store.backend == 'sqlite':
        _sql(store, 'INSERT OR REPLACE INTO claims (key, iid, data) VALUES (?, ?, ?)', (key, iid, data))
    else:
        store._r.hset(store._k('index'), key, data)


def _del_raw_entry(store, key):
    if store.backend == 'sqlite':
        _sql(store, 'DELETE FROM claims WHERE key = ?', (key,))
    else:
        store._r.hdel(store._k('index'), key)


# ----------------------------------------------------------------------------------------- the index follows the items


def test_an_item_written_launching_gets_its_index_entry_in_the_same_update(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    assert store.get_index() == {}
    _write(store, IID, {'a': _launching('a', {'db': 2})})
    index = store.get_index()
    assert list(index) == [_key(IID, 'a')]
    entry = index[_key(IID, 'a')]
    assert entry['kind'] == 'hold' and entry['iid'] == IID and entry['path'] == 'a'
    assert entry['host'] == 'agent1' and entry['attempt_id'] == 'a.1' and entry['needs'] == {'db': 2}
    assert entry == R.entry_of(IID, store.load(IID)[1]['a'])


def test_the_entry_follows_the_item_from_launching_to_running(store):
    store.create_instance(_instance(), [_item('a')])
    _write(store, IID, {'a': _launching('a', {'db': 1})})
    _write(store, IID, {'a': _running('a', {'db': 1})})
    entry = store.get_index()[_key(IID, 'a')]
    assert entry['kind'] == 'hold' and entry['needs'] == {'db': 1}


def test_the_end_of_a_holding_item_removes_its_entry(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    _write(store, IID, {'a': _running('a', {'db': 1}), 'b': _running('b')})
    assert set(store.get_index()) == {_key(IID, 'a'), _key(IID, 'b')}
    _write(store, IID, {'a': _ended(_running('a', {'db': 1}))})
    assert set(store.get_index()) == {_key(IID, 'b')}


def test_an_item_deleted_by_an_update_loses_its_entry(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    _write(store, IID, {'a': _running('a'), 'b': _running('b')})
    _write(store, IID, {'a': None})
    assert set(store.get_index()) == {_key(IID, 'b')}


def test_a_waiting_item_is_a_waiter_in_the_index_and_leaves_it_once_launched(store):
    store.create_instance(_instance(), [_item('a')])
    _write(store, IID, {'a': _waiting('a', {'db': 2})})
    entry = store.get_index()[_key(IID, 'a')]
    assert entry['kind'] == 'wait' and entry['for'] == ['db'] and entry['needs'] == {'db': 2}
    assert entry['ready_at'] == '2026-11-21T01:00:00.000000Z'
    _write(store, IID, {'a': _launching('a', {'db': 2})})
    assert store.get_index()[_key(IID, 'a')]['kind'] == 'hold'


def test_an_update_that_leaves_an_item_alone_leaves_its_entry(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    _write(store, IID, {'a': _running('a', {'db': 1})})
    before = store.get_index()
    _write(store, IID, {'b': dict(_item('b'), message='still queued')})
    assert store.get_index() == before


def test_items_events_and_index_are_written_together(store):
    store.create_instance(_instance(), [_item('a')])
    _write(store, IID, {'a': _launching('a', {'db': 1})}, events=[{'path': 'a', 'kind': 'job', 'from': 'queuing',
                                                                  'to': 'queuing', 'reason': 'launch'}])
    assert store.load(IID)[1]['a']['phase'] == 'launching'
    assert [e['reason'] for e in store.read_events(IID)] == ['launch']
    assert _key(IID, 'a') in store.get_index()


def test_an_update_function_that_raises_writes_nothing_not_even_the_index(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    _write(store, IID, {'b': _running('b', {'db': 1})})
    before = (store.load(IID), store.get_version(IID), store.read_events(IID), store.get_index())

    def fn(inst, items):
        items['a'].update(_launching('a', {'db': 1}))
        raise RuntimeError('decided nothing')
    with pytest.raises(RuntimeError):
        store.update(IID, fn)
    assert (store.load(IID), store.get_version(IID), store.read_events(IID), store.get_index()) == before


def test_an_update_returning_a_bad_item_after_a_holding_one_writes_no_entry(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    before = store.get_index()

    def fn(inst, items):
        return None, {'a': _launching('a', {'db': 1}), 'b': 'not a record'}, None, [{'path': 'a'}]
    with pytest.raises(S.InvalidRecord):
        store.update(IID, fn)
    assert store.get_index() == before == {}
    assert store.load(IID)[1]['a']['phase'] is None and store.read_events(IID) == []


def test_a_fenced_update_writes_no_entry(store):
    store.create_instance(_instance(), [_item('a')])
    old = store.acquire_lease(IID, {'host': 'c1', 'pid': 1}, 60)
    store.release_lease(old)
    store.acquire_lease(IID, {'host': 'c2', 'pid': 2}, 60)
    with pytest.raises(S.LeaseLost):
        _write(store, IID, {'a': _launching('a', {'db': 1})}, lease=old)
    assert store.get_index() == {}


# -------------------------------------------------------------------------------------------------- update(index=True)


def test_an_update_without_index_calls_fn_with_two_arguments(store):
    store.create_instance(_instance(), [_item('a')])
    seen = []

    def fn(*args):
        seen.append(len(args))
        return None, {}, 'done'
    assert store.update(IID, fn) == 'done'
    assert seen == [2]


def test_an_update_with_index_passes_the_entries_and_the_resources_as_view(store):
    store.create_instance(_instance(OTHER), [_running('x', {'db': 1}, host='agent2'), _item('y')])
    store.create_instance(_instance(), [_item('a')])
    store.put_resource('db', {'capacity': 2, 'by': 'test'})
    seen = []

    def fn(inst, items, view):
        seen.append(view)
        assert inst['id'] == IID and list(items) == ['a']
        return None, {'a': _launching('a', {'db': 1})}, 'launched'
    assert store.update(IID, fn, index=True) == 'launched'
    assert len(seen) == 1
    view = seen[0]
    assert set(view) == {'entries', 'resources'}
    assert list(view['entries']) == [_key(OTHER, 'x')]
    assert view['entries'][_key(OTHER, 'x')]['needs'] == {'db': 1}
    assert view['resources']['db']['capacity'] == 2 and view['resources']['db']['by'] == 'test'
    assert set(store.get_index()) == {_key(OTHER, 'x'), _key(IID, 'a')}


def test_an_update_with_index_sees_an_empty_view_of_an_empty_store(store):
    store.create_instance(_instance(), [_item('a')])
    seen = []
    store.update(IID, lambda inst, items, view: seen.append(view) or (None, {}, None), index=True)
    assert seen == [{'entries': {}, 'resources': {}}]


def test_an_update_with_index_and_paths_reads_only_those_items(store):
    store.create_instance(_instance(), [_item('a'), _item('b')])
    seen = []

    def fn(inst, items, view):
        seen.append(sorted(items))
        return None, {}, None
    store.update(IID, fn, paths=['b'], index=True)
    assert seen == [['b']]


# ------------------------------------------------------------------------------------------------ update(reindex=True)


def test_reindex_rebuilds_the_instances_entries_from_its_items(store):
    store.create_instance(_instance(OTHER), [_running('x', host='agent2')])
    store.create_instance(_instance(), [_item('a'), _item('b'), _item('c')])
    _write(store, IID, {'a': _running('a', {'db': 1}), 'b': _waiting('b', {'db': 1})})
    good = store.get_index()
    # the index drifts behind the store's back: an entry lost, a stale one left
    _del_raw_entry(store, _key(IID, 'a'))
    _set_raw_entry(store, _key(IID, 'ghost'), {'kind': 'hold', 'iid': IID, 'path': 'ghost', 'host': 'agent1',
                                               'needs': {'db': 5}})
    assert store.get_index() != good
    store.update(IID, lambda inst, items: (None, {}, None), reindex=True)
    assert store.get_index() == good


def test_reindex_takes_the_items_as_the_update_writes_them(store):
    store.create_instance(_instance(OTHER), [_running('x', host='agent2')])
    store.create_instance(_instance(), [_item('a'), _item('b')])
    _write(store, IID, {'a': _running('a', {'db': 1})})
    _set_raw_entry(store, _key(IID, 'ghost'), {'kind': 'hold', 'iid': IID, 'path': 'ghost', 'needs': {}})
    _write(store, IID, {'a': _ended(_running('a', {'db': 1})), 'b': _running('b', {'tape': 1})}, reindex=True)
    index = store.get_index()
    assert set(index) == {_key(OTHER, 'x'), _key(IID, 'b')}
    assert index[_key(IID, 'b')]['needs'] == {'tape': 1}


def test_reindex_of_an_instance_that_holds_nothing_empties_its_entries(store):
    store.create_instance(_instance(), [_item('a')])
    _set_raw_entry(store, _key(IID, 'a'), {'kind': 'hold', 'iid': IID, 'path': 'a', 'needs': {'db': 1}})
    store.update(IID, lambda inst, items: (None, {}, None), reindex=True)
    assert store.get_index() == {}


def test_reindex_refuses_paths_and_changes_nothing(store):
    store.create_instance(_instance(), [_item('a')])
    calls = []

    def fn(inst, items):
        calls.append(1)
        return None, {'a': _running('a')}, None
    before = (store.load(IID), store.get_version(IID), store.get_index())
    with pytest.raises(S.InvalidRecord, match='paths must be None'):
        store.update(IID, fn, paths=['a'], reindex=True)
    assert calls == []
    assert (store.load(IID), store.get_version(IID), store.get_index()) == before


def test_reindex_with_index_passes_the_view_too(store):
    store.create_instance(_instance(), [_item('a')])
    seen = []
    store.update(IID, lambda inst, items, view: seen.append(view) or (None, {'a': _running('a')}, None),
                 index=True, reindex=True)
    assert seen == [{'entries': {}, 'resources': {}}]
    assert set(store.get_index()) == {_key(IID, 'a')}


# ----------------------------------------------------------------------------------------------------- create / delete


def test_create_instance_with_a_holding_item_indexes_it(store):
    store.create_instance(_instance(), [_running('a', {'db': 1}), _waiting('b', {'db': 1}), _item('c'),
                                        _item('n', kind='net', state='running', host=None)])
    index = store.get_index()
    assert set(index) == {_key(IID, 'a'), _key(IID, 'b')}
    assert index[_key(IID, 'a')]['kind'] == 'hold' and index[_key(IID, 'b')]['kind'] == 'wait'


def test_create_instance_with_fresh_items_indexes_nothing(store):
    store.create_instance(_instance(), [_item('a', state='not_submitted'), _item('b', state='waiting')])
    assert store.get_index() == {}


def test_create_instance_with_items_as_a_dict_indexes_them(store):
    store.create_instance(_instance(), {'a': _running('a'), 'b': _item('b')})
    assert set(store.get_index()) == {_key(IID, 'a')}


def test_create_instance_indexes_a_holding_item_given_without_its_path_key(store):
    item = _running('a', {'db': 1})
    del item['path']
    store.create_instance(_instance(), {'a': item})
    assert store.load(IID)[1]['a']['path'] == 'a'
    assert store.get_index()[_key(IID, 'a')]['path'] == 'a'


def test_a_refused_create_writes_no_entry(store):
    with pytest.raises(S.InvalidRecord):
        store.create_instance(_instance(), [_running('a'), _item('/bad')])
    assert store.get_index() == {}


def test_delete_instance_removes_its_entries_and_only_its(store):
    store.create_instance(_instance(OTHER), [_running('x', host='agent2')])
    store.create_instance(_instance(), [_running('a'), _waiting('b')])
    assert len(store.get_index()) == 3
    assert store.delete_instance(IID) is True
    assert set(store.get_index()) == {_key(OTHER, 'x')}
    assert store.delete_instance(IID) is False


def test_an_instance_created_again_after_its_deletion_starts_with_its_own_entries(store):
    store.create_instance(_instance(), [_running('a'), _running('b')])
    store.delete_instance(IID)
    store.create_instance(_instance(), [_running('b'), _item('a')])
    assert set(store.get_index()) == {_key(IID, 'b')}


def test_instance_ids_that_share_a_prefix_keep_their_own_entries(store):
    store.create_instance(_instance('a@2026-11-21'), [_running('x')])
    store.create_instance(_instance('ab@2026-11-21'), [_running('x')])
    store.delete_instance('a@2026-11-21')
    assert set(store.get_index()) == {_key('ab@2026-11-21', 'x')}
    store.create_instance(_instance('a@2026-11-21'), [_running('x')])
    store.update('a@2026-11-21', lambda inst, items: (None, {}, None), reindex=True)
    assert set(store.get_index()) == {_key('ab@2026-11-21', 'x'), _key('a@2026-11-21', 'x')}


# ----------------------------------------------------------------------------------------------------------- resources


def test_put_resource_defines_and_changes_a_resource(store):
    assert store.get_resources() == {}
    assert store.put_resource('db', {'capacity': 2, 'by': 'test'}) is True
    rec = store.get_resources()['db']
    assert rec['capacity'] == 2 and rec['name'] == 'db' and rec['by'] == 'test' and rec['updated']
    assert store.put_resource('db', {'capacity': 5}) is True
    assert store.get_resources()['db']['capacity'] == 5


def test_put_resource_create_only_keeps_an_existing_definition(store):
    assert store.put_resource('db', {'capacity': 2}, create_only=True) is True
    assert store.put_resource('db', {'capacity': 9}, create_only=True) is False
    assert store.get_resources()['db']['capacity'] == 2


def test_put_resource_takes_a_capacity_written_as_digits(store):
    store.put_resource('db', {'capacity': '3'})
    assert store.get_resources()['db']['capacity'] == 3


def test_put_resource_accepts_a_capacity_of_zero(store):
    store.put_resource('db', {'capacity': 0})
    assert store.get_resources()['db']['capacity'] == 0


def test_get_resources_lists_every_definition(store):
    store.put_resource('tape', {'capacity': 1})
    store.put_resource('db', {'capacity': 2})
    assert {n: r['capacity'] for n, r in store.get_resources().items()} == {'db': 2, 'tape': 1}


def test_delete_resource_says_whether_it_existed(store):
    store.put_resource('db', {'capacity': 2})
    store.put_resource('tape', {'capacity': 1})
    assert store.delete_resource('db') is True
    assert store.delete_resource('db') is False
    assert list(store.get_resources()) == ['tape']


@pytest.mark.parametrize('name', ['', 'a:b', '-db', 'x' * 65, None, 3])
def test_a_bad_resource_name_is_refused(store, name):
    with pytest.raises(R.ResourceError):
        store.put_resource(name, {'capacity': 1})
    with pytest.raises(R.ResourceError):
        store.delete_resource(name)
    assert store.get_resources() == {}


@pytest.mark.parametrize('capacity', [-1, R.CAPACITY_MAX + 1, True, 1.5, None, 'two'])
def test_a_bad_capacity_is_refused_and_nothing_written(store, capacity):
    with pytest.raises(R.ResourceError, match='capacity of resource db'):
        store.put_resource('db', {'capacity': capacity})
    assert store.get_resources() == {}


def test_a_resource_record_that_is_not_a_mapping_is_refused(store):
    with pytest.raises(S.InvalidRecord):
        store.put_resource('db', 2)
    with pytest.raises(R.ResourceError):
        store.put_resource('db', {'by': 'test'})
    assert store.get_resources() == {}


def test_resources_and_the_index_are_apart_from_the_instances(store):
    store.put_resource('db', {'capacity': 2})
    store.create_instance(_instance(), [_running('a', {'db': 1})])
    store.delete_instance(IID)
    assert store.get_index() == {} and store.get_resources()['db']['capacity'] == 2
    assert store.list_instances() == []


# ----------------------------------------------------------------------------------------------- Redis: deciding again


def _other_store(store_url):
    return S.open_store(store_url)


def _deciding_fn(calls, first_call=None):
    """A launch decision: job ``a`` of IID needs 1 unit of db; it launches if the view leaves one free."""
    def fn(inst, items, view):
        calls.append(view)
        if len(calls) == 1 and first_call is not None:
            first_call()
        capacities = {n: r['capacity'] for n, r in view['resources'].items()}
        occ = R.Occupancy(view['entries'], capacities, inst['id'], items)
        cand = {'iid': inst['id'], 'path': 'a', 'host': 'agent1', 'needs': {'db': 1}, 'priority': 0,
                'ready_at': '2026-11-21T02:00:00.000000Z', 'rank': 0, 'forced': False}
        [(_c, blocked)] = occ.take('agent1', None, [cand])
        if blocked:
            item = _waiting('a', {'db': 1}, wait_for=blocked)
        else:
            item = _launching('a', {'db': 1})
        return None, {'a': item}, blocked
    return fn


@pytest.fixture
def redis_store(store_url, store):
    if store.backend != 'redis':
        pytest.skip('an SQLite update holds the write lock from its read to its write: nothing changes between')
    return store


def test_redis_update_decides_again_when_another_instance_took_the_resource_meanwhile(redis_store, store_url):
    store = redis_store
    store.put_resource('db', {'capacity': 1})
    store.create_instance(_instance(OTHER), [_item('x', host='agent2')])
    store.create_instance(_instance(), [_item('a')])
    other = _other_store(store_url)
    calls = []
    try:
        def take():
            _write(other, OTHER, {'x': _launching('x', {'db': 1}, host='agent2')})
        result = store.update(IID, _deciding_fn(calls, take), index=True)
    finally:
        other.close()
    assert len(calls) == 2
    assert _key(OTHER, 'x') not in calls[0]['entries'] and _key(OTHER, 'x') in calls[1]['entries']
    assert result == ['db']
    item = store.load(IID)[1]['a']
    assert item['phase'] is None and item['waiting']['for'] == ['db']
    index = store.get_index()
    assert index[_key(IID, 'a')]['kind'] == 'wait' and index[_key(OTHER, 'x')]['kind'] == 'hold'
    assert store.get_version(IID) == 2   # one write, of the second decision


def test_redis_update_decides_again_when_a_resource_changed_meanwhile(redis_store, store_url):
    store = redis_store
    store.put_resource('db', {'capacity': 1})
    store.create_instance(_instance(), [_item('a')])
    other = _other_store(store_url)
    calls = []
    try:
        result = store.update(IID, _deciding_fn(calls, lambda: other.put_resource('db', {'capacity': 0})),
                              index=True)
    finally:
        other.close()
    assert len(calls) == 2 and calls[1]['resources']['db']['capacity'] == 0
    assert result == ['db'] and store.load(IID)[1]['a']['waiting']['for'] == ['db']
    assert store.get_index()[_key(IID, 'a')]['kind'] == 'wait'


def test_redis_update_does_not_decide_again_for_a_write_that_left_the_index_alone(redis_store, store_url):
    store = redis_store
    store.put_resource('db', {'capacity': 1})
    store.create_instance(_instance(OTHER), [_item('x', host='agent2')])
    store.create_instance(_instance(), [_item('a')])
    other = _other_store(store_url)
    calls = []
    try:
        def touch():
            _write(other, OTHER, {'x': dict(_item('x', host='agent2'), message='hello')})
        result = store.update(IID, _deciding_fn(calls, touch), index=True)
    finally:
        other.close()
    assert len(calls) == 1 and result == []
    assert store.load(IID)[1]['a']['phase'] == 'launching'


def test_redis_update_without_index_does_not_decide_again(redis_store, store_url):
    store = redis_store
    store.create_instance(_instance(OTHER), [_item('x', host='agent2')])
    store.create_instance(_instance(), [_item('a')])
    other = _other_store(store_url)
    calls = []

    def fn(inst, items):
        calls.append(1)
        if len(calls) == 1:
            _write(other, OTHER, {'x': _running('x', host='agent2')})
        return None, {'a': _launching('a')}, None
    try:
        store.update(IID, fn)
    finally:
        other.close()
    assert calls == [1] and set(store.get_index()) == {_key(OTHER, 'x'), _key(IID, 'a')}


def test_redis_update_that_never_sees_the_index_settle_gives_up_and_writes_nothing(redis_store, store_url):
    store = redis_store
    store.INDEX_RETRIES = 3
    store.create_instance(_instance(OTHER), [_item('x', host='agent2')])
    store.create_instance(_instance(), [_item('a')])
    other = _other_store(store_url)
    calls = []

    def fn(inst, items, view):
        calls.append(1)
        flip = _running('x', host='agent2') if len(calls) % 2 else _item('x', host='agent2')
        _write(other, OTHER, {'x': flip})
        return None, {'a': _launching('a')}, None
    try:
        with pytest.raises(S.StoreWriteError, match='kept changing'):
            store.update(IID, fn, index=True)
    finally:
        other.close()
    assert len(calls) == 3
    assert store.load(IID)[1]['a']['phase'] is None and store.get_version(IID) == 1
    assert _key(IID, 'a') not in store.get_index()


# ------------------------------------------------------------------------------- SQLite: a store from before the index

_OLD_TABLES = (
    'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    'CREATE TABLE instances (iid TEXT PRIMARY KEY, operation_date TEXT NOT NULL, frame TEXT NOT NULL,'
    ' version INTEGER NOT NULL, data TEXT NOT NULL)',
    'CREATE TABLE items (iid TEXT NOT NULL, path TEXT NOT NULL, ord INTEGER NOT NULL, version INTEGER NOT NULL,'
    ' data TEXT NOT NULL, PRIMARY KEY (iid, path)) WITHOUT ROWID',
    'CREATE TABLE leases (iid TEXT PRIMARY KEY, token TEXT, epoch INTEGER NOT NULL, data TEXT NOT NULL)',
    'CREATE TABLE events (iid TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (iid, seq))'
    ' WITHOUT ROWID',
    'CREATE TABLE hosts (host TEXT PRIMARY KEY, data TEXT NOT NULL)',
    'CREATE TABLE facts (key TEXT PRIMARY KEY, data TEXT NOT NULL)',
)


def _old_store(path, with_schedules=False):
    """An SQLite store as a version before the index wrote it: no claims, no resources table; instance IID with a
    running job ``r``, a queued ``q``, an ended ``e`` and a running net ``n``."""
    items = [_running('r'), _item('q'), _ended(_running('e')), _item('n', kind='net', state='running', host=None)]
    for it in items:   # records of that version: no needs
        it.pop('needs', None)
        it['version'] = 1
    conn = sqlite3.connect(str(path))
    try:
        for stmt in _OLD_TABLES:
            conn.execute(stmt)
        if with_schedules:
            conn.execute('CREATE TABLE schedules (key TEXT PRIMARY KEY, data TEXT NOT NULL)')
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema', '1')")
        conn.execute('INSERT INTO instances (iid, operation_date, frame, version, data) VALUES (?, ?, ?, 1, ?)',
                     (IID, '2026-11-21', 'nightly', S._dumps(_instance(), 'instance')))
        conn.executemany('INSERT INTO items (iid, path, ord, version, data) VALUES (?, ?, ?, 1, ?)',
                         [(IID, it['path'], i, S._dumps(it, 'item')) for i, it in enumerate(items)])
        conn.commit()
    finally:
        conn.close()


def _tables(path):
    conn = sqlite3.connect(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


@pytest.mark.parametrize('with_schedules', [False, True], ids=['schema-1', 'with-schedules'])
def test_an_sqlite_store_from_before_the_index_gets_it_built_on_its_first_write_open(tmp_path, with_schedules):
    path = tmp_path / 'old.db'
    _old_store(path, with_schedules)
    assert 'claims' not in _tables(path) and 'resources' not in _tables(path)
    st = S.open_store('sqlite://%s' % path, create=False)
    try:
        assert {'claims', 'resources', 'schedules'} <= _tables(path)
        index = st.get_index()
        assert list(index) == [_key(IID, 'r')]
        entry = index[_key(IID, 'r')]
        assert entry['kind'] == 'hold' and entry['host'] == 'agent1' and entry['needs'] == {}
        assert entry['attempt_id'] == 'r.1'
        assert st.get_resources() == {}
        # and it is kept from there on, as for a new store
        st.update(IID, lambda inst, items: (None, {'r': _ended(items['r'])}, None))
        assert st.get_index() == {}
    finally:
        st.close()


def test_an_sqlite_store_with_its_index_is_not_rebuilt_on_open(tmp_path):
    url = 'sqlite://%s' % (tmp_path / 'state.db')
    st = S.open_store(url)
    st.create_instance(_instance(), [_running('r')])
    st.close()
    _sql(st, 'DELETE FROM claims')
    st = S.open_store(url)
    try:
        assert st.get_index() == {}
    finally:
        st.close()
