#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the plan of a schedule of 500 frames over a year, and one day's schedule, on the controller only.

    . .venv/bin/activate
    python benchmarks/bench_schedule.py [--frames 500] [--days 365] [--repeat 5] [--jobs 20] [--keep]

Needs no test hosts: everything runs in this process. In a temporary folder it writes FRAMES frame files
(each JOBS jobs in two nets, as an ordinary frame) and one schedule over them, in Europe/Berlin (two DST changes
a year) with base time 05:00 and three calendars (business days with 2027's German holidays and a year-end range,
a banking calendar based on it, weekends). The entries mix every rule: every open day, days of the month with
``last`` and ``shift: previous``, the 1st with ``shift: next``, Mondays, Sundays without a calendar, quarterly
months, starts before and after the base time, relative to the base time and chains of ``{from: FRAME}``.

Printed (medians over --repeat runs; not a test, asserts nothing):
  1. the baseline: reading and checking one frame file with ``_model.read_frame``;
  2. reading and checking the whole schedule (the schedule file and all FRAMES frame files);
  3. the plan of DAYS operation dates (``--check -e plan_days=365``'s work, JSON included), on a schedule
     whose caches are cold (goal: under 5 s);
  4. the creation of one day's schedule (which frames run and when each starts) on a cold schedule
     (goal: under 5 s);
  5. the creation of one day's schedule in a real SQLite state store: the day record and one submitted
     instance per frame of the day (``_day.make_day``, what ``jobnet.scheduler.schedule`` does before it drives;
     goal: under 5 s), printed against one ``ansible-playbook jobnet.scheduler.run`` of a one-job frame on
     localhost measured in the same run (``--no-playbook`` leaves that out);
each with its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_SECONDS = 5.0

HOLIDAYS_2027 = ['2027-01-01', '2027-03-26', '2027-03-29', '2027-05-01', '2027-05-06', '2027-05-17',
                 '2027-10-03', '2027-12-25', '2027-12-26']


def import_modules():
    """The collection's _model and _schedule, found as ansible_collections/jobnet/scheduler."""
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
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model, _schedule
    return _model, _schedule


def frame_text(name, jobs):
    half = max(1, jobs // 2)
    lines = ['frame: %s' % name, 'nets:']
    for net, count in (('extract', half), ('load', jobs - half)):
        lines.append('  - name: %s' % net)
        if net == 'load':
            lines.append('    after: [extract]')
        lines.append('    jobs:')
        for index in range(count):
            after = ', after: [j%d]' % (index - 1) if index else ''
            lines.append('      - {name: j%d, host: agent%d, shell: "echo %s %d", timeout: 600%s}'
                         % (index, index % 3 + 1, name, index, after))
    return '\n'.join(lines) + '\n'


def entry_text(index, names):
    """One entry of the schedule: the rules cycle over the frames."""
    name = names[index]
    times = ['01:30', '06:00', '22:15', '04:59', '+00:30', '+02:00:30']
    start = times[index % len(times)]
    kind = index % 20
    if kind < 8:
        rule = 'calendar: business'
    elif kind < 11:
        rule = 'calendar: business, days: [25, last], shift: previous'
    elif kind < 13:
        rule = 'calendar: banking, days: [1], shift: next'
    elif kind < 15:
        rule = 'calendar: business, weekdays: [mon], shift: next'
    elif kind < 17:
        rule = 'weekdays: [sun]'
    elif kind < 18:
        rule = 'calendar: business, days: [1, 15], months: [1, 4, 7, 10], shift: previous'
    else:
        rule = 'calendar: weekend'
    if index % 10 == 9 and index >= 10:   # a chain: counts from the frame before it
        start_at = '{from: %s, offset: "+00:15"}' % names[index - 1]
    else:
        start_at = '"%s"' % start
    return '  - {file: frames/%s.yml, %s, start_at: %s}' % (name, rule, start_at)


def write_schedule(folder, frames, jobs):
    os.makedirs(os.path.join(folder, 'frames'))
    names = ['f%04d' % index for index in range(frames)]
    for name in names:
        with open(os.path.join(folder, 'frames', name + '.yml'), 'w') as handle:
            handle.write(frame_text(name, jobs))
    lines = [
        'base_time: "05:00"',
        'timezone: Europe/Berlin',
        'calendars:',
        '  business:',
        '    weekdays: [mon, tue, wed, thu, fri]',
        '    exclude: [%s, "2027-12-27..2027-12-31"]' % ', '.join('"%s"' % day for day in HOLIDAYS_2027),
        '    include: ["2027-01-09"]',
        '  banking:',
        '    based_on: business',
        '    exclude: ["2027-06-01", "2027-12-24"]',
        '  weekend:',
        '    weekdays: [sat, sun]',
        'frames:',
    ] + [entry_text(index, names) for index in range(frames)]
    path = os.path.join(folder, 'schedule.yml')
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    return path, os.path.join(folder, 'frames', names[0] + '.yml')


def timed(function, repeat, setup=None):
    """The median wall time of ``function(setup())`` (``setup`` not timed; none: ``function()``) and its last
    result."""
    times = []
    result = None
    for _run in range(repeat):
        given = (setup(),) if setup is not None else ()
        start = time.perf_counter()
        result = function(*given)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--frames', type=int, default=500, help='frames in the schedule (500)')
    ap.add_argument('--days', type=int, default=365, help='operation dates of the plan (365)')
    ap.add_argument('--jobs', type=int, default=20, help='jobs per frame (20)')
    ap.add_argument('--repeat', type=int, default=5, help='runs per figure; the median is printed (5)')
    ap.add_argument('--first', default='2027-01-01', help='first operation date of the plan (2027-01-01)')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder')
    ap.add_argument('--no-playbook', action='store_true', help='do not time one real run of one frame')
    args = ap.parse_args(argv)
    model, schedule_module = import_modules()
    hosts = {'localhost', 'agent1', 'agent2', 'agent3'}
    folder = tempfile.mkdtemp(prefix='jobnet-bench-schedule-')
    try:
        path, one_frame = write_schedule(folder, args.frames, args.jobs)
        baseline, _definition = timed(lambda: model.read_frame(one_frame, hosts=hosts), max(args.repeat, 20))
        load, schedule = timed(lambda: schedule_module.load_schedule(path, hosts=hosts), args.repeat)
        record = schedule.to_record()
        first = datetime.date.fromisoformat(args.first)

        def cold():
            return schedule_module.Schedule.from_record(record)

        rebuild, _cold = timed(cold, args.repeat)

        def whole_plan(fresh):
            return json.dumps(schedule_module.plan(fresh, first, args.days))

        plan_time, text = timed(whole_plan, args.repeat, cold)

        def one_day(fresh):
            return schedule_module.day_schedule(fresh, first + datetime.timedelta(days=3))

        day_time, day = timed(one_day, args.repeat, cold)
        runs = sum(len(entry['frames']) for entry in json.loads(text)['days'])
        store_time, submitted = timed_store_day(folder, schedule, first + datetime.timedelta(days=3),
                                                max(1, min(args.repeat, 3)))
        run_time = None if args.no_playbook else timed_run(folder, max(1, min(args.repeat, 3)))
    finally:
        if args.keep:
            print('kept %s' % folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    def verdict(seconds):
        return 'goal met' if seconds < GOAL_SECONDS else 'goal NOT met'

    def row(label, seconds, goal=False):
        ratio = '' if seconds is baseline else '%7.1fx the baseline' % (seconds / baseline)
        print(('  %-66s %9.4f s %s%s' % (label, seconds, ratio, '  ' + verdict(seconds) if goal else '')).rstrip())

    print('schedule: %d frames of %d jobs, %d operation dates from %s (Europe/Berlin, base time 05:00)'
          % (args.frames, args.jobs, args.days, first.isoformat()))
    row('baseline: read and check one frame file (_model.read_frame)', baseline)
    row('read and check the schedule and its %d frame files' % args.frames, load)
    row('plan of %d days (%d frame runs, %d bytes of JSON)' % (args.days, runs, len(text)), plan_time, True)
    row('one day\'s schedule (%d of %d frames run, with their starts)' % (len(day), args.frames), day_time, True)
    row('(not counted above) the schedule from its stored record', rebuild)
    row('one day\'s schedule created in a SQLite store (%d instances submitted)' % submitted, store_time, True)
    if run_time is not None:
        print('  %-66s %9.4f s   the day schedule takes %.2fx of it'
              % ('one ansible-playbook jobnet.scheduler.run of a one-job frame', run_time, store_time / run_time))
    return 0


def timed_store_day(folder, schedule, day, repeat):
    """The median time to create one day's schedule in a fresh SQLite store, and how many instances it made."""
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _schedule, _store
    times, count = [], 0
    base = _schedule.base_instant(schedule, day)
    for run in range(repeat):
        url = 'sqlite:///%s' % os.path.join(folder, 'day-%d.db' % run)
        store = _store.open_store(url)
        try:
            engine = _engine.Engine(store, _store, owner=_engine.controller_owner('bench'))
            start = time.perf_counter()
            made = _day.make_day(store, engine, schedule, 'bench', day.isoformat(), now=base)
            times.append(time.perf_counter() - start)
            count = len(made.instances)
        finally:
            store.close()
    return statistics.median(times), count


def timed_run(folder, repeat):
    """The median wall time of one ansible-playbook jobnet.scheduler.run of a one-job frame on localhost."""
    import subprocess
    frame = os.path.join(folder, 'one.yml')
    with open(frame, 'w') as f:
        f.write('frame: one\njobs:\n  - {name: a, host: localhost, shell: "true"}\n')
    root = os.path.join(REPO, '.tmp', 'collections')
    parts = REPO.split(os.sep)
    if parts[-3:-2] == ['ansible_collections']:
        root = os.sep.join(parts[:-3])
    playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    times = []
    for run in range(repeat):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root,
                   JOBNET_STORE='sqlite:///%s' % os.path.join(folder, 'run-%d.db' % run),
                   JOBNET_CHART_DIR=os.path.join(folder, 'charts'))
        start = time.perf_counter()
        out = subprocess.run([playbook, 'jobnet.scheduler.run', '-e', 'frame_file=%s' % frame,
                              '-e', 'operation_date=2027-01-04', '-e', 'jobnet_job_root=%s' % os.path.join(
                                  folder, 'jobs')], env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            print('the run of one frame failed:\n%s' % out.stdout[-2000:])
            return None
    return statistics.median(times)


if __name__ == '__main__':
    sys.exit(main())
