# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jobnet.scheduler.log: a job's output found by frame and path and read on its host, for a job of every host."""

from __future__ import annotations

import pytest

from frames import ledger_dir, write_frame

DATE = '2026-11-26'
HOSTS = ('agent1', 'agent2', 'agent3', 'localhost')


@pytest.fixture(scope='module')
def logged(testenv, tmp_path_factory):
    import subprocess
    import os
    import sys
    tmp = tmp_path_factory.mktemp('log')
    env = testenv.env(JOBNET_STORE='sqlite:///%s' % (tmp / 'state.db'))
    flag = ledger_dir() / 'ok'   # a folder every agent user can read
    jobs = [{'name': 'j_%s' % h, 'host': h,
             'shell': 'for i in $(seq 1 300); do echo "%s out $i"; done; echo "%s err" >&2; [ -f %s ] || exit 3'
                      % (h, h, flag)} for h in HOSTS]
    path = write_frame(tmp, {'frame': 'logs', 'nets': [{'name': 'n', 'jobs': jobs}]})
    bin_dir = os.path.dirname(sys.executable)

    def play(*args):
        return subprocess.run([os.path.join(bin_dir, 'ansible-playbook')] + list(args), env=env,
                              capture_output=True, text=True, timeout=300, check=False)
    first = play('jobnet.scheduler.run', '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE)
    assert first.returncode == 2, first.stdout[-2000:]   # every job exits 3 the first time
    flag.write_text('')
    second = play('jobnet.scheduler.rerun', '-e', 'frame=logs', '-e', 'operation_date=%s' % DATE)
    assert second.returncode == 0, second.stdout[-2000:]
    return play


@pytest.mark.parametrize('host', HOSTS)
def test_log_prints_the_whole_output_of_a_job_read_on_its_host(logged, host):
    out = logged('jobnet.scheduler.log', '-e', 'frame=logs', '-e', 'path=n/j_%s' % host)
    assert out.returncode == 0, out.stdout[-2000:]
    assert 'logs@%s n/j_%s attempt 2 on %s' % (DATE, host, host) in out.stdout, out.stdout[-2000:]
    assert 'normal_end, rc 0' in out.stdout
    for i in (1, 150, 300):
        assert '%s out %d\n' % (host, i) in out.stdout
    assert '%s err' % host in out.stdout


def test_log_tail_stream_and_an_earlier_attempt(logged):
    out = logged('jobnet.scheduler.log', '-e', 'frame=logs', '-e', 'path=n/j_agent2', '-e', 'operation_date=%s' % DATE,
                 '-e', 'attempt=1', '-e', 'stream=stdout', '-e', 'tail=3')
    assert out.returncode == 0, out.stdout[-2000:]
    assert 'attempt 1 on agent2' in out.stdout and 'abnormal_end, rc 3' in out.stdout, out.stdout[-2000:]
    assert 'agent2 out 298\nagent2 out 299\nagent2 out 300\n' in out.stdout
    assert 'agent2 out 297' not in out.stdout and 'agent2 err' not in out.stdout


def test_log_works_in_check_mode_and_refuses_unknown_jobs_by_name(logged):
    out = logged('jobnet.scheduler.log', '-e', 'frame=logs', '-e', 'path=n/j_agent3', '-e', 'tail=1', '--check')
    assert out.returncode == 0 and 'agent3 out 300' in out.stdout, out.stdout[-2000:]
    bad = logged('jobnet.scheduler.log', '-e', 'frame=logs', '-e', 'path=n/nope')
    assert bad.returncode != 0 and "has no job 'n/nope'" in bad.stdout, bad.stdout[-2000:]
    net = logged('jobnet.scheduler.log', '-e', 'frame=logs', '-e', 'path=n')
    assert net.returncode != 0 and 'is a net' in net.stdout, net.stdout[-2000:]
