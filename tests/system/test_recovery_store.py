# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store under faults (issue 4 item 9): a store that cannot be written stops new launches loudly
(PEX209); recovery refuses an instance whose records are incomplete, says which, and recovers the others."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from frames import (kill9, ledger_dir, playbook_argv, read_ledger, snapshot, sqlite_path, sqlite_rows,
                    start_playbook, wait_for, write_frame)

DATE = '2026-11-24'


def chattr(flag, *paths):
    subprocess.run(['chattr', flag] + list(paths), check=True, capture_output=True)


@pytest.mark.skipif(shutil.which('chattr') is None, reason='chattr (e2fsprogs) is needed to make a file immutable')
def test_a_store_that_cannot_be_written_stops_new_launches_with_pex209(testenv, tmp_path):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    frame = {'frame': 'pex209', 'jobs': [
        {'name': 'a', 'host': 'agent1',
         'shell': 'echo "a start 0" >> %s; while [ ! -f %s ]; do sleep 0.1; done; echo "a end 0" >> %s'
                  % (ledger, gate, ledger)},
        {'name': 'b', 'host': 'agent2', 'shell': 'echo "b start 0" >> %s' % ledger, 'after': ['a']}]}
    path = write_frame(tmp_path, frame)
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'),
                          env={'JOBNET_STORE': url})
    iid = 'pex209@%s' % DATE
    try:
        wait_for('job a to run', lambda: snapshot(url, iid)['a']['state'] == 'running', timeout=120)
        db = sqlite_path(url)
        files = [f for f in (db, db + '-wal') if __import__('os').path.exists(f)]
        chattr('+i', *files)
        try:
            open(gate, 'w').close()
            proc.wait(timeout=180)
        finally:
            chattr('-i', *files)
    finally:
        if proc.poll() is None:
            kill9(proc)
    log = open(proc.log_path).read()
    assert proc.returncode != 0, log[-3000:]
    assert 'PEX209' in log, log[-3000:]
    assert 'b' not in read_ledger(ledger), 'no new launch may happen once the store cannot be written'


def test_recovery_refuses_an_instance_with_incomplete_records_and_recovers_the_others(testenv, tmp_path):
    ledger = str(ledger_dir() / 'ledger')
    gate = ledger + '.gate'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url}
    procs = []
    for name in ('good', 'torn'):
        frame = {'frame': name, 'jobs': [
            {'name': 'w', 'host': 'agent1', 'shell': 'while [ ! -f %s ]; do sleep 0.1; done' % gate},
            {'name': 'after', 'host': 'agent2', 'shell': 'echo "%s-after start 0" >> %s' % (name, ledger),
             'after': ['w']}]}
        path = write_frame(tmp_path, frame, name + '.yml')
        procs.append(start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                              '-e', 'operation_date=%s' % DATE], str(tmp_path / (name + '.log')),
                                    env=env))
    for name in ('good', 'torn'):
        wait_for('%s/w to run' % name, lambda n=name: snapshot(url, '%s@%s' % (n, DATE))['w']['state'] == 'running',
                 timeout=120)
    for p in procs:
        kill9(p)
    # tear one record of 'torn': its item loses its attempt id while it says it runs
    row = sqlite_rows(url, "SELECT data FROM items WHERE iid = ? AND path = 'w'", ('torn@%s' % DATE,))[0][0]
    data = json.loads(row)
    data.pop('attempt_id')
    import sqlite3
    con = sqlite3.connect(sqlite_path(url))
    con.execute("UPDATE items SET data = ? WHERE iid = ? AND path = 'w'", (json.dumps(data), 'torn@%s' % DATE))
    con.commit()
    con.close()
    before = snapshot(url, 'torn@%s' % DATE)
    open(gate, 'w').close()
    out = subprocess.run(playbook_argv('jobnet.scheduler.recover'), env=testenv.env(**env), capture_output=True,
                         text=True, timeout=600, check=False)
    text = out.stdout + out.stderr
    assert 'torn@%s' % DATE in text and 'not recovered' in text and "w" in text, text[-3000:]
    good = snapshot(url, 'good@%s' % DATE)
    assert good['']['state'] == 'normal_end', text[-3000:]
    after = snapshot(url, 'torn@%s' % DATE)
    assert {p: it['state'] for p, it in after.items()} == {p: it['state'] for p, it in before.items()}, \
        'nothing recorded for the refused instance may change'
    assert 'torn-after' not in read_ledger(ledger)
