# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lease owners: a dead controller, including one left a zombie, is provably dead; a live one is not."""

from __future__ import annotations

import os
import time

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store


def test_a_controller_left_a_zombie_is_dead_and_a_live_one_is_not():
    pid = os.fork()
    if pid == 0:   # the child: a controller that was killed; nobody reaps it yet
        os._exit(0)  # pylint: disable=protected-access
    try:
        owner = dict(_store.default_owner('run'), pid=pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    break
            time.sleep(0.01)
        assert _store.process_start_time(pid) is None
        assert _store.owner_is_dead(owner)
        assert not _store.owner_is_dead(_store.default_owner('run'))
    finally:
        os.waitpid(pid, 0)
