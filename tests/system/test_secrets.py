# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A job's secret comes from a vault-encrypted variable at launch and is never printed or stored.

The frame names the variable (``secret_env: {TOKEN: nightly_token}``); the job proves it got the value by writing
its SHA-256 to the ledger. The value must be absent from ``-vvv`` output, from every file of ansible-runner's
private data folder (job events, stdout), from the state store's bytes and from the job folders on the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from frames import ledger_dir, sqlite_path, write_frame

DATE = '2026-11-26'
SECRET = 'pw-4d1c9e-never-printed'


def _vault_file(tmp_path, env):
    password = tmp_path / 'vault-pass'
    password.write_text('vault-test-password\n')
    clear = tmp_path / 'secrets.yml'
    clear.write_text('nightly_token: %s\n' % SECRET)
    vault = os.path.join(os.path.dirname(sys.executable), 'ansible-vault')
    subprocess.run([vault, 'encrypt', str(clear), '--vault-password-file', str(password)], env=env, check=True,
                   capture_output=True, timeout=120)
    assert SECRET not in clear.read_text()
    return str(clear), str(password)


def _frame(tmp_path, ledger, name):
    return write_frame(tmp_path, {'frame': name, 'jobs': [
        {'name': 'load', 'host': 'agent1', 'secret_env': {'TOKEN': 'nightly_token'},
         'shell': 'printf %%s "$TOKEN" | sha256sum | cut -c1-64 >> %s' % ledger}]}, name=name + '.yml')


def _files_holding(folder, needle):
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, 'rb') as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_a_secret_is_absent_from_vvv_output_runner_artifacts_and_the_store(testenv, tmp_path, run_playbook):
    env = testenv.env()
    vars_file, password = _vault_file(tmp_path, env)
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    needle = SECRET.encode()

    # 1. ansible-playbook -vvv
    ledger = str(ledger_dir() / 'ledger')
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    res = run_playbook(['jobnet.scheduler.run', '-vvv', '-e', 'frame_file=%s' % _frame(tmp_path, ledger, 'secret'),
                        '-e', 'operation_date=%s' % DATE, '-e', '@%s' % vars_file,
                        '--vault-password-file', password], env={'JOBNET_STORE': url})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert open(ledger).read().split() == [digest], 'the job did not get the secret'
    assert SECRET not in out
    assert needle not in open(sqlite_path(url), 'rb').read()
    assert not _files_holding('/home/jobnet-agent1/.jobnet', needle)

    # 2. through ansible-runner, as AWX runs it: nothing of the private data folder holds the value
    ledger = str(ledger_dir() / 'ledger')
    runner_url = 'sqlite:///%s' % (tmp_path / 'runner.db')
    private = tmp_path / 'runner'
    (private / 'env').mkdir(parents=True)
    code = r'''
import json, sys, ansible_runner
r = ansible_runner.run(private_data_dir=sys.argv[1], playbook='jobnet.scheduler.run', inventory=sys.argv[2],
                       extravars={'frame_file': sys.argv[3], 'operation_date': sys.argv[4]},
                       cmdline='-e @%s --vault-password-file %s' % (sys.argv[8], sys.argv[9]), quiet=True,
                       envvars={'JOBNET_STORE': sys.argv[5], 'ANSIBLE_COLLECTIONS_PATH': sys.argv[6],
                                'ANSIBLE_CONFIG': sys.argv[7]})
print(json.dumps({'status': r.status, 'rc': r.rc}))
'''
    proc = subprocess.run([sys.executable, '-c', code, str(private), testenv.inventory,
                           _frame(tmp_path, ledger, 'secretrunner'), DATE, runner_url, testenv.collections_path,
                           testenv.ansible_config, vars_file, password],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data == {'status': 'successful', 'rc': 0}, proc.stdout
    assert open(ledger).read().split() == [digest]
    events = list((private / 'artifacts').glob('*/job_events/*.json'))
    assert events, 'ansible-runner wrote no job events'
    assert _files_holding(str(private), needle) == []
    assert needle not in open(sqlite_path(runner_url), 'rb').read()
