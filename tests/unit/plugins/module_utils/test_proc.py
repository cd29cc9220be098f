# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_proc: one liveness rule (pid + start time + boot id, a zombie is dead) for the target and the controller."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.jobnet.scheduler.plugins.module_utils import _jobrunner as jr
from ansible_collections.jobnet.scheduler.plugins.module_utils import _proc
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store


def _field_22(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


def _zombie():
    """A child that has exited and is not reaped yet (the caller reaps it), alone in its process group."""
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os._exit(0)  # pylint: disable=protected-access
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return pid
        time.sleep(0.01)
    raise AssertionError('the child never became a zombie')


def _gone_pid():
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return p.pid


def test_start_time_is_field_22_of_a_live_process():
    me = os.getpid()
    assert _proc.start_time(me) == _field_22(me)
    assert _proc.start_time(str(me)) == _field_22(me)
    assert _proc.boot_id() and len(_proc.boot_id()) == 36


@pytest.mark.parametrize('pid', [None, 0, -1, 'x', '', 1.5j])
def test_start_time_of_no_pid_is_none(pid):
    assert _proc.start_time(pid) is None


def test_a_zombie_and_a_gone_process_have_no_start_time():
    pid = _zombie()
    try:
        assert _proc.start_time(pid) is None
        assert _proc.stat_fields(pid)[0] == b'Z'
    finally:
        os.waitpid(pid, 0)
    assert _proc.start_time(_gone_pid()) is None
    assert _proc.stat_fields(_gone_pid()) is None


def test_a_command_name_with_parentheses_and_spaces_is_read_right(tmp_path):
    exe = tmp_path / 'x) Z (y'
    shutil.copy(shutil.which('sleep'), exe)
    p = subprocess.Popen([str(exe), '30'])
    try:
        deadline = time.monotonic() + 10
        while _proc.stat_fields(p.pid) is not None and b'Z (y' not in open('/proc/%d/stat' % p.pid, 'rb').read():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert _proc.stat_fields(p.pid)[0] in (b'S', b'R')
        assert _proc.start_time(p.pid) == _field_22(p.pid)
        assert _proc.is_alive(p.pid, _field_22(p.pid), _proc.boot_id())
    finally:
        p.kill()
        p.wait()


def test_same_process_true_false_or_cannot_tell():
    me, start, boot = os.getpid(), _field_22(os.getpid()), _proc.boot_id()
    assert _proc.same_process(me, start, boot) is True
    assert _proc.same_process(me, str(start), boot) is True          # as a lease owner records it
    assert _proc.same_process(me, start, None) is True               # no boot recorded
    assert _proc.same_process(me, start + 1, boot) is False          # the pid was reused
    assert _proc.same_process(me, str(start + 1), boot) is False
    assert _proc.same_process(me, start, 'another-boot') is False    # an earlier boot
    assert _proc.same_process(_gone_pid(), start, boot) is False
    assert _proc.same_process(0, start, boot) is False
    assert _proc.same_process(me, None, boot) is None                # no start time recorded
    assert _proc.same_process(None, start, boot) is None
    assert _proc.same_process('not a pid', start, 'another-boot') is False


def test_is_alive_only_when_provably_the_same_process():
    me, start, boot = os.getpid(), _field_22(os.getpid()), _proc.boot_id()
    assert _proc.is_alive(me, start, boot)
    assert not _proc.is_alive(me, None, boot)
    assert not _proc.is_alive(None, start, boot)
    assert not _proc.is_alive(0, start, boot)
    assert not _proc.is_alive(me, start + 1, boot)
    assert not _proc.is_alive(me, start, 'another-boot')


def test_a_boot_id_that_cannot_be_read_proves_nothing(monkeypatch):
    me, start = os.getpid(), _field_22(os.getpid())
    monkeypatch.setattr(_proc, 'BOOT_ID_PATH', '/nonexistent/boot_id')
    assert _proc.boot_id() is None
    assert _proc.same_process(me, start, 'a-recorded-boot') is None
    assert not _proc.is_alive(me, start, 'a-recorded-boot')
    assert _proc.same_process(me, start + 1, 'a-recorded-boot') is False


def test_target_and_controller_agree():
    """The job runner and the lease owners use the same rule: a zombie is dead on both sides."""
    me = os.getpid()
    assert jr.proc_start_time is _proc.start_time and jr.is_alive is _proc.is_alive and jr.boot_id is _proc.boot_id
    assert _store.process_start_time(me) == str(jr.proc_start_time(me))
    owner = _store.default_owner('run')
    assert jr.is_alive(owner['pid'], owner['start'], owner['boot'])
    assert not _store.owner_is_dead(owner)
    pid = _zombie()
    try:
        start = str(_field_22(pid))
        dead = dict(owner, pid=pid, start=start)
        assert _store.process_start_time(pid) is None and jr.proc_start_time(pid) is None
        assert _store.owner_is_dead(dead)
        assert not jr.is_alive(pid, start, owner['boot'])
        assert os.getpgid(pid) == pid and pid not in jr.live_pgids()   # a group of zombies only is gone
    finally:
        os.waitpid(pid, 0)
