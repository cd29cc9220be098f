# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery after a real ``kill -9`` of ansible-playbook, one scenario per row of tables 5.429, 5.430 and 5.431.

The frame row ``waiting`` is not here: a frame is ``waiting`` only inside the transaction that submits it, until
start conditions other than the start time (triggers) exist; its row is covered by the pure table tests.

One scenario puts many frames, nets and jobs into every state of the tables at once: several ``run`` controllers
are started, the test waits until each item is in its row's state, kills every controller with SIGKILL, lets
some jobs end while no controller runs, then recovers twice: with ``auto_rerun=false`` (the "after recovery"
column) and with the automatic rerun (the "after the rerun" column). Each row is one test, named after it.
"""

from __future__ import annotations

import datetime

import pytest

from frames import (job_pids, kill9, ledger_dir, read_ledger, snapshot, start_playbook, wait_for,
                    write_frame)

# today: the frames of the scenario are on a live operation date (ended instances of older dates are history,
# which recovery leaves alone: docs/recovery.md, "Which dates recovery covers")
DATE = datetime.date.today().isoformat()


def waiter(name, host, ledger, flag, extra_wait=''):
    """A job that records its start, waits until ``flag`` exists (at most 300 s), records its end."""
    return {'name': name, 'host': host, 'shell':
            'echo "%s start $(date +%%s.%%N) $$" >> %s; i=0; while [ ! -f %s ] && [ $i -lt 1500 ]; do sleep 0.2; '
            'i=$((i+1)); done; echo "%s end $(date +%%s.%%N) ok" >> %s' % (name, ledger, flag, name, ledger)}


def quick(name, host, ledger, rc=0, seconds=0.1, **extra):
    out = {'name': name, 'host': host, 'shell': 'echo "%s start $(date +%%s.%%N) $$" >> %s; sleep %s; '
           'echo "%s end $(date +%%s.%%N) rc%d" >> %s; exit %d' % (name, ledger, seconds, name, rc, ledger, rc)}
    out.update(extra)
    return out


class Scenario:
    def __init__(self):
        self.before = {}      # iid -> {path: state} when the controllers were killed
        self.recovered = {}   # iid -> snapshot after recover -e auto_rerun=false
        self.rerun = {}       # iid -> snapshot after the automatic rerun
        self.logs = {}
        self.ledger = None
        self.manager_pids_before = []


def frames(ledger, gate, gate_mgr, start_future, start_past, start_skip):
    L = ledger
    rows = {
        'frame': 'rows',
        'jobs': [
            waiter('gate', 'agent1', L, gate),
            quick('j_waiting', 'agent2', L, after=['gate']),
            quick('j_normal', 'agent2', L),
            quick('j_skip_end', 'agent3', L, skip=True),
            quick('j_skip_wait', 'agent3', L, skip=True, after=['gate']),
            quick('j_paused', 'agent2', L, pause=True),
            quick('j_pause_wait', 'agent2', L, pause=True, after=['gate']),
            waiter('j_manager', 'localhost', L, gate_mgr),
            waiter('j_agent_running', 'agent3', L, gate),
            waiter('j_agent3_busy', 'agent3', L, gate),
            quick('j_queuing', 'agent3', L),
            quick('j_agent_ended', 'agent1', L, seconds=20),
            quick('j_after_ended', 'agent2', L, after=['j_agent_ended']),
            quick('j_abnormal', 'agent2', L, rc=3),
        ],
        'nets': [
            {'name': 'n_waiting', 'after': ['gate'], 'jobs': [quick('k1', 'agent1', L)]},
            {'name': 'n_normal', 'jobs': [quick('k2', 'agent2', L)]},
            {'name': 'n_skip_end', 'skip': True, 'jobs': [quick('k2s', 'agent2', L)]},
            {'name': 'n_skip_wait', 'skip': True, 'after': ['gate'], 'jobs': [quick('k2w', 'agent2', L)]},
            {'name': 'n_paused', 'pause': True, 'jobs': [quick('k2p', 'agent2', L)]},
            {'name': 'n_pause_wait', 'pause': True, 'after': ['gate'], 'jobs': [quick('k2q', 'agent2', L)]},
            {'name': 'n_manager', 'jobs': [waiter('k3', 'localhost', L, gate_mgr)]},
            {'name': 'n_agent', 'jobs': [waiter('k4', 'agent1', L, gate)]},
            {'name': 'n_abnormal', 'jobs': [quick('k5', 'agent2', L, rc=4)]},
            {'name': 'n_has_errors', 'jobs': [quick('k6', 'agent2', L, rc=5), waiter('k7', 'agent1', L, gate)]},
            {'name': 'n_stopped', 'jobs': [waiter('k8', 'agent1', L, gate), quick('k9', 'agent1', L,
                                                                                  after=['k8'])]},
        ],
    }
    return {
        'rows': rows,
        'fr_running_agent': {'frame': 'fr_running_agent', 'jobs': [
            waiter('f1', 'agent1', L, gate), quick('f1b', 'agent2', L, after=['f1'])]},
        'fr_manager': {'frame': 'fr_manager', 'jobs': [waiter('f2', 'localhost', L, gate_mgr)]},
        'fr_abnormal': {'frame': 'fr_abnormal', 'jobs': [quick('f3', 'agent2', L, rc=3)]},
        'fr_normal': {'frame': 'fr_normal', 'jobs': [quick('f4', 'agent2', L)]},
        'fr_paused': {'frame': 'fr_paused', 'jobs': [quick('f5', 'agent3', L, pause=True)]},
        'fr_has_errors': {'frame': 'fr_has_errors', 'jobs': [
            quick('f6', 'agent2', L, rc=6), waiter('f7', 'agent1', L, gate)]},
        'fr_stopped': {'frame': 'fr_stopped', 'jobs': [
            waiter('f8', 'agent1', L, gate), quick('f8b', 'agent2', L, after=['f8'])]},
        'fr_standby_future': {'frame': 'fr_standby_future', 'start_at': start_future,
                              'jobs': [quick('f9', 'agent2', L)]},
        'fr_standby_past': {'frame': 'fr_standby_past', 'start_at': start_past, 'jobs': [quick('f10', 'agent2', L)]},
        # marked as a whole by an operator before their start time (skip / pause without path)
        'fr_skip_wait': {'frame': 'fr_skip_wait', 'start_at': start_future, 'jobs': [quick('f11', 'agent2', L)]},
        'fr_pause_wait': {'frame': 'fr_pause_wait', 'start_at': start_future, 'jobs': [quick('f12', 'agent3', L)]},
        'fr_skip_end': {'frame': 'fr_skip_end', 'start_at': start_skip, 'jobs': [quick('f13', 'agent2', L)]},
    }


def iid(frame):
    return '%s@%s' % (frame, DATE)


def states_of(snap):
    return {p: it['state'] for p, it in snap.items()}


@pytest.fixture(scope='module')
def scenario(testenv, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('rows')
    url = 'sqlite:///%s' % (tmp / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_LEASE_TTL': '600'}
    ld = ledger_dir()
    ledger = str(ld / 'ledger')
    gate, gate_mgr = str(ld / 'gate'), str(ld / 'gate_mgr')
    now = datetime.datetime.now(datetime.timezone.utc)
    start_future = (now + datetime.timedelta(seconds=180)).isoformat(timespec='seconds')
    start_past = (now + datetime.timedelta(seconds=25)).isoformat(timespec='seconds')
    start_skip = (now + datetime.timedelta(seconds=50)).isoformat(timespec='seconds')
    # agent3 may run two jobs at once: j_queuing waits for a slot behind j_agent_running and j_agent3_busy
    extra_inv = tmp / 'limits.ini'
    extra_inv.write_text('[agents]\nagent3 jobnet_max_running=2\n')
    sc = Scenario()
    sc.ledger = ledger
    sc.url = url
    procs = {}
    for name, frame in frames(ledger, gate, gate_mgr, start_future, start_past, start_skip).items():
        path = write_frame(tmp, frame, name + '.yml')
        procs[name] = start_playbook(testenv, ['-i', testenv.inventory, '-i', str(extra_inv), 'jobnet.scheduler.run',
                                               '-e', 'frame_file=%s' % path, '-e', 'operation_date=%s' % DATE],
                                     str(tmp / (name + '.log')), env=env)
        sc.logs[name] = str(tmp / (name + '.log'))

    want = {
        'rows': {'gate': 'running', 'j_normal': 'normal_end', 'j_skip_end': 'skip_end',
                 'j_paused': 'paused', 'j_manager': 'running', 'j_agent_running': 'running',
                 'j_agent3_busy': 'running', 'j_queuing': 'queuing', 'j_agent_ended': 'running',
                 'j_abnormal': 'abnormal_end', 'n_normal': 'normal_end', 'n_skip_end': 'skip_end',
                 'n_paused': 'paused', 'n_manager/k3': 'running', 'n_agent/k4': 'running',
                 'n_abnormal': 'abnormal_end', 'n_has_errors/k6': 'abnormal_end', 'n_has_errors/k7': 'running',
                 'n_stopped/k8': 'running'},
        'fr_running_agent': {'f1': 'running'}, 'fr_manager': {'f2': 'running'},
        'fr_abnormal': {'': 'abnormal_end'}, 'fr_normal': {'': 'normal_end'}, 'fr_paused': {'f5': 'paused'},
        'fr_has_errors': {'f6': 'abnormal_end', 'f7': 'running'}, 'fr_stopped': {'f8': 'running'},
        'fr_standby_future': {'': 'standby'}, 'fr_standby_past': {'': 'standby'},
        'fr_skip_wait': {'': 'standby'}, 'fr_pause_wait': {'': 'standby'}, 'fr_skip_end': {'': 'standby'},
    }
    alive = dict(procs)

    def kill_the_ready():
        """Kill each controller (kill -9) as soon as its frame is in the state its rows need."""
        for frame in list(alive):
            try:
                state = states_of(snapshot(url, iid(frame)))
            except Exception:
                continue
            if all(state.get(p) == s for p, s in want[frame].items()):
                if frame == 'rows':
                    # the job's processes on the manager node: its command runs as <attempt folder>/command.sh
                    aid = snapshot(url, iid(frame))['j_manager']['attempt_id']
                    sc.manager_pids_before = job_pids(aid)
                kill9(alive.pop(frame))
                sc.before[iid(frame)] = states_of(snapshot(url, iid(frame)))
        return True if not alive else sorted(alive)
    try:
        wait_for('every row in its state', kill_the_ready, timeout=240)
    finally:
        for p in alive.values():
            kill9(p)
    # an operator skips or pauses three standby frames as a whole; each playbook drives its frame towards its start
    # time: two are killed while their frame waits (skip_wait, pause_wait), one reaches its start time (skip_end)
    marks = {}
    for frame, op in (('fr_skip_wait', 'skip'), ('fr_pause_wait', 'pause'), ('fr_skip_end', 'skip')):
        marks[frame] = start_playbook(testenv, ['jobnet.scheduler.%s' % op, '-e', 'frame=%s' % frame,
                                                '-e', 'operation_date=%s' % DATE],
                                      str(tmp / (frame + '-mark.log')), env=env)
    wait_for('the marked frames to wait', lambda: (
        snapshot(url, iid('fr_skip_wait'))['']['state'], snapshot(url, iid('fr_pause_wait'))['']['state'],
        snapshot(url, iid('fr_skip_end'))['']['state']) == ('skip_wait', 'pause_wait', 'skip_wait'), timeout=120)
    for frame in ('fr_skip_wait', 'fr_pause_wait'):
        kill9(marks.pop(frame))
        sc.before[iid(frame)] = states_of(snapshot(url, iid(frame)))
    rc = marks['fr_skip_end'].wait(timeout=120)
    marks['fr_skip_end'].log_file.close()
    with open(str(tmp / 'fr_skip_end-mark.log')) as f:
        sc.skip_end_log = f.read()
    assert rc == 0, sc.skip_end_log[-3000:]
    sc.before[iid('fr_skip_end')] = states_of(snapshot(url, iid('fr_skip_end')))

    # while no controller runs: j_agent_ended ends on its own; the standby_past start time passes
    wait_for('j_agent_ended to end on its host', lambda: 'j_agent_ended' in read_ledger(ledger) and any(
        r[0] == 'end' for r in read_ledger(ledger)['j_agent_ended']), timeout=60)
    wait_for('the start time of fr_standby_past to pass',
             lambda: datetime.datetime.now(datetime.timezone.utc) > datetime.datetime.fromisoformat(start_past),
             timeout=60)
    # an operator stops a frame and a net while no controller drives them (the dead controller's lease is taken)
    from frames import playbook_argv  # noqa: F401  (documented helper)
    import subprocess
    for extra in (['-e', 'frame=fr_stopped'], ['-e', 'frame=rows', '-e', 'path=n_stopped']):
        out = subprocess.run(playbook_argv('jobnet.scheduler.stop', '-e', 'operation_date=%s' % DATE, *extra),
                             env=testenv.env(**env), capture_output=True, text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    sc.stopped_states = {f: states_of(snapshot(url, iid(f))) for f in ('fr_stopped', 'rows')}

    # recovery without the automatic rerun: the "after recovery" column
    out = subprocess.run(playbook_argv('-i', testenv.inventory, '-i', str(extra_inv), 'jobnet.scheduler.recover',
                                       '-e', 'auto_rerun=false'),
                         env=testenv.env(**env), capture_output=True, text=True, timeout=600, check=False)
    sc.recover_output = out.stdout
    assert out.returncode == 0, out.stdout + out.stderr
    for frame in procs:
        sc.recovered[iid(frame)] = snapshot(url, iid(frame))
    sc.manager_pids_after_recovery = [(p, live_process(p)) for p in sc.manager_pids_before if live_process(p)]

    # release the agents' waiting jobs, then recover again with the automatic rerun: the "after the rerun" column
    open(gate, 'w').close()
    out = subprocess.run(playbook_argv('-i', testenv.inventory, '-i', str(extra_inv), 'jobnet.scheduler.recover'),
                         env=testenv.env(**env), capture_output=True, text=True, timeout=900, check=False)
    sc.rerun_output = out.stdout
    sc.rerun_rc = out.returncode
    for frame in procs:
        sc.rerun[iid(frame)] = snapshot(url, iid(frame))
    open(gate_mgr, 'w').close()
    yield sc


def live_process(pid):
    """The state letter and command line of a live (not zombie) process, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read().replace(b'\0', b' ').decode(errors='replace')[:300]
    except (OSError, IndexError):
        return None
    return None if state in ('Z', 'X') else '%s %s' % (state, cmd)


def st(snap, path):
    return snap[path]['state']


# ------------------------------------------------------------------------------------------- table 5.431 (jobs)
JOB_ROWS = [
    # (row id, path, after recovery, after the rerun)
    ('5.431-waiting', 'j_waiting', 'waiting', 'normal_end'),
    ('5.431-normal_end', 'j_normal', 'normal_end', 'normal_end'),
    ('5.431-skip_end', 'j_skip_end', 'skip_end', 'skip_end'),
    ('5.431-skip_wait', 'j_skip_wait', 'skip_wait', 'skip_end'),
    ('5.431-paused', 'j_paused', 'paused', 'paused'),
    ('5.431-pause_wait', 'j_pause_wait', 'pause_wait', 'paused'),
    ('5.431-running-on-the-manager-node', 'j_manager', 'abnormal_end', 'abnormal_end'),
    ('5.431-running-on-an-agent-node', 'j_agent_running', 'running', 'normal_end'),
    ('5.431-running-on-an-agent-node-ended-normally-meanwhile', 'j_agent_ended', 'normal_end', 'normal_end'),
    ('5.431-abnormal_end', 'j_abnormal', 'abnormal_end', 'abnormal_end'),
    ('5.431-queuing', 'j_queuing', 'queuing', 'normal_end'),
]


@pytest.mark.parametrize('row,path,recovered,rerun', JOB_ROWS, ids=[r[0] for r in JOB_ROWS])
def test_job_row(scenario, row, path, recovered, rerun):
    snap = scenario.recovered[iid('rows')]
    assert st(snap, path) == recovered, (row, scenario.recover_output[-3000:])
    assert st(scenario.rerun[iid('rows')], path) == rerun, (row, scenario.rerun_output[-3000:])


def test_5_431_running_on_an_agent_node_is_adopted_never_restarted(scenario):
    runs = read_ledger(scenario.ledger)
    for name in ('j_agent_running', 'j_agent_ended', 'gate', 'k4', 'k7', 'f1'):
        assert len([r for r in runs[name] if r[0] == 'start']) == 1, '%s started more than once' % name
    snap = scenario.rerun[iid('rows')]
    assert snap['j_agent_running']['attempt'] == 1


def test_5_431_running_on_an_agent_node_ended_normally_meanwhile_starts_its_successor(scenario):
    assert st(scenario.recovered[iid('rows')], 'j_after_ended') == 'waiting'
    assert st(scenario.rerun[iid('rows')], 'j_after_ended') == 'normal_end'


def test_5_431_running_on_the_manager_node_is_stopped(scenario):
    assert scenario.manager_pids_before, 'the manager job was running before the failure'
    assert scenario.manager_pids_after_recovery == [], ('recovery must stop jobs running on the manager node',
                                                        scenario.recover_output[-4000:])
    runs = read_ledger(scenario.ledger)
    assert len([r for r in runs['j_manager'] if r[0] == 'start']) == 1, 'not restarted by the automatic rerun'


def test_5_431_abnormal_end_is_not_restarted_by_the_automatic_rerun(scenario):
    runs = read_ledger(scenario.ledger)
    assert len([r for r in runs['j_abnormal'] if r[0] == 'start']) == 1
    assert scenario.rerun[iid('rows')]['j_abnormal']['attempt'] == 1


def test_5_431_queuing_after_recovery_keeps_the_host_limit(scenario):
    from frames import intervals, max_overlap
    spans = intervals(scenario.ledger)
    agent3 = [sp for name in ('j_agent_running', 'j_agent3_busy', 'j_queuing') for sp in spans.get(name, [])]
    assert max_overlap(agent3) <= 2


# ------------------------------------------------------------------------------------------- table 5.430 (nets)
NET_ROWS = [
    ('5.430-waiting', 'n_waiting', 'waiting', 'normal_end'),
    ('5.430-normal_end', 'n_normal', 'normal_end', 'normal_end'),
    ('5.430-skip_end', 'n_skip_end', 'skip_end', 'skip_end'),
    ('5.430-skip_wait', 'n_skip_wait', 'skip_wait', 'skip_end'),
    ('5.430-paused', 'n_paused', 'paused', 'paused'),
    ('5.430-pause_wait', 'n_pause_wait', 'pause_wait', 'paused'),
    ('5.430-running-with-a-job-on-the-manager-node', 'n_manager', 'abnormal_end', 'abnormal_end'),
    ('5.430-running-with-jobs-on-agent-nodes', 'n_agent', 'running', 'normal_end'),
    ('5.430-abnormal_end', 'n_abnormal', 'abnormal_end', 'abnormal_end'),
    ('5.430-has_errors', 'n_has_errors', 'has_errors', 'abnormal_end'),
    ('5.430-stopped', 'n_stopped', 'stopped', 'normal_end'),
]


@pytest.mark.parametrize('row,path,recovered,rerun', NET_ROWS, ids=[r[0] for r in NET_ROWS])
def test_net_row(scenario, row, path, recovered, rerun):
    assert st(scenario.recovered[iid('rows')], path) == recovered, (row, scenario.recover_output[-3000:])
    assert st(scenario.rerun[iid('rows')], path) == rerun, (row, scenario.rerun_output[-3000:])


# ------------------------------------------------------------------------------------------- table 5.429 (frames)
FRAME_ROWS = [
    ('5.429-normal_end', 'fr_normal', 'normal_end', 'normal_end'),
    ('5.429-skip_end', 'fr_skip_end', 'skip_end', 'skip_end'),
    ('5.429-skip_wait', 'fr_skip_wait', 'skip_wait', 'skip_end'),
    ('5.429-pause_wait', 'fr_pause_wait', 'pause_wait', 'paused'),
    ('5.429-paused', 'fr_paused', 'paused', 'paused'),
    ('5.429-standby-recovery-ended-before-the-start-time', 'fr_standby_future', 'standby', 'normal_end'),
    ('5.429-standby-recovery-ended-after-the-start-time', 'fr_standby_past', 'not_submitted', 'not_submitted'),
    ('5.429-running-with-a-job-on-the-manager-node', 'fr_manager', 'abnormal_end', 'abnormal_end'),
    ('5.429-running-with-jobs-on-agent-nodes', 'fr_running_agent', 'running', 'normal_end'),
    ('5.429-abnormal_end', 'fr_abnormal', 'abnormal_end', 'abnormal_end'),
    ('5.429-has_errors', 'fr_has_errors', 'has_errors', 'abnormal_end'),
    ('5.429-stopped', 'fr_stopped', 'stopped', 'normal_end'),
]


@pytest.mark.parametrize('row,frame,recovered,rerun', FRAME_ROWS, ids=[r[0] for r in FRAME_ROWS])
def test_frame_row(scenario, row, frame, recovered, rerun):
    assert st(scenario.recovered[iid(frame)], '') == recovered, (row, scenario.recover_output[-3000:])
    assert st(scenario.rerun[iid(frame)], '') == rerun, (row, scenario.rerun_output[-3000:])


def test_5_429_frames_marked_as_a_whole_never_start_a_job(scenario):
    assert scenario.before[iid('fr_skip_end')][''] == 'skip_end', scenario.skip_end_log[-3000:]
    assert 'skip of fr_skip_end@%s done; frame state skip_wait' % DATE in scenario.skip_end_log
    runs = read_ledger(scenario.ledger)
    for frame, job, state in (('fr_skip_end', 'f13', 'skip_end'), ('fr_skip_wait', 'f11', 'skip_end'),
                              ('fr_pause_wait', 'f12', 'waiting')):
        assert job not in runs, '%s of %s must not start' % (job, frame)
        assert st(scenario.rerun[iid(frame)], job) == state


def test_recovery_prints_progress_per_frame_in_name_order_and_all_done(scenario):
    out = scenario.recover_output
    order = [line.split('PEX058')[1] for line in out.splitlines() if 'PEX058' in line]
    assert len(order) == 13, out[-3000:]
    names = sorted(['rows', 'fr_running_agent', 'fr_manager', 'fr_abnormal', 'fr_normal', 'fr_paused',
                    'fr_has_errors', 'fr_stopped', 'fr_standby_future', 'fr_standby_past', 'fr_skip_wait',
                    'fr_pause_wait', 'fr_skip_end'])
    seen = []
    for line in order:
        for n in names:
            if '%s@' % n in line:
                seen.append(n)
    assert seen == names
    assert 'PEX060' in out


def test_automatic_rerun_ends_non_zero_while_a_frame_is_abnormal(scenario):
    assert scenario.rerun_rc != 0
    assert 'abnormal_end' in scenario.rerun_output
