# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store against real SQLite files and a real Redis.

Redis tests use the shared server at ``JOBNET_TEST_REDIS_URL`` (each test under its own key prefix, removed
afterwards) and are skipped only when that variable is unset. Fault tests that kill or starve Redis start a
redis-server of their own on another loopback port and stop it at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

REDIS_URL = os.environ.get('JOBNET_TEST_REDIS_URL')
IID = 'nightly@2026-11-21'
FORK = multiprocessing.get_context('fork')


# ----------------------------------------------------------------------------------------------------------------
# fixtures


def _redis_cleanup(url: str, prefix: str) -> None:
    import redis
    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=prefix + '*', count=1000))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture(params=['sqlite', 'redis'])
def store_url(request, tmp_path):
    if request.param == 'sqlite':
        yield 'sqlite://%s' % (tmp_path / 'state.db')
        return
    if not REDIS_URL:
        pytest.skip('JOBNET_TEST_REDIS_URL is not set (source .tmp/testenv/env.sh)')
    prefix = 'jobnet-test-%s:' % uuid.uuid4().hex[:12]
    yield '%s?prefix=%s' % (REDIS_URL, prefix)
    _redis_cleanup(REDIS_URL, prefix)


@pytest.fixture
def store(store_url):
    st = S.open_store(store_url)
    yield st
    st.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class OwnRedis:
    """A redis-server of the test's own (AOF, fsync always), killable and restartable."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.port = _free_port()
        self.proc = None
        self.url = 'redis://127.0.0.1:%d/0' % self.port

    def start(self):
        self.proc = subprocess.Popen(
            ['redis-server', '--bind', '127.0.0.1', '--port', str(self.port), '--dir', self.folder,
             '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no',
             '--logfile', os.path.join(self.folder, 'redis.log')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                out = subprocess.run(['redis-cli', '-p', str(self.port), 'ping'], capture_output=True, text=True,
                                     timeout=5, check=False).stdout
                if 'PONG' in out:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.05)
        raise RuntimeError('own redis-server on port %d did not start' % self.port)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cli(self, *args):
        return subprocess.run(['redis-cli', '-p', str(self.port)] + list(args), capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which('redis-server') is None:
        pytest.skip('redis-server is not installed')
    srv = OwnRedis(tmp_path)
    srv.start()
    yield srv
    srv.kill()


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
# URLs


@pytest.mark.parametrize('url, kind', [
    (None, 'sqlite'),
    ('', 'sqlite'),
    ('sqlite:///var/lib/jobnet/state.db', 'sqlite'),
    ('redis://127.0.0.1:6379/0', 'redis'),
    ('redis://:secret@redis.example.com:6380/2', 'redis'),
    ('rediss://redis.example.com:6380/0?prefix=prod:', 'redis'),
])
def test_parse_store_url_accepts_documented_forms(url, kind):
    assert S.parse_store_url(url)[0] == kind


def test_parse_store_url_default_is_sqlite_under_home():
    kind, args = S.parse_store_url(None)
    assert args['path'] == os.path.expanduser('~/.ansible/jobnet/state.db')


def test_parse_store_url_redis_prefix_query_argument():
    kind, args = S.parse_store_url('redis://h:1/3?prefix=prod:')
    assert args == {'url': 'redis://h:1/3', 'prefix': 'prod:'}
    assert S.parse_store_url('redis://h:1')[1]['prefix'] == 'jobnet:'


@pytest.mark.parametrize('url, words', [
    ('sqlite://relative/state.db', ['must be absolute']),
    ('sqlite:relative.db', ['sqlite:relative.db']),
    ('/var/lib/state.db', ['sqlite:///var/lib/state.db']),
    ('postgres://h/db', ["unknown scheme 'postgres'"]),
    ('redis://h:1/notanumber', ['not a number']),
    ('redis://h:99999999/0', ['redis://h:99999999/0']),
    ('sqlite:///var/lib/', ['folder']),
])
def test_bad_store_url_names_value_and_accepted_forms(url, words):
    with pytest.raises(S.StoreError) as e:
        S.open_store(url)
    msg = str(e.value)
    for w in words:
        assert w in msg
    assert 'sqlite:///ABSOLUTE/PATH.db' in msg and 'redis://' in msg


def test_redis_password_never_appears_in_messages():
    with pytest.raises(S.StoreError) as e:
        S.parse_store_url('redis://:hunter2@h:1/x')
    assert 'hunter2' not in str(e.value)
    assert S.mask_url('redis://:hunter2@h:1/0') == 'redis://:***@h:1/0'


def test_default_sqlite_store_created_with_private_folder(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    st = S.open_store()
    folder = tmp_path / '.ansible' / 'jobnet'
    assert st.path == str(folder / 'state.db')
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert ((folder / 'state.db').stat().st_mode & 0o077) == 0
    st.close()


def test_sqlite_store_uses_wal_and_full_sync(tmp_path):
    st = S.open_store('sqlite://%s' % (tmp_path / 's.db'))
    conn = st._conn()
    assert conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
    assert conn.execute('PRAGMA synchronous').fetchone()[0] == 2  # FULL
    st.close()


def test_reader_does_not_create_missing_sqlite_file(tmp_path):
    with pytest.raises(S.NoStore):
        S.open_store('sqlite://%s' % (tmp_path / 'absent.db'), create=False)
    assert not (tmp_path / 'absent.db').exists()


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


def test_store_opened_before_fork_works_in_child(store):
    store.create_instance(_instance(), [_item('a')])

    def child(q):
        try:
            store.update(IID, lambda i, its: (None, {'a': dict(its['a'], state='running')}, None))
            q.put('ok')
        except Exception as e:  # pragma: no cover - reported to the parent
            q.put(repr(e))

    q = FORK.Queue()
    p = FORK.Process(target=child, args=(q,))
    p.start()
    assert q.get(timeout=30) == 'ok'
    p.join(30)
    assert store.load(IID)[1]['a']['state'] == 'running'


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


def test_owner_is_dead_for_a_real_ended_process_not_for_a_live_one():
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        start = S.process_start_time(proc.pid)
        owner = dict(S.default_owner('run'), pid=proc.pid, start=start)
        assert S.owner_is_dead(owner) is False
        assert S.owner_is_dead(dict(owner, start=str(int(start) + 1))) is True  # pid reused by another process
        assert S.owner_is_dead(dict(owner, host='elsewhere.example.com')) is False  # other machines only expire
    finally:
        proc.kill()
        proc.wait()
    assert S.owner_is_dead(owner) is True


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


def _race_lease(url, iid, barrier, q):
    st = S.open_store(url)
    barrier.wait(30)
    try:
        lease = st.acquire_lease(iid, S.default_owner('run'), 60)
        q.put(('won', lease.epoch))
    except S.LeaseHeld:
        q.put(('held', None))
    except Exception as e:  # pragma: no cover - reported
        q.put(('error', repr(e)))


def test_concurrent_acquire_exactly_one_wins(store_url):
    n = 8
    for rnd in range(5):
        iid = 'race%d@2026-11-21' % rnd
        barrier = FORK.Barrier(n)
        q = FORK.Queue()
        procs = [FORK.Process(target=_race_lease, args=(store_url, iid, barrier, q)) for _i in range(n)]
        for p in procs:
            p.start()
        results = [q.get(timeout=60) for _i in range(n)]
        for p in procs:
            p.join(30)
        assert sorted(r[0] for r in results) == ['held'] * (n - 1) + ['won'] * 1, results
        assert [r[1] for r in results if r[0] == 'won'] == [1]


# ----------------------------------------------------------------------------------------------------------------
# concurrency: read-modify-write from several processes loses nothing


def _incrementer(url, iid, count, seed, q):
    rnd = random.Random(seed)
    st = S.open_store(url, timeout=60)
    try:
        for _round in range(count):
            path = 'c%d' % rnd.randrange(4)

            def fn(inst, items, path=path):
                it = items[path]
                it['n'] = it.get('n', 0) + 1
                inst['n'] = inst.get('n', 0) + 1
                return inst, {path: it}, None
            st.update(iid, fn)
            st.append_events(iid, [{'event': 'inc', 'path': path, 'by': seed}])
        q.put('ok')
    except Exception as e:  # pragma: no cover - reported
        q.put(repr(e))


def test_concurrent_updates_lose_no_increment(store, store_url):
    store.create_instance(_instance(n=0), [_item('c%d' % i, n=0) for i in range(4)])
    workers, each = 6, 25
    q = FORK.Queue()
    procs = [FORK.Process(target=_incrementer, args=(store_url, IID, each, seed, q)) for seed in range(workers)]
    for p in procs:
        p.start()
    assert [q.get(timeout=300) for _p in procs] == ['ok'] * workers
    for p in procs:
        p.join(30)
    inst, items = store.load(IID)
    assert sum(it['n'] for it in items.values()) == workers * each
    assert inst['n'] == workers * each
    assert inst['version'] == 1 + workers * each
    events = store.read_events(IID)
    assert [e['seq'] for e in events] == list(range(1, workers * each + 1))
    assert store.read_events(IID, since=workers * each - 2) == events[-2:]


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


# ----------------------------------------------------------------------------------------------------------------
# size


def test_ten_thousand_items_load_in_one_read_and_one_change_writes_one_record(store):
    n = 10000
    t0 = time.perf_counter()
    store.create_instance(_instance(), _items(n))
    t1 = time.perf_counter()
    inst, items = store.load(IID)
    t2 = time.perf_counter()
    assert len(items) == n and list(items)[0] == 'j00000' and list(items)[-1] == 'j09999'
    store.update(IID, lambda i, its: (None, {'j05000': dict(its['j05000'], state='running')}, None))
    t3 = time.perf_counter()
    got = store.get_items(IID, ['j05000'])
    t4 = time.perf_counter()
    version, changed = store.items_since(IID, 1)
    assert list(changed) == ['j05000'] and version == 2
    print('\n%s: create %d items %.3f s, load %.3f s (%.1f us/item), update one %.3f s, get one %.4f s'
          % (store.backend, n, t1 - t0, t2 - t1, (t2 - t1) / n * 1e6, t3 - t2, t4 - t3))
    assert got['j05000']['state'] == 'running'


# ----------------------------------------------------------------------------------------------------------------
# write faults: nothing is ever half-written


def _fsize_child(url, path, q):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    st = S.open_store(url)
    st.load(IID)
    limit = max(os.path.getsize(f) for f in (path, path + '-wal') if os.path.exists(f)) + 4096
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        st.update(IID, lambda i, its: (dict(i, state='running'),
                                       {p: dict(it, message='x' * 200000) for p, it in its.items()}, None))
        q.put('written')
    except S.StoreWriteError as e:
        q.put(str(e))


def test_sqlite_file_size_limit_fails_write_with_pex209_and_keeps_state(tmp_path):
    path = str(tmp_path / 'state.db')
    url = 'sqlite://' + path
    st = S.open_store(url)
    st.create_instance(_instance(), _items(20))
    before = st.load(IID)
    q = FORK.Queue()
    p = FORK.Process(target=_fsize_child, args=(url, path, q))
    p.start()
    msg = q.get(timeout=60)
    p.join(30)
    assert msg.startswith('PEX209 state store write failed:'), msg
    assert url in msg and 'instance %s' % IID in msg
    st.close()
    st = S.open_store(url)
    assert st.load(IID) == before
    assert st._conn().execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    st.update(IID, lambda i, its: (None, {'j00001': dict(its['j00001'], state='running')}, None))
    assert st.load(IID)[1]['j00001']['state'] == 'running'


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('chattr') is None, reason='needs root and chattr')
def test_sqlite_read_only_file_fails_write_with_pex209_reads_still_work(tmp_path):
    path = str(tmp_path / 'state.db')
    url = 'sqlite://' + path
    st = S.open_store(url)
    st.create_instance(_instance(), [_item('a')])
    st.close()  # checkpoints the WAL into the file
    subprocess.run(['chattr', '+i', path], check=True)
    try:
        st = S.open_store(url)
        before = st.load(IID)
        with pytest.raises(S.StoreWriteError) as e:
            st.update(IID, lambda i, its: (None, {'a': dict(its['a'], state='running')}, None))
        assert str(e.value).startswith('PEX209 state store write failed:') and 'readonly' in str(e.value)
        with pytest.raises(S.StoreWriteError):
            st.acquire_lease(IID, S.default_owner('run'), 30)
        assert st.load(IID) == before
        st.close()
    finally:
        subprocess.run(['chattr', '-i', path], check=True)


def _can_mount_tmpfs(folder) -> bool:
    if os.geteuid() != 0:
        return False
    os.makedirs(folder, exist_ok=True)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', folder], capture_output=True, check=False)
    return r.returncode == 0


def test_sqlite_full_disk_fails_write_with_pex209_and_keeps_state(tmp_path):
    mnt = str(tmp_path / 'small')
    if not _can_mount_tmpfs(mnt):
        pytest.skip('cannot mount a small tmpfs here (needs root)')
    try:
        url = 'sqlite://%s/state.db' % mnt
        st = S.open_store(url)
        st.create_instance(_instance(), _items(50))
        before = st.load(IID)
        with open(os.path.join(mnt, 'filler'), 'wb', buffering=0) as f:  # fill the file system to the last block
            try:
                while True:
                    f.write(b'\0' * 65536)
            except OSError:
                pass
            try:
                while True:
                    f.write(b'\0' * 512)
            except OSError:
                pass
        with pytest.raises(S.StoreWriteError) as e:
            st.update(IID, lambda i, its: (None, {p: dict(it, message='y' * 20000) for p, it in its.items()}, None))
        assert str(e.value).startswith('PEX209 state store write failed:')
        assert st.load(IID) == before
        os.remove(os.path.join(mnt, 'filler'))
        st.update(IID, lambda i, its: (None, {'j00001': dict(its['j00001'], state='running')}, None))
        assert st.load(IID)[1]['j00001']['state'] == 'running'
        st.close()
    finally:
        subprocess.run(['umount', '-l', mnt], check=False)


def _creator(url, q):
    st = S.open_store(url, timeout=60)
    i = len(st.list_instances())
    while True:
        st.create_instance(_instance('kill%d@2026-11-21' % i), _items(5000))
        q.put(i)
        i += 1


def test_sqlite_kill_during_creates_leaves_only_whole_instances(tmp_path):
    url = 'sqlite://%s' % (tmp_path / 'state.db')
    rnd = random.Random(7)
    for _round in range(5):
        q = FORK.Queue()
        p = FORK.Process(target=_creator, args=(url, q))
        p.start()
        time.sleep(rnd.uniform(0.2, 1.5))
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
    st = S.open_store(url)
    insts = st.list_instances()
    assert insts
    for inst in insts:
        assert len(st.load(inst['id'])[1]) == 5000, inst['id']
    assert st._conn().execute('PRAGMA integrity_check').fetchone()[0] == 'ok'


def test_redis_killed_during_update_writes_nothing_then_recovers(own_redis):
    st = S.open_store(own_redis.url, timeout=3)
    st.create_instance(_instance(), _items(10))
    st.update(IID, lambda i, its: (None, {'j00001': dict(its['j00001'], state='running')}, None))
    before = st.load(IID)

    def fn(inst, items):
        own_redis.kill()  # the server dies between the read and the write of this transaction
        return dict(inst, state='running'), {p: dict(it, state='abnormal_end') for p, it in items.items()}, None

    with pytest.raises(S.StoreWriteError) as e:
        st.update(IID, fn)
    assert str(e.value).startswith('PEX209 state store write failed:')
    assert own_redis.url in str(e.value) and IID in str(e.value)
    with pytest.raises(S.StoreWriteError):
        st.update(IID, lambda inst, its: (None, {}, None))  # down: the lock cannot even be taken
    with pytest.raises(S.StoreError):
        st.load(IID)
    own_redis.start()  # same data folder: the append-only file brings back what was committed
    st2 = S.open_store(own_redis.url, timeout=3)
    assert st2.load(IID) == before
    st2.update(IID, lambda i, its: (None, {'j00002': dict(its['j00002'], state='running')}, None))
    assert st2.load(IID)[1]['j00002']['state'] == 'running'


def test_redis_out_of_memory_fails_write_with_pex209_and_keeps_state(own_redis):
    st = S.open_store(own_redis.url, timeout=3)
    st.create_instance(_instance(), _items(200))
    before = st.load(IID)
    used = int([ln.split(':')[1] for ln in own_redis.cli('info', 'memory').splitlines()
                if ln.startswith('used_memory:')][0])
    own_redis.cli('config', 'set', 'maxmemory-policy', 'noeviction')
    own_redis.cli('config', 'set', 'maxmemory', str(used))
    try:
        with pytest.raises(S.StoreWriteError) as e:
            st.update(IID, lambda i, its: (dict(i, state='running'),
                                           {p: dict(it, message='z' * 5000) for p, it in its.items()}, None))
        assert str(e.value).startswith('PEX209 state store write failed:') and 'maxmemory' in str(e.value)
        with pytest.raises(S.StoreWriteError):
            st.create_instance(_instance('other@2026-11-21'), _items(10))
        assert st.get_instance('other@2026-11-21') is None
    finally:
        own_redis.cli('config', 'set', 'maxmemory', '0')
    assert st.load(IID) == before

    def fn(inst, items):  # memory runs out after the lock was taken: the write script itself is refused
        own_redis.cli('config', 'set', 'maxmemory', '1')
        return dict(inst, state='running'), {p: dict(it, message='z' * 5000) for p, it in items.items()}, None

    try:
        with pytest.raises(S.StoreWriteError) as e:
            st.update(IID, fn)
        assert 'an update of instance %s' % IID in str(e.value) and 'maxmemory' in str(e.value)
    finally:
        own_redis.cli('config', 'set', 'maxmemory', '0')
    assert st.load(IID) == before


def test_redis_write_retries_are_off_so_nothing_is_sent_twice(own_redis):
    st = S.open_store(own_redis.url)
    assert st._r.get_connection_kwargs().get('retry')._retries == 0
