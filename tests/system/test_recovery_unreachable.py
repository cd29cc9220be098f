# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery with an agent that really cannot be reached: ``agent4`` lives in a network namespace of the test's own
(``tests/env/netns.sh``) whose link is cut with ``ip link set ... down`` after a real ``kill -9`` of
ansible-playbook.

- Recovery skip, table 5.432: the skip recovery contacts no agent (it ends while the link is cut), running and
  abnormal_end jobs become ``queuing_env_down``; once the link is mended a normal recovery resolves each job:
  ``running`` when its agent did not stop, ``abnormal_end`` (not restarted) when its agent machine stopped (its
  processes are killed as root on the namespace host, so the attempt is ``lost``).
- An agent that cannot be reached during a normal recovery: bounded retries, its jobs become
  ``queuing_env_down`` with a message naming the host, the other hosts' jobs go on.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time

import pytest

from frames import gated, kill9, ledger_dir, playbook_argv, read_ledger, snapshot, start_playbook, wait_for, write_frame

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NETNS_SH = os.path.join(REPO, 'tests', 'env', 'netns.sh')
NETNS = 'jn-agent4'
AGENT4_USER = 'jobnet-agent4'
AGENT4_ADDR = '10.231.0.2'
# bounded retries of an unreachable host during recovery, short for the tests (seconds: 2 calls of at most the
# ssh timeout of ansible.cfg, 5 s, plus 1 s between them)
RETRIES = ['-e', 'jobnet_unreachable_retries=2', '-e', 'jobnet_unreachable_delay=1']
RECOVER_TIMEOUT = 240


# ------------------------------------------------------------------------------------------------ the namespace
class Agent4:
    def __init__(self, testenv, inventory):
        self.testenv = testenv
        self.inventory = inventory

    def netns(self, action):
        out = subprocess.run(['bash', NETNS_SH, action, NETNS], env=self.testenv.env(), capture_output=True,
                             text=True, timeout=120, check=False)
        assert out.returncode == 0, 'netns.sh %s %s: %s%s' % (action, NETNS, out.stdout, out.stderr)
        return out

    def cut(self):
        self.netns('cut')

    def mend(self):
        self.netns('mend')

    def status(self):
        return self.netns('status').stdout.strip()

    def kill_attempt(self, attempt_id):
        """The agent machine stopped under this job: kill -9 its supervisor and its command (as root, on the
        namespace host), so the attempt has no result: ``lost``."""
        home = pwd.getpwnam(AGENT4_USER).pw_dir
        with open(os.path.join(home, '.jobnet', 'jobs', attempt_id, 'status.json'), encoding='utf-8') as f:
            st = json.load(f)
        os.kill(int(st['supervisor_pid']), signal.SIGKILL)
        try:
            os.killpg(int(st['pid']), signal.SIGKILL)   # the command runs in a session (process group) of its own
        except ProcessLookupError:
            pass
        for pid in (st['supervisor_pid'], st['pid']):
            wait_for('pid %s to be gone' % pid, lambda pid=pid: not _alive(pid), timeout=10, interval=0.05)


def _alive(pid):
    try:
        with open('/proc/%d/stat' % int(pid), encoding='utf-8') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@pytest.fixture(scope='module')
def agent4(testenv, tmp_path_factory):
    """agent4 in its own network namespace, and an extra inventory file naming it (pass it with a second -i)."""
    if os.geteuid() != 0:
        pytest.skip('network namespaces need root')
    inv = tmp_path_factory.mktemp('agent4') / 'agent4.ini'
    inv.write_text('agent4 ansible_host=%s ansible_user=%s ansible_port=2222 ansible_ssh_private_key_file=%s '
                   'ansible_python_interpreter=/usr/bin/python3\n'
                   % (AGENT4_ADDR, AGENT4_USER, os.path.join(testenv.dir, 'keys', 'client_ed25519')))
    a4 = Agent4(testenv, str(inv))
    a4.netns('down')   # a namespace left over by an interrupted run
    a4.netns('up')
    try:
        yield a4
    finally:
        a4.netns('down')


@pytest.fixture
def agent4_link(agent4):
    """agent4 with its link up when the test starts, and again after it (whatever the test did)."""
    if agent4.status() != 'up':
        agent4.mend()
    yield agent4
    if agent4.status() != 'up':
        agent4.mend()


# ------------------------------------------------------------------------------------------------ frames
def quick(name, host, ledger, rc=0, seconds=0.1, **extra):
    out = {'name': name, 'host': host, 'shell': 'echo "%s start $(date +%%s.%%N) $$" >> %s; sleep %s; '
           'echo "%s end $(date +%%s.%%N) rc%d" >> %s; exit %d' % (name, ledger, seconds, name, rc, ledger, rc)}
    out.update(extra)
    return out


def states_of(snap):
    return {p: it['state'] for p, it in snap.items()}


def starts(ledger, name):
    return len([r for r in read_ledger(ledger).get(name, []) if r[0] == 'start'])


def recover(testenv, inventories, env, *extra, timeout=RECOVER_TIMEOUT):
    """Run jobnet.scheduler.recover to its end; returns (CompletedProcess, seconds it took)."""
    argv = playbook_argv(*[a for inv in inventories for a in ('-i', inv)], 'jobnet.scheduler.recover', *extra)
    t0 = time.monotonic()
    out = subprocess.run(argv, env=testenv.env(**env), capture_output=True, text=True, timeout=timeout, check=False)
    return out, time.monotonic() - t0


def run_until(testenv, tmp, name, frame, date, inventories, env, want):
    """Start ``run`` of ``frame`` in the background and kill -9 it once every item is in the state ``want`` says."""
    path = write_frame(tmp, frame, name + '.yml')
    iid = '%s@%s' % (frame['frame'], date)
    args = [a for inv in inventories for a in ('-i', inv)]
    proc = start_playbook(testenv, args + ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                           '-e', 'operation_date=%s' % date], str(tmp / (name + '.log')), env=env)

    def ready():
        if proc.poll() is not None:
            raise AssertionError('run ended before the failure (rc %s): %s'
                                 % (proc.returncode, open(proc.log_path).read()[-3000:]))
        state = states_of(snapshot(env['JOBNET_STORE'], iid))
        return True if all(state.get(p) == s for p, s in want.items()) else state
    try:
        wait_for('%s in the states before the failure' % iid, ready, timeout=120)
    finally:
        kill9(proc)
    return iid, states_of(snapshot(env['JOBNET_STORE'], iid))


# ------------------------------------------------------------------------------------------------ recovery skip
class SkipScenario:
    pass


@pytest.fixture(scope='module')
def skip_scenario(testenv, agent4, tmp_path_factory):
    if agent4.status() != 'up':
        agent4.mend()
    try:
        yield _skip_scenario(testenv, agent4, tmp_path_factory)
    finally:
        if agent4.status() != 'up':
            agent4.mend()


def _skip_scenario(testenv, agent4, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('skip')
    date = '2026-11-24'
    url = 'sqlite:///%s' % (tmp / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    limits = tmp / 'limits.ini'
    limits.write_text('agent4 jobnet_max_running=2\n')
    inventories = [testenv.inventory, agent4.inventory, str(limits)]
    L = ledger
    frame = {'frame': 'skiprows', 'jobs': [
        # agent4 runs two jobs at once: a4_alive and a4_abnormal start first, a4_abnormal ends rc 3; a4_stopped
        # takes the free slot when a1_short ends; a4_queuing is ready when both slots are taken
        gated('a4_alive', 'agent4', L, flag),
        quick('a4_abnormal', 'agent4', L, rc=3),
        quick('a1_short', 'agent1', L, seconds=3),
        gated('a4_stopped', 'agent4', L, flag, after=['a1_short']),
        quick('a1_short2', 'agent1', L, seconds=1, after=['a1_short']),
        quick('a4_queuing', 'agent4', L, after=['a1_short2']),
        quick('a4_waiting', 'agent4', L, after=['a4_alive']),
        gated('a1_running', 'agent1', L, flag),
        quick('a1_after', 'agent1', L, after=['a1_running']),
    ]}
    sc = SkipScenario()
    sc.ledger = ledger
    sc.iid, sc.before = run_until(testenv, tmp, 'skip', frame, date, inventories, env, {
        'a4_alive': 'running', 'a4_abnormal': 'abnormal_end', 'a4_stopped': 'running', 'a4_queuing': 'queuing',
        'a4_waiting': 'waiting', 'a1_running': 'running', 'a1_after': 'waiting'})
    sc.stopped_attempt = snapshot(url, sc.iid)['a4_stopped']['attempt_id']

    # the outage: agent4 vanishes from the network; the machine under a4_stopped stops (its processes die)
    agent4.cut()
    agent4.kill_attempt(sc.stopped_attempt)

    # recovery skip (auto rerun off: the "after recovery skip" column as recovery leaves it)
    sc.skip_out, sc.skip_secs = recover(testenv, inventories, env, '-e', 'recovery_skip=true',
                                        '-e', 'auto_rerun=false', *RETRIES)
    sc.link_during_skip = agent4.status()
    sc.skipped = snapshot(url, sc.iid)

    # agent4 is back: a normal recovery (auto rerun on) in the background
    agent4.mend()
    log = tmp / 'recover2.log'
    proc = start_playbook(testenv, [a for inv in inventories for a in ('-i', inv)] + ['jobnet.scheduler.recover']
                          + RETRIES, str(log), env=env)
    sc.second_running = None
    try:
        def a4_alive_taken():
            if proc.poll() is not None:
                raise AssertionError('the second recovery ended early: %s' % log.read_text()[-3000:])
            snap = snapshot(url, sc.iid)
            if snap['a4_alive']['state'] == 'queuing_env_down':
                return snap['a4_alive']['state']
            sc.second_running = snap
            return True
        wait_for('the second recovery to resolve the queuing_env_down jobs', a4_alive_taken, timeout=120)
        open(flag, 'w').close()
        proc.wait(timeout=RECOVER_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.log_file.close()
        open(flag, 'w').close()
    sc.second_rc = proc.returncode
    sc.second_out = log.read_text()
    sc.final = snapshot(url, sc.iid)
    return sc


def _ctx(sc):
    return ('skip recovery:\n' + sc.skip_out.stdout[-3000:] + sc.skip_out.stderr[-1000:]
            + '\nsecond recovery:\n' + getattr(sc, 'second_out', '')[-3000:])


def test_5_432_recovery_skip_prints_pex170_and_pex060(skip_scenario):
    sc = skip_scenario
    assert sc.skip_out.returncode == 0, _ctx(sc)
    assert 'PEX170' in sc.skip_out.stdout, _ctx(sc)
    assert 'PEX060' in sc.skip_out.stdout, _ctx(sc)


def test_5_432_recovery_skip_contacts_no_agent(skip_scenario):
    """It ended while agent4's link was cut and did not wait for a connection: no unreachable host reported,
    and agent1's running job (reachable the whole time) is queuing_env_down too: it was not asked either."""
    sc = skip_scenario
    assert sc.link_during_skip == 'cut'
    assert 'could not be reached' not in sc.skip_out.stdout, _ctx(sc)
    assert 'UNREACHABLE' not in sc.skip_out.stdout, _ctx(sc)
    assert '[agent' not in sc.skip_out.stdout, 'no task ran on an agent: ' + _ctx(sc)
    assert sc.skipped['a1_running']['state'] == 'queuing_env_down', _ctx(sc)
    # no ssh timeout was waited for (for the record, not asserted: no timing assertions)
    print('recovery skip took %.1f s with the link cut' % sc.skip_secs)


SKIP_ROWS = [
    # (row, path, after recovery skip, after the second, normal recovery and its automatic rerun)
    ('5.432-running-its-agent-machine-stopped', 'a4_stopped', 'queuing_env_down', 'abnormal_end'),
    ('5.432-running-its-agent-did-not-stop', 'a4_alive', 'queuing_env_down', 'normal_end'),
    ('5.432-abnormal_end', 'a4_abnormal', 'queuing_env_down', 'abnormal_end'),
    ('5.432-queuing', 'a4_queuing', 'queuing', 'normal_end'),
    ('5.432-not_submitted-to-pause_wait-waiting', 'a4_waiting', 'waiting', 'normal_end'),
]


@pytest.mark.parametrize('row,path,skipped,final', SKIP_ROWS, ids=[r[0] for r in SKIP_ROWS])
def test_skip_row(skip_scenario, row, path, skipped, final):
    sc = skip_scenario
    assert sc.skipped[path]['state'] == skipped, (row, _ctx(sc))
    assert sc.final[path]['state'] == final, (row, _ctx(sc))


def test_5_432_running_its_agent_did_not_stop_is_running_after_the_second_recovery(skip_scenario):
    sc = skip_scenario
    assert sc.second_running is not None
    assert sc.second_running['a4_alive']['state'] == 'running', _ctx(sc)
    assert sc.second_running['a1_running']['state'] == 'running', _ctx(sc)
    assert starts(sc.ledger, 'a4_alive') == 1, 'adopted, never started again'
    assert starts(sc.ledger, 'a1_running') == 1


def test_5_432_running_its_agent_machine_stopped_is_abnormal_end_and_not_restarted(skip_scenario):
    sc = skip_scenario
    item = sc.final['a4_stopped']
    assert item['attempt_id'] == sc.stopped_attempt and item['attempt'] == 1
    assert 'lost' in item['message'], item   # job_info: no result, supervisor and command gone
    assert starts(sc.ledger, 'a4_stopped') == 1, 'the automatic rerun must not restart it'


def test_5_432_abnormal_end_is_not_restarted(skip_scenario):
    sc = skip_scenario
    assert sc.final['a4_abnormal']['attempt'] == 1
    assert starts(sc.ledger, 'a4_abnormal') == 1


def test_5_432_the_frame_goes_on_after_the_second_recovery(skip_scenario):
    sc = skip_scenario
    assert sc.final['a1_after']['state'] == 'normal_end', _ctx(sc)
    assert sc.final['']['state'] == 'abnormal_end', _ctx(sc)
    assert 'PEX060' in sc.second_out
    assert 'PEX170' not in sc.second_out


# ------------------------------------------------------------------------------------------------ item 7
def test_an_agent_unreachable_during_a_normal_recovery_is_retried_then_queuing_env_down(
        testenv, agent4_link, tmp_path):
    agent4 = agent4_link
    date = '2026-11-25'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    inventories = [testenv.inventory, agent4.inventory]
    frame = {'frame': 'unreach', 'jobs': [
        gated('b4_running', 'agent4', ledger, flag),
        quick('b4_next', 'agent4', ledger, after=['b4_running']),
        gated('b1_running', 'agent1', ledger, flag),
        quick('b1_next', 'agent1', ledger, after=['b1_running']),
    ]}
    iid, _before = run_until(testenv, tmp_path, 'unreach', frame, date, inventories, env,
                             {'b4_running': 'running', 'b1_running': 'running'})
    agent4.cut()
    open(flag, 'w').close()   # both jobs end on their own while nothing drives them
    wait_for('both jobs to end on their hosts', lambda: starts(ledger, 'b1_running') == 1 and all(
        any(r[0] == 'end' for r in read_ledger(ledger).get(n, [])) for n in ('b4_running', 'b1_running')),
        timeout=30)
    try:
        out, secs = recover(testenv, inventories, env, *RETRIES, timeout=RECOVER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError('the recovery hung on the unreachable agent (killed after %d s): %s'
                             % (RECOVER_TIMEOUT, (exc.stdout or '')[-3000:])) from None
    text = out.stdout + out.stderr
    snap = snapshot(url, iid)
    assert 'PEX060' in out.stdout, text[-4000:]
    assert 'agent4 could not be reached during recovery' in out.stdout, text[-4000:]
    assert 'agent4 unreachable after 2 attempts' in out.stdout, text[-4000:]
    # agent4's job: queuing_env_down with a message naming the host; its successor waits
    assert snap['b4_running']['state'] == 'queuing_env_down', text[-4000:]
    assert 'agent4' in snap['b4_running']['message'], snap['b4_running']
    assert snap['b4_next']['state'] == 'waiting'
    # agent1's part of the frame went on to its end
    assert snap['b1_running']['state'] == 'normal_end', text[-4000:]
    assert snap['b1_next']['state'] == 'normal_end', text[-4000:]
    assert starts(ledger, 'b1_running') == 1 and starts(ledger, 'b4_running') == 1
    # the recovery ended (did not hang): printed for the record, bounded by the subprocess timeout above
    print('recovery with agent4 cut took %.1f s (bound %d s)' % (secs, RECOVER_TIMEOUT))

    # agent4 comes back: a second recovery adopts the attempt's real end and the successor runs
    agent4.mend()
    out2, _secs = recover(testenv, inventories, env, *RETRIES)
    snap = snapshot(url, iid)
    assert snap['b4_running']['state'] == 'normal_end', (out2.stdout + out2.stderr)[-4000:]
    assert snap['b4_next']['state'] == 'normal_end', (out2.stdout + out2.stderr)[-4000:]
    assert snap['']['state'] == 'normal_end'
    assert out2.returncode == 0, (out2.stdout + out2.stderr)[-4000:]
    assert starts(ledger, 'b4_running') == 1, 'adopted, never started again'


def test_5_432_running_its_agent_did_not_stop_stays_queuing_env_down_through_the_automatic_rerun(
        testenv, agent4_link, tmp_path):
    agent4 = agent4_link
    date = '2026-11-26'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger, flag = str(ld / 'ledger'), str(ld / 'flag')
    inventories = [testenv.inventory, agent4.inventory]
    frame = {'frame': 'skipauto', 'jobs': [gated('c4', 'agent4', ledger, flag), gated('c1', 'agent1', ledger, flag)]}
    iid, _before = run_until(testenv, tmp_path, 'skipauto', frame, date, inventories, env,
                             {'c4': 'running', 'c1': 'running'})
    agent4.cut()
    log = tmp_path / 'recover.log'
    proc = start_playbook(testenv, [a for inv in inventories for a in ('-i', inv)]
                          + ['jobnet.scheduler.recover', '-e', 'recovery_skip=true'] + RETRIES, str(log), env=env)
    try:
        wait_for('PEX060 of the recovery skip', lambda: 'PEX060' in log.read_text(), timeout=60)
        open(flag, 'w').close()   # the jobs end on their hosts; the automatic rerun goes on as far as it can
        proc.wait(timeout=RECOVER_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.log_file.close()
        open(flag, 'w').close()
    snap = snapshot(url, iid)
    assert snap['c4']['state'] == 'queuing_env_down', log.read_text()[-3000:]
    assert snap['c1']['state'] == 'queuing_env_down', (snap['c1'], log.read_text()[-3000:])
