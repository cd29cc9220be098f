#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: 1,000 jobs contending for one resource of capacity 10, over 4 hosts and 2 controllers.

    . .venv/bin/activate
    python benchmarks/bench_resources.py [--quick] [--jobs 1000] [--repeat 3] [--variants resource,limit,free]
                                         [--redis URL [--no-sqlite]] [--levels 1]

Needs no test hosts: the engine runs in this machine's processes against scripted hosts. CONTROLLERS (2)
controllers share one state store; each is an OS process of its own (multiprocessing, fork) that submits its
own frame instance (``Engine.submit``: the instance and its lease) of JOBS / CONTROLLERS independent jobs (500;
``--levels N``: N nets in a row, each after the one before it) and runs one ``HostDriver`` per host, h1 to h4,
each in a thread of its own with a store connection of its own, calling ``run(seconds=STEP)`` in a loop until it
reports ``done`` (what the ``frame_step`` task of ``jobnet.scheduler.run`` does, with ``jobnet_poll_interval``
1 s). The jobs are spread over the hosts 3:3:2:2 (job ``i`` on ``h1 h1 h1 h2 h2 h2 h3 h3 h4 h4``[i % 10]).

The hosts are scripted (one per host and controller): ``jobnet.scheduler.job state=started`` starts a job that
"runs" for its own simulated time (20-50 ms of wall time, drawn per job, the same draws for every variant of one
round); ``jobnet.scheduler.job_info`` reports it running until that time has passed, then ``normal_end`` with its
``started`` / ``ended`` times, and with ``wait`` it returns as soon as one of the running jobs it is asked about
ends (or the wait is up), as the real module does. A module call itself costs nothing here: what is measured is
the controllers' and the store's work.

Three variants of the same frames, same hosts, same simulated durations, taking turns round by round (a full run
measures ``resource`` and ``free`` unless ``--variants`` names others, to stay within a few minutes: a bounded
variant's runs are the long ones; ``--quick`` runs all three):
  resource  every job ``resources: {db: 1}``, resource ``db`` of capacity 10 (``store.put_resource``), no host
            limit: at most 10 jobs run at a time over every host, instance and controller;
  limit     no resource; ``jobnet_max_running`` 3, 3, 2, 2 on h1..h4: the same bound of 10 at a time, each host's
            share in proportion to its jobs, kept per host (both controllers' jobs on a host count against it);
  free      no resource, no limit (every job starts at once).
``resource`` against ``limit`` is the cost of one claim shared by every driver of both controllers over that of
per-host claims at the same concurrency; ``free`` is the engine without any bound. The ideal wall time of a
bounded variant is the sum of the simulated durations divided by 10.

Printed per run: wall time (from the moment both controllers start driving to the end of the last one),
throughput, the most jobs seen running at once (a sweep over the scripted hosts' start / end times of both
controllers; per host too), the launch decisions (store transactions that read the index of holders and
waiters) and their median time; on Redis, how many decisions were taken again because another write changed
the index first. Then medians over the runs per store and variant and the ratios. Not a test of speed: no
timing is checked. Checked: every job of both instances ended ``normal_end``, launched once; the most jobs
running at once is at most 10 in the ``resource`` variant (and at most a host's limit on that host in the
``limit`` variant): otherwise FAIL is printed and the exit code is 1 (also for a run that fails or does not
finish within ``--timeout``).

Stores: SQLite (a new file per run, in a temporary folder) and, with ``--redis URL`` (for example
``"$JOBNET_TEST_REDIS_URL"`` after ``. .tmp/testenv/env.sh``), Redis too (a key prefix of its own per run, removed
afterwards); ``--no-sqlite`` runs Redis only. ``--quick``: 200 jobs, one run per store and variant.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = ('h1', 'h2', 'h3', 'h4')
#: job i runs on HOST_PATTERN[i % 10]: the hosts' shares are those of their limits in the ``limit`` variant
HOST_PATTERN = ('h1', 'h1', 'h1', 'h2', 'h2', 'h2', 'h3', 'h3', 'h4', 'h4')
LIMITS = {'h1': 3, 'h2': 3, 'h3': 2, 'h4': 2}
CAPACITY = 10
RESOURCE = 'db'
OPERATION_DATE = '2031-03-03'
VARIANTS = ('resource', 'limit', 'free')
#: what a full run measures unless --variants says otherwise (``limit`` adds about two minutes)
DEFAULT_VARIANTS = ('resource', 'free')


def import_collection():
    """The collection's _engine, _model and _store, found as ansible_collections/jobnet/scheduler."""
    parts = REPO.split(os.sep)
    if parts[-3:-2] == ['ansible_collections']:
        root = os.sep.join(parts[:-3])
    else:
        root = os.path.join(REPO, '.tmp', 'collections')
        link = os.path.join(root, 'ansible_collections', 'jobnet', 'scheduler')
        if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(REPO):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            tmp = '%s.%d.tmp' % (link, os.getpid())
            os.symlink(REPO, tmp)
            os.replace(tmp, link)
    if root not in sys.path:
        sys.path.insert(0, root)
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _store
    return _engine, _model, _store


# ---------------------------------------------------------------------------------------------------- frames
def frame_raw(name, jobs, levels, variant):
    """A frame of ``jobs`` independent jobs (``levels`` > 1: that many nets, each after the one before it)."""
    def job(i):
        d = {'name': 'j%04d' % i, 'host': HOST_PATTERN[i % len(HOST_PATTERN)], 'shell': 'true'}
        if variant == 'resource':
            d['resources'] = {RESOURCE: 1}
        return d
    if levels <= 1:
        return {'frame': name, 'jobs': [job(i) for i in range(jobs)]}
    nets, per = [], -(-jobs // levels)
    for level in range(levels):
        net = {'name': 'l%d' % level, 'jobs': [job(i) for i in range(level * per, min(jobs, (level + 1) * per))]}
        if level:
            net['after'] = ['l%d' % (level - 1)]
        nets.append(net)
    return {'frame': name, 'nets': nets}


def job_paths(raw):
    if 'jobs' in raw:
        return [j['name'] for j in raw['jobs']]
    return ['%s/%s' % (net['name'], j['name']) for net in raw['nets'] for j in net['jobs']]


def isotime(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


# ---------------------------------------------------------------------------------------------------- the host
class ScriptedHost:
    """A host whose jobs run for a simulated time: ``durations`` {(instance id, path): seconds}.

    ``intervals``: [(attempt id, host, start, end)] in ``time.monotonic()`` seconds (one clock for every process
    of the machine), one per attempt started; ``end`` is when the job stops running (start + its duration).
    """

    def __init__(self, host, durations):
        self.host = host
        self.durations = durations
        self.jobs = {}
        self.intervals = []
        self.calls = {'job': 0, 'job_info': 0}
        self.relaunched = 0

    def _view(self, job, now):
        if now >= job['end']:
            return {'id': job['id'], 'state': 'normal_end', 'rc': 0, 'signal': None,
                    'started': isotime(job['wall']), 'ended': isotime(job['wall'] + job['seconds'])}
        return {'id': job['id'], 'state': 'running', 'rc': None, 'signal': None, 'started': isotime(job['wall']),
                'ended': None}

    def __call__(self, name, args):
        if name == 'jobnet.scheduler.job':
            self.calls['job'] += 1
            if args.get('state') != 'started':
                raise AssertionError('unexpected job call %r' % (args,))
            out = []
            for spec in args['jobs']:
                job = self.jobs.get(spec['id'])
                if job is None:
                    seconds = self.durations[(spec['labels']['instance'], spec['name'])]
                    now, wall = time.monotonic(), time.time()
                    job = {'id': spec['id'], 'start': now, 'end': now + seconds, 'wall': wall, 'seconds': seconds}
                    self.jobs[spec['id']] = job
                    self.intervals.append((spec['id'], self.host, now, now + seconds))
                else:
                    self.relaunched += 1   # the same attempt again (a launch whose outcome was unknown)
                out.append(self._view(job, time.monotonic()))
            return {'changed': True, 'jobs': out}
        if name == 'jobnet.scheduler.job_info':
            self.calls['job_info'] += 1
            now = time.monotonic()
            known = [self.jobs[aid] for aid in args['ids'] if aid in self.jobs]
            running = [job['end'] for job in known if job['end'] > now]
            wait = float(args.get('wait') or 0)
            if wait > 0 and running:   # until one of the running jobs ends, or the wait is up
                time.sleep(max(0.0, min(*running, now + wait) - now))
                now = time.monotonic()
            return {'jobs': [self._view(job, now) for job in known],
                    'missing': [aid for aid in args['ids'] if aid not in self.jobs]}
        raise AssertionError('unexpected module %s' % name)


# ---------------------------------------------------------------------------------------------------- a controller
class Counter:
    """Store transactions of one driver: launch decisions (``index=True``) and the others, with their times."""

    def __init__(self):
        self.decisions = []   # seconds of each update(index=True)
        self.others = 0
        self.other_seconds = 0.0
        self.again = 0        # Redis: decisions taken again because the index changed first


def instrument(store, counter):
    update = store.update

    def counted(iid, fn, lease=None, **kwargs):
        start = time.perf_counter()
        try:
            return update(iid, fn, lease, **kwargs)
        finally:
            spent = time.perf_counter() - start
            if kwargs.get('index'):
                counter.decisions.append(spent)
            else:
                counter.others += 1
                counter.other_seconds += spent
    store.update = counted
    once = getattr(store, '_update_once', None)
    if once is not None:   # the Redis store decides optimistically: 'INDEX' means it decides again
        def counted_once(*args, **kwargs):
            res = once(*args, **kwargs)
            if res and res[0] == 'INDEX':
                counter.again += 1
            return res
        store._update_once = counted_once   # pylint: disable=protected-access


def controller(number, url, raw, variant, durations, barrier, out_path, step, poll, deadline_s):
    """One controller process: submit its instance, then drive it with one HostDriver per host (threads)."""
    result = {'number': number, 'errors': []}
    try:
        _engine, _model, _store = import_collection()
        store = _store.open_store(url)
        defn = _model.normalise(raw, hosts=set(HOSTS))
        engine = _engine.Engine(store, _store, owner=_engine.controller_owner('bench', pid=os.getpid()))
        inst, lease = engine.submit(defn, OPERATION_DATE)
        iid = inst['id']
        hosts = {h: ScriptedHost(h, durations) for h in HOSTS}
        counters = {h: Counter() for h in HOSTS}
        stop = threading.Event()
        limits = LIMITS if variant == 'limit' else {}
        barrier.wait(timeout=120)
        start = time.monotonic()
        deadline = start + deadline_s

        def drive(host):
            hstore = _store.open_store(url)
            instrument(hstore, counters[host])
            try:
                driver = _engine.HostDriver(hstore, _store, host, {iid: lease.to_dict()}, hosts[host],
                                            limit=limits.get(host), poll_interval=poll)
                while not stop.is_set():
                    if driver.run(seconds=step)['done']:
                        return
                    if time.monotonic() > deadline:
                        result['errors'].append('%s: not done after %d s' % (host, deadline_s))
                        stop.set()
                        return
            except Exception as exc:  # pylint: disable=broad-exception-caught
                result['errors'].append('%s: %s: %s\n%s' % (host, type(exc).__name__, exc, traceback.format_exc()))
                stop.set()
            finally:
                hstore.close()

        threads = [threading.Thread(target=drive, args=(h,), name='driver-%s' % h) for h in HOSTS]
        for t in threads:
            t.start()
        ends = {}
        for h, t in zip(HOSTS, threads):
            t.join()
            ends[h] = time.monotonic()
        end = time.monotonic()
        engine.release({iid: lease})
        instance, items = store.load(iid)
        store.close()
        states = {}
        attempts = {}
        for it in items.values():
            if it['kind'] == 'job':
                states[it['state']] = states.get(it['state'], 0) + 1
                attempts[it.get('attempt')] = attempts.get(it.get('attempt'), 0) + 1
        result.update(
            iid=iid, start=start, end=end, state=instance['state'], states=states,
            attempts={str(k): v for k, v in attempts.items()},
            intervals=[iv for h in HOSTS for iv in hosts[h].intervals],
            calls={h: hosts[h].calls for h in HOSTS}, relaunched=sum(hosts[h].relaunched for h in HOSTS),
            decisions=[s for h in HOSTS for s in counters[h].decisions],
            others=sum(c.others for c in counters.values()),
            other_seconds=sum(c.other_seconds for c in counters.values()),
            again=sum(c.again for c in counters.values()))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        result['errors'].append('%s: %s\n%s' % (type(exc).__name__, exc, traceback.format_exc()))
        try:
            barrier.abort()   # the other controller does not wait for this one
        except Exception:  # pylint: disable=broad-exception-caught
            pass
    with open(out_path, 'w') as f:
        json.dump(result, f)


# ---------------------------------------------------------------------------------------------------- one run
def max_running(intervals):
    """The most intervals [start, end) open at once: a sweep (an end before a start at the same instant)."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort()
    now = best = 0
    for _t, step in events:
        now += step
        best = max(best, now)
    return best


class Stores:
    """A fresh store URL per run (SQLite: a file in ``tmp``; Redis: a key prefix of its own, removed after)."""

    def __init__(self, tmp, redis_url, tag):
        self.tmp, self.redis_url, self.tag, self.n = tmp, redis_url, tag, 0

    def url(self, kind):
        self.n += 1
        if kind == 'sqlite':
            return 'sqlite://%s' % os.path.join(self.tmp, 'state-%d.db' % self.n)
        return '%s%sprefix=jnbench-res-%s-%d:' % (self.redis_url, '&' if '?' in self.redis_url else '?',
                                                  self.tag, self.n)

    def remove(self, kind, url):
        if kind == 'sqlite':
            path = url[len('sqlite://'):]
            for suffix in ('', '-wal', '-shm'):
                try:
                    os.remove(path + suffix)
                except OSError:
                    pass
            return
        import redis
        prefix = url.rsplit('prefix=', 1)[1]
        r = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(r.scan_iter(match=prefix + '*', count=1000))
            if keys:
                r.delete(*keys)
        finally:
            r.close()


def one_run(kind, url, variant, jobs, controllers, levels, durations_all, args, tmp, modules):
    _engine, _model, _store = modules
    store = _store.open_store(url)
    try:
        if variant == 'resource':
            store.put_resource(RESOURCE, {'capacity': CAPACITY, 'by': 'bench_resources.py'})
    finally:
        store.close()
    per = jobs // controllers
    raws, durations = [], {}
    for k in range(controllers):
        raw = frame_raw('jnbres-%s' % chr(ord('a') + k), per, levels, variant)
        iid = '%s@%s' % (raw['frame'], OPERATION_DATE)
        for n, path in enumerate(job_paths(raw)):
            durations[(iid, path)] = durations_all[k * per + n]
        raws.append(raw)
    ctx = multiprocessing.get_context('fork')
    barrier = ctx.Barrier(controllers)
    outs = [os.path.join(tmp, 'controller-%s.json' % uuid.uuid4().hex[:8]) for _k in range(controllers)]
    procs = [ctx.Process(target=controller, name='controller-%d' % k,
                         args=(k, url, raws[k], variant, durations, barrier, outs[k], args.step, args.poll,
                               args.timeout))
             for k in range(controllers)]
    for p in procs:
        p.start()
    errors = []
    limit = time.monotonic() + args.timeout + 60
    for p in procs:
        p.join(max(1.0, limit - time.monotonic()))
    for p in procs:
        if p.is_alive():
            errors.append('%s (pid %d) did not end within %d s: killed' % (p.name, p.pid, args.timeout + 60))
            p.kill()
            p.join()
    results = []
    for k, path in enumerate(outs):
        try:
            with open(path) as f:
                res = json.load(f)
        except (OSError, ValueError):
            errors.append('controller %d left no result (exit code %s)' % (k, procs[k].exitcode))
            continue
        errors.extend('controller %d: %s' % (k, e) for e in res['errors'])
        if 'start' in res:
            results.append(res)
    out = {'kind': kind, 'variant': variant, 'errors': errors}
    if len(results) != controllers:
        return out
    intervals = [(s, e) for r in results for _aid, _h, s, e in r['intervals']]
    per_host = {h: max_running([(s, e) for r in results for _aid, hh, s, e in r['intervals'] if hh == h])
                for h in HOSTS}
    ended = sum(r['states'].get('normal_end', 0) for r in results)
    launched = len({aid for r in results for aid, _h, _s, _e in r['intervals']})
    if ended != jobs or launched != jobs or any(r['state'] != 'normal_end' for r in results):
        errors.append('not every job ended normally once: instances %s, jobs %s, attempts %s, %d attempts started'
                      % ([r['state'] for r in results], [r['states'] for r in results],
                         [r['attempts'] for r in results], launched))
    decisions = [s for r in results for s in r['decisions']]
    wall = max(r['end'] for r in results) - min(r['start'] for r in results)
    out.update(wall=wall, rate=jobs / wall, max=max_running(intervals), per_host=per_host,
               decisions=len(decisions), decision_ms=1000 * statistics.median(decisions) if decisions else 0.0,
               decision_s=sum(decisions), others=sum(r['others'] for r in results),
               other_s=sum(r['other_seconds'] for r in results), again=sum(r['again'] for r in results),
               relaunched=sum(r['relaunched'] for r in results),
               calls=sum(c['job'] + c['job_info'] for r in results for c in r['calls'].values()),
               skew=max(r['start'] for r in results) - min(r['start'] for r in results))
    return out


def violations(res):
    """What breaks a bound in this run (the FAIL lines), [] when none."""
    bad = []
    if 'max' not in res:
        return bad
    if res['variant'] == 'resource' and res['max'] > CAPACITY:
        bad.append('%d jobs ran at once, resource %s has capacity %d' % (res['max'], RESOURCE, CAPACITY))
    if res['variant'] == 'limit':
        if res['max'] > sum(LIMITS.values()):
            bad.append('%d jobs ran at once, the hosts\' limits add up to %d' % (res['max'], sum(LIMITS.values())))
        for h in HOSTS:
            if res['per_host'][h] > LIMITS[h]:
                bad.append('%d jobs ran at once on %s, its jobnet_max_running is %d'
                           % (res['per_host'][h], h, LIMITS[h]))
    return bad


def show_run(r, res):
    if 'wall' not in res:
        print('  %-6s run %d %-8s  ERROR: no result' % (res['kind'], r + 1, res['variant']))
    else:
        again = ', decided again %d' % res['again'] if res['kind'] == 'redis' else ''
        print('  %-6s run %d %-8s %6.2f s %6.1f jobs/s  at once: %4d (h1..h4 %s)  launch decisions %5d, '
              'median %5.1f ms, %5.1f s in all%s; other transactions %d (%.1f s); module calls %d'
              % (res['kind'], r + 1, res['variant'], res['wall'], res['rate'], res['max'],
                 ' '.join(str(res['per_host'][h]) for h in HOSTS), res['decisions'], res['decision_ms'],
                 res['decision_s'], again, res['others'], res['other_s'], res['calls']))
    for e in res['errors']:
        print('    ERROR: %s' % e.rstrip().replace('\n', '\n    '))
    for v in violations(res):
        print('    FAIL: %s' % v)


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None):
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='smoke run: 200 jobs, one run per store and variant')
    ap.add_argument('--jobs', type=int, default=1000, help='jobs in all, split over the controllers (1000)')
    ap.add_argument('--controllers', type=int, default=2, help='controller processes, one instance each (2)')
    ap.add_argument('--levels', type=int, default=1,
                    help='nets per frame, each after the one before it (1: independent jobs)')
    ap.add_argument('--repeat', type=int, default=3, help='runs per store and variant (medians printed), 3')
    ap.add_argument('--min-ms', type=float, default=20, help='shortest simulated job, ms (20)')
    ap.add_argument('--max-ms', type=float, default=50, help='longest simulated job, ms (50)')
    ap.add_argument('--poll', type=float, default=1.0, help='jobnet_poll_interval of the drivers, s (1)')
    ap.add_argument('--step', type=float, default=5.0, help='seconds of one HostDriver.run() call (5)')
    ap.add_argument('--timeout', type=float, default=300, help='a run that is not done by then fails, s (300)')
    ap.add_argument('--variants', default=None,
                    help='comma-separated, of %s (default: %s; with --quick all three)'
                    % (', '.join(VARIANTS), ','.join(DEFAULT_VARIANTS)))
    ap.add_argument('--redis', default=None, metavar='URL',
                    help='also run on Redis at URL (for example "$JOBNET_TEST_REDIS_URL")')
    ap.add_argument('--no-sqlite', action='store_true', help='Redis only (with --redis)')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder (SQLite stores, results)')
    args = ap.parse_args(argv)
    if args.quick:
        args.jobs, args.repeat = 200, 1
    if args.variants is None:
        args.variants = ','.join(VARIANTS if args.quick else DEFAULT_VARIANTS)
    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown or not variants:
        ap.error('--variants: expected some of %s' % ', '.join(VARIANTS))
    kinds = [] if args.no_sqlite else ['sqlite']
    if args.redis:
        kinds.append('redis')
    if not kinds:
        ap.error('no store to run on (--no-sqlite without a Redis URL)')
    if args.jobs % args.controllers:
        ap.error('--jobs must be a multiple of --controllers')
    modules = import_collection()
    jobs = args.jobs
    tmp = tempfile.mkdtemp(prefix='jnbench-resources-')
    stores = Stores(tmp, args.redis, uuid.uuid4().hex[:6])
    print('jobnet.scheduler resources benchmark, %s, %d cores, load average %.2f'
          % (time.strftime('%Y-%m-%d %H:%M'), os.cpu_count(), os.getloadavg()[0]))
    print('%d jobs: %d controllers (processes), one instance of %d %s each, one HostDriver thread per host '
          '(h1..h4, jobs 3:3:2:2), simulated jobs of %g-%g ms, poll_interval %g s, run(seconds=%g) in a loop'
          % (jobs, args.controllers, jobs // args.controllers,
             'independent jobs' if args.levels <= 1 else 'jobs in %d nets in a row' % args.levels,
             args.min_ms, args.max_ms, args.poll, args.step))
    print('variants: resource = every job resources: {%s: 1}, capacity %d, no host limit; limit = no resource, '
          'jobnet_max_running %s (%d at once in all); free = no resource, no limit'
          % (RESOURCE, CAPACITY, ' '.join('%s %d' % (h, LIMITS[h]) for h in HOSTS), sum(LIMITS.values())))
    print('stores: %s' % ', '.join(kind if kind == 'sqlite' else 'redis (%s)' % args.redis for kind in kinds))
    runs = {}
    ideals = []
    failed = False
    try:
        for r in range(args.repeat):
            rng = random.Random(r)
            durations = [rng.uniform(args.min_ms, args.max_ms) / 1000.0 for _i in range(jobs)]
            ideals.append(sum(durations) / CAPACITY)
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for kind in kinds:
                for variant in order:
                    url = stores.url(kind)
                    try:
                        res = one_run(kind, url, variant, jobs, args.controllers, args.levels, durations, args,
                                      tmp, modules)
                    finally:
                        if not args.keep:
                            stores.remove(kind, url)
                    res['ideal'] = ideals[-1]
                    show_run(r, res)
                    if res['errors'] or violations(res) or 'wall' not in res:
                        failed = True
                    runs.setdefault((kind, variant), []).append(res)
    finally:
        if args.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    if args.quick:
        print('(--quick: %d jobs, one run each; fixed costs weigh more than in the full run)' % jobs)
    print('results (median of %d run%s per store and variant; the ideal wall time of a bounded variant, the sum of '
          'the simulated durations / %d: %.2f s, %.0f jobs/s)'
          % (args.repeat, '' if args.repeat == 1 else 's', CAPACITY, statistics.median(ideals),
             jobs / statistics.median(ideals)))
    print('  %-6s %-8s %8s %8s %9s %8s %9s %9s %s' % ('store', 'variant', 'wall s', 'jobs/s', 'of ideal',
                                                      'at once', 'decisions', 'median ms', 'runs (wall s)'))
    med = {}
    for kind in kinds:
        for variant in variants:
            good = [x for x in runs.get((kind, variant), []) if 'wall' in x]
            if not good:
                print('  %-6s %-8s   no result' % (kind, variant))
                continue
            wall = statistics.median(x['wall'] for x in good)
            med[(kind, variant)] = wall
            rate = jobs / wall
            of_ideal = '%8.0f%%' % (100 * statistics.median(ideals) / wall) if variant != 'free' else '%9s' % '-'
            print('  %-6s %-8s %8.2f %8.1f %s %8d %9d %9.1f %s'
                  % (kind, variant, wall, rate, of_ideal, max(x['max'] for x in good),
                     int(statistics.median(x['decisions'] for x in good)),
                     statistics.median(x['decision_ms'] for x in good),
                     ', '.join('%.2f' % x['wall'] for x in good)))
    for kind in kinds:
        for base in ('limit', 'free'):
            if (kind, 'resource') in med and (kind, base) in med:
                res_wall, base_wall = med[(kind, 'resource')], med[(kind, base)]
                print('  %-6s resource / %-5s  wall %.2fx, throughput %.2fx (%.1f against %.1f jobs/s)'
                      % (kind, base, res_wall / base_wall, base_wall / res_wall, jobs / res_wall, jobs / base_wall))
    if len(kinds) == 2:
        for variant in variants:
            if ('sqlite', variant) in med and ('redis', variant) in med:
                print('  redis / sqlite %-8s wall %.2fx'
                      % (variant, med[('redis', variant)] / med[('sqlite', variant)]))
    seen = [x['max'] for kind in kinds for x in runs.get((kind, 'resource'), []) if 'max' in x]
    if seen:
        worst = max(seen)
        verdict = 'ok' if worst <= CAPACITY else 'FAIL: MORE THAN THE CAPACITY RAN AT ONCE'
        print('  resource %s: most jobs holding it at once, over every run and both controllers: %d (capacity %d): %s'
              % (RESOURCE, worst, CAPACITY, verdict))
    if failed:
        print('FAIL: see the ERROR / FAIL lines above')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
