# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who holds a lease, and whether that process is provably dead (controller side, ``/proc`` based).

The target side has its own liveness checks (``module_utils/_jobrunner.py``); both compare a pid **and** its
start time, so a reused pid never counts as the same process.
"""

from __future__ import annotations

import os
import socket
import sys


def describe_owner(owner: dict) -> str:
    """``ansible-playbook pid 1234 on host h (what=run)`` from a lease owner dict."""
    owner = owner or {}
    prog = owner.get('program') or 'process'
    return '%s pid %s on host %s (what=%s)' % (prog, owner.get('pid', '?'), owner.get('host', '?'),
                                               owner.get('what', '?'))


def _boot_id() -> str | None:
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            return f.read().strip()
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    """Start time of a process (``/proc/<pid>/stat`` field 22, clock ticks since boot), or ``None`` if gone.

    A zombie (state ``Z`` or ``X``: it has exited and waits to be reaped) is gone: a controller killed with its
    parent may stay a zombie for long where nothing reaps orphans, and its lease must not look alive. The target
    side's ``_jobrunner.proc_start_time`` applies the same rule.
    """
    try:
        with open('/proc/%d/stat' % int(pid)) as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = data[data.rfind(')') + 2:].split()
    if not rest or rest[0] in ('Z', 'X'):
        return None
    try:
        return rest[19]
    except IndexError:
        return None


def default_owner(what: str, **extra) -> dict:
    """A lease owner dict for this process: host, pid, start, boot, program, what (+ extra keys)."""
    pid = os.getpid()
    owner = {'host': socket.getfqdn(), 'pid': pid, 'start': process_start_time(pid), 'boot': _boot_id(),
             'program': os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python', 'what': what}
    owner.update(extra)
    return owner


def owner_is_dead(owner: dict) -> bool:
    """True only when the owner is provably dead: same machine and (other boot, pid gone or start time changed).

    A lease held from another machine is never declared dead here (it may only expire).
    """
    owner = owner or {}
    if owner.get('host') != socket.getfqdn():
        return False
    boot = _boot_id()
    if owner.get('boot') and boot and owner['boot'] != boot:
        return True
    try:
        pid = int(owner.get('pid'))
    except (TypeError, ValueError):
        return False
    start = process_start_time(pid)
    if start is None:
        return True
    return owner.get('start') is not None and str(owner.get('start')) != start
