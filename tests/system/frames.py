# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the frame and recovery system tests: frames whose jobs leave evidence of themselves.

Every job of a test frame appends ``<name> start <epoch>`` and ``<name> end <epoch>`` lines (and its attempt's
pid) to a ledger file in a world-writable folder, so the tests can prove from the jobs' own clocks that each
dependency held, that a host limit was never exceeded, and that no attempt ran twice.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import stat
import tempfile
import time

import yaml

HOSTS = ('localhost', 'agent1', 'agent2', 'agent3')


def ledger_dir(tmp_path=None):
    """A folder every agent user can write in (pytest's own tmp folders are private to root), holding an
    empty, world-writable ``ledger`` file."""
    d = tempfile.mkdtemp(prefix='jobnet-ledger-', dir='/tmp')
    os.chmod(d, 0o1777)
    path = os.path.join(d, 'ledger')
    with open(path, 'w'):
        pass
    os.chmod(path, 0o666)
    return pathlib.Path(d)


def job(name, host, ledger, *, seconds=0.3, rc=0, fail_unless=None, **extra):
    """A job that records its start and end in the ledger; ``fail_unless``: fail while that file is missing."""
    body = 'echo "%s start $(date +%%s.%%N) $$" >> %s; sleep %s; ' % (name, ledger, seconds)
    if fail_unless:
        body += 'test -f %s || { echo "%s end $(date +%%s.%%N) fail" >> %s; exit 7; }; ' % (fail_unless, name, ledger)
    body += 'echo "%s end $(date +%%s.%%N) ok" >> %s; exit %d' % (name, ledger, rc)
    out = {'name': name, 'host': host, 'shell': body}
    out.update(extra)
    return out


def gated(name, host, ledger, flag, **extra):
    """Records its start, waits until ``flag`` exists (at most 300 s), records its end."""
    out = {'name': name, 'host': host, 'shell':
           'echo "%s start $(date +%%s.%%N) $$" >> %s; i=0; while [ ! -f %s ] && [ $i -lt 1500 ]; do sleep 0.2; '
           'i=$((i+1)); done; echo "%s end $(date +%%s.%%N) ok" >> %s' % (name, ledger, flag, name, ledger)}
    out.update(extra)
    return out


def write_frame(tmp_path, frame, name='frame.yml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(frame, sort_keys=False))
    return str(path)


def read_ledger(ledger):
    """{job name: [(kind, time, extra), ...]} from the ledger file."""
    out = {}
    if not os.path.exists(ledger):
        return out
    with open(ledger, encoding='utf-8') as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            out.setdefault(parts[0], []).append((parts[1], float(parts[2]), parts[3] if len(parts) > 3 else ''))
    return out


def intervals(ledger):
    """{name: [(start, end), ...]} in order of start."""
    out = {}
    for name, recs in read_ledger(ledger).items():
        starts = [t for k, t, _extra in recs if k == 'start']
        ends = [t for k, t, _extra in recs if k == 'end']
        out[name] = list(zip(starts, ends + [float('inf')] * (len(starts) - len(ends))))
    return out


def max_overlap(spans):
    events = sorted([(s, 1) for s, _e in spans] + [(e, -1) for _s, e in spans], key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _t, d in events:
        cur += d
        best = max(best, cur)
    return best


def status(run_playbook, tmp_path, env=None, frame=None):
    path = str(tmp_path / ('status-%d.json' % time.monotonic_ns()))
    args = ['jobnet.scheduler.status', '-e', 'status_json=%s' % path]
    if frame:
        args += ['-e', 'frame=%s' % frame]
    res = run_playbook(args, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def states(doc, frame=None):
    """{path: state} of the first (or the named) frame, with '' for the frame itself."""
    for fr in doc['frames']:
        if frame is None or fr['frame'] == frame:
            out = {'': fr['state']}
            out.update({it['path']: it['state'] for it in fr['items']})
            return out
    raise AssertionError('frame %s not in status %r' % (frame, doc))


def sqlite_path(url):
    assert url.startswith('sqlite:///')
    return url[len('sqlite://'):]


def sqlite_rows(url, sql, args=()):
    con = sqlite3.connect(sqlite_path(url))
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def world_writable(path):
    os.chmod(path, os.stat(path).st_mode | stat.S_IWOTH | stat.S_IXOTH | stat.S_IROTH)


# ---------------------------------------------------------------------- controllers that die
def playbook_argv(*args):
    import sys
    return [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')] + list(args)


def start_playbook(testenv, args, log_path, env=None):
    """Start ansible-playbook in the background (its own process group), output to ``log_path``."""
    import subprocess
    log = open(log_path, 'w')
    proc = subprocess.Popen(playbook_argv(*args), env=testenv.env(**(env or {})), stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    proc.log_path = log_path
    proc.log_file = log
    return proc


def run(testenv, args, env, timeout=600):
    """Run ansible-playbook to its end with ``args`` and the environment overrides ``env``."""
    import subprocess
    return subprocess.run(playbook_argv(*args), env=testenv.env(**env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_run(testenv, path, date, log_path, env, inventory=()):
    """``jobnet.scheduler.run`` of the frame file ``path`` for ``date``, in the background (see start_playbook)."""
    args = ['-i', testenv.inventory] + [a for inv in inventory for a in ('-i', inv)]
    return start_playbook(testenv, args + ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                           '-e', 'operation_date=%s' % date], log_path, env=env)


def run_then_kill(testenv, path, date, log_path, env, what, predicate, timeout=120, interval=0.25):
    """``jobnet.scheduler.run`` of a frame in the background, ``kill -9`` of it once ``predicate()`` holds."""
    proc = start_run(testenv, path, date, log_path, env)
    try:
        wait_for(what, predicate, timeout=timeout, interval=interval)
    finally:
        kill9(proc)


def starts(ledger, name):
    """The start times of every run of ``name`` in the ledger."""
    return [t for kind, t, _extra in read_ledger(ledger).get(name, []) if kind == 'start']


def kill9(proc):
    """kill -9 of the ansible-playbook process itself (its workers notice and stop on their own)."""
    import signal
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.log_file.close()


def finish(proc, timeout):
    """Wait for a playbook started by :func:`start_playbook` (killed after ``timeout``): ``(rc, its output)``."""
    import signal
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if not proc.log_file.closed:
            proc.log_file.close()
    with open(proc.log_path, encoding='utf-8') as f:
        return proc.returncode, f.read()


def open_test_store(url):
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store
    return _store.open_store(url)


def snapshot(url, iid):
    """{path: item} with '' for the instance record."""
    store = open_test_store(url)
    try:
        inst, items = store.load(iid)
    finally:
        store.close()
    out = dict(items)
    out[''] = inst
    return out


def wait_for(what, predicate, timeout=120, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the store may not have the instance yet
            last = exc
        if last is True:
            return
        time.sleep(interval)
    raise AssertionError('timed out waiting for %s (last: %r)' % (what, last))


def item_states(snap):
    return {p: (it['state'] if p else it['state']) for p, it in snap.items()}


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def job_pids(pattern):
    """Pids of processes whose command line contains ``pattern``."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if pattern in cmd:
            out.append(int(name))
    return out
