#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: a frame of trivial jobs run by jobnet.scheduler.run, this tree against an older commit of the
collection and against native async over the same hosts.

    tests/env/testenv.sh start && . .tmp/testenv/env.sh
    python benchmarks/bench_frames.py [--quick] [--chains 50] [--levels 20] [--repeat 3]
                                      [--baseline REF | --no-compare] [--native-levels 2 | --native-full | --no-native]

The frame: CHAINS parallel chains of LEVELS jobs each (default 50 chains of 20 = 1,000 jobs, 50 wide). Job
``c<C>_l<L>`` runs ``shell: "true"`` on host ``HOSTS[(C + L) % 4]`` and waits for ``c<C>_l<L-1>``, so every
hand-over to a successor crosses to another host (the host drivers coordinate through the store).

Old against new: the same frame is also run by the collection as it was at the commit --baseline (default
BASELINE_REF, the engine before its one decide-and-commit path), in the same run, the two trees taking turns
(this tree first in odd rounds, the baseline first in even ones, so a change of the machine's load falls on
both). The baseline is exported with ``git archive`` into the temporary folder, laid out as
``ansible_collections/jobnet/scheduler``, and its runs get ``ANSIBLE_COLLECTIONS_PATH`` pointed there: its
playbooks, action plugins and the modules it ships to the hosts are the old ones. Both trees' stores are read
with this tree's store module (schema 1 is read unchanged). ``--no-compare`` runs this tree only.

The native baseline: one plain playbook over the same hosts that, level by level, starts the level's jobs of
each host with native ``async`` / ``poll: 0`` and waits for them with an ``async_status`` loop (``until`` with
``delay: 1``); the hosts work in parallel (forks), a level ends when all of its jobs ended (a stricter order
than the chains, which is the only one a plain playbook can express). Native async costs ~1.3 s per launch over
ssh, so by default only the first NATIVE_LEVELS levels run and the whole is extrapolated linearly:
    time(LEVELS) = time(empty playbook) + LEVELS * (time(sample) - time(empty playbook)) / NATIVE_LEVELS.

Printed (medians over --repeat runs of the frame per tree; not a test, asserts nothing):
  1. wall time of the whole ansible-playbook run, jobnet vs native, and the ratio (goal >= 10x);
  2. controller CPU per job: user + sys of the ansible-playbook process and every process it waited for
     (workers, ssh clients, modules run on localhost), from wait4() (goal <= 20 ms per job);
  3. the delay from a job's end to its successor's start, from the jobs' started / ended records in the
     store (goal: median <= 1.5 s);
  4. with the comparison: 2 and 3 (and the wall time) for this tree and the baseline, and their ratio
     (this tree / baseline: below 1 is better).
Each run uses its own SQLite store, event history and chart folder in a temporary folder; the job folders it
leaves on the hosts are removed afterwards with the job module of the tree that ran it (state=absent, only the
attempt ids of this run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
HOSTS = ('localhost', 'agent1', 'agent2', 'agent3')
OPERATION_DATE = '2031-01-01'
#: the commit compared against by default: the engine before its one decide-and-commit path
BASELINE_REF = 'b35a8a5'


# ---------------------------------------------------------------------------------------------------- helpers
def bench_env(store_url=None):
    env = dict(os.environ)
    if 'ANSIBLE_CONFIG' not in env or 'ANSIBLE_COLLECTIONS_PATH' not in env:
        raise SystemExit('source .tmp/testenv/env.sh first (tests/env/testenv.sh start)')
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env.setdefault('ANSIBLE_FORCE_COLOR', '0')
    env['ANSIBLE_NOCOLOR'] = '1'
    if store_url:
        env['JOBNET_STORE'] = store_url
    return env


def import_store():
    """The collection's store module (read its records the way the engine writes them)."""
    path = os.environ.get('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.tmp', 'collections'))
    for p in path.split(os.pathsep):
        if p and p not in sys.path:
            sys.path.insert(0, p)
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store
    return _store


def run_measured(argv, env, timeout=3600, log=None):
    """Run a command; return (wall seconds, cpu seconds of its whole waited-for process tree, rc).

    ``wait4()`` gives the rusage of the child plus every descendant it (and they) waited for: the
    ansible-playbook process, its forked workers, their ssh clients and the modules run on localhost.
    Detached job supervisors are not waited for and so are not counted (they are the jobs, not the controller).
    """
    out = open(log, 'w') if log else subprocess.DEVNULL
    try:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, 9)
                raise SystemExit('%s: no end after %d s (log %s)' % (' '.join(argv[:3]), timeout, log))
            time.sleep(0.05)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def tail(path, n=40):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


def playbook(tmp, text):
    path = os.path.join(tmp, 'pb-%s.yml' % uuid.uuid4().hex[:8])
    with open(path, 'w') as f:
        f.write(text)
    return path


def ansible_playbook(env, tmp, text, extra=(), timeout=1800, what='playbook'):
    log = os.path.join(tmp, 'log-%s.txt' % uuid.uuid4().hex[:8])
    wall, cpu, rc = run_measured([os.path.join(BIN, 'ansible-playbook'), playbook(tmp, text)] + list(extra),
                                 env, timeout=timeout, log=log)
    if rc != 0:
        raise SystemExit('%s failed (rc %d):\n%s' % (what, rc, tail(log)))
    return wall, cpu


def parse_time(text):
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float('nan')
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def goal(ok):
    return 'goal met' if ok else 'goal NOT met'


def remove_jobs(env, tmp, by_host, force=True):
    """Remove (stopping first) the given attempt ids on each host with the job module; only those ids."""
    by_host = {h: sorted(ids) for h, ids in by_host.items() if ids}
    if not by_host:
        return
    varfile = os.path.join(tmp, 'remove-%s.json' % uuid.uuid4().hex[:8])
    with open(varfile, 'w') as f:
        json.dump({'jnb_ids': by_host}, f)
    text = '''- hosts: %s
  gather_facts: false
  tasks:
    - name: Remove this run's job folders
      jobnet.scheduler.job:
        state: absent
        force: %s
        grace: 1
        ids: "{{ jnb_ids[inventory_hostname] }}"
        root: "{{ jobnet_job_root | default(omit) }}"
''' % (','.join(sorted(by_host)), 'true' if force else 'false')
    ansible_playbook(env, tmp, text, extra=['-e', '@' + varfile], timeout=1800, what='cleanup')


# A callback of the benchmarks' own, written to the temporary folder: one JSON line per task start and per
# host result, with wall-clock times, so a run can be split into its phases without -v output.
TIMING_CALLBACK = '''
from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'jnbench_timing'
    CALLBACK_NEEDS_ENABLED = True

    def _w(self, **rec):
        rec['t'] = time.time()
        with open(os.environ['JNBENCH_TIMING_FILE'], 'a') as f:
            f.write(json.dumps(rec) + '\\n')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._w(ev='task', task=task.get_name())

    def _result(self, result, status):
        self._w(ev=status, task=result._task.get_name(), host=result._host.get_name())

    def v2_runner_on_ok(self, result):
        self._result(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, 'failed')

    def v2_runner_on_unreachable(self, result):
        self._result(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        self._w(ev='end')
'''


def timing_env(env, tmp):
    """Environment that enables the timing callback; returns (env, path of its JSON lines)."""
    cdir = os.path.join(tmp, 'callbacks')
    if not os.path.isdir(cdir):
        os.mkdir(cdir)
        with open(os.path.join(cdir, 'jnbench_timing.py'), 'w') as f:
            f.write(TIMING_CALLBACK)
    path = os.path.join(tmp, 'timing-%s.jsonl' % uuid.uuid4().hex[:8])
    enabled = [c for c in env.get('ANSIBLE_CALLBACKS_ENABLED', '').split(',') if c] + ['jnbench_timing']
    plugins = [cdir] + [p for p in env.get('ANSIBLE_CALLBACK_PLUGINS', '').split(os.pathsep) if p]
    return dict(env, ANSIBLE_CALLBACKS_ENABLED=','.join(enabled), ANSIBLE_CALLBACK_PLUGINS=os.pathsep.join(plugins),
                JNBENCH_TIMING_FILE=path), path


def read_timing(path, t0):
    """[(event, task, host, seconds since t0)] from the timing callback's file."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                out.append((rec['ev'], rec.get('task'), rec.get('host'), rec['t'] - t0))
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------------------------------- old vs new
def git(*args):
    out = subprocess.run(['git', '-C', REPO] + list(args), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit('git %s: %s' % (' '.join(args), out.stderr.strip()))
    return out.stdout.strip()


def export_tree(ref, tmp, name):
    """``git archive`` of ``ref`` into ``<tmp>/<name>/ansible_collections/jobnet/scheduler``; returns
    (collections path, commit, one-line description)."""
    commit = git('rev-parse', '--verify', '--quiet', ref + '^{commit}')
    root = os.path.join(tmp, name)
    dest = os.path.join(root, 'ansible_collections', 'jobnet', 'scheduler')
    os.makedirs(dest)
    archive = subprocess.Popen(['git', '-C', REPO, 'archive', '--format=tar', commit], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode='r|') as tar:
        tar.extractall(dest, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
    if archive.wait() != 0:
        raise SystemExit('git archive %s failed' % commit)
    line = git('log', '-1', '--format=%h %ad %s', '--date=short', commit)
    return root, commit, line if len(line) <= 100 else line[:97] + '...'


def collection_path(env):
    """Where ansible-playbook finds jobnet.scheduler with ``env`` (to check that an exported tree runs its own
    copy)."""
    out = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'list', 'jobnet.scheduler'], env=env,
                         capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith('# '):
            return line[2:].strip()
    return None


def ratio(new, old):
    return new / old if old else float('nan')


# ---------------------------------------------------------------------------------------------------- the frame
def job_name(c, level):
    return 'c%02d_l%02d' % (c, level)


def host_of(c, level, hosts):
    return hosts[(c + level) % len(hosts)]


def write_frame(path, frame, chains, levels, hosts):
    import yaml
    jobs = []
    for c in range(chains):
        for level in range(levels):
            job = {'name': job_name(c, level), 'host': host_of(c, level, hosts), 'shell': 'true'}
            if level:
                job['after'] = [job_name(c, level - 1)]
            jobs.append(job)
    with open(path, 'w') as f:
        yaml.safe_dump({'frame': frame, 'description': 'bench_frames.py', 'jobs': jobs}, f, sort_keys=False)


def run_jobnet(env, tmp, chains, levels, hosts, index):
    frame = 'jnbench-%s-%d' % (uuid.uuid4().hex[:6], index)
    fpath = os.path.join(tmp, '%s.yml' % frame)
    write_frame(fpath, frame, chains, levels, hosts)
    db = os.path.join(tmp, '%s.db' % frame)
    store_url = 'sqlite:///' + db
    # the recorder's history and the run charts go to the temporary folder too (nothing is left in ~)
    e = dict(env, JOBNET_STORE=store_url, JOBNET_HISTORY_DIR=os.path.join(tmp, 'history'),
             JOBNET_CHART_DIR=os.path.join(tmp, 'charts'))
    log = os.path.join(tmp, '%s.log' % frame)
    wall, cpu, rc = run_measured([os.path.join(BIN, 'ansible-playbook'), 'jobnet.scheduler.run',
                                  '-e', 'frame_file=' + fpath, '-e', 'operation_date=' + OPERATION_DATE],
                                 e, timeout=3600, log=log)
    store_mod = import_store()
    store = store_mod.open_store(store_url, create=False)
    try:
        inst, items = store.load('%s@%s' % (frame, OPERATION_DATE))
    finally:
        store.close()
    jobs = {p: it for p, it in items.items() if it['kind'] == 'job'}
    by_host = {}
    for it in jobs.values():
        if it.get('attempt_id'):
            by_host.setdefault(it['host'], []).append(it['attempt_id'])
    states = {}
    for it in jobs.values():
        states[it['state']] = states.get(it['state'], 0) + 1
    delays = []
    for c in range(chains):
        for level in range(1, levels):
            prev, cur = jobs.get(job_name(c, level - 1)), jobs.get(job_name(c, level))
            end, start = parse_time(prev and prev.get('ended')), parse_time(cur and cur.get('started'))
            if end is not None and start is not None:
                delays.append(start - end)
    starts = [parse_time(it.get('started')) for it in jobs.values() if it.get('started')]
    ends = [parse_time(it.get('ended')) for it in jobs.values() if it.get('ended')]
    return {
        'frame': frame, 'wall': wall, 'cpu': cpu, 'rc': rc, 'state': inst['state'], 'states': states,
        'delays': delays, 'span': (max(ends) - min(starts)) if starts and ends else None,
        'by_host': by_host, 'log': log,
    }


# ---------------------------------------------------------------------------------------------------- native async
def native_playbook(chains, levels, hosts, async_dir):
    """One play over the hosts; per level: start this host's jobs (async, poll 0), then wait for them."""
    lines = ['- hosts: %s' % ','.join(hosts), '  gather_facts: false', '  vars:',
             '    ansible_async_dir: "%s"' % async_dir, '    levels:']
    for level in range(levels):
        per_host = {}
        for c in range(chains):
            per_host.setdefault(host_of(c, level, hosts), []).append(job_name(c, level))
        lines.append('      - %s' % json.dumps(per_host))
    lines.append('  tasks:')
    for level in range(levels):
        lines += [
            '    - name: Start level %d' % level,
            '      ansible.builtin.shell: "true"',
            '      async: 600',
            '      poll: 0',
            '      loop: "{{ levels[%d][inventory_hostname] | default([]) }}"' % level,
            '      register: started_%d' % level,
            '    - name: Wait for level %d' % level,
            '      ansible.builtin.async_status:',
            '        jid: "{{ item.ansible_job_id }}"',
            '      loop: "{{ started_%d.results }}"' % level,
            '      register: status_%d' % level,
            '      until: status_%d.finished' % level,
            '      retries: 600',
            '      delay: 1',
        ]
    return '\n'.join(lines) + '\n'


def async_dirs(hosts, name):
    """Where each host's native async records go (its user's home), to remove them afterwards."""
    out = []
    inv_users = {'localhost': 'root'}
    for h in hosts:
        user = inv_users.get(h, 'jobnet-%s' % h)
        try:
            out.append(os.path.join(pwd.getpwnam(user).pw_dir, name))
        except KeyError:
            pass
    return out


def run_native(env, tmp, chains, levels, hosts, sample_levels):
    name = '.ansible_async_jnbench_%s' % uuid.uuid4().hex[:8]
    empty, _cpu = ansible_playbook(env, tmp, '- hosts: %s\n  gather_facts: false\n  tasks: []\n' % ','.join(hosts),
                                   what='empty playbook')
    try:
        wall, cpu = ansible_playbook(env, tmp, native_playbook(chains, sample_levels, hosts, '~/' + name),
                                     timeout=7200, what='native async playbook')
    finally:
        for d in async_dirs(hosts, name):
            shutil.rmtree(d, ignore_errors=True)
    extrapolated = empty + levels * (wall - empty) / float(sample_levels)
    return {'empty': empty, 'sample_wall': wall, 'sample_cpu': cpu, 'sample_jobs': chains * sample_levels,
            'wall': extrapolated, 'cpu_per_job': cpu / float(chains * sample_levels)}


# ---------------------------------------------------------------------------------------------------- main
def summary(runs, n):
    """Medians of a tree's runs: wall seconds, controller CPU ms per job, median successor delay; all delays."""
    delays = [d for r in runs for d in r['delays']]
    return {
        'wall': statistics.median(r['wall'] for r in runs),
        'cpu_ms': 1000.0 * statistics.median(r['cpu'] for r in runs) / n,
        'delay': statistics.median(statistics.median(r['delays']) for r in runs if r['delays']) if delays
        else float('nan'),
        'delays': delays,
    }


def main(argv=None):
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true',
                    help='smoke run: 10 chains of 5 jobs, one jobnet run per tree, one native level')
    ap.add_argument('--chains', type=int, default=50, help='parallel chains (the width), default 50')
    ap.add_argument('--levels', type=int, default=20, help='jobs per chain, default 20')
    ap.add_argument('--repeat', type=int, default=3, help='jobnet runs per tree (medians are printed), default 3')
    ap.add_argument('--baseline', default=BASELINE_REF, metavar='REF',
                    help='the commit of the collection this tree is compared with, default %s' % BASELINE_REF)
    ap.add_argument('--no-compare', action='store_true', help='run this tree only (no baseline commit)')
    ap.add_argument('--new', default=None, metavar='REF',
                    help='measure this commit as the new tree (exported like the baseline) instead of the working '
                         'tree, e.g. HEAD while others have changes in the working tree')
    ap.add_argument('--native-levels', '--baseline-levels', dest='native_levels', type=int, default=2,
                    help='levels of the native async playbook actually run, then extrapolated; default 2')
    ap.add_argument('--native-full', '--baseline-full', dest='native_full', action='store_true',
                    help='run every level of the native async playbook')
    ap.add_argument('--no-native', action='store_true', help='skip the native async playbook')
    ap.add_argument('--hosts', default=','.join(HOSTS), help='comma-separated inventory hosts')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder (stores, logs, the baseline)')
    args = ap.parse_args(argv)
    if args.quick:
        args.chains, args.levels, args.repeat, args.native_levels = 10, 5, 1, 1
    hosts = [h for h in args.hosts.split(',') if h]
    sample_levels = args.levels if args.native_full else min(args.levels, args.native_levels)
    n = args.chains * args.levels
    env = bench_env()
    import_store()    # this tree's store module, before any environment of the baseline is made
    tmp = tempfile.mkdtemp(prefix='jnbench-frames-')
    print('jobnet.scheduler frame benchmark, %s, %d cores' % (time.strftime('%Y-%m-%d %H:%M'), os.cpu_count()))
    print('frame: %d jobs (shell "true"), %d parallel chains of %d (%d wide), over %s; job c_l on host '
          '(c + l) %% %d' % (n, args.chains, args.levels, args.chains, ', '.join(hosts), len(hosts)))
    print('temporary folder: %s' % tmp)

    trees = []
    described = {}
    runs = {}
    try:
        for label, ref in (('this tree', args.new), ('baseline', None if args.no_compare else args.baseline)):
            if label == 'this tree' and ref is None:
                dirty = git('status', '--porcelain', '--', 'plugins', 'playbooks', 'meta')
                trees.append((label, env))
                described[label] = 'the working tree at %s (%s)' % (
                    git('log', '-1', '--format=%h', 'HEAD'), 'with changes not committed' if dirty else 'clean')
                continue
            if ref is None:
                continue
            root, _commit, line = export_tree(ref, tmp, 'tree-%d' % len(trees))
            tree_env = dict(env, ANSIBLE_COLLECTIONS_PATH=root)
            found = collection_path(tree_env)
            if not found or not os.path.realpath(found).startswith(os.path.realpath(root)):
                raise SystemExit('the copy of %s in %s is not the jobnet.scheduler ansible-playbook finds (%s)'
                                 % (ref, root, found))
            trees.append((label, tree_env))
            described[label] = line
        for label, _e in trees:
            print('%-10s %s' % (label + ':', described[label]))
        for r in range(args.repeat):
            order = trees if r % 2 == 0 else trees[::-1]
            for label, tree_env in order:
                res = run_jobnet(tree_env, tmp, args.chains, args.levels, hosts, r)
                runs.setdefault(label, []).append(res)
                print('  %-9s run %d: %.1f s wall, %.2f s CPU, frame %s %s, rc %d, job end->successor start '
                      'median %.2f s' % (label, r + 1, res['wall'], res['cpu'], res['frame'], res['state'], res['rc'],
                                         statistics.median(res['delays']) if res['delays'] else float('nan')))
                if res['rc'] != 0 or res['states'].get('normal_end', 0) != n:
                    print('  WARNING: not every job ended normally: %s (log %s)' % (res['states'], res['log']))
                    print(tail(res['log']))
                remove_jobs(tree_env, tmp, res['by_host'])
        native = None
        if not args.no_native:
            native = run_native(env, tmp, args.chains, args.levels, hosts, sample_levels)
            print('  native async: %d of %d levels run (%d jobs) in %.1f s, empty playbook %.2f s'
                  % (sample_levels, args.levels, native['sample_jobs'], native['sample_wall'], native['empty']))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    new = summary(runs['this tree'], n)
    print()
    if args.quick:
        print('(--quick: the goals are those of the full 1,000-job frame; fixed costs dominate this small one)')
    count = len(runs['this tree'])
    print('results (median of %d jobnet run%s per tree)' % (count, '' if count == 1 else 's'))
    print('  jobnet.scheduler.run wall time:      %8.1f s  (runs: %s)'
          % (new['wall'], ', '.join('%.1f' % r['wall'] for r in runs['this tree'])))
    if native:
        how = 'measured' if sample_levels == args.levels else \
            'extrapolated linearly from %d of %d levels (%d jobs)' % (
                sample_levels, args.levels, native['sample_jobs'])
        print('  native async + async_status loop:    %8.1f s  (%s)' % (native['wall'], how))
        factor = native['wall'] / new['wall']
        print('  ratio native / jobnet:               %8.1fx  (goal >= 10x: %s)' % (factor, goal(factor >= 10)))
    print('  controller CPU per job (jobnet):     %8.1f ms (goal <= 20 ms: %s)'
          % (new['cpu_ms'], goal(new['cpu_ms'] <= 20)))
    if native:
        print('  controller CPU per job (native):     %8.1f ms (for comparison)' % (1000.0 * native['cpu_per_job']))
    print('  end -> successor start, median:      %8.2f s  (goal <= 1.5 s: %s)'
          % (new['delay'], goal(new['delay'] <= 1.5)))
    print('  end -> successor start, p90 / max:   %8.2f s / %.2f s  (%d hand-overs)'
          % (percentile(new['delays'], 0.9), max(new['delays']) if new['delays'] else float('nan'),
             len(new['delays'])))
    if 'baseline' in runs:
        old = summary(runs['baseline'], n)
        print()
        print('old vs new (medians of %d runs each; ratio = this tree / baseline, below 1 is better)' % count)
        print('  this tree: %s' % described['this tree'])
        print('  baseline:  %s' % described['baseline'])
        print('  %-34s %10s %10s %8s' % ('', 'this tree', 'baseline', 'ratio'))
        for what, key, unit in (('controller CPU per job', 'cpu_ms', 'ms'),
                                ('end -> successor start, median', 'delay', 's'),
                                ('wall time', 'wall', 's')):
            values = (what, new[key], unit, old[key], unit, ratio(new[key], old[key]))
            print('  %-34s %7.2f %-2s %7.2f %-2s %7.2fx' % values)
        p90 = (percentile(new['delays'], 0.9), percentile(old['delays'], 0.9))
        print('  %-34s %7.2f s  %7.2f s' % (('end -> successor start, p90',) + p90))
    return 0


if __name__ == '__main__':
    sys.exit(main())
