# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every playbook under --check (AWX's "Check" job type): none crashes, the operations say what they would do or
why they would be refused, and the store is byte for byte what it was (its SQL dump); no job starts."""

from __future__ import annotations

import os
import sqlite3

import pytest

from frames import ledger_dir, read_ledger, write_frame

DATE = '2026-11-28'
PLAYBOOKS = ('run', 'rerun', 'recover', 'status', 'init', 'force_init', 'skip', 'pause', 'release', 'stop',
             'force_start', 'log', 'chart', 'schedule', 'reschedule', 'purge', 'resource')


@pytest.fixture(scope='module')
def ended(testenv, tmp_path_factory):
    import os
    import subprocess
    import sys
    tmp = tmp_path_factory.mktemp('check')
    ledger = str(ledger_dir() / 'ledger')
    db = tmp / 'state.db'
    env = testenv.env(JOBNET_STORE='sqlite:///%s' % db, JOBNET_CHART_DIR=str(tmp / 'charts'))
    frame = {'frame': 'checked', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': 'echo "a start 0" >> %s; exit 3' % ledger},
        {'name': 'b', 'host': 'agent2', 'shell': 'echo "b start 0" >> %s' % ledger, 'after': ['a']}]}
    path = write_frame(tmp, frame)
    (tmp / 'schedule.yml').write_text('base_time: "05:00"\ntimezone: UTC\nframes:\n  - {file: frame.yml}\n')

    def play(*args):
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')] + list(args),
                              env=env, capture_output=True, text=True, timeout=300, check=False)
    first = play('jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE)
    assert first.returncode == 2, first.stdout[-2000:]
    return play, db, path, ledger


def dump(db):
    con = sqlite3.connect(str(db))
    try:
        return '\n'.join(con.iterdump())
    finally:
        con.close()


@pytest.mark.parametrize('playbook', PLAYBOOKS)
def test_a_playbook_under_check_mode_changes_nothing_and_does_not_crash(ended, playbook, tmp_path):
    play, db, path, ledger = ended
    before, starts = dump(db), read_ledger(ledger)
    out = play('jobnet.scheduler.%s' % playbook, '--check', '-e', 'frame_file=%s' % path, '-e', 'frame=checked',
               '-e', 'operation_date=%s' % DATE, '-e', 'path=a', '-e', 'chart_html=%s' % (tmp_path / 'c.html'),
               '-e', 'schedule_file=%s' % os.path.join(os.path.dirname(path), 'schedule.yml'),
               '-e', 'start_at=23:00', '-e', 'before=%s' % DATE)
    text = out.stdout + out.stderr
    for crash in ('has no attribute', 'Traceback', 'Unexpected Exception', 'is undefined'):
        assert crash not in text, text[-3000:]
    assert dump(db) == before, 'the store changed under --check'
    assert read_ledger(ledger) == starts, 'a job started under --check'
    if playbook in ('rerun', 'init', 'force_init', 'force_start'):
        assert out.returncode == 0 and 'check mode: %s of checked@%s a would leave the frame' % (playbook, DATE) \
            in out.stdout, out.stdout[-3000:]
    elif playbook in ('skip', 'pause', 'release', 'stop', 'reschedule'):
        assert out.returncode == 2 and '%s refused' % playbook in out.stdout, out.stdout[-3000:]   # a ended
    elif playbook == 'recover':
        assert out.returncode == 0 and 'would be recovered (nothing was recorded)' in out.stdout, out.stdout[-3000:]
    elif playbook == 'schedule':
        assert out.returncode == 0 and 'would be created with 1 frame(s): checked' in out.stdout, out.stdout[-3000:]
    elif playbook == 'purge':
        assert out.returncode == 0, out.stdout[-3000:]
        assert 'check mode: would remove 0 ended or never submitted instance(s)' in out.stdout, out.stdout[-3000:]
    else:
        assert out.returncode == 0, text[-3000:]
