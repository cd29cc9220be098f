# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who holds a lease, and whether that process is provably dead (controller side, ``/proc`` based).

The liveness rule is the target side's (``module_utils/_proc.py``, shared with ``_jobrunner``): a pid **and**
its start time **and** the boot id, a zombie counting as dead, so a reused pid never counts as the same process.
"""

from __future__ import annotations

import os
import socket
import sys

from ansible_collections.jobnet.scheduler.plugins.module_utils import _proc


def describe_owner(owner: dict) -> str:
    """``ansible-playbook pid 1234 on host h (what=run)`` from a lease owner dict."""
    owner = owner or {}
    prog = owner.get('program') or 'process'
    return '%s pid %s on host %s (what=%s)' % (prog, owner.get('pid', '?'), owner.get('host', '?'),
                                               owner.get('what', '?'))


def _boot_id() -> str | None:
    return _proc.boot_id()


def process_start_time(pid: int) -> str | None:
    """Start time of a process (``/proc/<pid>/stat`` field 22, clock ticks since boot) as the text a lease owner
    records, or ``None`` if gone.

    A zombie (state ``Z`` or ``X``: it has exited and waits to be reaped) is gone: a controller killed with its
    parent may stay a zombie for long where nothing reaps orphans, and its lease must not look alive
    (:func:`_proc.start_time`, the rule of the target side too).
    """
    start = _proc.start_time(pid)
    return None if start is None else str(start)


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
    return _proc.same_process(owner.get('pid'), owner.get('start'), owner.get('boot')) is False
