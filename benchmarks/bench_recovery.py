#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: recovery of 10,000 running jobs over 4 hosts against an async_status loop.

    tests/env/testenv.sh start && . .tmp/testenv/env.sh
    python benchmarks/bench_recovery.py [--quick] [--frames 10] [--jobs 1000] [--repeat 3] [--sample 48]

Built for real, the way a controller failure leaves it:
  1. FRAMES frames of JOBS jobs each (default 10 x 1,000 = 10,000), every job ``command: [sleep, SECONDS]``
     with no dependencies, spread round-robin over localhost, agent1, agent2, agent3 (2,500 per host).
     Each frame is run with ``jobnet.scheduler.run``; as soon as the store shows all of its jobs ``running``
     (phase ``launched``) the controller is killed (SIGKILL to its process group; the jobs live in sessions
     of their own and keep running). One SQLite store in a temporary folder holds every frame.
  2. ``jobnet.scheduler.recover -e auto_rerun=false -e adopt_manager_jobs=true`` is timed (wall time of the
     whole ansible-playbook run and controller CPU), REPEAT times: with auto rerun off the frames stay
     ``running`` and their leases are released, so the same situation is recovered again. After each run
     the script checks that every job is still ``running`` with its first attempt (adopted, not restarted).
     ``adopt_manager_jobs`` (an extension) lets the manager node's jobs be adopted like agents' jobs, so all
     four hosts are asked; one more run with ``-vvv`` counts the status calls (``job_info`` module runs).
  3. Last, one recovery with the default options (the table's behaviour: jobs running on the manager node
     end ``abnormal_end`` and are stopped): 3 ``job_info`` calls and one ``job`` (stop) call.
  4. The baseline: SAMPLE native ``async`` / ``poll: 0`` sleeps (spread over the same hosts), then one
     playbook whose every host runs an ``async_status`` loop over its own jobs (hosts in parallel). It is
     extrapolated linearly to JOBS * FRAMES / 4 status calls per host:
         time = time(empty playbook) + (JOBS * FRAMES / hosts) * (time(sample) - time(empty)) / (SAMPLE / hosts).
  5. Clean-up: every job of this run is removed with the job module (state=absent, force: its process group
     is stopped first), only this run's attempt ids; the native sleeps are killed by process group (found by
     their job ids) and their async folder removed. Should the script die, the sleeps end by themselves after
     SECONDS (default 1800).

Resources: each running job is two processes (the sh supervisor and ``sleep``), ~0.22 MB PSS plus ~0.15 MB of
kernel memory (page tables, stacks): 10,000 jobs are 20,000 processes and ~4 GB. The script checks pid_max,
the process limit and MemAvailable before it starts and refuses (with the numbers) when they do not suffice.
Printed: medians and the ratio; "goal met" / "goal NOT met" per line (recovery <= 15 s, status calls == 4).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_frames as bf  # noqa: E402  (helpers shared by the two benchmarks)

HOSTS = bf.HOSTS
OPERATION_DATE = '2031-01-02'
HEADROOM = 5000            # pids left free for everything else on the machine
KB_PER_JOB = 400            # PSS of sh + sleep plus kernel memory, rounded up (measured ~370 kB)


# ---------------------------------------------------------------------------------------------------- checks
def meminfo(key):
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def check_resources(total):
    with open('/proc/sys/kernel/pid_max') as f:
        pid_max = int(f.read())
    procs = 0  # tasks (threads), which take pids too
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                procs += len(os.listdir('/proc/%s/task' % p))
            except OSError:
                pass
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    need_procs = 2 * total
    avail_kb = meminfo('MemAvailable')
    need_kb = KB_PER_JOB * total
    problems = []
    if procs + need_procs + HEADROOM > pid_max:
        problems.append('pid_max %d: %d tasks exist, %d more needed plus %d left for everything else'
                        % (pid_max, procs, need_procs, HEADROOM))
    per_host = need_procs // len(HOSTS)
    if nproc != resource.RLIM_INFINITY and per_host + 2000 > nproc:
        problems.append('process limit (ulimit -u) %d < %d per host user' % (nproc, per_host))
    if need_kb * 1.5 > avail_kb:
        problems.append('MemAvailable %.1f GB < 1.5 x %.1f GB needed' % (avail_kb / 1e6, need_kb / 1e6))
    print('resources: %d jobs = %d processes (pid_max %d, %d tasks now), ~%.1f GB of %.1f GB available'
          % (total, need_procs, pid_max, procs, need_kb / 1e6, avail_kb / 1e6))
    if problems:
        raise SystemExit('not enough room for %d running jobs here: %s; use --frames / --jobs for fewer'
                         % (total, '; '.join(problems)))


# ---------------------------------------------------------------------------------------------------- build
def write_frame(path, frame, jobs, seconds, hosts):
    import yaml
    items = [{'name': 'j%05d' % i, 'host': hosts[i % len(hosts)], 'command': ['sleep', str(seconds)]}
             for i in range(jobs)]
    with open(path, 'w') as f:
        yaml.safe_dump({'frame': frame, 'description': 'bench_recovery.py', 'jobs': items}, f, sort_keys=False)


def local_tmp():
    """The controller's local_tmp (where a killed ansible-playbook leaves its ansible-local-<pid>* folder)."""
    import configparser
    path = os.environ.get('ANSIBLE_LOCAL_TEMP')
    if not path and os.environ.get('ANSIBLE_CONFIG'):
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(os.environ['ANSIBLE_CONFIG'])
        path = cfg.get('defaults', 'local_tmp', fallback=None)
    return os.path.expanduser(path or '~/.ansible/tmp')


def remove_local_tmp(pid):
    """Remove the ansible-local-<pid><8 random characters> folder of a controller this script killed."""
    for d in glob.glob(os.path.join(local_tmp(), 'ansible-local-%d*' % pid)):
        if len(os.path.basename(d)) == len('ansible-local-%d' % pid) + 8:
            shutil.rmtree(d, ignore_errors=True)


def count_running(store_mod, url, iid):
    store = store_mod.open_store(url, create=False)
    try:
        _inst, items = store.load(iid)
    finally:
        store.close()
    jobs = [it for it in items.values() if it['kind'] == 'job']
    running = sum(1 for it in jobs if it['state'] == 'running' and it.get('phase') == 'launched')
    return running, len(jobs)


def build(env, tmp, url, frames, jobs, seconds, hosts, tag, deadline_s=900):
    """Run each frame until all its jobs run, then kill its controller. Returns the instance ids."""
    store_mod = bf.import_store()
    iids = []
    for k in range(frames):
        frame = 'jnbrec-%s-%02d' % (tag, k)
        fpath = os.path.join(tmp, frame + '.yml')
        write_frame(fpath, frame, jobs, seconds, hosts)
        iid = '%s@%s' % (frame, OPERATION_DATE)
        log = open(os.path.join(tmp, frame + '.log'), 'w')
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(bf.BIN, 'ansible-playbook'), 'jobnet.scheduler.run',
                              '-e', 'frame_file=' + fpath, '-e', 'operation_date=' + OPERATION_DATE],
                             env=dict(env, JOBNET_STORE=url), stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        iids.append(iid)
        running = total = 0
        try:
            while True:
                time.sleep(0.5)
                if p.poll() is not None:
                    raise SystemExit('the run of %s ended (rc %s) before its jobs ran:\n%s'
                                     % (frame, p.returncode, bf.tail(log.name)))
                try:
                    running, total = count_running(store_mod, url, iid)
                except store_mod.StoreError:
                    continue  # not created yet
                if total and running == total:
                    break
                if time.monotonic() - t0 > deadline_s:
                    raise SystemExit('%s: only %d of %d jobs running after %d s' % (frame, running, total, deadline_s))
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)   # the controller fails; the jobs (own sessions) go on
            except ProcessLookupError:
                pass
            p.wait()
            log.close()
            remove_local_tmp(p.pid)
        print('  %s: %d jobs running after %.1f s; controller killed (SIGKILL)' % (frame, running,
                                                                                   time.monotonic() - t0))
    return iids


def attempts_by_host(store_mod, url, iids):
    by_host, states, attempts = {}, {}, {}
    store = store_mod.open_store(url, create=False)
    try:
        for iid in iids:
            inst, items = store.load(iid)
            for it in items.values():
                if it['kind'] != 'job':
                    continue
                states[it['state']] = states.get(it['state'], 0) + 1
                attempts[it.get('attempt')] = attempts.get(it.get('attempt'), 0) + 1
                if it.get('attempt_id'):
                    by_host.setdefault(it['host'], []).append(it['attempt_id'])
    finally:
        store.close()
    return by_host, states, attempts


# ---------------------------------------------------------------------------------------------------- recover
def recover(env, tmp, url, extra, verbose=False):
    """One recover run; returns (wall, cpu, module-run counts (with -vvv) or None, progress lines, phases)."""
    log = os.path.join(tmp, 'recover-%s.log' % uuid.uuid4().hex[:6])
    argv = [os.path.join(bf.BIN, 'ansible-playbook'), 'jobnet.scheduler.recover', '-e', 'auto_rerun=false'] + extra
    if verbose:
        argv.append('-vvv')
    tenv, tpath = bf.timing_env(dict(env, JOBNET_STORE=url), tmp)
    t0 = time.time()
    wall, cpu, rc = bf.run_measured(argv, tenv, timeout=3600, log=log)
    if rc != 0:
        raise SystemExit('recover failed (rc %d):\n%s' % (rc, bf.tail(log)))
    with open(log, errors='replace') as f:
        text = f.read()
    calls = {
        'job_info': len(re.findall(r'Using module file \S*/job_info\.py', text)),
        'job': len(re.findall(r'Using module file \S*/job\.py', text)),
    }
    progress = len(re.findall(r'PEX058|recovered \d+ of \d+', text))
    return wall, cpu, calls if verbose else None, progress, phases(bf.read_timing(tpath, t0), wall)


def phases(events, wall):
    """[(label, seconds)]: start-up, each task from its start to its last host result, the rest."""
    out, tasks = [], []
    for ev, task, host, t in events:
        if ev == 'task':
            tasks.append([task, t, t, {}])
        elif ev in ('ok', 'failed', 'unreachable') and tasks and tasks[-1][0] == task:
            tasks[-1][2] = t
            tasks[-1][3][host] = t - tasks[-1][1]
    if not tasks:
        return out
    out.append(('start-up', tasks[0][1]))
    for name, start, end, hosts in tasks:
        label = name if len(hosts) < 2 else '%s (%s)' % (name, ', '.join('%s %.1f' % hv for hv in sorted(hosts.items())))
        out.append((label, end - start))
    out.append(('rest (between tasks, end)', wall - sum(d for _l, d in out)))
    return out


def show_phases(rows, indent='    '):
    for label, seconds in rows:
        if seconds >= 0.05:
            print('%s%5.1f s  %s' % (indent, seconds, label))


# ---------------------------------------------------------------------------------------------------- baseline
def native_baseline(env, tmp, hosts, sample, seconds, tag):
    per_host = max(1, sample // len(hosts))
    adir = '.ansible_async_jnbrec_%s' % tag
    jiddir = os.path.join(tmp, 'jids')
    os.mkdir(jiddir)
    start = '''- hosts: %(hosts)s
  gather_facts: false
  vars:
    ansible_async_dir: "~/%(adir)s"
  tasks:
    - name: Start native async sleeps
      ansible.builtin.command: sleep %(seconds)d
      async: %(limit)d
      poll: 0
      loop: "{{ range(%(n)d) | list }}"
      register: started
    - name: Save the job ids
      ansible.builtin.copy:
        content: "{{ started.results | map(attribute='ansible_job_id') | list | to_json }}"
        dest: "%(jiddir)s/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
''' % {'hosts': ','.join(hosts), 'adir': adir, 'seconds': seconds, 'limit': seconds + 60, 'n': per_host,
       'jiddir': jiddir}
    jids = {}
    try:
        t_start, _cpu = bf.ansible_playbook(env, tmp, start, what='native async start')
        for h in hosts:
            with open(os.path.join(jiddir, h + '.json')) as f:
                jids[h] = json.load(f)
        empty, _cpu = bf.ansible_playbook(env, tmp, '- hosts: %s\n  gather_facts: false\n  tasks: []\n'
                                          % ','.join(hosts), what='empty playbook')
        varfile = os.path.join(tmp, 'jids.json')
        with open(varfile, 'w') as f:
            json.dump({'jnb_jids': jids}, f)
        status = '''- hosts: %(hosts)s
  gather_facts: false
  vars:
    ansible_async_dir: "~/%(adir)s"
  tasks:
    - name: Status of each native job, one call each
      ansible.builtin.async_status:
        jid: "{{ item }}"
      loop: "{{ jnb_jids[inventory_hostname] }}"
''' % {'hosts': ','.join(hosts), 'adir': adir}
        t_status, cpu = bf.ansible_playbook(env, tmp, status, extra=['-e', '@' + varfile], what='async_status loop')
    finally:
        kill_native(jids)
        for d in bf.async_dirs(hosts, adir):
            shutil.rmtree(d, ignore_errors=True)
    return {'per_host': per_host, 'sample': per_host * len(hosts), 'empty': empty, 'status': t_status,
            'cpu': cpu, 'start': t_start}


def kill_native(jids):
    """Kill the process group of every async_wrapper whose argv names one of these job ids.

    ``ansible_job_id`` is ``<jid>.<pid>``; the wrapper's argv holds the ``<jid>`` part.
    """
    wanted = {j.rsplit('.', 1)[0].encode() for ids in jids.values() for j in ids}
    if not wanted:
        return
    groups = set()
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(a in wanted for a in argv):
            try:
                groups.add(os.getpgid(int(name)))
            except OSError:
                pass
    for g in groups:
        if g > 1:
            try:
                os.killpg(g, signal.SIGKILL)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None):
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='smoke run: 2 frames of 100 jobs, one recovery, sample 8')
    ap.add_argument('--frames', type=int, default=10, help='frames, default 10')
    ap.add_argument('--jobs', type=int, default=1000, help='jobs per frame, default 1000')
    ap.add_argument('--repeat', type=int, default=3, help='timed recoveries (median printed), default 3')
    ap.add_argument('--sample', type=int, default=48, help='native async jobs of the baseline, default 48')
    ap.add_argument('--seconds', type=int, default=1800, help='how long each job sleeps (its own end if the '
                    'script dies), default 1800')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder (store, logs)')
    args = ap.parse_args(argv)
    if args.quick:
        args.frames, args.jobs, args.repeat, args.sample = 2, 100, 1, 8
    hosts = list(HOSTS)
    total = args.frames * args.jobs
    env = bf.bench_env()
    check_resources(total)
    tag = uuid.uuid4().hex[:6]
    tmp = tempfile.mkdtemp(prefix='jnbench-recovery-')
    url = 'sqlite:///' + os.path.join(tmp, 'state.db')
    store_mod = bf.import_store()
    print('jobnet.scheduler recovery benchmark, %s, %d cores' % (time.strftime('%Y-%m-%d %H:%M'), os.cpu_count()))
    print('%d running jobs: %d frames of %d (sleep %d), round-robin over %s; store %s'
          % (total, args.frames, args.jobs, args.seconds, ', '.join(hosts), url))
    iids, timed, native, runs_phases = [], [], None, []
    calls = default_calls = None
    default_wall = None
    try:
        t0 = time.monotonic()
        iids = build(env, tmp, url, args.frames, args.jobs, args.seconds, hosts, tag)
        print('  built in %.0f s' % (time.monotonic() - t0))
        adopt = ['-e', 'adopt_manager_jobs=true']
        for r in range(args.repeat):
            wall, cpu, _c, progress, ph = recover(env, tmp, url, adopt)
            _by, states, attempts = attempts_by_host(store_mod, url, iids)
            timed.append((wall, cpu))
            print('  recover %d (adopt_manager_jobs): %.1f s wall, %.1f s CPU, %d progress messages; jobs %s, '
                  'attempts %s' % (r + 1, wall, cpu, progress, states, attempts))
            show_phases(ph)
            runs_phases.append(ph)
        wall_v, _cpu, calls, _p, _ph = recover(env, tmp, url, adopt, verbose=True)
        print('  recover with -vvv (counting calls): %.1f s wall, module runs %s' % (wall_v, calls))
        default_wall, _cpu, default_calls, _p, ph = recover(env, tmp, url, [], verbose=True)
        _by, states, _a = attempts_by_host(store_mod, url, iids)
        print('  recover with default options, -vvv: %.1f s wall, module runs %s; jobs %s'
              % (default_wall, default_calls, states))
        show_phases(ph)
        native = native_baseline(env, tmp, hosts, args.sample, args.seconds, tag)
        print('  native async: %d jobs started in %.1f s; async_status loop over them %.1f s, empty playbook %.2f s'
              % (native['sample'], native['start'], native['status'], native['empty']))
    finally:
        if iids:
            by_host, _s, _a = attempts_by_host(store_mod, url, iids)
            t = time.monotonic()
            try:
                bf.remove_jobs(env, tmp, by_host)
                print('  clean-up: %d jobs stopped and removed in %.0f s'
                      % (sum(len(v) for v in by_host.values()), time.monotonic() - t))
            except SystemExit as exc:
                print('  clean-up FAILED: %s' % exc)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print('  kept %s' % tmp)

    wall = statistics.median(w for w, _c in timed)
    cpu = statistics.median(c for _w, c in timed)
    per_host_calls = total / float(len(hosts))
    print()
    if args.quick:
        print('(--quick: the goals are those of the full 10,000-job run)')
    print('results (median of %d recoveries of %d running jobs on %d hosts)' % (len(timed), total, len(hosts)))
    print('  jobnet.scheduler.recover wall time:     %7.1f s  (runs: %s; goal <= 15 s: %s)'
          % (wall, ', '.join('%.1f' % w for w, _c in timed), bf.goal(wall <= 15)))
    print('  controller CPU of the recovery:         %7.1f s  (%.2f ms per job)' % (cpu, 1000.0 * cpu / total))
    n_calls = calls['job_info'] if calls else -1
    print('  status calls (job_info module runs):    %7d    (goal == %d: %s)'
          % (n_calls, len(hosts), bf.goal(n_calls == len(hosts))))
    if default_calls:
        print('  default options: %d job_info + %d job (stop the manager node\'s jobs) calls, %.1f s (with -vvv)'
              % (default_calls['job_info'], default_calls['job'], default_wall))
    if native:
        per_call = (native['status'] - native['empty']) / native['per_host']
        ext = native['empty'] + per_host_calls * per_call
        print('  async_status loop, extrapolated:        %7.1f s  (%d calls; measured %d per host in %.1f s, '
              '%.2f s per call, hosts in parallel)' % (ext, total, native['per_host'], native['status'], per_call))
        print('  ratio async_status / jobnet:            %7.1fx' % (ext / wall))
    return 0


if __name__ == '__main__':
    sys.exit(main())
