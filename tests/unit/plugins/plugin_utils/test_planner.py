# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's rules, on definitions normalised by _model (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._planner import (
    OperationError,
    Planner,
    initial_items,
)

HOSTS = {'h1', 'h2'}


def planner(frame):
    defn = _model.normalise(frame, hosts=HOSTS)
    inst = {'id': '%s@2026-01-01' % frame['frame'], 'frame': frame['frame'], 'operation_date': '2026-01-01',
            'uid': 'u', 'state': 'not_submitted', 'definition': defn, 'flags': {}}
    pl = Planner(defn, inst, initial_items(defn))
    pl.submit()
    return pl


def aid(path, attempt):
    return '%s.%d' % (path.replace('/', '.'), attempt)


def finish(pl, path, state='normal_end', rc=0):
    host = pl.items[path]['host']
    assert path in pl.pick_launches(host, None, aid), pl.items[path]
    pl.apply_job(path, {'state': state, 'rc': rc})
    pl.advance()


def states(pl):
    out = {p: it['state'] for p, it in pl.items.items()}
    out[''] = pl.instance['state']
    return out


CHAIN = {'frame': 'chain', 'jobs': [
    {'name': 'a', 'host': 'h1', 'shell': 'true'},
    {'name': 'b', 'host': 'h2', 'shell': 'true', 'after': ['a']},
    {'name': 'c', 'host': 'h1', 'shell': 'true', 'after': ['b']},
]}


def test_submit_queues_only_what_has_no_dependencies():
    pl = planner(CHAIN)
    assert states(pl) == {'': 'running', 'a': 'queuing', 'b': 'waiting', 'c': 'waiting'}


def test_a_successor_is_queued_when_its_dependency_ends_normally():
    pl = planner(CHAIN)
    finish(pl, 'a')
    assert states(pl)['b'] == 'queuing' and states(pl)['c'] == 'waiting'


def test_an_abnormal_end_blocks_successors_and_ends_the_frame_abnormally():
    pl = planner(CHAIN)
    finish(pl, 'a', 'abnormal_end', 3)
    assert states(pl) == {'': 'abnormal_end', 'a': 'abnormal_end', 'b': 'waiting', 'c': 'waiting'}
    assert pl.quiescent()


def test_has_errors_while_another_branch_is_still_active():
    pl = planner({'frame': 'fork', 'jobs': [{'name': 'x', 'host': 'h1', 'shell': 'false'},
                                            {'name': 'y', 'host': 'h2', 'shell': 'sleep 9'}]})
    pl.pick_launches('h2', None, aid)
    pl.apply_job('y', {'state': 'running'})
    finish(pl, 'x', 'abnormal_end', 1)
    assert states(pl)[''] == 'has_errors'


def test_host_limit_picks_no_more_than_the_free_slots():
    pl = planner({'frame': 'wide', 'jobs': [{'name': 'j%d' % i, 'host': 'h1', 'shell': 'true'} for i in range(5)]})
    assert pl.pick_launches('h1', 2, aid) == ['j0', 'j1']
    assert pl.items['j2']['message'] == 'waiting for a free slot on h1'


def test_a_launching_attempt_is_launched_again_with_the_same_id():
    pl = planner(CHAIN)
    pl.pick_launches('h1', None, aid)
    first = pl.items['a']['attempt_id']
    assert pl.pick_launches('h1', None, aid) == ['a']
    assert pl.items['a']['attempt_id'] == first and pl.items['a']['attempt'] == 1


@pytest.mark.parametrize('mark,state', [('skip', 'skip_wait'), ('pause', 'pause_wait')])
def test_skip_and_pause_mark_an_item_that_has_not_started(mark, state):
    pl = planner(CHAIN)
    pl.mark('b', mark)
    assert states(pl)['b'] == state
    finish(pl, 'a')
    assert states(pl)['b'] == ('skip_end' if mark == 'skip' else 'paused')


@pytest.mark.parametrize('mark,word', [('skip', 'skipped'), ('pause', 'paused')])
def test_skip_and_pause_are_refused_for_an_item_that_ended(mark, word):
    pl = planner(CHAIN)
    finish(pl, 'a')
    with pytest.raises(OperationError, match="job 'a' is normal_end: only a net or job that has not started can be %s"
                       % word):
        pl.mark('a', mark)


def test_a_skipped_job_counts_as_success_for_its_successor():
    pl = planner(CHAIN)
    pl.mark('b', 'skip')
    finish(pl, 'a')
    assert states(pl)['c'] == 'queuing'


def test_release_of_a_paused_job_queues_it():
    pl = planner({'frame': 'p', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true', 'pause': True}]})
    assert states(pl) == {'': 'paused', 'a': 'paused'}
    pl.mark('a', 'release')
    assert states(pl) == {'': 'running', 'a': 'queuing'}


def test_rerun_restarts_abnormal_jobs_with_a_new_attempt():
    pl = planner(CHAIN)
    finish(pl, 'a', 'abnormal_end', 1)
    pl.rerun()
    assert states(pl)['a'] == 'queuing'
    pl.pick_launches('h1', None, aid)
    assert pl.items['a']['attempt'] == 2 and pl.items['a']['attempt_id'] == 'a.2'


def test_resume_does_not_restart_abnormal_jobs_but_clears_a_stop():
    pl = planner({'frame': 'fork', 'jobs': [{'name': 'x', 'host': 'h1', 'shell': 'false'},
                                            {'name': 'y', 'host': 'h2', 'shell': 'sleep 9'},
                                            {'name': 'z', 'host': 'h2', 'shell': 'true', 'after': ['y']}]})
    pl.pick_launches('h2', None, aid)
    pl.apply_job('y', {'state': 'running'})
    finish(pl, 'x', 'abnormal_end', 1)
    pl.stop()
    pl.apply_job('y', {'state': 'normal_end', 'rc': 0})
    pl.advance()
    assert states(pl)[''] == 'stopped' and states(pl)['z'] == 'waiting'  # nothing new starts
    assert pl.pick_launches('h2', None, aid) == []
    pl.resume()
    assert states(pl)['x'] == 'abnormal_end' and states(pl)[''] == 'has_errors'
    assert pl.pick_launches('h2', None, aid) == ['z']


def test_a_stopped_frame_starts_nothing_new():
    pl = planner(CHAIN)
    finish(pl, 'a')
    pl.stop()
    assert pl.pick_launches('h2', None, aid) == []
    assert pl.quiescent()


def test_init_is_refused_while_a_job_runs_and_force_init_returns_it_to_stop():
    pl = planner(CHAIN)
    pl.pick_launches('h1', None, aid)
    pl.apply_job('a', {'state': 'running'})
    with pytest.raises(OperationError, match='use force_init'):
        pl.init()
    assert pl.init(force=True) == [('a', 'h1', 'a.1')]
    assert set(states(pl).values()) == {'not_submitted'}
    assert pl.items['a']['attempt'] == 1  # attempt counters only grow


def test_force_start_queues_a_waiting_job_whatever_its_conditions():
    pl = planner(CHAIN)
    pl.force_start('c')
    assert states(pl)['c'] == 'queuing'
    assert pl.pick_launches('h1', 0, aid) == ['c']  # a force start passes even a full host


def test_nets_start_after_their_dependencies_and_carry_times():
    pl = planner({'frame': 'n', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true'}],
                  'nets': [{'name': 'net', 'after': ['a'], 'jobs': [{'name': 'x', 'host': 'h2', 'shell': 'true'}]}]})
    assert states(pl)['net'] == 'waiting'
    finish(pl, 'a')
    assert states(pl)['net'] == 'running' and pl.items['net']['started']
    finish(pl, 'net/x')
    assert states(pl)['net'] == 'normal_end' and pl.items['net']['ended']
    assert states(pl)[''] == 'normal_end'


# ------------------------------------------------------------------ marks on a whole frame
def standby(frame, minutes=10):
    """A submitted frame whose start time is ``minutes`` away; returns (planner factory, start time)."""
    import datetime
    now = datetime.datetime(2026, 1, 1, 20, 0, tzinfo=datetime.timezone.utc)
    start = now + datetime.timedelta(minutes=minutes)
    defn = _model.normalise(frame, hosts=HOSTS)
    inst = {'id': '%s@2026-01-01' % frame['frame'], 'frame': frame['frame'], 'operation_date': '2026-01-01',
            'uid': 'u', 'state': 'not_submitted', 'definition': defn, 'flags': {}}
    pl = Planner(defn, inst, initial_items(defn), now=now, start_at=start)
    pl.submit()
    assert pl.instance['state'] == 'standby'

    def later(pl, minutes):
        return Planner(defn, pl.instance, pl.items, now=now + datetime.timedelta(minutes=minutes), start_at=start)
    return pl, later


def test_a_frame_skipped_before_its_start_time_waits_then_skips_every_item():
    pl, later = standby(CHAIN)
    pl.mark(None, 'skip')
    assert states(pl) == {'': 'skip_wait', 'a': 'waiting', 'b': 'waiting', 'c': 'waiting'}
    assert not pl.quiescent(), 'the driver waits for the start time'
    pl = later(pl, 5)
    pl.advance()
    assert states(pl)[''] == 'skip_wait'
    pl = later(pl, 10)
    pl.advance()
    assert states(pl) == {'': 'skip_end', 'a': 'skip_end', 'b': 'skip_end', 'c': 'skip_end'}
    assert pl.quiescent() and pl.instance['ended']
    assert not pl.pick_launches('h1', None, aid)
    with pytest.raises(OperationError, match='was skipped'):
        pl.rerun()


def test_a_frame_paused_before_its_start_time_is_paused_at_it_and_starts_when_released():
    pl, later = standby(CHAIN)
    pl.mark('', 'pause')
    assert states(pl)[''] == 'pause_wait'
    pl = later(pl, 11)
    pl.advance()
    assert states(pl) == {'': 'paused', 'a': 'waiting', 'b': 'waiting', 'c': 'waiting'}
    assert pl.quiescent() and not pl.pick_launches('h1', None, aid)
    with pytest.raises(OperationError, match='release it first'):
        pl.rerun()
    pl.mark(None, 'release')
    assert states(pl) == {'': 'running', 'a': 'queuing', 'b': 'waiting', 'c': 'waiting'}
    finish(pl, 'a')
    finish(pl, 'b')
    finish(pl, 'c')
    assert states(pl)[''] == 'normal_end'


def test_release_of_a_frame_mark_before_its_start_time_goes_back_to_standby():
    pl, later = standby(CHAIN)
    pl.mark(None, 'skip')
    pl.mark(None, 'pause')  # the other mark replaces the first
    assert states(pl)[''] == 'pause_wait'
    assert pl.instance['flags']['pause'] and not pl.instance['flags']['skip']
    pl.mark(None, 'release')
    assert states(pl)[''] == 'standby'
    pl = later(pl, 10)
    pl.advance()
    assert states(pl)['a'] == 'queuing'


def test_a_mark_on_a_not_submitted_frame_is_taken_when_it_is_run():
    defn = _model.normalise(CHAIN, hosts=HOSTS)
    inst = {'id': 'chain@2026-01-01', 'frame': 'chain', 'operation_date': '2026-01-01', 'uid': 'u',
            'state': 'not_submitted', 'definition': defn, 'flags': {}}
    pl = Planner(defn, inst, initial_items(defn))
    pl.mark(None, 'skip')
    assert states(pl)[''] == 'not_submitted' and pl.instance_changed
    pl.submit()  # no start time: skipped at once
    assert states(pl) == {'': 'skip_end', 'a': 'skip_end', 'b': 'skip_end', 'c': 'skip_end'}
    pl.init()
    assert pl.instance['flags'].get('skip') is False, 'init clears the operator mark of the frame'


def test_a_started_frame_cannot_be_skipped_or_paused_as_a_whole():
    pl = planner(CHAIN)
    for what in ('skip', 'pause'):
        with pytest.raises(OperationError, match='only a frame that has not started'):
            pl.mark(None, what)
    with pytest.raises(OperationError, match='only a frame paused before it started'):
        pl.mark(None, 'release')


def test_the_automatic_rerun_ends_a_skip_wait_frame_and_keeps_a_pause_wait_one():
    pl, later = standby(CHAIN)
    pl.mark(None, 'skip')
    pl = later(pl, 1)
    pl.resume()
    assert states(pl)[''] == 'skip_end'  # table 5.429: skip_wait -> skip_end after the rerun
    pl, later = standby(CHAIN)
    pl.mark(None, 'pause')
    pl = later(pl, 1)
    pl.resume()
    assert states(pl)[''] == 'pause_wait'
    pl = later(pl, 10)
    pl.resume()
    assert states(pl)[''] == 'paused'


def test_a_launch_in_flight_left_queuing_env_down_by_a_recovery_skip_does_not_keep_the_driver_busy():
    pl = planner({'frame': 'skip', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true'}]})
    pl.pick_launches('h1', None, aid)
    assert pl.active_jobs() == ['a'] and not pl.quiescent()   # its launch is in flight: the driver resolves it
    pl.items['a']['state'] = 'queuing_env_down'              # what a recovery skip leaves (table 5.432)
    assert pl.items['a']['phase'] == 'launching'
    assert pl.active_jobs() == [] and pl.quiescent()        # only the next recovery resolves it
