# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine over a real SQLite store, with hosts scripted in-process (the real hosts are in tests/system)."""

from __future__ import annotations

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State

FRAME = {
    'frame': 'eng',
    'jobs': [
        {'name': 'a', 'host': 'h1', 'shell': 'true'},
        {'name': 'b', 'host': 'h2', 'shell': 'true', 'after': ['a']},
        {'name': 'c', 'host': 'h1', 'shell': 'false', 'after': ['a']},
        {'name': 'd', 'host': 'h1', 'shell': 'true', 'after': ['a']},
    ],
}


class ScriptedHost:
    """A host whose jobs end at the next poll: rc 1 for `false`, 0 otherwise. Counts every launch."""

    def __init__(self):
        self.jobs = {}
        self.launches = []
        self.down = False

    def __call__(self, name, args):
        if self.down:
            raise _engine.HostUnreachable('no route to host')
        if name == 'jobnet.scheduler.job':
            out = []
            for spec in args['jobs']:
                self.launches.append(spec['id'])
                job = self.jobs.setdefault(spec['id'], {'id': spec['id'], 'state': 'running', 'rc': None,
                                                        'signal': None, 'started': '2026-11-21T00:00:00.000000Z',
                                                        'ended': None, 'shell': spec.get('shell')})
                out.append(dict(job))
            return {'changed': True, 'jobs': out}
        if name == 'jobnet.scheduler.job_info':
            out, missing = [], []
            for aid in args['ids']:
                job = self.jobs.get(aid)
                if job is None:
                    missing.append(aid)
                    continue
                if job['state'] == 'running':
                    job['rc'] = 1 if job['shell'] == 'false' else 0
                    job['state'] = 'normal_end' if job['rc'] == 0 else 'abnormal_end'
                    job['ended'] = '2026-11-21T00:00:01.000000Z'
                out.append(dict(job))
            return {'jobs': out, 'missing': missing}
        raise AssertionError(name)


@pytest.fixture
def store(tmp_path):
    s = _store.open_store('sqlite:///%s' % (tmp_path / 'state.db'))
    yield s
    s.close()


def submit(store):
    defn = _model.normalise(FRAME, hosts={'h1', 'h2'})
    eng = _engine.Engine(store, _store, owner=_engine.controller_owner('test'))
    inst, lease = eng.submit(defn, '2026-11-21')
    return eng, inst, lease


def drive(store, lease, hosts, limit=None, rounds=20):
    leases = {lease.iid: lease.to_dict()}
    for _round in range(rounds):
        done = []
        for name, host in hosts.items():
            drv = _engine.HostDriver(store, _store, name, leases, host, limit=limit, poll_interval=0,
                                     unreachable_retries=1, sleep=lambda s: None)
            done.append(drv.run(0)['done'])
        if all(done):
            return
    raise AssertionError('the frame did not settle')


def test_frame_runs_to_its_end_and_every_attempt_launches_once(store):
    _eng, inst, lease = submit(store)
    h1, h2 = ScriptedHost(), ScriptedHost()
    drive(store, lease, {'h1': h1, 'h2': h2})
    instance, items = store.load(inst['id'])
    assert instance['state'] == State.ABNORMAL_END.value
    assert {p: i['state'] for p, i in items.items()} == {
        'a': 'normal_end', 'b': 'normal_end', 'c': 'abnormal_end', 'd': 'normal_end'}
    assert len(h1.launches) == len(set(h1.launches)) == 3
    assert items['c']['rc'] == 1 and items['c']['attempt'] == 1


def test_host_limit_holds(store):
    _eng, inst, lease = submit(store)
    h1, h2 = ScriptedHost(), ScriptedHost()
    leases = {lease.iid: lease.to_dict()}
    drv = _engine.HostDriver(store, _store, 'h1', leases, h1, limit=1, poll_interval=0, sleep=lambda s: None)
    drv._launch(drv._plan())   # a starts
    drv._poll(0)               # a ends: c and d are both ready on h1
    drv._launch(drv._plan())   # the limit lets one of them start
    _i, items = store.load(inst['id'])
    running = [p for p, i in items.items() if i['state'] == 'running']
    queued = [p for p, i in items.items() if i['state'] == 'queuing' and i['host'] == 'h1']
    assert len(running) == 1 and running[0] in ('c', 'd'), items
    assert len(queued) == 1 and items[queued[0]]['message'] == 'waiting for a free slot on h1 (jobnet_max_running 1)'
    assert drv._plan() == []   # still full


def test_rerun_restarts_only_abnormal_jobs_with_a_new_attempt(store):
    eng, inst, lease = submit(store)
    h1, h2 = ScriptedHost(), ScriptedHost()
    drive(store, lease, {'h1': h1, 'h2': h2})
    store.release_lease(lease)
    lease = eng.acquire(inst['id'])
    eng.operate(inst['id'], 'rerun', lease=lease)
    drive(store, lease, {'h1': h1, 'h2': h2})
    _i, items = store.load(inst['id'])
    assert items['c']['attempt'] == 2
    assert items['c']['attempt_id'].endswith('.c.2')
    assert h1.launches.count(items['c']['attempt_id']) == 1
    assert len(h1.launches) == 4  # a, c.1, d, c.2


def test_unreachable_host_makes_its_queued_jobs_queuing_env_down(store):
    _eng, inst, lease = submit(store)
    h1, h2 = ScriptedHost(), ScriptedHost()
    h2.down = True
    drive(store, lease, {'h1': h1, 'h2': h2})
    _i, items = store.load(inst['id'])
    assert items['b']['state'] == State.QUEUING_ENV_DOWN.value
    assert items['b']['phase'] == 'launching'  # the same attempt id is tried again when the host is back
    assert 'unreachable' in items['b']['message']


def test_a_second_controller_is_refused_while_the_first_lives(store):
    eng, inst, lease = submit(store)
    other = _engine.Engine(store, _store, owner=dict(_engine.controller_owner('test'), pid=1, start='1'))
    with pytest.raises(_engine.EngineError, match='driven by'):
        other.acquire(inst['id'])


def _worker_reports_controller(conn, parent_gone):
    """A forked worker, as ansible-playbook forks them: wait until told, then say whose lease it would take."""
    parent_gone.wait(10)
    try:
        conn.send(('pid', _engine.controller_pid()))
    except _engine.ControllerGone as exc:
        conn.send(('gone', str(exc)))
    conn.close()


def _controller(conn, parent_gone, started):
    """A controller that forks one worker and dies while the worker lives (as under kill -9)."""
    import multiprocessing
    import os
    ctx = multiprocessing.get_context('fork')
    worker = ctx.Process(target=_worker_reports_controller, args=(conn, parent_gone))
    worker.start()
    started.send(os.getpid())
    os._exit(0)  # pylint: disable=protected-access


def test_a_worker_whose_controller_died_takes_no_lease_in_the_name_of_its_new_parent():
    import multiprocessing
    import os
    ctx = multiprocessing.get_context('fork')
    # the live case: the worker's parent is the controller
    here, there = ctx.Pipe()
    ready = ctx.Event()
    ready.set()
    live = ctx.Process(target=_worker_reports_controller, args=(there, ready))
    live.start()
    assert here.recv() == ('pid', os.getpid())
    live.join(10)
    # the orphan: the controller is gone; getppid() now names init (or a subreaper), which never dies
    here, there = ctx.Pipe()
    started_r, started_w = ctx.Pipe(duplex=False)
    gone = ctx.Event()
    controller = ctx.Process(target=_controller, args=(there, gone, started_w))
    controller.start()
    controller_pid = started_r.recv()
    # join() without a timeout waits on the pid itself: the worker still holds the controller's sentinel pipe
    controller.join()
    gone.set()
    assert here.poll(10), 'the orphaned worker did not answer'
    kind, what = here.recv()
    assert kind == 'gone', what
    assert 'controller process %d is gone' % controller_pid in what


def test_controller_owner_outside_a_worker_names_the_caller_s_parent():
    import os
    assert _engine.controller_pid() == os.getppid()
    assert _engine.controller_owner('test')['pid'] == os.getppid()


class PartlyFailingHost(ScriptedHost):
    """A host whose launch call starts the first job of the batch and then fails, as a module that dies half way
    (``refused`` given: the module said which it refused; not given: it crashed without saying)."""

    def __init__(self, say_refused):
        super().__init__()
        self.say_refused = say_refused

    def __call__(self, name, args):
        if name == 'jobnet.scheduler.job' and len(args['jobs']) > 1:
            first, rest = args['jobs'][0], args['jobs'][1:]
            started = super().__call__(name, dict(args, jobs=[first]))
            self.jobs[first['id']]['shell'] = 'true'   # it ends normally
            out = {'failed': True, 'msg': 'jobs[1] (id %s): cannot start the supervisor' % rest[0]['id']}
            if self.say_refused:
                out.update(jobs=started['jobs'], started=[first['id']],
                           refused=[{'id': s['id'], 'msg': 'cannot start the supervisor'} for s in rest])
            return out
        return super().__call__(name, args)


@pytest.mark.parametrize('say_refused', [True, False], ids=['module-reports-refused', 'module-crashed'])
def test_a_partial_launch_records_the_started_attempt_running_and_never_runs_it_twice(store, say_refused):
    eng, inst, lease = submit(store)
    h1, h2 = PartlyFailingHost(say_refused), ScriptedHost()
    leases = {lease.iid: lease.to_dict()}
    drv = _engine.HostDriver(store, _store, 'h1', leases, h1, poll_interval=0, sleep=lambda s: None)
    drv._launch(drv._plan())   # a starts
    drv._poll(0)               # a ends: c and d are ready on h1 and go in one call; the second one fails
    drv._launch(drv._plan())
    _i, items = store.load(inst['id'])
    started = [p for p in ('c', 'd') if items[p]['attempt_id'] in h1.jobs]
    refused = [p for p in ('c', 'd') if p not in started]
    assert len(started) == 1 and len(refused) == 1, items
    # running, or already ended normally when the host was asked about the attempts the crashed call left unsaid
    assert items[started[0]]['state'] in (State.RUNNING.value, State.NORMAL_END.value), items[started[0]]
    assert items[started[0]]['phase'] == 'launched' and not items[started[0]]['message']
    assert items[refused[0]]['state'] == State.ABNORMAL_END.value
    assert 'launch refused by h1' in items[refused[0]]['message']
    # the started attempt ends with its own rc; a rerun starts only the refused one again
    drive(store, lease, {'h1': h1, 'h2': h2})
    store.release_lease(lease)
    lease = eng.acquire(inst['id'])
    eng.operate(inst['id'], 'rerun', lease=lease)
    drive(store, lease, {'h1': ScriptedHost.__call__.__get__(h1), 'h2': h2})
    _i, items = store.load(inst['id'])
    first = items[started[0]]
    assert first['attempt'] == 1 and h1.launches.count(first['attempt_id']) == 1
    assert not any(aid.endswith('.%s.2' % started[0]) for aid in h1.launches), h1.launches


def test_a_driver_that_fails_gives_up_the_leases_and_the_other_hosts_drivers_stop(store):
    _eng, inst, lease = submit(store)
    h1, h2 = ScriptedHost(), ScriptedHost()
    leases = {lease.iid: lease.to_dict()}
    other = _engine.HostDriver(store, _store, 'h2', leases, h2, poll_interval=0, sleep=lambda s: None)
    _engine.release_leases(store, _store, leases)   # what frame_step does when the driver of h1 fails
    with pytest.raises(_engine.EngineError, match='no longer leased by this run.*driver of h2 stops'):
        other.run(0)
    assert store.get_lease(inst['id']).token in (None, '')


@pytest.mark.parametrize('state, phase, attempt_id, holds', [
    ('running', 'launched', 'x.1', True),
    ('queuing', 'launching', 'x.1', True),
    ('queuing_env_down', 'launched', 'x.1', True),    # after a recovery skip: it may still run on its host
    ('queuing_env_down', 'launching', 'x.1', True),
    ('queuing_env_down', None, None, False),           # never started: it only waits for its host
    ('queuing', None, None, False),
    ('abnormal_end', 'launched', 'x.1', False),
])
def test_a_job_whose_attempt_may_still_run_keeps_its_host_slot(state, phase, attempt_id, holds):
    assert _engine.holds_a_slot({'state': state, 'phase': phase, 'attempt_id': attempt_id}) is holds


def _one_job_frame(name, host, needs):
    return _model.normalise({'frame': name, 'jobs': [{'name': 'j', 'host': host, 'shell': 'true',
                                                      'resources': needs}]}, hosts={'h1', 'h2'})


class SlowHost(ScriptedHost):
    """Its jobs run until ``finish`` is called."""

    def __init__(self):
        super().__init__()
        self.hold = True

    def __call__(self, name, args):
        if name == 'jobnet.scheduler.job_info' and self.hold:
            return {'jobs': [dict(self.jobs[aid]) for aid in args['ids'] if aid in self.jobs],
                    'missing': [aid for aid in args['ids'] if aid not in self.jobs]}
        return super().__call__(name, args)


def test_the_waiters_of_an_instance_nobody_drives_do_not_hold_back_another_instance(store):
    store.put_resource('db', {'capacity': 1})
    eng = _engine.Engine(store, _store, owner=_engine.controller_owner('test'))
    holder, hold_lease = eng.submit(_one_job_frame('holder', 'h1', {'db': 1}), '2026-11-21')
    early, early_lease = eng.submit(_one_job_frame('early', 'h2', {'db': 1}), '2026-11-21')
    h1, h2 = SlowHost(), ScriptedHost()
    _engine.HostDriver(store, _store, 'h1', {holder['id']: hold_lease.to_dict()}, h1, poll_interval=0,
                       sleep=lambda s: None).run(0)
    _engine.HostDriver(store, _store, 'h2', {early['id']: early_lease.to_dict()}, h2, poll_interval=0,
                       sleep=lambda s: None).run(0)
    assert store.load(early['id'])[1]['j']['waiting']['for'] == ['db']   # early waits, first in line
    late, late_lease = eng.submit(_one_job_frame('late', 'h2', {'db': 1}), '2026-11-21')
    h1.hold = False
    _engine.HostDriver(store, _store, 'h1', {holder['id']: hold_lease.to_dict()}, h1, poll_interval=0,
                       sleep=lambda s: None).run(0)   # the holder ends: db is free
    late_driver = _engine.HostDriver(store, _store, 'h2', {late['id']: late_lease.to_dict()}, h2, poll_interval=0,
                                     sleep=lambda s: None)
    late_driver._plan()
    # early's controller still holds its lease: early keeps its place, late waits behind it
    assert store.load(late['id'])[1]['j']['state'] == 'queuing'
    assert store.load(late['id'])[1]['j']['waiting']['for'] == ['db']
    # early's controller is gone (its lease released without it ending): late no longer waits behind it
    store.release_lease(early_lease)
    late_driver._undriven_at = None
    assert [s['name'] for _iid, specs in late_driver._plan() for s in specs] == ['j']
    assert store.load(early['id'])[1]['j']['ready_at']   # early keeps its ready time, for when it is driven again
