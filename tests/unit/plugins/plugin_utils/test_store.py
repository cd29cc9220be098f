# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store against real SQLite files and a real Redis: URLs, SQLite files, processes, size and faults.

What every backend must do is in ``test_store_contract.py``; the ``store`` / ``store_url`` fixtures (one per
backend) are in ``conftest.py``. Redis tests use the shared server at ``JOBNET_TEST_REDIS_URL`` (each test under
its own key prefix, removed afterwards) and are skipped only when that variable is unset. Fault tests that kill
or starve Redis start a redis-server of their own on another loopback port and stop it at the end.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

IID = 'nightly@2026-11-21'
FORK = multiprocessing.get_context('fork')


# ----------------------------------------------------------------------------------------------------------------
# fixtures


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
# processes: fork, liveness of lease owners, racing controllers


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


@pytest.fixture
def redis_url():
    """The test Redis only (the conftest's store_url gives SQLite too), under a prefix of this test's own."""
    base = os.environ.get('JOBNET_TEST_REDIS_URL')
    if not base:
        pytest.skip('JOBNET_TEST_REDIS_URL is not set (source .tmp/testenv/env.sh)')
    prefix = 'jobnet-test-%d-%d:' % (os.getpid(), time.monotonic_ns())
    yield '%s?prefix=%s' % (base, prefix)
    import redis
    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=prefix + '*', count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _skewed(monkeypatch, seconds):
    """This process's wall clock ``seconds`` off (what a controller with a wrong clock sees)."""
    real = time.time
    monkeypatch.setattr(time, 'time', lambda: real() + seconds)


@pytest.mark.parametrize('skew', [2 * 3600, -2 * 3600])
def test_a_controller_whose_clock_is_hours_off_neither_locks_others_out_nor_steals_a_live_lease(
        redis_url, monkeypatch, skew):
    owner = {'host': 'other-machine', 'pid': 1, 'start': '1', 'what': 'run'}
    honest = S.open_store(redis_url)
    skewed_store = S.open_store(redis_url)
    try:
        honest.acquire_lease('live@2026-12-02', owner, 60.0)
        with monkeypatch.context() as m:
            _skewed(m, skew)
            with pytest.raises(S.LeaseHeld):   # a live lease of another controller is not taken
                skewed_store.acquire_lease('live@2026-12-02', dict(owner, host='skewed'), 60.0)
            short = skewed_store.acquire_lease('short@2026-12-02', dict(owner, host='skewed'), 1.0)
            assert not short.expired   # on the store's clock, whatever this machine's says
        time.sleep(1.3)
        # the skewed controller's short lease expired on the store's clock: nobody is locked out for hours
        assert honest.get_lease('short@2026-12-02').expired
        honest.acquire_lease('short@2026-12-02', owner, 60.0)
    finally:
        skewed_store.close()
        honest.close()


def test_a_leases_expiry_is_the_redis_servers_time(redis_url, monkeypatch):
    store = S.open_store(redis_url)
    try:
        server = store.clock()
        _skewed(monkeypatch, 5 * 3600)
        store._clock_at = None   # pylint: disable=protected-access
        # measured again: the server's time, not this machine's clock
        assert abs(store.clock() - server) < 5
        lease = store.acquire_lease('clock@2026-12-02', {'host': 'h', 'pid': 1, 'what': 'run'}, 30.0)
        assert abs(lease.expires - (server + 30)) < 5
    finally:
        store.close()


def test_a_redis_store_says_when_its_server_could_lose_an_acknowledged_commit(own_redis, tmp_path):
    store = S.open_store(own_redis.url)
    try:
        assert store.durability_warning() is None   # appendonly yes, appendfsync always
        own_redis.cli('CONFIG', 'SET', 'appendfsync', 'everysec')
        assert 'appendfsync everysec' in store.durability_warning()
        own_redis.cli('CONFIG', 'SET', 'appendonly', 'no')
        own_redis.cli('CONFIG', 'SET', 'save', '3600 1')
        assert 'keeps only its snapshots' in store.durability_warning()
        own_redis.cli('CONFIG', 'SET', 'save', '')
        assert 'keeps nothing on disk' in store.durability_warning()
    finally:
        store.close()
    sqlite = S.open_store('sqlite://%s' % (tmp_path / 'state.db'))
    try:
        assert sqlite.durability_warning() is None
    finally:
        sqlite.close()
