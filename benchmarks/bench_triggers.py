#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: file-wait triggers - trigger-to-start latency, and the cost of 1,000 file triggers per round.

    tests/env/testenv.sh start && . .tmp/testenv/env.sh
    python benchmarks/bench_triggers.py [--quick] [--repeat 7] [--files 1000]

1. Latency, REPEAT times each, taking turns: the time from a file's creation to the start of the job that waits
   for it on agent2.
   - jobnet: a one-job frame, ``triggers: [{name: flag, file: F, host: agent2}]``, its job ``wait_for: [flag]``, run
     with ``jobnet.scheduler.run`` (default settings: ``poll_interval`` 1 s). Once the store shows the trigger
     looked at (OFF) the file is created; the job writes its start time (``date +%s.%N``) on agent2.
   - native: a playbook on agent2 with ``ansible.builtin.wait_for: path=F`` (its default ``sleep`` of 1 s) then a
     ``shell`` task that writes its start time; the file is created 4 s after the playbook starts (connected, in
     its wait).
   Printed: median and p90 of each, and the ratio of the medians.
2. The cost of FILES file triggers on one host per round: one frame of FILES file triggers on agent1 and two jobs
   that wait for them, driven while a 6 s job runs there; the frame step of agent1 reports its rounds and module
   calls (``calls`` / ``rounds`` of ``frame_step``, read through Ansible's tree callback): one ``job_info`` call a
   round whatever the number of files. Then the price of those files inside one call: ``job_info`` with FILES
   paths against ``job_info`` without, REPEAT ad-hoc calls each, medians and their ratio.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ left in benchmarks/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_frames as bf  # noqa: E402  (helpers shared by the benchmarks)

OPERATION_DATE = '2031-01-03'


def shared_dir():
    """A folder the agents' users can read (and write their start times in)."""
    d = tempfile.mkdtemp(prefix='jobnet-bench-trig-', dir='/tmp')
    os.chmod(d, 0o1777)
    return d


def touch(path):
    with open(path, 'w'):
        pass
    os.chmod(path, 0o644)


def wait_file(path, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return float(text)
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit('no start time in %s after %d s' % (path, timeout))


def start(argv, env, log):
    out = open(log, 'w')
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    proc.log = log
    proc.out = out
    return proc


def end(proc, timeout=300):
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        proc.out.close()
    if proc.returncode != 0:
        raise SystemExit('a playbook failed (rc %d):\n%s' % (proc.returncode, bf.tail(proc.log)))


def jobnet_latency(env, tmp, d, n, store_mod, url):
    flag, stamp = os.path.join(d, 'j%d.flag' % n), os.path.join(d, 'j%d.start' % n)
    frame = os.path.join(tmp, 'lat%d.yml' % n)
    with open(frame, 'w') as f:
        json.dump({'frame': 'lat%d' % n, 'triggers': [{'name': 'flag', 'file': flag, 'host': 'agent2'}],
                   'jobs': [{'name': 'go', 'host': 'agent2', 'shell': 'date +%%s.%%N > %s' % stamp,
                             'wait_for': ['flag']}]}, f)
    proc = start([os.path.join(bf.BIN, 'ansible-playbook'), '-i', os.environ['JOBNET_TEST_INVENTORY'],
                  'jobnet.scheduler.run', '-e', 'frame_file=%s' % frame, '-e', 'operation_date=%s' % OPERATION_DATE],
                 env, os.path.join(tmp, 'lat%d.log' % n))
    iid = 'lat%d@%s' % (n, OPERATION_DATE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        store = store_mod.open_store(url)
        try:
            inst = store.get_instance(iid)
        finally:
            store.close()
        if inst and (inst.get('triggers') or {}).get('flag', {}).get('sender') is None and inst.get('triggers'):
            break
        time.sleep(0.1)
    time.sleep(1.0)   # its driver is in a job_info call on agent2, looking at the file
    t0 = time.time()
    touch(flag)
    started = wait_file(stamp)
    end(proc)
    return started - t0


NATIVE = '''
- hosts: agent2
  gather_facts: false
  tasks:
    - ansible.builtin.wait_for:
        path: "{flag}"
        timeout: 300
    - ansible.builtin.shell: date +%s.%N > {stamp}
'''


def native_latency(env, tmp, d, n):
    flag, stamp = os.path.join(d, 'n%d.flag' % n), os.path.join(d, 'n%d.start' % n)
    pb = bf.playbook(tmp, NATIVE.replace('{flag}', flag).replace('{stamp}', stamp))
    proc = start([os.path.join(bf.BIN, 'ansible-playbook'), '-i', os.environ['JOBNET_TEST_INVENTORY'], pb], env,
                 os.path.join(tmp, 'native%d.log' % n))
    time.sleep(4.0)
    t0 = time.time()
    touch(flag)
    started = wait_file(stamp)
    end(proc)
    return started - t0


def rounds_with_files(env, tmp, d, files):
    tree = os.path.join(tmp, 'tree')
    os.makedirs(tree, exist_ok=True)
    paths = [os.path.join(d, 'f%05d' % i) for i in range(files)]
    triggers = [{'name': 't%05d' % i, 'file': p, 'host': 'agent1'} for i, p in enumerate(paths)]
    frame = os.path.join(tmp, 'many.yml')
    with open(frame, 'w') as f:
        json.dump({'frame': 'many', 'triggers': triggers, 'jobs': [
            {'name': 'long', 'host': 'agent1', 'command': ['sleep', '6']},
            {'name': 'waiter', 'host': 'agent1', 'command': ['true'], 'wait_for': [t['name'] for t in triggers]},
            {'name': 'after', 'host': 'agent1', 'command': ['true'], 'after': ['long', 'waiter']}]}, f)
    run_env = dict(env, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_CALLBACK_TREE_DIR=tree,
                   ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree')
    proc = start([os.path.join(bf.BIN, 'ansible-playbook'), '-i', os.environ['JOBNET_TEST_INVENTORY'],
                  'jobnet.scheduler.run', '-e', 'frame_file=%s' % frame, '-e', 'operation_date=%s' % OPERATION_DATE],
                 run_env, os.path.join(tmp, 'many.log'))
    time.sleep(4.0)
    for p in paths:
        touch(p)
    end(proc)
    with open(os.path.join(tree, 'agent1')) as f:
        step = json.load(f)
    return step.get('rounds'), (step.get('calls') or {}).get('jobnet.scheduler.job_info'), paths


def call_seconds(env, tmp, paths, repeat):
    """Median wall time of one ad-hoc job_info call on agent1 with ``paths`` (and with none)."""
    def once(files):
        module_args = json.dumps({'ids': [], 'files': files, 'output': False})
        t0 = time.monotonic()
        out = subprocess.run([os.path.join(bf.BIN, 'ansible'), '-i', os.environ['JOBNET_TEST_INVENTORY'], 'agent1',
                              '-m', 'jobnet.scheduler.job_info', '-a', module_args], env=env,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit('job_info failed: %s' % out.stdout[-2000:])
        return time.monotonic() - t0
    with_files, without = [], []
    for _i in range(repeat):
        with_files.append(once(paths))
        without.append(once([]))
    return statistics.median(with_files), statistics.median(without)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument('--quick', action='store_true', help='3 latency runs each, 200 files')
    ap.add_argument('--repeat', type=int, default=7)
    ap.add_argument('--files', type=int, default=1000)
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.files = 3, 200
    tmp = tempfile.mkdtemp(prefix='jobnet-bench-triggers-')
    url = 'sqlite:///%s' % os.path.join(tmp, 'state.db')
    env = bf.bench_env(url)
    store_mod = bf.import_store()
    d = shared_dir()
    jobnet, native = [], []
    for n in range(args.repeat):
        jobnet.append(jobnet_latency(env, tmp, d, n, store_mod, url))
        native.append(native_latency(env, tmp, d, n))
        print('run %d: jobnet %.2f s, native wait_for %.2f s' % (n + 1, jobnet[-1], native[-1]), flush=True)
    jm, nm = statistics.median(jobnet), statistics.median(native)
    print('trigger-to-start latency (file created -> waiting job started on agent2), %d runs each:' % args.repeat)
    print('  jobnet file trigger  median %.2f s  p90 %.2f s' % (jm, bf.percentile(jobnet, 0.9)))
    print('  native wait_for      median %.2f s  p90 %.2f s' % (nm, bf.percentile(native, 0.9)))
    print('  jobnet / native median: %.2fx' % (jm / nm if nm else float('nan')))
    rounds, calls, paths = rounds_with_files(env, tmp, d, args.files)
    print('%d file triggers on agent1: %s job_info calls in %s rounds of its driver (%s)'
          % (args.files, calls, rounds, bf.goal(calls is not None and rounds and calls <= rounds)))
    with_files, without = call_seconds(env, tmp, paths, args.repeat)
    print('one job_info call on agent1: with %d files %.3f s, with none %.3f s (median of %d): %.2fx'
          % (args.files, with_files, without, args.repeat, with_files / without if without else float('nan')))


if __name__ == '__main__':
    main()
