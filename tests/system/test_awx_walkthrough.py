# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/awx.md's walk-through, run as written: the collection built and installed from its tarball, a frame run
through ansible-runner with a private data folder on the Redis store, the runner killed with SIGKILL as a lost
AWX node, then recovered through ansible-runner. Every job runs once and the frame ends normal_end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from frames import job_pids, ledger_dir, read_ledger, snapshot, wait_for, write_frame

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATE = '2026-11-21'   # the walk-through's operation date


def blocks():
    """{name: shell text} of the ```sh awx-walkthrough-<name> blocks of docs/awx.md."""
    text = open(os.path.join(REPO, 'docs', 'awx.md'), encoding='utf-8').read()
    found = dict(re.findall(r'```sh awx-walkthrough-(\w+)\n(.*?)```', text, re.S))
    assert set(found) == {'setup', 'run', 'recover'}, sorted(found)
    return found


def test_the_awx_walkthrough_of_the_docs_works_as_written(testenv, tmp_path):
    steps = blocks()
    flags = ledger_dir()
    ledger, gate = str(flags / 'ledger'), flags / 'gate'
    store = testenv.redis_url + '?prefix=awx%d:' % time.monotonic_ns()
    frame = {'frame': 'nightly', 'jobs': [
        {'name': 'extract', 'host': 'agent1',
         'shell': 'echo "extract start 0" >> %s; i=0; while [ ! -f %s ] && [ $i -lt 900 ]; do sleep 0.2; '
                  'i=$((i+1)); done; echo "extract end 0" >> %s' % (ledger, gate, ledger)},
        {'name': 'load', 'host': 'agent2', 'after': ['extract'],
         'shell': 'echo "load start 0" >> %s; echo "load end 0" >> %s' % (ledger, ledger)}]}
    work = tmp_path / 'work'
    work.mkdir()
    env = testenv.env(CHECKOUT=REPO, WORK=str(work), INVENTORY=testenv.inventory, ANSIBLE_CFG=testenv.ansible_config,
                      FRAME=write_frame(tmp_path, frame), STORE=store)
    for name in ('ANSIBLE_CONFIG', 'ANSIBLE_COLLECTIONS_PATH', 'JOBNET_STORE'):   # as in an AWX job: none set
        env.pop(name, None)

    def sh(name, **kw):
        return subprocess.run(['bash', '-euo', 'pipefail', '-c', steps[name]], env=env, cwd=str(work),
                              capture_output=True, text=True, check=False, **kw)

    setup = sh('setup', timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert list((work / 'collections' / 'ansible_collections' / 'jobnet').iterdir())[0].name == 'scheduler'

    log = open(tmp_path / 'run.log', 'w')
    run = subprocess.Popen(['bash', '-euo', 'pipefail', '-c', steps['run']], env=env, cwd=str(work), stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    iid = 'nightly@%s' % DATE
    try:
        wait_for('extract to run', lambda: snapshot(store, iid)['extract']['state'] == 'running', timeout=180)
    finally:
        # a lost node: ansible-runner and the ansible-playbook it started in a session of its own
        os.killpg(run.pid, signal.SIGKILL)
        for pid in job_pids(str(work / 'runner')):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run.wait(timeout=30)
        log.close()
    assert snapshot(store, iid)['']['state'] == 'running'
    gate.write_text('')
    recover = sh('recover', timeout=600)
    assert recover.returncode == 0, recover.stdout[-4000:] + recover.stderr[-2000:]
    artifacts = work / 'runner' / 'artifacts'
    assert (artifacts / 'recover' / 'rc').read_text().strip() == '0'
    assert (artifacts / 'recover' / 'status').read_text().strip() == 'successful'
    out = (artifacts / 'recover' / 'stdout').read_text()
    assert 'PEX060 all frames recovered' in out, out[-3000:]
    status = (artifacts / 'status' / 'stdout').read_text()
    assert re.search(r'nightly\s+normal_end', status), status[-3000:]
    snap = snapshot(store, iid)
    assert {p: snap[p]['state'] for p in ('extract', 'load')} == {'extract': 'normal_end', 'load': 'normal_end'}
    starts = {name: [e for e in evs if e[0] == 'start'] for name, evs in read_ledger(ledger).items()}
    assert {name: len(s) for name, s in starts.items()} == {'extract': 1, 'load': 1}, starts
    # the store URL went to the runs as an extra variable, not through the environment the artifacts keep
    for ident in ('run', 'recover', 'status'):
        command = artifacts / ident / 'command'
        if command.exists():
            assert 'JOBNET_STORE' not in command.read_text()
