# -*- coding: utf-8 -*-
# Copyright: jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Detached jobs on a host: the target side of ``jobnet.scheduler.job`` and ``job_info``.

Not a public API. Runs on the target with the standard library only.

One folder per attempt id under a job root, mode 0700::

    spec.json     written by the module before the launch
    status.json   written by the module right after the launch (pids + start times)
    stdout        append-only output of the job
    stderr        append-only output of the job
    result.json   written by the supervisor when the job ends (rc, signal, reason, ended)
    stop          marker written by ``state=stopped`` before it signals the job
    timedout      marker written by the supervisor's timer before it signals the job

The supervisor is a small POSIX ``sh`` script (``SUPERVISOR``), started in a session of its own so that it
outlives the module, the SSH connection and the controller. It starts the command with ``setsid`` (the job's
pid is its process group and session id), reports the job's pid and start time back through a pipe, waits
for it and writes ``result.json``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone
from enum import Enum

__all__ = [
    'JobError', 'JobState', 'Reason', 'ID_PATTERN', 'DEFAULT_ROOT', 'validate_id', 'normalize_jobs',
    'JobRoot', 'read_chunk', 'async_status', 'proc_start_time',
]

ID_PATTERN = r'[A-Za-z0-9._-]{1,128}'
_ID_RE = re.compile(r'\A' + ID_PATTERN + r'\Z')
_JID_RE = re.compile(r'\A[A-Za-z0-9._-]{1,255}\Z')
DEFAULT_ROOT = '~/.jobnet/jobs'
DEFAULT_ASYNC_DIR = '~/.ansible_async'

SPEC = 'spec.json'
STATUS = 'status.json'
RESULT = 'result.json'
STDOUT = 'stdout'
STDERR = 'stderr'
STOP = 'stop'
TIMEDOUT = 'timedout'

# How long a launch may take before a folder without status.json is given up as lost (seconds).
LAUNCH_DEADLINE = 30.0
# How long the module waits for the supervisors' "pid start-time" lines in one call (seconds).
PIPE_DEADLINE = 30.0
# How long state=stopped waits for the supervisor's result.json after the process group is gone.
RESULT_DEADLINE = 5.0
# Poll interval of waits (seconds).
POLL_INTERVAL = 0.15
# At most this many supervisors are launched before their pipes are read (file descriptor bound).
LAUNCH_BATCH = 128
# The timer's grace loop sleeps this long per step (seconds).
GRACE_STEP = 0.2


class JobError(Exception):
    """Bad input or an unreadable record: the message says what and where."""


class JobState(str, Enum):
    """The states of a job on a host. The only place where the state strings are spelled out."""

    RUNNING = 'running'            # the job process or its supervisor is alive, no result.json yet
    NORMAL_END = 'normal_end'      # result.json: rc 0, reason exit
    ABNORMAL_END = 'abnormal_end'  # result.json: rc != 0, or a signal, or reason timeout
    STOPPED = 'stopped'            # result.json: reason stopped (state=stopped ended it)
    LOST = 'lost'                  # no result.json, supervisor and job both gone (machine stop, kill -9 of both)

    def __str__(self):
        return self.value


TERMINAL = frozenset((JobState.NORMAL_END, JobState.ABNORMAL_END, JobState.STOPPED, JobState.LOST))


class Reason(str, Enum):
    """Why a job ended, as recorded in result.json by the supervisor."""

    EXIT = 'exit'        # the command ended by itself (or was killed from outside)
    TIMEOUT = 'timeout'  # the supervisor's timer ended the process group
    STOPPED = 'stopped'  # state=stopped ended the process group

    def __str__(self):
        return self.value


class AsyncState(str, Enum):
    """States of a native Ansible async job (async_wrapper) as reported by job_info."""

    RUNNING = 'running'
    FINISHED = 'finished'
    LOST = 'lost'          # not finished and no process carries the jid: the wrapper died

    def __str__(self):
        return self.value


# The supervisor. Arguments: $1 job folder, $2 timeout in seconds (0: none), $3 grace steps of GRACE_STEP
# seconds, $4 absolute path of setsid, then the command's argv. It prints "<job pid> <job start time>"
# on its stdout (a pipe read by the module) and closes it; the start time is 0 when the command ended (and was
# reaped) before its /proc entry could be read, so the pid is still recorded and never taken for a live one. An exit status 129..192 from `wait` is read as
# a signal (128 + N), as shells do.
SUPERVISOR = r'''d=$1 t=$2 g=$3 x=$4
shift 4
exec </dev/null 2>/dev/null
"$x" "$@" >>"$d/stdout" 2>>"$d/stderr" &
p=$!
PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
export PATH
read -r s <"/proc/$p/stat"
s=${s##*) }
w=
if [ "$t" != 0 ]; then
  (
    trap 'kill "$z" 2>/dev/null; exit 0' TERM
    sleep "$t" & z=$!
    wait "$z"
    : >"$d/timedout"
    kill -TERM "-$p" 2>/dev/null
    i=0
    while [ "$i" -lt "$g" ] && kill -0 "-$p" 2>/dev/null; do sleep 0.2; i=$((i+1)); done
    kill -KILL "-$p" 2>/dev/null
    exit 0
  ) &
  w=$!
fi
set -- $s
echo "$p ${20:-0}"
exec >/dev/null
wait "$p"
c=$?
if [ -n "$w" ]; then
  [ -e "$d/timedout" ] || kill -TERM "$w" 2>/dev/null
  wait "$w"
fi
r=exit
[ -e "$d/timedout" ] && r=timeout
[ -e "$d/stop" ] && r=stopped
n=null
if [ "$c" -gt 128 ] && [ "$c" -le 192 ]; then n=$((c-128)); c=null; fi
e=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
printf '{"rc": %s, "signal": %s, "reason": "%s", "ended": "%s", "writer": "supervisor"}\n' "$c" "$n" "$r" "$e" >"$d/result.json.tmp"
sync "$d/result.json.tmp" || sync
mv -f "$d/result.json.tmp" "$d/result.json"
sync "$d" || sync
'''

SUPERVISOR_NAME = 'jobnet-supervisor'


# ---------------------------------------------------------------------------------------------------------
# small helpers

def now_iso():
    """The current time as ISO-8601 UTC with microseconds and a Z."""
    return datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def validate_id(value, field):
    """Return ``value`` if it is a valid job id, else raise JobError naming ``field``."""
    if not isinstance(value, str) or not _ID_RE.match(value) or value in ('.', '..'):
        raise JobError('%s: %r is not a valid job id (1-128 characters of A-Z a-z 0-9 . _ -, not "." or "..")'
                       % (field, value))
    return value


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path, data, sync_dir=True):
    """Write ``data`` as JSON to ``path``: tmp + flush + fsync + rename (+ fsync of the folder)."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f, sort_keys=True)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(os.path.dirname(path))


def read_json(path):
    """The record at ``path`` as a dict; None when the file does not exist; JobError when unreadable."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise JobError('cannot read record %s: %s' % (path, e))
    try:
        data = json.loads(raw.decode('utf-8'))
    except ValueError as e:
        raise JobError('record %s is not valid JSON (%s); inspect or remove the job folder' % (path, e))
    if not isinstance(data, dict):
        raise JobError('record %s is not a JSON object; inspect or remove the job folder' % path)
    return data


def boot_id():
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            return f.read().strip()
    except OSError:
        return None


def proc_start_time(pid):
    """Start time of ``pid`` (/proc/<pid>/stat field 22, clock ticks since boot); None if gone or a zombie."""
    if not pid:
        return None
    try:
        with open('/proc/%d/stat' % int(pid), 'rb') as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    rest = data[data.rindex(b')') + 2:].split()
    if rest[0] in (b'Z', b'X'):
        return None
    return int(rest[19])


def is_alive(pid, start_time, boot):
    """True when ``pid`` runs and is the very process that was recorded (same start time, same boot)."""
    if not pid or start_time is None:
        return False
    if boot and boot != boot_id():
        return False
    return proc_start_time(pid) == int(start_time)


def _utf8_complete_len(data):
    """Length of the longest prefix of ``data`` that does not end inside a multi-byte UTF-8 character."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        b = data[n - back]
        if b & 0xC0 == 0x80:        # continuation byte: look further back for the lead byte
            continue
        if b < 0x80:
            need = 1
        elif b & 0xE0 == 0xC0:
            need = 2
        elif b & 0xF0 == 0xE0:
            need = 3
        elif b & 0xF8 == 0xF0:
            need = 4
        else:
            return n                # not a lead byte: invalid anyway, leave it to the decoder
        return n - back if back < need else n
    return n


def read_chunk(path, offset, max_bytes, encoding='text', more_coming=False):
    """Read up to ``max_bytes`` of ``path`` from byte ``offset``. Nothing is consumed.

    Returns dict(data, next_offset, size). ``text``: UTF-8 (invalid bytes replaced), never ending inside a
    multi-byte character while more bytes follow (in the file, or later when ``more_coming``);
    ``base64``: the exact bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {'data': '', 'next_offset': offset, 'size': 0}
    try:
        size = os.fstat(fd).st_size
        want = max(0, min(max_bytes, size - offset))
        chunks = []
        got = 0
        while got < want:
            b = os.pread(fd, want - got, offset + got)
            if not b:
                break
            chunks.append(b)
            got += len(b)
        raw = b''.join(chunks)
    finally:
        os.close(fd)
    if encoding == 'base64':
        return {'data': base64.b64encode(raw).decode('ascii'), 'next_offset': offset + len(raw), 'size': size}
    if raw and (offset + len(raw) < size or more_coming):
        raw = raw[:_utf8_complete_len(raw)]
    return {'data': raw.decode('utf-8', 'replace'), 'next_offset': offset + len(raw), 'size': size}


def _size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _find_setsid():
    path = os.environ.get('PATH', '') + os.pathsep + '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'
    found = shutil.which('setsid', path=path)
    if not found:
        raise JobError('setsid (util-linux) is not installed on this host; it is needed to detach jobs')
    return found


def _proc_cmdlines():
    """argv of every process this user can see, as lists of bytes."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                out.append(f.read().split(b'\0'))
        except OSError:
            continue
    return out


# ---------------------------------------------------------------------------------------------------------
# input

def _str_dict(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobError('%s must be a dictionary of strings, got %s' % (field, type(value).__name__))
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise JobError('%s: key %r must be a non-empty string' % (field, k))
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            raise JobError('%s.%s must be a string, got %r' % (field, k, v))
        out[k] = str(v)
    return out


def normalize_jobs(jobs):
    """Validate the ``jobs`` option; return a list of normalised job specs. Raises JobError naming the field."""
    if not jobs:
        raise JobError('jobs: give at least one job to start')
    seen = {}
    out = []
    for i, job in enumerate(jobs):
        where = 'jobs[%d]' % i
        if not isinstance(job, dict):
            raise JobError('%s must be a dictionary' % where)
        jid = validate_id(job.get('id'), where + '.id')
        where = '%s (id %s)' % (where, jid)
        if jid in seen:
            raise JobError('jobs[%d].id: duplicate id %r, also given in jobs[%d]' % (i, jid, seen[jid]))
        seen[jid] = i
        command, shell = job.get('command'), job.get('shell')
        if command is not None and shell is not None:
            raise JobError('%s: both command and shell are given; give exactly one' % where)
        if command is None and shell is None:
            raise JobError('%s: neither command nor shell is given; give exactly one' % where)
        if command is not None:
            if not isinstance(command, list) or not command:
                raise JobError('%s: command must be a non-empty list (argv)' % where)
            argv = [str(a) for a in command]
            if not argv[0]:
                raise JobError('%s: command[0] (the program) is empty' % where)
        else:
            if not isinstance(shell, str) or not shell.strip():
                raise JobError('%s: shell must be a non-empty string' % where)
            argv = ['/bin/sh', '-c', shell]
        env = _str_dict(job.get('env'), where + '.env')
        for k in env:
            if '=' in k or '\0' in k:
                raise JobError('%s.env: invalid variable name %r' % (where, k))
        labels = _str_dict(job.get('labels'), where + '.labels')
        timeout = job.get('timeout')
        if timeout is not None:
            try:
                timeout = float(timeout)
            except (TypeError, ValueError):
                raise JobError('%s.timeout must be a number of seconds, got %r' % (where, timeout))
            if timeout < 0:
                raise JobError('%s.timeout must be >= 0 seconds (0: no timeout), got %r' % (where, timeout))
            if timeout == 0:
                timeout = None
        chdir = job.get('chdir')
        if chdir is not None:
            chdir = os.path.expanduser(str(chdir))
            if not os.path.isdir(chdir):
                raise JobError('%s.chdir: %s is not a directory on this host' % (where, chdir))
        name = job.get('name')
        out.append({
            'id': jid,
            'name': str(name) if name not in (None, '') else jid,
            'argv': argv,
            'chdir': chdir,
            'env': env,
            'timeout': timeout,
            'labels': labels,
        })
    return out


def normalize_ids(ids, field='ids'):
    if not ids:
        return []
    out = []
    seen = set()
    for i, v in enumerate(ids):
        validate_id(v, '%s[%d]' % (field, i))
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


# ---------------------------------------------------------------------------------------------------------
# the job root

class JobRoot(object):
    """The jobs under one job root on this host."""

    def __init__(self, root):
        self.root = os.path.abspath(os.path.expanduser(root or DEFAULT_ROOT))

    def path(self, jid):
        return os.path.join(self.root, jid)

    def exists(self, jid):
        return os.path.isdir(self.path(jid))

    def list_ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _ID_RE.match(n) and n not in ('.', '..') and os.path.isdir(self.path(n)))

    def ensure(self):
        if not os.path.isdir(self.root):
            try:
                os.makedirs(self.root, 0o700)
            except FileExistsError:
                pass
            except OSError as e:
                raise JobError('root: cannot create %s: %s' % (self.root, e))
            if os.path.isdir(self.root):
                fsync_dir(os.path.dirname(self.root))
        if not os.path.isdir(self.root):
            raise JobError('root: %s is not a directory' % self.root)

    # -- reading ------------------------------------------------------------------------------------------

    def view(self, jid, spec=True):
        """The current record of one job (no output). None when the job does not exist."""
        d = self.path(jid)
        if not os.path.isdir(d):
            return None
        sp = read_json(os.path.join(d, SPEC)) if spec else None
        st = read_json(os.path.join(d, STATUS))
        res = read_json(os.path.join(d, RESULT))
        if res is None:
            if st is None:
                state = self._state_without_status(d)
            elif (is_alive(st.get('pid'), st.get('pid_start'), st.get('boot_id'))
                  or is_alive(st.get('supervisor_pid'), st.get('supervisor_start'), st.get('boot_id'))):
                state = JobState.RUNNING
            else:
                # both gone: the supervisor may have written its result meanwhile
                res = read_json(os.path.join(d, RESULT))
                state = JobState.LOST if res is None else None
        if res is not None:
            state = state_of_result(res)
        sp = sp or {}
        st = st or {}
        res = res or {}
        return {
            'id': jid,
            'name': sp.get('name', jid),
            'labels': sp.get('labels', {}),
            'state': state,
            'rc': res.get('rc'),
            'signal': res.get('signal'),
            'reason': res.get('reason'),
            'started': st.get('started') or sp.get('created'),
            'ended': res.get('ended'),
            'pid': st.get('pid'),
            'path': d,
            '_status': st,
        }

    def _state_without_status(self, d):
        """A folder without status.json: a launch in progress, or a launch that died half way."""
        try:
            age = time.time() - os.stat(d).st_mtime
        except OSError:
            age = LAUNCH_DEADLINE + 1
        needle = d.encode()
        for argv in _proc_cmdlines():
            if len(argv) > 4 and argv[3] == SUPERVISOR_NAME.encode() and argv[4] == needle:
                return JobState.RUNNING
        return JobState.RUNNING if age < LAUNCH_DEADLINE else JobState.LOST

    # -- starting -----------------------------------------------------------------------------------------

    def start(self, specs, grace, check_mode=False):
        """Start every spec whose id does not exist yet. Returns (views, started ids, existing ids)."""
        started, existing, new = [], [], []
        if not check_mode:
            self.ensure()
        for spec in specs:
            d = self.path(spec['id'])
            if check_mode:
                (existing if os.path.isdir(d) else started).append(spec['id'])
                continue
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                existing.append(spec['id'])
                continue
            except OSError as e:
                raise JobError('root: cannot create the job folder %s: %s' % (d, e))
            os.chmod(d, 0o700)
            new.append(spec)
            started.append(spec['id'])
        if new:
            self._launch(new, grace)
        views = []
        for spec in specs:
            v = self.view(spec['id'])
            if v is None:       # check mode: would start
                d = self.path(spec['id'])
                v = {'id': spec['id'], 'name': spec['name'], 'labels': spec['labels'], 'state': None, 'rc': None,
                     'signal': None, 'reason': None, 'started': None, 'ended': None, 'pid': None,
                     'path': d, '_status': {}}
            views.append(v)
        return views, started, existing

    def _launch(self, specs, grace):
        created = now_iso()
        for spec in specs:
            d = self.path(spec['id'])
            for name in (STDOUT, STDERR):
                os.close(os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            write_json_atomic(os.path.join(d, SPEC), {
                'id': spec['id'], 'name': spec['name'], 'argv': spec['argv'], 'chdir': spec['chdir'],
                'env_keys': sorted(spec['env']), 'timeout': spec['timeout'], 'grace': grace,
                'labels': spec['labels'], 'created': created, 'schema': 1,
            })
        fsync_dir(self.root)
        setsid = _find_setsid()
        steps = str(max(1, int(round(float(grace) / GRACE_STEP))))
        boot = boot_id()
        home = os.path.expanduser('~')
        for i in range(0, len(specs), LAUNCH_BATCH):
            batch = specs[i:i + LAUNCH_BATCH]
            procs = []
            for spec in batch:
                d = self.path(spec['id'])
                env = dict(os.environ)
                env.update(spec['env'])
                timeout = spec['timeout']
                t = '0' if not timeout else ('%.3f' % timeout).rstrip('0').rstrip('.')
                argv = ['/bin/sh', '-c', SUPERVISOR, SUPERVISOR_NAME, d, t, steps, setsid] + spec['argv']
                try:
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True,
                                         cwd=spec['chdir'] or home, env=env)
                except OSError as e:
                    raise JobError('jobs (id %s): cannot start the supervisor: %s' % (spec['id'], e))
                procs.append((spec, p, now_iso()))
            lines = _read_lines([p for _s, p, _t in procs], PIPE_DEADLINE)
            for spec, p, started in procs:
                line = lines.get(p.pid, '')
                parts = line.split()
                pid = pid_start = None
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    pid, pid_start = int(parts[0]), int(parts[1])
                write_json_atomic(os.path.join(self.path(spec['id']), STATUS), {
                    'pid': pid, 'pid_start': pid_start,
                    'supervisor_pid': p.pid, 'supervisor_start': proc_start_time(p.pid),
                    'boot_id': boot, 'started': started, 'schema': 1,
                })
                # the supervisor lives on; forget it without waiting (it is in a session of its own)
                p.stdout.close()
                p.returncode = 0

    # -- stopping -----------------------------------------------------------------------------------------

    def stop(self, ids, grace, check_mode=False):
        """End the process group of every running job in ``ids``. Returns (views, changed ids)."""
        views = [self.view(j) for j in ids]
        running = [v for v in views if v['state'] == JobState.RUNNING]
        if check_mode or not running:
            return views, [v['id'] for v in running]
        groups = {}
        for v in running:
            d = v['path']
            write_json_atomic(os.path.join(d, STOP), {'requested': now_iso()})
            st = v['_status']
            if is_alive(st.get('pid'), st.get('pid_start'), st.get('boot_id')):
                groups[v['id']] = int(st['pid'])
        _signal_groups(groups, signal.SIGTERM)
        deadline = time.monotonic() + float(grace)
        while groups and time.monotonic() < deadline:
            alive = live_pgids()
            groups = dict((k, g) for k, g in groups.items() if g in alive)
            if groups:
                time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        _signal_groups(groups, signal.SIGKILL)
        # wait for the supervisors' results; write one ourselves where the supervisor is gone
        pending = dict((v['id'], v) for v in running)
        deadline = time.monotonic() + RESULT_DEADLINE + (1.0 if groups else 0.0)
        while pending:
            for jid, v in list(pending.items()):
                d = v['path']
                if os.path.exists(os.path.join(d, RESULT)):
                    del pending[jid]
                    continue
                st = v['_status']
                sup = is_alive(st.get('supervisor_pid'), st.get('supervisor_start'), st.get('boot_id'))
                if not sup or time.monotonic() >= deadline:
                    write_json_atomic(os.path.join(d, RESULT), {
                        'rc': None, 'signal': None, 'reason': Reason.STOPPED.value, 'ended': now_iso(),
                        'writer': 'module',
                    })
                    del pending[jid]
            if pending:
                time.sleep(POLL_INTERVAL)
        return [self.view(j) for j in ids], [v['id'] for v in running]

    # -- removing -----------------------------------------------------------------------------------------

    def remove(self, ids, force, grace, check_mode=False):
        """Remove the folders of ``ids``. Running jobs only with ``force`` (stopped first)."""
        views = [self.view(j) for j in ids]
        present = [v for v in views if v is not None]
        running = [v['id'] for v in present if v['state'] == JobState.RUNNING]
        if running and not force:
            raise JobError('ids: job(s) %s still running; stop them first (state=stopped) or set force=true'
                           % ', '.join(running))
        if check_mode:
            return [v['id'] for v in present]
        if running:
            self.stop(running, grace)
        removed = []
        for v in present:
            trash = os.path.join(self.root, '#removing.%s.%s' % (v['id'], uuid.uuid4().hex[:8]))
            try:
                os.rename(v['path'], trash)
            except FileNotFoundError:
                continue
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(v['id'])
        if removed:
            fsync_dir(self.root)
        return removed


def state_of_result(res):
    reason = res.get('reason')
    if reason == Reason.STOPPED.value:
        return JobState.STOPPED
    if reason == Reason.TIMEOUT.value:
        return JobState.ABNORMAL_END
    if res.get('rc') == 0 and res.get('signal') is None:
        return JobState.NORMAL_END
    return JobState.ABNORMAL_END


def _signal_groups(groups, sig):
    for g in groups.values():
        try:
            os.killpg(g, sig)
        except (ProcessLookupError, PermissionError):
            pass


def live_pgids():
    """Process group ids that have at least one member that is not a zombie.

    kill(-pgid, 0) also succeeds for a group of zombies only, which an init that reaps late leaves behind.
    """
    out = set()
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b')') + 2:].split()
        if rest[0] not in (b'Z', b'X'):
            out.add(int(rest[2]))
    return out


def _read_lines(procs, timeout):
    """Read one line from each process's stdout pipe, all with one deadline. Returns {pid: line}."""
    bufs = dict((p.stdout.fileno(), b'') for p in procs)
    pids = dict((p.stdout.fileno(), p.pid) for p in procs)
    open_fds = set(bufs)
    deadline = time.monotonic() + timeout
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _w, _x = select.select(list(open_fds), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 256)
            bufs[fd] += chunk
            if not chunk or b'\n' in bufs[fd]:
                open_fds.discard(fd)
    return dict((pids[fd], b.split(b'\n')[0].decode('ascii', 'replace')) for fd, b in bufs.items())


# ---------------------------------------------------------------------------------------------------------
# job_info

def public_view(v):
    return dict((k, (str(val) if isinstance(val, Enum) else val)) for k, val in v.items() if not k.startswith('_'))


def select_views(jroot, ids, missing, name=None, states=None, labels=None):
    """Views of ``ids`` (or every job) filtered. Returns (views, missing ids). Raises on unknown with fail."""
    unknown = []
    views = []
    for jid in (ids if ids else jroot.list_ids()):
        v = jroot.view(jid)
        if v is None:
            unknown.append(jid)
            continue
        views.append(v)
    if unknown and missing == 'fail':
        raise JobError('ids: no job %s under %s (use missing=ignore to list unknown ids instead)'
                       % (', '.join(repr(u) for u in unknown), jroot.root))
    if name:
        views = [v for v in views if fnmatch.fnmatchcase(v['name'], name)]
    if states:
        wanted = set(JobState(s) for s in states)
        views = [v for v in views if v['state'] in wanted]
    if labels:
        views = [v for v in views if all(v['labels'].get(k) == val for k, val in labels.items())]
    return views, unknown


def wait_for_change(jroot, views, wait):
    """Wait up to ``wait`` seconds until any of ``views`` changes state. Returns fresh views."""
    if wait <= 0 or not any(v['state'] == JobState.RUNNING for v in views):
        return views
    deadline = time.monotonic() + wait
    current = list(views)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return current
        time.sleep(min(POLL_INTERVAL, left))
        changed = False
        for i, v in enumerate(current):
            if v['state'] != JobState.RUNNING:
                continue
            nv = jroot.view(v['id'])
            if nv is None:          # removed meanwhile: a change
                changed = True
                continue
            if nv['state'] != v['state']:
                changed = True
            current[i] = nv
        if changed:
            return [v for v in current if v is not None and os.path.isdir(v['path'])]


def with_output(v, output, stdout_offset, stderr_offset, max_bytes, encoding):
    """Add the output fields to a view (a new dict)."""
    out = public_view(v)
    running = v['state'] == JobState.RUNNING
    d = v['path']
    nxt = {}
    sizes = {}
    for stream, off in ((STDOUT, stdout_offset), (STDERR, stderr_offset)):
        p = os.path.join(d, stream)
        if output:
            c = read_chunk(p, off, max_bytes, encoding, more_coming=running)
            out[stream] = c['data']
            nxt[stream] = c['next_offset']
            sizes[stream] = c['size']
        else:
            nxt[stream] = off
            sizes[stream] = _size(p)
        out[stream + '_offset'] = off
        out[stream + '_size'] = sizes[stream]
    out['next_offset'] = nxt
    out['has_more_data'] = bool(running or nxt[STDOUT] < sizes[STDOUT] or nxt[STDERR] < sizes[STDERR])
    out['encoding'] = encoding
    return out


# ---------------------------------------------------------------------------------------------------------
# native Ansible async jobs

def async_status(jids, async_dir):
    """Status of native async job ids. Returns (list of dicts, unknown jids)."""
    base = os.path.abspath(os.path.expanduser(async_dir or DEFAULT_ASYNC_DIR))
    out, unknown, unfinished = [], [], []
    for i, jid in enumerate(jids):
        if not isinstance(jid, str) or not _JID_RE.match(jid) or jid in ('.', '..'):
            raise JobError('async_jids[%d]: %r is not a valid async job id' % (i, jid))
        path = os.path.join(base, jid)
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except FileNotFoundError:
            unknown.append(jid)
            continue
        except OSError as e:
            raise JobError('async_jids[%d]: cannot read %s: %s' % (i, path, e))
        try:
            data = json.loads(raw.decode('utf-8'))
        except ValueError:
            # async_wrapper writes tmp + rename: a torn file means it died while writing
            data = {'started': True, 'finished': False, 'msg': 'unparseable status file %s' % path}
        if not isinstance(data, dict):
            data = {}
        finished = 'started' not in data or bool(data.get('finished'))
        rec = {
            'jid': jid, 'finished': finished, 'rc': data.get('rc'), 'failed': bool(data.get('failed', False)),
            'msg': data.get('msg'), 'results_file': path,
            'state': str(AsyncState.FINISHED if finished else AsyncState.RUNNING),
        }
        if finished:
            rec['result'] = data
        else:
            unfinished.append(rec)
        out.append(rec)
    if unfinished:
        argvs = set()
        for argv in _proc_cmdlines():
            argvs.update(argv)
        for rec in unfinished:
            prefix = rec['jid'].rsplit('.', 1)[0]
            if rec['jid'].encode() not in argvs and prefix.encode() not in argvs:
                rec['state'] = str(AsyncState.LOST)
    return out, unknown
