# -*- coding: utf-8 -*-
# Copyright: jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Detached jobs on a host: the target side of ``jobnet.scheduler.job`` and ``job_info``.

Not a public API. Runs on the target with the standard library only.

One folder per attempt id under a job root, mode 0700 (files 0600)::

    spec.json     written by the module before the launch
    command.sh    written by the module before the launch: the shell text, or an exec line of the argv
    status.json   written by the module right after the launch (pids + start times)
    stdout        append-only output of the job
    stderr        append-only output of the job
    result.json   written by the supervisor when the job ends (rc, signal, reason, ended)
    stop          marker written by ``state=stopped`` before it signals the job
    timedout      marker written by the supervisor's timer before it signals the job

The supervisor is a small POSIX ``sh`` script (``SUPERVISOR``), started in a session of its own so that it
outlives the module, the SSH connection and the controller. It starts ``/bin/sh command.sh`` with ``setsid``
(the job's pid is its process group and session id), reports the job's pid and start time back through a
pipe, waits for it, ends what is left of the job's process group and writes ``result.json``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import math
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import time
import uuid
from datetime import datetime, timezone
from enum import Enum

from ansible_collections.jobnet.scheduler.plugins.module_utils._proc import (
    GONE_STATES,
    boot_id,
    is_alive,
    start_time as proc_start_time,
    stat_fields,
)

__all__ = [
    'JobError', 'JobState', 'Reason', 'ID_PATTERN', 'DEFAULT_ROOT', 'validate_id', 'normalize_jobs',
    'JobRoot', 'PartialLaunch', 'read_chunk', 'async_status', 'proc_start_time', 'seconds', 'TIMEOUT_MAX',
    'GRACE_MAX', 'WAIT_MAX', 'MAX_BYTES_MAX',
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
COMMAND = 'command.sh'

# Bounds of the inputs (seconds, bytes). A timeout of at most 31 days, a grace of at most an hour, a job_info
# wait of at most a day, at most 16 MiB per stream and job in one job_info call (page with offsets for more).
TIMEOUT_MAX = 31 * 24 * 3600
GRACE_MAX = 3600
WAIT_MAX = 24 * 3600
MAX_BYTES_MAX = 16 * 1024 * 1024
# Linux limits of execve: one argument or environment string (MAX_ARG_STRLEN, with its NUL), and the strings
# plus their pointers together (at most a quarter of the stack limit, at most 6 MiB: see execve(2)).
ARG_STRLEN_MAX = 32 * 4096 - 1
try:
    _ARG_MAX = min(int(os.sysconf('SC_ARG_MAX')), 6 * 1024 * 1024)
except (ValueError, OSError, AttributeError):
    _ARG_MAX = 128 * 1024
# Room kept for the supervisor's own argv (its script) within the limit.
_ARG_MARGIN = 8192

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
    LAUNCH_FAILED = 'launch_failed'  # the module could not start the job (left only if its folder stays)

    def __str__(self):
        return self.value


class PartialLaunch(JobError):
    """Some jobs of a start call could not be launched; ``result`` says what started and what did not."""

    def __init__(self, msg, result):
        JobError.__init__(self, msg)
        self.result = result


class AsyncState(str, Enum):
    """States of a native Ansible async job (async_wrapper) as reported by job_info."""

    RUNNING = 'running'
    FINISHED = 'finished'
    LOST = 'lost'          # not finished and no process carries the jid: the wrapper died

    def __str__(self):
        return self.value


# The supervisor. Arguments: $1 job folder, $2 timeout in seconds (0: none), $3 grace steps of GRACE_STEP
# seconds, $4 absolute path of setsid, $5 the umask for the job (octal). The command is the file command.sh of
# the folder, run by /bin/sh, so its size is not bound by the limits of execve. The supervisor's own files are
# private (umask 077); the job gets the umask the module had. It prints "<job pid> <job start time>" on its
# stdout (a pipe read by the module) and closes it; the start time is 0 when the command ended (and was reaped)
# before its /proc entry could be read, so the pid is still recorded and never taken for a live one. When the
# job's main process ends (by itself, by the timeout or stopped), k ends what is left of its process group:
# TERM, then KILL after the grace; `a` tells whether the group has a member that is not a zombie (kill -0
# succeeds for a group of zombies, which an init that reaps late leaves behind). An exit status 129..192 from
# `wait` is read as a signal (128 + N), as shells do.
SUPERVISOR = r'''umask 077
d=$1 t=$2 g=$3 x=$4 u=$5
exec </dev/null 2>/dev/null
{ umask "$u"; exec "$x" /bin/sh "$d/command.sh"; } >>"$d/stdout" 2>>"$d/stderr" &
p=$!
PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
export PATH
read -r s <"/proc/$p/stat"
s=${s##*) }
a() {
  for f in /proc/[0-9]*/stat; do
    read -r l <"$f" || continue
    l=${l##*) }
    set -- $l
    [ "$3" = "$p" ] && [ "$1" != Z ] && [ "$1" != X ] && return 0
  done
  return 1
}
k() {
  kill -TERM "-$p" || return 0
  i=0
  while [ "$i" -lt "$g" ] && a; do sleep 0.2; i=$((i+1)); done
  kill -KILL "-$p"
}
w=
if [ "$t" != 0 ]; then
  (
    trap 'kill "$z"; exit 0' TERM
    sleep "$t" & z=$!
    wait "$z"
    : >"$d/timedout"
    k
    exit 0
  ) &
  w=$!
fi
set -- $s
echo "$p ${20:-0}"
exec >/dev/null
wait "$p"
c=$?
e=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
if [ -n "$w" ]; then
  [ -e "$d/timedout" ] || kill -TERM "$w"
  wait "$w"
fi
k
r=exit
[ -e "$d/timedout" ] && r=timeout
[ -e "$d/stop" ] && r=stopped
n=null
if [ "$c" -gt 128 ] && [ "$c" -le 192 ]; then n=$((c-128)); c=null; fi
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


def write_file(path, data):
    """Create ``path`` (it must not exist) with mode 0600 and ``data`` (str, UTF-8).

    Not fsynced: command.sh is read at once by the job's shell (from the page cache); after a machine stop the
    job is lost anyway, and spec.json (fsynced) is the record of what was launched.
    """
    raw = data.encode('utf-8', 'surrogateescape')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _sh_quote(arg):
    return "'" + arg.replace("'", "'\\''") + "'"


def command_script(spec):
    """The text of command.sh: the shell text as given, or one exec line with every argument single-quoted.

    The supervisor runs it with ``/bin/sh command.sh``, so neither the shell text nor the argv passes through
    an execve of the supervisor: only the program's own argv meets the kernel's limits.
    """
    if spec.get('shell') is not None:
        return spec['shell']
    return 'exec ' + ' '.join(_sh_quote(a) for a in spec['argv']) + '\n'


ROOT_FIX = ('use a job root of your own (option root, host variable jobnet_job_root), or make this one private to '
            'the user that runs the jobs (chown it to that user, chmod 0700)')
JOB_FOLDER_FIX = ('nothing was started; inspect the folder and remove it (another user may have planted it), or use '
                  'another id; the job root must be private to the user that runs the jobs')


def check_private(path, field, fix):
    """Refuse a folder that another user made or can change; False when ``path`` does not exist.

    Refused: a folder not owned by the effective user, one writable by group or others, a symbolic link owned
    by another user (a link of the user's own is followed and its target checked), and anything that is not a
    folder. Another user who can write the job root could plant a job folder (a result.json, a status.json
    naming pids to signal) for an attempt id before it is launched.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise JobError('%s: cannot inspect %s: %s' % (field, path, e))
    uid = os.geteuid()
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid != uid:
            raise JobError('%s: %s is a symbolic link owned by uid %d, not by uid %d that runs the module; %s'
                           % (field, path, st.st_uid, uid, fix))
        try:
            st = os.stat(path)
        except OSError as e:
            raise JobError('%s: %s is a symbolic link to nothing usable (%s); %s' % (field, path, e, fix))
    if not stat.S_ISDIR(st.st_mode):
        raise JobError('%s: %s is not a directory; %s' % (field, path, fix))
    if st.st_uid != uid:
        raise JobError('%s: %s is owned by uid %d, not by uid %d that runs the module; %s'
                       % (field, path, st.st_uid, uid, fix))
    if st.st_mode & 0o022:
        raise JobError('%s: %s is writable by group or others (mode %04o); %s'
                       % (field, path, stat.S_IMODE(st.st_mode), fix))
    return True


def _makedirs_private(path):
    """Create ``path`` and its missing parents, each with mode 0700 whatever the umask."""
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        except OSError as e:
            raise JobError('root: cannot create %s: %s' % (path, e))
        os.chmod(d, 0o700)
        fsync_dir(os.path.dirname(d))


def launch_failure_message(res):
    """The message of a start call some of whose jobs could not be started (ids grouped by reason)."""
    reasons = {}
    for r in res['refused']:
        reasons.setdefault(r['msg'], []).append(r['id'])
    return ('jobs: could not start %d of the %d jobs, nothing of them runs: %s; %d started, %d existing (see jobs, '
            'started, existing and refused)'
            % (len(res['refused']), len(res['refused']) + len(res['started']) + len(res['existing']),
               '; '.join('%s (%s)' % (', '.join(ids), msg) for msg, ids in reasons.items()),
               len(res['started']), len(res['existing'])))


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

def seconds(value, field, maximum, note=''):
    """``value`` as a finite number of seconds from 0 to ``maximum``; JobError naming ``field`` otherwise.

    Takes what YAML and JSON give: numbers of any size and numeric strings (a 401-digit number, ``1e400``,
    ``nan`` and ``inf`` are refused, not turned into a float that never ends).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise JobError('%s must be a number of seconds, got %r' % (field, value))
    try:
        if isinstance(value, int) and abs(value) > maximum:
            raise OverflowError()
        number = float(value)
    except OverflowError:
        raise JobError('%s must be at most %d seconds, got a number far larger' % (field, maximum))
    except ValueError:
        raise JobError('%s must be a number of seconds, got %r' % (field, value))
    if math.isnan(number):
        raise JobError('%s must be a number of seconds, got %r' % (field, value))
    if number < 0:
        raise JobError('%s must be >= 0 seconds%s, got %r' % (field, note, value))
    if number > maximum:
        raise JobError('%s must be at most %d seconds, got %r' % (field, maximum, value))
    return number


_NUL_RULE = 'no NUL byte (\\0) is allowed in ids, names, labels, command arguments, shell text, chdir or env'


def _no_nul(value, field):
    if '\0' in value:
        raise JobError('%s contains a NUL byte; %s' % (field, _NUL_RULE))
    return value


def _str_dict(value, field, secret=False):
    """A dictionary of strings (keys non-empty, no NUL). With ``secret`` no value is ever put in a message."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobError('%s must be a dictionary of strings, got %s' % (field, type(value).__name__))
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise JobError('%s: key %r must be a non-empty string' % (field, k))
        _no_nul(k, '%s: key %r' % (field, k))
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            raise JobError('%s.%s must be a string, got %s' % (field, k, type(v).__name__ if secret else repr(v)))
        v = str(v)
        if '\0' in v:
            raise JobError('%s.%s: the value contains a NUL byte; %s' % (field, k, _NUL_RULE))
        out[k] = v
    return out


def _encoded_len(value):
    return len(value.encode('utf-8', 'surrogateescape'))


def _check_exec_size(where, argv, env):
    """Refuse what no execve can take: one string over MAX_ARG_STRLEN, or argv + environment over ARG_MAX.

    ``argv`` is what the job's program gets (empty for a shell job: its text is a file), ``env`` the job's
    whole environment (the module's own and the job's variables).
    """
    total = 0
    for i, a in enumerate(argv):
        n = _encoded_len(a)
        if n > ARG_STRLEN_MAX:
            raise JobError('%s.command[%d] is %d bytes; one argument of a program can hold at most %d bytes on '
                           'Linux (MAX_ARG_STRLEN): pass large data in a file, or give the job as shell text '
                           '(no size limit)' % (where, i, n, ARG_STRLEN_MAX))
        total += n + 1 + 8
    for k, v in env.items():
        n = _encoded_len(k) + 1 + _encoded_len(v)
        if n > ARG_STRLEN_MAX:
            raise JobError('%s.env: the variable %s is %d bytes; one environment variable can hold at most %d '
                           'bytes on Linux (MAX_ARG_STRLEN): pass large data in a file' % (where, k, n, ARG_STRLEN_MAX))
        total += n + 1 + 8
    if total + _ARG_MARGIN > _ARG_MAX:
        raise JobError('%s: the command\'s arguments and its environment are %d bytes together; a program on this '
                       'host can get at most %d (ARG_MAX, less %d for the supervisor): pass large data in a file, '
                       'or give the job as shell text (no size limit)' % (where, total, _ARG_MAX, _ARG_MARGIN))


def normalize_jobs(jobs):
    """Validate the ``jobs`` option; return a list of normalised job specs. Raises JobError naming the field.

    Every job of the batch is checked before anything is created or started, so that a bad job never leaves a
    call half done.
    """
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
            argv = []
            for k, a in enumerate(command):
                if a is None or isinstance(a, (dict, list)):
                    raise JobError('%s.command[%d] must be a string, got %r' % (where, k, a))
                argv.append(_no_nul(str(a), '%s.command[%d]' % (where, k)))
            if not argv[0]:
                raise JobError('%s: command[0] (the program) is empty' % where)
            if argv[0].startswith('-'):
                raise JobError('%s: command[0] (the program) %r begins with "-"; give it as a path (./%s)'
                               % (where, argv[0], argv[0]))
            exec_argv = argv
        else:
            if not isinstance(shell, str) or not shell.strip():
                raise JobError('%s: shell must be a non-empty string' % where)
            _no_nul(shell, where + '.shell')
            argv = ['/bin/sh', '-c', shell]
            exec_argv = []
        env = _str_dict(job.get('env'), where + '.env', secret=True)
        secret_env = _str_dict(job.get('secret_env'), where + '.secret_env', secret=True)
        for field, names in (('env', env), ('secret_env', secret_env)):
            for k in names:
                if '=' in k:
                    raise JobError('%s.%s: invalid variable name %r' % (where, field, k))
        both = sorted(set(env) & set(secret_env))
        if both:
            raise JobError('%s: %s given in both env and secret_env; give each variable once'
                           % (where, ', '.join(both)))
        whole_env = dict(os.environ)
        whole_env.update(env)
        whole_env.update(secret_env)
        _check_exec_size(where, exec_argv, whole_env)
        labels = _str_dict(job.get('labels'), where + '.labels')
        timeout = job.get('timeout')
        if timeout is not None:
            timeout = seconds(timeout, where + '.timeout', TIMEOUT_MAX, ' (0: no timeout)') or None
        chdir = job.get('chdir')
        if chdir is not None:
            chdir = os.path.expanduser(_no_nul(str(chdir), where + '.chdir'))
            if not os.path.isdir(chdir):
                raise JobError('%s.chdir: %s is not a directory on this host' % (where, chdir))
            if not os.access(chdir, os.X_OK):
                raise JobError('%s.chdir: %s cannot be entered by this user (no search permission)'
                               % (where, chdir))
        name = job.get('name')
        if name not in (None, ''):
            name = _no_nul(str(name), where + '.name')
        out.append({
            'id': jid,
            'name': name if name not in (None, '') else jid,
            'argv': argv,
            'shell': shell if command is None else None,
            'chdir': chdir,
            'env': env,
            'secret_env': secret_env,
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
        """Create the job root if needed (every new folder 0700) and check that it is private."""
        if not os.path.lexists(self.root):
            _makedirs_private(self.root)
        if not check_private(self.root, 'root', ROOT_FIX):
            raise JobError('root: %s is not a directory' % self.root)

    def check(self):
        """Check that the job root, if it exists, is private (see check_private). True when it exists."""
        return check_private(self.root, 'root', ROOT_FIX)

    def check_job_folder(self, jid, field):
        """Refuse a job folder another user made or can change (see check_private). True when it exists."""
        return check_private(self.path(jid), field, JOB_FOLDER_FIX)

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
        """Start every spec whose id does not exist yet. Returns (views, started ids, existing ids).

        Raises PartialLaunch (with the whole result of ``launch``) when a job could not be started.
        """
        res = self.launch(specs, grace, check_mode)
        if res['refused']:
            raise PartialLaunch(launch_failure_message(res), res)
        return res['views'], res['started'], res['existing']

    def launch(self, specs, grace, check_mode=False):
        """Start every spec whose id does not exist yet, and say exactly what happened.

        Returns dict(views, started, existing, refused, notes): ``views`` of every job of the call that exists,
        in the order of ``specs`` (a refused one is not among them); ``refused`` lists ``{id, msg}`` of the jobs
        that could not be started: nothing of them runs and their folder is removed (if the removal fails too,
        it holds a result.json with reason ``launch_failed``). Refuses the whole call (JobError, nothing
        created) when the root or an existing job folder is not private.
        """
        started, existing, new, refused, notes = [], [], [], [], []
        if check_mode:
            self.check()
        else:
            setsid = _find_setsid()
            self.ensure()
        for i, spec in enumerate(specs):
            self.check_job_folder(spec['id'], 'jobs[%d] (id %s)' % (i, spec['id']))
        for i, spec in enumerate(specs):
            d = self.path(spec['id'])
            if check_mode:
                (existing if os.path.isdir(d) else started).append(spec['id'])
                continue
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                try:
                    self.check_job_folder(spec['id'], 'jobs[%d] (id %s)' % (i, spec['id']))
                except JobError as e:
                    refused.append({'id': spec['id'], 'msg': str(e)})
                    continue
                existing.append(spec['id'])
                continue
            except OSError as e:
                refused.append({'id': spec['id'], 'msg': 'cannot create the job folder %s: %s' % (d, e)})
                continue
            os.chmod(d, 0o700)
            new.append(spec)
        if new:
            failed = self._launch(new, grace, setsid, notes)
            refused.extend(failed)
            failed_ids = set(r['id'] for r in failed)
            started = [s['id'] for s in new if s['id'] not in failed_ids]
        refused_ids = set(r['id'] for r in refused)
        views = []
        for spec in specs:
            if spec['id'] in refused_ids:
                continue
            v = self.view(spec['id'])
            if v is None:       # check mode: would start
                d = self.path(spec['id'])
                v = {'id': spec['id'], 'name': spec['name'], 'labels': spec['labels'], 'state': None, 'rc': None,
                     'signal': None, 'reason': None, 'started': None, 'ended': None, 'pid': None,
                     'path': d, '_status': {}}
            views.append(v)
        return {'views': views, 'started': started, 'existing': existing, 'refused': refused, 'notes': notes}

    def _launch(self, specs, grace, setsid, notes):
        """Write the folders of ``specs`` and start their supervisors. Returns [{id, msg}] of those refused."""
        created = now_iso()
        refused = []
        ready = []
        for spec in specs:
            d = self.path(spec['id'])
            try:
                for name in (STDOUT, STDERR):
                    os.close(os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
                write_file(os.path.join(d, COMMAND), command_script(spec))
                write_json_atomic(os.path.join(d, SPEC), {
                    'id': spec['id'], 'name': spec['name'], 'argv': spec['argv'], 'chdir': spec['chdir'],
                    'env_keys': sorted(spec['env']), 'secret_env_keys': sorted(spec.get('secret_env') or {}),
                    'timeout': spec['timeout'], 'grace': grace, 'labels': spec['labels'], 'created': created,
                    'schema': 1,
                })
            except OSError as e:
                refused.append(self._discard(spec['id'], 'cannot write the job folder %s: %s' % (d, e)))
                continue
            ready.append(spec)
        try:
            fsync_dir(self.root)
        except OSError:
            pass
        steps = str(max(1, int(round(float(grace) / GRACE_STEP))))
        mask = os.umask(0o077)
        os.umask(mask)
        mask = '%04o' % mask
        boot = boot_id()
        home = os.path.expanduser('~')
        for i in range(0, len(ready), LAUNCH_BATCH):
            batch = ready[i:i + LAUNCH_BATCH]
            procs = []
            for spec in batch:
                d = self.path(spec['id'])
                env = dict(os.environ)
                env.update(spec['env'])
                env.update(spec.get('secret_env') or {})
                timeout = spec['timeout']
                t = '0' if not timeout else ('%.3f' % max(timeout, 0.001)).rstrip('0').rstrip('.')
                argv = ['/bin/sh', '-c', SUPERVISOR, SUPERVISOR_NAME, d, t, steps, setsid, mask]
                try:
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True,
                                         cwd=spec['chdir'] or home, env=env)
                except (OSError, ValueError, subprocess.SubprocessError) as e:
                    # nothing runs: Popen raises only when the supervisor never started (no fork, or exec failed)
                    refused.append(self._discard(spec['id'], 'cannot start the supervisor: %s' % e))
                    continue
                procs.append((spec, p, now_iso()))
            lines = _read_lines([p for _s, p, _t in procs], PIPE_DEADLINE)
            for spec, p, started in procs:
                line = lines.get(p.pid, '')
                parts = line.split()
                pid = pid_start = None
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    pid, pid_start = int(parts[0]), int(parts[1])
                try:
                    write_json_atomic(os.path.join(self.path(spec['id']), STATUS), {
                        'pid': pid, 'pid_start': pid_start,
                        'supervisor_pid': p.pid, 'supervisor_start': proc_start_time(p.pid),
                        'boot_id': boot, 'started': started, 'schema': 1,
                    })
                except OSError as e:
                    # the job runs: it stays started; its state comes from its supervisor's argv until it ends
                    notes.append('jobs (id %s): started, but status.json could not be written: %s' % (spec['id'], e))
                # the supervisor lives on; forget it without waiting (it is in a session of its own)
                p.stdout.close()
                p.returncode = 0
        return refused

    def _discard(self, jid, msg):
        """The job ``jid`` did not start: remove its folder so that it never looks running or lost.

        result.json (reason launch_failed) is written first, so that whatever a failed removal leaves behind
        says the job never started. Returns the ``refused`` entry {id, msg}.
        """
        d = self.path(jid)
        try:
            write_json_atomic(os.path.join(d, RESULT), {
                'rc': None, 'signal': None, 'reason': Reason.LAUNCH_FAILED.value, 'ended': now_iso(),
                'writer': 'module', 'msg': msg,
            })
        except OSError:
            pass
        trash = os.path.join(self.root, '#removing.%s.%s' % (jid, uuid.uuid4().hex[:8]))
        try:
            os.rename(d, trash)
        except OSError:
            return {'id': jid, 'msg': msg}
        shutil.rmtree(trash, ignore_errors=True)
        try:
            fsync_dir(self.root)
        except OSError:
            pass
        return {'id': jid, 'msg': msg}

    # -- stopping -----------------------------------------------------------------------------------------

    def stop(self, ids, grace, check_mode=False):
        """End the process group of every running job in ``ids``. Returns (views, changed ids)."""
        self.check()
        views = [self.view(j) for j in ids]
        running = [v for v in views if v['state'] == JobState.RUNNING]
        for v in running:
            self.check_job_folder(v['id'], 'ids (id %s)' % v['id'])
        if check_mode or not running:
            return views, [v['id'] for v in running]
        groups = {}
        supervised = set()
        live = None
        for v in running:
            d = v['path']
            write_json_atomic(os.path.join(d, STOP), {'requested': now_iso()})
            st = v['_status']
            if is_alive(st.get('supervisor_pid'), st.get('supervisor_start'), st.get('boot_id')):
                supervised.add(v['id'])
            if is_alive(st.get('pid'), st.get('pid_start'), st.get('boot_id')):
                groups[v['id']] = int(st['pid'])
            elif v['id'] in supervised and st.get('pid'):
                # the main process ended and its supervisor is ending what is left of the group: help it
                if live is None:
                    live = live_pgids()
                if int(st['pid']) in live:
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
        self.check()
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
        rest = stat_fields(name)
        if rest is not None and len(rest) > 2 and rest[0] not in GONE_STATES:
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


def select_views(jroot, ids, missing, name=None, states=None, labels=None, host=None):
    """Views of ``ids`` (or every job) filtered. Returns (views, missing ids). Raises on unknown with fail.

    ``host``: only jobs whose ``host`` label is this inventory host, or that have no ``host`` label; ``*``: all.
    """
    jroot.check()
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
    if host and host != '*':
        views = [v for v in views if v['labels'].get('host') in (None, host)]
    return views, unknown


#: most files one call looks at
FILES_MAX = 100000


def file_states(paths):
    """[{path, exists, mtime, size}] of each path (a file trigger): one stat() each, nothing opened or read."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            out.append({'path': path, 'exists': False, 'mtime': None, 'size': None})
            continue
        mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        out.append({'path': path, 'exists': True, 'mtime': mtime, 'size': st.st_size})
    return out


def check_files(paths):
    """The watched paths of a call: absolute, without NUL; at most FILES_MAX."""
    if len(paths) > FILES_MAX:
        raise JobError('files: at most %d paths in one call, got %d' % (FILES_MAX, len(paths)))
    for path in paths:
        if not path.startswith('/') or '\0' in path:
            raise JobError('files: %r is not an absolute path' % (path,))
    return list(paths)


def _present(paths):
    return set(p for p in paths if os.path.exists(p))


def wait_for_change(jroot, views, wait, files=None, present=None):
    """Wait up to ``wait`` seconds until any of ``views`` changes state, or (``files``) until the set of those
    files that exist differs from ``present`` (what the caller knew). Returns fresh views."""
    files = list(files or [])
    known = set(present or []) & set(files)
    if wait <= 0 or (not files and not any(v['state'] == JobState.RUNNING for v in views)):
        return views
    if files and _present(files) != known:
        return views
    deadline = time.monotonic() + wait
    current = list(views)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return current
        time.sleep(min(POLL_INTERVAL, left))
        if files and _present(files) != known:
            return current
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
