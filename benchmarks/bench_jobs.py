#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: jobnet.scheduler.job / job_info against native async over one SSH host.

    tests/env/testenv.sh start && . .tmp/testenv/env.sh
    python benchmarks/bench_jobs.py [--host agent1] [--jobs 200] [--sample 20] [--repeat 3]

Prints medians and ratios (not a test, asserts nothing):
  1. start N jobs in one `job` call  vs  a loop of N native `async`/`poll: 0` tasks;
  2. status of N jobs in one `job_info` call  vs  an `async_status` loop;
  3. memory (PSS) per running job: the supervisor processes (not the command)  vs  native async's processes.
The native launch loop is slow (about a second per item over ssh), so it runs on a sample and is extrapolated:
  time(N) = time(empty playbook) + N * (time(sample) - time(empty playbook)) / sample.
The async_status loop runs in full (N calls over the sample's job ids).
Must run as root on the machine of the test hosts (it reads the agents' /proc/<pid>/smaps_rollup).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

BIN = os.path.dirname(sys.executable)


def run_playbook(text, env, tmp):
    path = os.path.join(tmp, 'pb-%s.yml' % uuid.uuid4().hex[:8])
    with open(path, 'w') as f:
        f.write(text)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(BIN, 'ansible-playbook'), path], env=env, capture_output=True, text=True,
                       timeout=1800, check=False)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit('playbook failed:\n%s\n%s' % (r.stdout[-4000:], r.stderr[-4000:]))
    return dt


def procs():
    """{pid: (ppid, pgid, argv)} of every process."""
    out = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                st = f.read()
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        rest = st[st.rindex(b')') + 2:].split()
        out[int(name)] = (int(rest[1]), int(rest[2]), argv)
    return out


def pss_kb(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(table, roots):
    kids = {}
    for pid, (ppid, _g, _a) in table.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen or p not in table:
            continue
        seen.add(p)
        todo.extend(kids.get(p, []))
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', default='agent1')
    ap.add_argument('--jobs', type=int, default=200)
    ap.add_argument('--sample', type=int, default=20)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ)
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    if 'ANSIBLE_CONFIG' not in env:
        raise SystemExit('source .tmp/testenv/env.sh first (tests/env/testenv.sh start)')
    user = 'jobnet-%s' % args.host if args.host.startswith('agent') else 'root'
    home = pwd.getpwnam(user).pw_dir
    tmp = tempfile.mkdtemp(prefix='bench-jobs-')
    tag = 'b' + uuid.uuid4().hex[:8]
    h, n, s = args.host, args.jobs, args.sample
    print('host %s (ssh), %d jobs, native sample %d, %d repeats; medians of wall time of whole '
          'ansible-playbook runs' % (h, n, s, args.repeat))

    empty = statistics.median(run_playbook('- hosts: %s\n  gather_facts: false\n  tasks:\n'
                                           '    - ansible.builtin.meta: noop\n' % h, env, tmp)
                              for dummy in range(args.repeat))
    print('empty playbook: %.2f s' % empty)

    # 1. start
    job_times, roots = [], []
    for r in range(args.repeat):
        root = '~/.jobnet/%s-%d' % (tag, r)
        roots.append(root)
        jobs = [{'id': 'j%04d' % i, 'command': ['sleep', '600'], 'timeout': 900,
                 'labels': {'bench': tag}} for i in range(n)]
        pb = '- hosts: %s\n  gather_facts: false\n  tasks:\n    - jobnet.scheduler.job:\n        root: "%s"\n' \
             '        jobs: %s\n' % (h, root, json.dumps(jobs))
        job_times.append(run_playbook(pb, env, tmp))
    t_job = statistics.median(job_times)
    jidfile = os.path.join(tmp, 'jids.json')
    native_pb = '''- hosts: %s
  gather_facts: false
  tasks:
    - ansible.builtin.command: sleep 600
      async: 900
      poll: 0
      loop: "{{ range(%d) | list }}"
      register: a
    - ansible.builtin.copy:
        content: "{{ a.results | map(attribute='ansible_job_id') | list | to_json }}"
        dest: "%s"
      delegate_to: localhost
''' % (h, s, jidfile)
    t_native_sample = run_playbook(native_pb, env, tmp)
    with open(jidfile) as f:
        jids = json.load(f)
    t_native = empty + n * (t_native_sample - empty) / s
    print('\n1. start %d jobs' % n)
    print('   job, one call:           median %.2f s  (runs: %s)' % (t_job, ', '.join('%.2f' % t for t in job_times)))
    print('   native async loop:       %.2f s for %d, extrapolated to %d: %.1f s' % (t_native_sample, s, n, t_native))
    print('   ratio native/job:        %.1fx  (goal >= 20x)' % (t_native / t_job))

    # 2. status
    ids = json.dumps(['j%04d' % i for i in range(n)])
    info_pb = '- hosts: %s\n  gather_facts: false\n  tasks:\n    - jobnet.scheduler.job_info:\n' \
              '        root: "%s"\n        ids: %s\n' % (h, roots[0], ids)
    t_info = statistics.median(run_playbook(info_pb, env, tmp) for dummy in range(args.repeat))
    # the loop is affordable in full: N async_status calls over the sample's jids (each asked N / sample times)
    status_pb = '''- hosts: %s
  gather_facts: false
  tasks:
    - ansible.builtin.async_status:
        jid: "{{ item }}"
      loop: %s
''' % (h, json.dumps([jids[i % len(jids)] for i in range(n)]))
    t_status = run_playbook(status_pb, env, tmp)
    print('\n2. status of %d jobs' % n)
    print('   job_info, one call:      median %.2f s' % t_info)
    print('   async_status loop:       %.1f s for %d calls (measured, not extrapolated)' % (t_status, n))
    print('   ratio native/job_info:   %.1fx  (goal >= 40x)' % (t_status / t_info))

    # 3. memory
    table = procs()
    jroot = os.path.join(home, '.jobnet', '%s-0' % tag)
    sup_pids, job_pgids = [], set()
    for jid in os.listdir(jroot):
        with open(os.path.join(jroot, jid, 'status.json')) as f:
            st = json.load(f)
        sup_pids.append(st['supervisor_pid'])
        job_pgids.add(st['pid'])
    sup = [p for p in descendants(table, sup_pids) if table[p][1] not in job_pgids]
    pss_job = sum(pss_kb(p) for p in sup) / float(len(sup_pids))
    wrappers = [p for p, (_pp, _g, argv) in table.items()
                if any(j.rsplit('.', 1)[0].encode() in argv for j in jids)]
    native = [p for p in descendants(table, wrappers) if b'python' in table[p][2][0]]
    pss_native = sum(pss_kb(p) for p in native) / float(len(jids))
    print('\n3. memory per running job (PSS, the command itself excluded)')
    print('   job supervisor:          %.0f kB  (%d processes for %d jobs, with a timeout timer each)'
          % (pss_job, len(sup), len(sup_pids)))
    print('   native async:            %.0f kB  (%d processes for %d jobs)' % (pss_native, len(native), len(jids)))
    print('   ratio native/job:        %.1fx  (goal >= 10x)' % (pss_native / pss_job))

    # clean up: stop and remove the jobs, kill the native ones
    for root in roots:
        pb = '- hosts: %s\n  gather_facts: false\n  tasks:\n    - jobnet.scheduler.job:\n        root: "%s"\n' \
             '        state: absent\n        force: true\n        grace: 1\n        ids: %s\n' % (h, root, ids)
        run_playbook(pb, env, tmp)
        shutil.rmtree(os.path.join(home, '.jobnet', os.path.basename(root)), ignore_errors=True)
    table = procs()
    for p in descendants(table, wrappers):
        try:
            os.kill(p, 9)
        except OSError:
            pass
    for j in jids:
        try:
            os.unlink(os.path.join(home, '.ansible_async', j))
        except OSError:
            pass
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
