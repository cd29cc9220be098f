#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: delay monitoring - how soon a passed deadline is recorded, and what monitoring costs the controller.

    . .venv/bin/activate
    python benchmarks/bench_monitor.py [--quick] [--jobs 1000] [--repeat 3] [--seconds 8]

Needs no test hosts: the engine runs in this process against scripted hosts (those of bench_resources.py: a job
"runs" for its simulated time, ``job_info`` with ``wait`` returns when one of the jobs it is asked about ends or the
wait is up). One frame instance of JOBS independent jobs over h1..h4 (3:3:2:2), driven by one ``HostDriver`` per
host in threads of this process, with the default ``poll_interval`` of 1 s, on a SQLite store. Every job runs for
SECONDS (8).

Two variants of the same frame, taking turns round by round:
  monitored  every job has ``max_duration`` from 2 to 5.9 s (spread over the jobs), so each passes its deadline
             while it runs: 1,000 deadlines fall within 4 s while 1,000 jobs run; one job in ten also has an
             ``on_delay`` action (run on its host, 50 ms);
  plain      the same frame without monitoring.
Printed per run: wall time and the controller's CPU (this process: every driver thread, the store); for
``monitored`` the detection delay of every deadline (``late.duration.detected - deadline``, both recorded by the
engine), median, p90 and max, and the actions run. Then the medians and the CPU ratio monitored / plain.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_resources as br  # noqa: E402  (the scripted hosts and the collection's import)

HOSTS = br.HOSTS
OPERATION_DATE = '2031-01-04'


class Host(br.ScriptedHost):
    """A scripted host whose actions (not in the durations) run for 50 ms."""

    def __call__(self, name, args):
        if name == 'jobnet.scheduler.job':
            for spec in args.get('jobs') or []:
                self.durations.setdefault((spec['labels']['instance'], spec['name']), 0.05)
        return super().__call__(name, args)


def frame_raw(name, jobs, monitored):
    out = []
    for i in range(jobs):
        d = {'name': 'j%04d' % i, 'host': br.HOST_PATTERN[i % len(br.HOST_PATTERN)], 'shell': 'true'}
        if monitored:
            d['max_duration'] = 2 + (i % 4)   # whole seconds: 2 to 5 s
            if i % 10 == 0:
                d['on_delay'] = {'host': d['host'], 'shell': 'echo late'}
        out.append(d)
    return {'frame': name, 'jobs': out}


def parse(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def one_run(tmp, n, variant, jobs, seconds):
    _engine, _model, _store = br.import_collection()
    url = 'sqlite:///%s' % os.path.join(tmp, '%s-%d.db' % (variant, n))
    store = _store.open_store(url)
    raw = frame_raw('mon%d%s' % (n, variant[0]), jobs, variant == 'monitored')
    defn = _model.normalise(raw, hosts=set(HOSTS))
    engine = _engine.Engine(store, _store, owner=_engine.controller_owner('bench', pid=os.getpid()))
    inst, lease = engine.submit(defn, OPERATION_DATE)
    iid = inst['id']
    durations = {(iid, d['name']): float(seconds) for d in raw['jobs']}
    hosts = {h: Host(h, durations) for h in HOSTS}
    errors = []

    def drive(host):
        hstore = _store.open_store(url)
        try:
            driver = _engine.HostDriver(hstore, _store, host, {iid: lease.to_dict()}, hosts[host], poll_interval=1.0)
            while not driver.run(seconds=30)['done']:
                pass
        except Exception as exc:  # pylint: disable=broad-exception-caught
            errors.append('%s: %s: %s' % (host, type(exc).__name__, exc))
        finally:
            hstore.close()

    cpu0, t0 = time.process_time(), time.monotonic()
    threads = [threading.Thread(target=drive, args=(h,)) for h in HOSTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    engine.release({iid: lease})
    instance, items = store.load(iid)
    store.close()
    if errors:
        raise SystemExit('run %d %s failed: %s' % (n, variant, '; '.join(errors)))
    delays = []
    for it in items.values():
        late = (it.get('late') or {}).get('duration')
        if late:
            delays.append((parse(late['detected']) - parse(late['deadline'])).total_seconds())
    actions = list((instance.get('actions') or {}).values())
    return {'wall': wall, 'cpu': cpu, 'delays': delays, 'actions': len(actions),
            'actions_ok': sum(1 for a in actions if a.get('state') == 'normal_end'), 'state': instance['state']}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument('--quick', action='store_true', help='200 jobs, one run each')
    ap.add_argument('--jobs', type=int, default=1000)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--seconds', type=float, default=8.0)
    args = ap.parse_args(argv)
    if args.quick:
        args.jobs, args.repeat = 200, 1
    tmp = tempfile.mkdtemp(prefix='jobnet-bench-monitor-')
    results = {'monitored': [], 'plain': []}
    for n in range(args.repeat):
        for variant in ('monitored', 'plain'):
            res = one_run(tmp, n, variant, args.jobs, args.seconds)
            results[variant].append(res)
            line = 'run %d %-9s wall %6.2f s  cpu %6.2f s  %s' % (n + 1, variant, res['wall'], res['cpu'], res['state'])
            if res['delays']:
                d = res['delays']
                line += '  %d deadlines: detection median %.3f s  p90 %.3f s  max %.3f s  actions %d/%d ok' % (
                    len(d), statistics.median(d), sorted(d)[int(0.9 * (len(d) - 1))], max(d), res['actions_ok'],
                    res['actions'])
            print(line, flush=True)
    mon, plain = results['monitored'], results['plain']
    delays = [x for r in mon for x in r['delays']]
    cpu_m = statistics.median(r['cpu'] for r in mon)
    cpu_p = statistics.median(r['cpu'] for r in plain)
    print('%d monitored jobs running, %d deadlines in all: detection delay median %.3f s, max %.3f s '
          '(poll_interval 1 s)' % (args.jobs, len(delays), statistics.median(delays), max(delays)))
    print('controller CPU, median of %d: monitored %.2f s, plain %.2f s: %.2fx'
          % (args.repeat, cpu_m, cpu_p, cpu_m / cpu_p if cpu_p else float('nan')))


if __name__ == '__main__':
    main()
