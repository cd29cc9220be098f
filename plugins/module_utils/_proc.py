# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Is this process alive, and is it the same process: the one liveness rule of jobnet.scheduler.

Not a public API. Standard library only (it runs on the target hosts, shipped with the ``job`` and ``job_info``
modules, and on the controller for lease owners). A process is identified by its pid **and** its start time
(``/proc/<pid>/stat`` field 22, clock ticks since boot) **and** the boot id, so a reused pid or a pid of an
earlier boot is never taken for the process that was recorded. A zombie (state ``Z`` or ``X``: it has exited
and waits to be reaped) counts as gone: an init that reaps orphans late, or a controller killed with its
parent, leaves zombies that must not look alive.

The job supervisor (a ``sh`` script in ``_jobrunner``) reads the same ``/proc`` fields in ``sh``.
"""

from __future__ import annotations

BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id'

#: process states (field 3 of /proc/<pid>/stat) of a process that has exited
GONE_STATES = (b'Z', b'X')


def boot_id():
    """The kernel's boot id (a new one at every boot), or None when it cannot be read."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip()
    except OSError:
        return None


def stat_fields(name):
    """The fields of ``/proc/<name>/stat`` after the command name (field 3, the state, first), as bytes; None when
    the process is gone or its entry cannot be read or parsed."""
    try:
        with open('/proc/%s/stat' % name, 'rb') as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    end = data.rfind(b')')
    if end < 0:
        return None
    rest = data[end + 2:].split()
    return rest or None


def start_time(pid):
    """Start time of ``pid`` (``/proc/<pid>/stat`` field 22, clock ticks since boot) as an int; None when the
    process is gone or a zombie (or ``pid`` is not a pid)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    if pid <= 0:
        return None
    rest = stat_fields(pid)
    if rest is None or rest[0] in GONE_STATES:
        return None
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def same_process(pid, start, boot=None):
    """Whether the process recorded as ``pid`` with start time ``start`` (an int, or its decimal text) and boot id
    ``boot`` is the one running now.

    - True: it runs (not a zombie), with that start time, in that boot (or no boot was recorded);
    - False: provably not - the recorded boot is not this one, the pid is gone or a zombie, or it has another
      start time (the pid was reused);
    - None: cannot tell - ``pid`` is not a pid, no start time was recorded, or the boot id cannot be read.
    """
    current_boot = boot_id() if boot else None
    if boot and current_boot and boot != current_boot:
        return False
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    now = start_time(pid)
    if now is None:
        return False
    if start is None:
        return None
    if isinstance(start, str):
        same = start == str(now)
    else:
        same = start == now
    if not same:
        return False
    if boot and not current_boot:
        return None
    return True


def is_alive(pid, start, boot=None):
    """True only when the recorded process (pid, start time, boot id) provably still runs."""
    if not pid:
        return False
    return same_process(pid, start, boot) is True
