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
