# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resources and host limits (``_resources``, pure): needs, the index entry of an item, the serving order, who may
take what now (``Occupancy``), the status; and the planner's launches when it is given an ``Occupancy``."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _resources as R
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._planner import Planner, initial_items
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime

IID = 'nightly@2026-11-21'
OTHER = 'weekly@2026-11-21'
THIRD = 'monthly@2026-11-21'
EARLY = '2026-11-21T01:00:00.000000Z'
LATE = '2026-11-21T02:00:00.000000Z'


# ---------------------------------------------------------------------------------------------------- records


def _job(path='a', **extra):
    rec = {'path': path, 'kind': 'job', 'parent': '', 'host': 'h1', 'state': 'waiting',
           'flags': {'skip': False, 'pause': False}, 'attempt': 0, 'attempt_id': None, 'phase': None,
           'started': None, 'ended': None, 'rc': None, 'signal': None, 'message': ''}
    rec.update(extra)
    return rec


def _running(path='a', host='h1', needs=None, **extra):
    rec = _job(path, host=host, state='running', phase='launched', attempt=1, attempt_id='%s.1' % path,
               needs=dict(needs or {}))
    rec.update(extra)
    return rec


def _waiting(path='a', host='h1', needs=None, wait_for=('db',), priority=0, ready_at=EARLY, rank=0, forced=False):
    return _job(path, host=host, state='queuing', ready_at=ready_at,
                waiting={'for': list(wait_for), 'needs': dict(needs or {}), 'priority': priority, 'rank': rank,
                         'forced': forced})


def _hold(iid, path, host='h1', needs=None):
    return R.entry_of(iid, _running(path, host, needs))


def _wait(iid, path, **kwargs):
    return R.entry_of(iid, _waiting(path, **kwargs))


def _index(*entries):
    return {R.index_key(e['iid'], e['path']): e for e in entries}


def _cand(path, needs=None, priority=0, ready_at=LATE, rank=0, forced=False, iid=IID, host='h1'):
    return {'iid': iid, 'path': path, 'host': host, 'needs': dict(needs or {}), 'priority': priority,
            'ready_at': ready_at, 'rank': rank, 'forced': forced}


def _decided(pairs):
    return [(c['path'], blocked) for c, blocked in pairs]


# ---------------------------------------------------------------------------------------------------- needs


def test_needs_as_a_list_of_names_take_one_unit_each():
    assert R.normalise_needs(['db', 'tape']) == {'db': 1, 'tape': 1}
    assert R.normalise_needs(('db',)) == {'db': 1}


def test_needs_as_a_mapping_keep_their_units():
    assert R.normalise_needs({'db': 2, 'tape.drive-1': 1}) == {'db': 2, 'tape.drive-1': 1}
    assert R.normalise_needs({'db': R.CAPACITY_MAX}) == {'db': R.CAPACITY_MAX}


def test_no_needs_are_an_empty_mapping():
    assert R.normalise_needs(None) == {} and R.normalise_needs([]) == {} and R.normalise_needs({}) == {}


@pytest.mark.parametrize('units', [0, -1, True, False, 1.5, '2', None, R.CAPACITY_MAX + 1])
def test_a_need_that_is_not_a_whole_number_of_units_from_1_is_refused(units):
    with pytest.raises(ValueError, match='resource db: expected a whole number of units from 1'):
        R.normalise_needs({'db': units})


@pytest.mark.parametrize('name', ['', 'a:b', '-db', '.db', 'd b', 'db\n', 'x' * 65, 'résumé', 7, None])
def test_a_bad_resource_name_is_refused_in_both_forms(name):
    with pytest.raises(R.ResourceError, match='name .* is not valid'):
        R.normalise_needs({name: 1})
    if isinstance(name, str):
        with pytest.raises(R.ResourceError, match='name .* is not valid'):
            R.normalise_needs([name])


def test_a_name_of_64_characters_is_accepted_and_65_is_not():
    assert R.check_name('x' * 64) == 'x' * 64
    with pytest.raises(R.ResourceError):
        R.check_name('x' * 65)


def test_a_name_listed_twice_is_refused_with_the_mapping_form_suggested():
    with pytest.raises(ValueError, match=r'resource db is listed twice; give \{db: 2\}'):
        R.normalise_needs(['db', 'tape', 'db'])


def test_a_list_entry_that_is_not_a_name_is_refused():
    with pytest.raises(TypeError, match='a list of resources holds names'):
        R.normalise_needs(['db', {'tape': 2}])


@pytest.mark.parametrize('value', ['db', 3, True])
def test_needs_that_are_neither_a_list_nor_a_mapping_are_refused(value):
    with pytest.raises(TypeError, match='expected a mapping of resource names to units'):
        R.normalise_needs(value)


@pytest.mark.parametrize('value,expected', [(0, 0), (5, 5), ('3', 3), (' 4 ', 4), (R.CAPACITY_MAX, R.CAPACITY_MAX)])
def test_a_capacity_is_a_whole_number_from_0(value, expected):
    assert R.check_capacity(value, 'db') == expected


@pytest.mark.parametrize('value', [-1, R.CAPACITY_MAX + 1, True, 2.0, None, 'two', '-1', '1_0', ''])
def test_a_bad_capacity_is_refused_naming_the_resource(value):
    with pytest.raises(R.ResourceError, match='the capacity of resource db'):
        R.check_capacity(value, 'db')


def test_a_capacity_of_superscript_digits_is_refused_as_a_resource_error():
    with pytest.raises(R.ResourceError):
        R.check_capacity('\u00b2', 'db')


def test_a_priority_is_a_whole_number_in_its_range():
    assert R.check_priority(R.PRIORITY_MIN) == R.PRIORITY_MIN and R.check_priority(R.PRIORITY_MAX) == R.PRIORITY_MAX
    with pytest.raises(TypeError):
        R.check_priority(True)
    with pytest.raises(TypeError):
        R.check_priority('5')
    with pytest.raises(ValueError, match='from -1000 to 1000'):
        R.check_priority(R.PRIORITY_MAX + 1)


def test_the_model_takes_both_forms_of_needs_and_refuses_a_bad_one_naming_the_job():
    defn = _model.normalise({'frame': 'res', 'jobs': [
        {'name': 'big', 'host': 'h1', 'shell': 'true', 'resources': {'db': 2}, 'priority': 3},
        {'name': 'small', 'host': 'h1', 'shell': 'true', 'resources': ['db', 'tape']},
        {'name': 'none', 'host': 'h1', 'shell': 'true'}]}, hosts={'h1'})
    by = {d['path']: d for d in defn['items']}
    assert by['big']['resources'] == {'db': 2} and by['big']['priority'] == 3
    assert by['small']['resources'] == {'db': 1, 'tape': 1} and 'priority' not in by['small']
    assert 'resources' not in by['none']
    with pytest.raises(Exception, match='a:b'):
        _model.normalise({'frame': 'res', 'jobs': [{'name': 'j', 'host': 'h1', 'shell': 'true',
                                                   'resources': {'a:b': 1}}]}, hosts={'h1'})


# ---------------------------------------------------------------------------------------------------- needs_beyond


def _defn(**needs_by_path):
    return {'items': [{'path': p, 'kind': 'job', 'resources': n} for p, n in needs_by_path.items()]
            + [{'path': 'net', 'kind': 'net'}]}


def test_needs_beyond_names_a_resource_nobody_defined():
    problems = R.needs_beyond(_defn(a={'gpu': 1}), {'db': 2})
    assert len(problems) == 1
    assert 'job a needs resource gpu, which is not defined' in problems[0] and 'name=gpu' in problems[0]


def test_needs_beyond_names_a_need_larger_than_the_capacity():
    assert R.needs_beyond(_defn(a={'db': 3}), {'db': 2}) == [
        'job a needs 3 of resource db, whose capacity is 2: it could never start']


def test_needs_within_the_capacities_are_fine():
    assert R.needs_beyond(_defn(a={'db': 2}, b={'db': 1, 'tape': 1}, c={}), {'db': 2, 'tape': 1}) == []
    assert R.needs_beyond({'items': []}, {}) == []


def test_needs_beyond_lists_every_problem_of_a_job_in_name_order():
    problems = R.needs_beyond(_defn(a={'zz': 1, 'db': 9}), {'db': 2})
    assert [p.split(',')[0] for p in problems] == ['job a needs 9 of resource db', 'job a needs resource zz']


# ---------------------------------------------------------------------------------------------------- the index entry


def test_a_running_job_holds_its_needs_and_a_slot():
    item = _running('load/stage', 'h2', {'db': 2})
    assert R.holds_a_slot(item)
    assert R.entry_of(IID, item) == {'kind': 'hold', 'iid': IID, 'path': 'load/stage', 'host': 'h2',
                                     'attempt_id': 'load/stage.1', 'needs': {'db': 2}, 'state': 'running'}


def test_a_job_whose_launch_is_in_flight_holds():
    item = _job('a', state='queuing', phase='launching', attempt=1, attempt_id='a.1', needs={'db': 1})
    assert R.holds_a_slot(item)
    entry = R.entry_of(IID, item)
    assert entry['kind'] == 'hold' and entry['needs'] == {'db': 1} and entry['state'] == 'running'


def test_a_launching_job_holds_even_when_it_also_records_that_it_waited():
    item = _waiting('a', needs={'db': 1})
    item.update(phase='launching', attempt=1, attempt_id='a.1', needs={'db': 1})
    assert R.entry_of(IID, item)['kind'] == 'hold'


def test_queuing_env_down_with_a_started_attempt_holds_it_may_still_run():
    item = _running('a', needs={'db': 1}, state='queuing_env_down')
    assert R.holds_a_slot(item)
    entry = R.entry_of(IID, item)
    assert entry['kind'] == 'hold' and entry['needs'] == {'db': 1}
    assert entry['state'] == 'queuing_env_down'   # an attempt of unknown state: only a recovery frees it


def test_queuing_env_down_without_a_started_attempt_holds_nothing():
    never = _job('a', state='queuing_env_down')
    not_started = _job('a', state='queuing_env_down', attempt_id='a.1', phase=None)
    for item in (never, not_started):
        assert not R.holds_a_slot(item)
        assert R.entry_of(IID, item) is None


def test_queuing_env_down_with_its_launch_in_flight_holds():
    item = _job('a', state='queuing_env_down', phase='launching', attempt=1, attempt_id='a.1')
    assert R.holds_a_slot(item) and R.entry_of(IID, item)['kind'] == 'hold'


def test_a_queuing_job_that_was_refused_waits_with_its_place_in_the_order():
    item = _waiting('a', host='h2', needs={'db': 2, 'tape': 1}, wait_for=('db', 'slot'), priority=4, ready_at=EARLY,
                    rank=3, forced=True)
    assert not R.holds_a_slot(item)
    assert R.entry_of(IID, item) == {'kind': 'wait', 'iid': IID, 'path': 'a', 'host': 'h2',
                                     'needs': {'db': 2, 'tape': 1}, 'for': ['db', 'slot'], 'priority': 4,
                                     'ready_at': EARLY, 'rank': 3, 'forced': True}


def test_a_queuing_job_that_was_never_refused_neither_holds_nor_waits():
    assert R.entry_of(IID, _job('a', state='queuing')) is None
    assert R.entry_of(IID, _job('a', state='queuing', waiting={})) is None


@pytest.mark.parametrize('state', ['normal_end', 'abnormal_end', 'skip_end', 'waiting', 'not_submitted', 'paused'])
def test_an_ended_or_not_queued_job_has_no_entry(state):
    item = _running('a', needs={'db': 1}, state=state)
    item['waiting'] = {'for': ['db'], 'needs': {'db': 1}}
    assert not R.holds_a_slot(item)
    assert R.entry_of(IID, item) is None


def test_a_net_never_holds_nor_waits():
    net = _running('n', needs={'db': 1}, kind='net')
    assert not R.holds_a_slot(net)
    assert R.entry_of(IID, net) is None
    assert R.entry_of(IID, dict(_waiting('n'), kind='net')) is None


def test_an_attempt_recovery_unclaimed_holds_nothing_but_a_later_attempt_holds():
    item = _running('a', needs={'db': 1}, unclaimed='a.1')
    assert R.entry_of(IID, item) is None
    item.update(attempt=2, attempt_id='a.2')
    assert R.entry_of(IID, item)['kind'] == 'hold'


def test_the_entry_copies_the_needs_of_the_record():
    item = _running('a', needs={'db': 1})
    entry = R.entry_of(IID, item)
    entry['needs']['db'] = 5
    assert item['needs'] == {'db': 1}


def test_the_index_key_joins_instance_and_path_with_a_tab():
    assert R.index_key(IID, 'load/stage') == IID + '\tload/stage'


# ---------------------------------------------------------------------------------------------------- order


def test_serving_order_forced_first_then_priority_then_ready_time_then_rank():
    entries = [
        dict(_wait(IID, 'late', ready_at=LATE), rank=0),
        dict(_wait(IID, 'early_rank2', ready_at=EARLY), rank=2),
        dict(_wait(IID, 'early_rank1', ready_at=EARLY), rank=1),
        dict(_wait(IID, 'high', priority=5, ready_at=LATE)),
        dict(_wait(IID, 'low', priority=-5, ready_at=EARLY)),
        dict(_wait(IID, 'forced', priority=-100, ready_at=LATE, forced=True)),
    ]
    assert [e['path'] for e in sorted(entries, key=R.order_key)] == [
        'forced', 'high', 'early_rank1', 'early_rank2', 'late', 'low']


def test_serving_order_of_equal_ready_times_goes_by_instance_then_rank():
    a = _wait(OTHER, 'x', ready_at=EARLY, rank=0)
    b = _wait(IID, 'y', ready_at=EARLY, rank=9)
    assert [e['iid'] for e in sorted([a, b], key=R.order_key)] == [IID, OTHER]


def test_a_waiter_without_a_ready_time_comes_after_those_with_one():
    a = dict(_wait(IID, 'x'), ready_at='')
    b = _wait(OTHER, 'y', ready_at=LATE)
    assert [e['path'] for e in sorted([a, b], key=R.order_key)] == ['y', 'x']


# ---------------------------------------------------------------------------------------------------- Occupancy.take


def test_take_respects_the_capacity_across_the_candidates_of_one_call():
    occ = R.Occupancy({}, {'db': 2})
    out = occ.take('h1', None, [_cand('a', {'db': 1}, rank=0), _cand('b', {'db': 1}, rank=1),
                                _cand('c', {'db': 1}, rank=2), _cand('d', {}, rank=3)])
    assert _decided(out) == [('a', []), ('b', []), ('c', ['db']), ('d', [])]
    assert occ.held == {'db': 2} and occ.slots == {'h1': 3}


def test_take_counts_the_holders_of_other_instances():
    occ = R.Occupancy(_index(_hold(OTHER, 'x', 'h9', {'db': 1}), _hold(THIRD, 'y', 'h8', {'db': 1, 'tape': 1})),
                      {'db': 3, 'tape': 1})
    out = occ.take('h1', None, [_cand('a', {'db': 1}, rank=0), _cand('b', {'db': 1}, rank=1),
                                _cand('c', {'tape': 1}, rank=2)])
    assert _decided(out) == [('a', []), ('b', ['db']), ('c', ['tape'])]


def test_a_holder_that_needs_more_than_one_resource_counts_against_each():
    occ = R.Occupancy(_index(_hold(OTHER, 'x', 'h9', {'db': 2, 'tape': 1})), {'db': 2, 'tape': 2})
    assert occ.free('db') == 0 and occ.free('tape') == 1
    assert _decided(occ.take('h1', None, [_cand('a', {'db': 1, 'tape': 1})])) == [('a', ['db'])]


def test_an_earlier_waiter_of_another_instance_reserves_its_units():
    entries = _index(_hold(THIRD, 'x', 'h9', {'db': 1}),
                     _wait(OTHER, 'big', host='h9', needs={'db': 2}, wait_for=['db'], ready_at=EARLY))
    occ = R.Occupancy(entries, {'db': 3})
    # 2 units are free, but the earlier waiter waits for both of them
    assert _decided(occ.take('h1', None, [_cand('small', {'db': 1}, ready_at=LATE)])) == [('small', ['db'])]


def test_a_candidate_ready_before_the_waiter_is_served_before_it():
    entries = _index(_hold(THIRD, 'x', 'h9', {'db': 1}),
                     _wait(OTHER, 'big', host='h9', needs={'db': 2}, wait_for=['db'], ready_at=LATE))
    occ = R.Occupancy(entries, {'db': 3})
    assert _decided(occ.take('h1', None, [_cand('small', {'db': 1}, ready_at=EARLY)])) == [('small', [])]


def test_a_job_that_needs_two_units_is_not_starved_by_later_jobs_that_need_one():
    holder = _hold(OTHER, 'x', 'h9', {'db': 1})
    cands = [_cand('big', {'db': 2}, ready_at=EARLY, rank=0)] + [
        _cand('small%d' % i, {'db': 1}, ready_at=LATE, rank=i + 1) for i in range(3)]
    out = R.Occupancy(_index(holder), {'db': 2}).take('h1', None, cands)
    # one unit is free: the small jobs would fit, but they leave it to the big one that waits before them
    assert _decided(out) == [('big', ['db']), ('small0', ['db']), ('small1', ['db']), ('small2', ['db'])]
    out = R.Occupancy({}, {'db': 2}).take('h1', None, cands)
    assert _decided(out) == [('big', []), ('small0', ['db']), ('small1', ['db']), ('small2', ['db'])]


def test_a_waiter_reserves_only_the_resources_it_was_refused():
    entries = _index(_wait(OTHER, 'w', host='h9', needs={'db': 1, 'tape': 1}, wait_for=['tape'], ready_at=EARLY))
    occ = R.Occupancy(entries, {'db': 1, 'tape': 0})
    assert _decided(occ.take('h1', None, [_cand('a', {'db': 1})])) == [('a', [])]


def test_a_waiter_blocked_only_by_its_host_slot_does_not_reserve_a_resource():
    entries = _index(_hold(OTHER, 'busy', 'h2', {}),
                     _wait(OTHER, 'w', host='h2', needs={'db': 1}, wait_for=['slot'], ready_at=EARLY))
    occ = R.Occupancy(entries, {'db': 1})
    assert _decided(occ.take('h1', None, [_cand('a', {'db': 1}, ready_at=LATE)])) == [('a', [])]


def test_an_earlier_waiter_for_a_slot_of_the_same_host_keeps_that_slot():
    entries = _index(_hold(OTHER, 'busy', 'h1', {}),
                     _wait(OTHER, 'w', host='h1', needs={}, wait_for=['slot'], ready_at=EARLY))
    occ = R.Occupancy(entries, {})
    # a limit of 2: one slot is free, and the earlier waiter of that host waits for it
    assert _decided(occ.take('h1', 2, [_cand('a', ready_at=LATE)])) == [('a', ['slot'])]
    occ = R.Occupancy(entries, {})
    assert _decided(occ.take('h1', 3, [_cand('a', ready_at=LATE)])) == [('a', [])]


def test_the_host_limit_counts_the_holders_of_every_instance():
    entries = _index(_hold(OTHER, 'x', 'h1'), _hold(THIRD, 'y', 'h1'), _hold(OTHER, 'z', 'h2'))
    assert _decided(R.Occupancy(entries, {}).take('h1', 2, [_cand('a')])) == [('a', ['slot'])]
    assert _decided(R.Occupancy(entries, {}).take('h1', 3, [_cand('a'), _cand('b', rank=1)])) == [
        ('a', []), ('b', ['slot'])]
    assert _decided(R.Occupancy(entries, {}).take('h2', 2, [_cand('a', host='h2')])) == [('a', [])]


def test_the_host_limit_counts_this_instances_holders_from_its_items():
    items = {'r': _running('r', 'h1', {}), 'q': _job('q', state='queuing')}
    occ = R.Occupancy({}, {}, IID, items)
    assert _decided(occ.take('h1', 1, [_cand('q')])) == [('q', ['slot'])]


def test_no_limit_lets_every_candidate_without_needs_start():
    entries = _index(*[_hold(OTHER, 'x%d' % i, 'h1') for i in range(50)])
    out = R.Occupancy(entries, {}).take('h1', None, [_cand('a'), _cand('b', rank=1)])
    assert _decided(out) == [('a', []), ('b', [])]


def test_a_forced_job_passes_the_host_limit_but_not_a_capacity():
    entries = _index(_hold(OTHER, 'x', 'h1', {'db': 1}))
    occ = R.Occupancy(entries, {'db': 1})
    out = occ.take('h1', 1, [_cand('plain', rank=0), _cand('forced', forced=True, rank=1),
                             _cand('forced_db', {'db': 1}, forced=True, rank=2)])
    assert _decided(out) == [('forced', []), ('forced_db', ['db']), ('plain', ['slot'])]
    assert occ.slots['h1'] == 2


def test_an_undefined_resource_blocks_and_the_message_says_it_is_not_defined():
    occ = R.Occupancy({}, {'db': 5})
    out = occ.take('h1', None, [_cand('a', {'gpu': 1, 'db': 1})])
    assert _decided(out) == [('a', ['gpu'])]
    why = occ.why('h1', None, {'gpu': 1, 'db': 1}, ['gpu'])
    assert why == 'waiting for resource gpu (not defined)'


def test_a_blocked_candidate_takes_nothing_of_what_was_free():
    occ = R.Occupancy({}, {'db': 1})
    out = occ.take('h1', None, [_cand('a', {'gpu': 1, 'db': 1}, rank=0), _cand('b', {'db': 1}, rank=1)])
    assert _decided(out) == [('a', ['gpu']), ('b', [])]
    assert occ.held == {'db': 1}


def test_why_names_each_thing_waited_for_without_counts_that_change():
    occ = R.Occupancy(_index(_hold(OTHER, 'x', 'h1', {'db': 1})), {'db': 2, 'none': 0})
    assert occ.why('h1', 2, {'db': 2, 'none': 1}, ['db', 'none', 'slot']) == (
        'waiting for resource db (needs 2, capacity 2), resource none (needs 1, capacity 0), '
        'a free slot on h1 (jobnet_max_running 2)')


def test_this_instances_stale_index_entries_are_replaced_by_its_items():
    entries = _index(_hold(IID, 'a', 'h1', {'db': 1}), _hold(OTHER, 'x', 'h9', {'db': 1}))
    items = {'a': _running('a', 'h1', {'db': 1}, state='normal_end')}
    occ = R.Occupancy(entries, {'db': 2}, IID, items)
    assert occ.free('db') == 1 and [h['iid'] for h in occ.holders] == [OTHER]


def test_this_instances_own_waiter_is_decided_again_not_counted_twice():
    items = {'a': _waiting('a', needs={'db': 1}, ready_at=EARLY)}
    entries = _index(_wait(IID, 'a', needs={'db': 1}, ready_at=EARLY))
    occ = R.Occupancy(entries, {'db': 1}, IID, items)
    assert _decided(occ.take('h1', None, [_cand('a', {'db': 1}, ready_at=EARLY)])) == [('a', [])]


def test_an_empty_candidate_list_decides_nothing():
    assert R.Occupancy({}, {}).take('h1', 0, []) == []


# ---------------------------------------------------------------------------------------------------- status


def test_status_lists_holders_and_waiters_of_each_resource_in_serving_order():
    entries = _index(
        _hold(OTHER, 'x', 'h1', {'db': 1}),
        _hold(IID, 'y', 'h2', {'db': 2, 'gone': 1}),
        _wait(IID, 'w_low', host='h1', needs={'db': 2}, wait_for=['db'], ready_at=EARLY),
        _wait(OTHER, 'w_high', host='h2', needs={'db': 1}, wait_for=['db'], priority=5, ready_at=LATE),
        _wait(THIRD, 'w_slot', host='h1', needs={'db': 1}, wait_for=['slot'], ready_at=EARLY, forced=True),
    )
    resources, hosts = R.status(entries, {'db': 4, 'tape': 1})
    assert resources['db'] == {
        'capacity': 4, 'held': 3,
        'holders': [{'instance': IID, 'path': 'y', 'host': 'h2', 'units': 2},
                    {'instance': OTHER, 'path': 'x', 'host': 'h1', 'units': 1}],
        'waiters': [{'instance': OTHER, 'path': 'w_high', 'host': 'h2', 'units': 1, 'priority': 5},
                    {'instance': IID, 'path': 'w_low', 'host': 'h1', 'units': 2, 'priority': 0}]}
    assert resources['tape'] == {'capacity': 1, 'held': 0, 'holders': [], 'waiters': []}
    assert resources['gone'] == {'capacity': None, 'held': 1,
                                 'holders': [{'instance': IID, 'path': 'y', 'host': 'h2', 'units': 1}],
                                 'waiters': []}
    assert hosts == {
        'h1': {'running': 1, 'holders': [{'instance': OTHER, 'path': 'x', 'host': 'h1'}],
               'waiters': [{'instance': THIRD, 'path': 'w_slot', 'host': 'h1'}]},
        'h2': {'running': 1, 'holders': [{'instance': IID, 'path': 'y', 'host': 'h2'}], 'waiters': []}}


def test_status_of_nothing_lists_the_defined_resources_in_name_order():
    resources, hosts = R.status({}, {'tape': 1, 'db': 2})
    assert list(resources) == ['db', 'tape'] and hosts == {}


# ---------------------------------------------------------------------------------------------------- the planner


NOW = datetime.datetime(2026, 11, 21, 3, 0, 0, tzinfo=datetime.timezone.utc)
HOSTS = {'h1', 'h2'}


def planner(frame, now=NOW, date='2026-11-21'):
    defn = _model.normalise(frame, hosts=HOSTS)
    inst = {'id': '%s@%s' % (frame['frame'], date), 'frame': frame['frame'], 'operation_date': date,
            'uid': 'u', 'state': 'not_submitted', 'definition': defn, 'flags': {}}
    pl = Planner(defn, inst, initial_items(defn), now=now)
    pl.submit()
    return pl


def aid(path, attempt):
    return '%s.%d' % (path.replace('/', '.'), attempt)


def pick(pl, host, entries=None, capacities=None, limit=None):
    occ = R.Occupancy(entries or {}, capacities or {}, pl.instance['id'], pl.items)
    return pl.pick_launches(host, None, aid, occupancy=occ, limit=limit)


RES = {'frame': 'res', 'jobs': [
    {'name': 'big', 'host': 'h1', 'shell': 'true', 'resources': {'db': 2}},
    {'name': 'small', 'host': 'h1', 'shell': 'true', 'resources': ['db']},
    {'name': 'plain', 'host': 'h1', 'shell': 'true'},
]}


def test_a_job_refused_a_resource_records_what_it_waits_for():
    pl = planner(RES)
    picked = pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 1})), {'db': 2})
    assert picked == ['plain']
    big, small = pl.items['big'], pl.items['small']
    assert big['state'] == 'queuing' and big.get('phase') is None
    assert big['waiting'] == {'for': ['db'], 'needs': {'db': 2}, 'priority': 0, 'forced': False, 'rank': 0}
    assert big['message'] == 'waiting for resource db (needs 2, capacity 2)'
    assert big['ready_at'] == isotime(NOW)
    # one unit is free, but big waits for two before it
    assert small['waiting'] == {'for': ['db'], 'needs': {'db': 1}, 'priority': 0, 'forced': False, 'rank': 1}
    assert small['message'] == 'waiting for resource db (needs 1, capacity 2)'
    assert R.entry_of(pl.instance['id'], big)['kind'] == 'wait'
    assert {'big', 'small', 'plain'} <= set(pl.changed())


def _started(pl, path):
    pl.apply_job(path, {'state': 'running'})


def test_a_launched_job_records_its_needs_and_leaves_the_queue():
    pl = planner(RES)
    assert pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 1})), {'db': 2}) == ['plain']
    _started(pl, 'plain')
    assert pick(pl, 'h1', {}, {'db': 2}) == ['big']
    big = pl.items['big']
    assert big['phase'] == 'launching' and big['attempt'] == 1 and big['attempt_id'] == 'big.1'
    assert big['needs'] == {'db': 2}
    assert 'waiting' not in big and 'ready_at' not in big and big['message'] == ''
    assert R.entry_of(pl.instance['id'], big)['kind'] == 'hold'
    assert 'needs' not in pl.items['plain']
    # big now holds both units: small waits on
    assert pl.items['small']['waiting']['for'] == ['db']


def test_a_waiter_whose_reason_is_unchanged_is_not_rewritten():
    pl = planner(RES)
    assert pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 2})), {'db': 2}) == ['plain']
    _started(pl, 'plain')
    pl.changed_items.clear()
    assert pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 2})), {'db': 2}) == []
    assert pl.changed() == {}


def test_a_waiter_keeps_its_ready_time_while_it_waits():
    pl = planner(RES)
    pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 2})), {'db': 2})
    first = pl.items['big']['ready_at']
    pl.now = NOW + datetime.timedelta(hours=1)
    pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 2})), {'db': 2})
    assert pl.items['big']['ready_at'] == first


def test_the_planner_serves_a_higher_priority_first():
    pl = planner({'frame': 'prio', 'jobs': [
        {'name': 'low', 'host': 'h1', 'shell': 'true', 'resources': ['db']},
        {'name': 'high', 'host': 'h1', 'shell': 'true', 'resources': ['db'], 'priority': 5}]})
    assert pick(pl, 'h1', {}, {'db': 1}) == ['high']
    assert pl.items['low']['waiting'] == {'for': ['db'], 'needs': {'db': 1}, 'priority': 0, 'forced': False,
                                          'rank': 0}
    assert pl.items['high'].get('waiting') is None


def test_the_planner_records_a_wait_for_the_hosts_slot():
    pl = planner({'frame': 'wide', 'jobs': [{'name': 'j%d' % i, 'host': 'h1', 'shell': 'true'} for i in range(3)]})
    assert pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h1')), {}, limit=2) == ['j0']
    for path in ('j1', 'j2'):
        item = pl.items[path]
        assert item['waiting']['for'] == ['slot'] and item['waiting']['needs'] == {}
        assert item['message'] == 'waiting for a free slot on h1 (jobnet_max_running 2)'


def test_the_planner_lets_a_force_started_job_pass_the_hosts_limit():
    pl = planner({'frame': 'wide', 'jobs': [{'name': 'j%d' % i, 'host': 'h1', 'shell': 'true'} for i in range(2)]})
    entries = _index(_hold(OTHER, 'x', 'h1'))
    assert pick(pl, 'h1', entries, {}, limit=1) == []
    pl.force_start('j1')
    assert pick(pl, 'h1', entries, {}, limit=1) == ['j1']
    assert pl.items['j1']['flags']['force'] is False and 'waiting' not in pl.items['j1']
    assert pl.items['j0']['waiting']['for'] == ['slot']


def test_the_planner_keeps_a_force_started_job_waiting_for_a_full_resource():
    pl = planner({'frame': 'f', 'jobs': [{'name': 'j', 'host': 'h1', 'shell': 'true', 'resources': ['db']}]})
    pl.force_start('j')
    assert pick(pl, 'h1', _index(_hold(OTHER, 'x', 'h2', {'db': 1})), {'db': 1}, limit=0) == []
    assert pl.items['j']['waiting'] == {'for': ['db'], 'needs': {'db': 1}, 'priority': 0, 'forced': True,
                                        'rank': 0}


def test_the_planner_says_a_resource_is_not_defined():
    pl = planner({'frame': 'f', 'jobs': [{'name': 'j', 'host': 'h1', 'shell': 'true', 'resources': ['gpu']}]})
    assert pick(pl, 'h1', {}, {}) == []
    assert pl.items['j']['message'] == 'waiting for resource gpu (not defined)'
    assert pl.items['j']['waiting']['for'] == ['gpu']


def test_a_launching_job_is_launched_again_without_taking_more():
    pl = planner(RES)
    assert pick(pl, 'h1', {}, {'db': 2}) == ['big', 'plain']
    assert pick(pl, 'h1', {}, {'db': 2}) == ['big', 'plain']
    assert pl.items['big']['attempt'] == 1 and pl.items['big']['needs'] == {'db': 2}
    assert pl.items['small']['waiting']['for'] == ['db']


def test_a_waiter_for_its_slot_on_one_host_does_not_hold_back_a_job_of_another_instance():
    first = planner({'frame': 'first', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true', 'resources': ['db']}]})
    busy = _index(_hold(THIRD, 'x', 'h1'))
    assert pick(first, 'h1', busy, {'db': 1}, limit=1) == []
    assert first.items['a']['waiting']['for'] == ['slot']
    waiter = R.entry_of(first.instance['id'], first.items['a'])
    second = planner({'frame': 'second', 'jobs': [{'name': 'b', 'host': 'h2', 'shell': 'true',
                                                   'resources': ['db']}]},
                     now=NOW + datetime.timedelta(minutes=5))
    assert pick(second, 'h2', dict(busy, **_index(waiter)), {'db': 1}, limit=1) == ['b']


def test_an_earlier_waiter_of_another_instance_holds_back_a_later_job():
    first = planner({'frame': 'first', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true',
                                                 'resources': {'db': 2}}]})
    held = _index(_hold(THIRD, 'x', 'h9', {'db': 1}))
    assert pick(first, 'h1', held, {'db': 2}) == []
    waiter = R.entry_of(first.instance['id'], first.items['a'])
    assert waiter['kind'] == 'wait' and waiter['ready_at'] == isotime(NOW)
    second = planner({'frame': 'second', 'jobs': [{'name': 'b', 'host': 'h2', 'shell': 'true', 'resources': ['db']}]},
                     now=NOW + datetime.timedelta(minutes=5))
    assert pick(second, 'h2', dict(held, **_index(waiter)), {'db': 2}) == []
    assert second.items['b']['waiting']['for'] == ['db']
    # the first instance, deciding again, takes both units once the holder is gone
    assert pick(first, 'h1', _index(R.entry_of(second.instance['id'], second.items['b'])), {'db': 2}) == ['a']


def test_a_job_of_a_stopped_frame_no_longer_reserves_what_it_waited_for():
    first = planner({'frame': 'first', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true',
                                                 'resources': {'db': 2}}]})
    assert pick(first, 'h1', _index(_hold(THIRD, 'x', 'h9', {'db': 1})), {'db': 2}) == []
    first.stop()
    assert first.quiescent()
    waiter = R.entry_of(first.instance['id'], first.items['a'])
    second = planner({'frame': 'second', 'jobs': [{'name': 'b', 'host': 'h2', 'shell': 'true', 'resources': ['db']}]},
                     now=NOW + datetime.timedelta(minutes=5))
    # nobody holds db now: only the stopped frame's job, which cannot start, stands before b
    entries = _index(waiter) if waiter is not None else {}
    assert pick(second, 'h2', entries, {'db': 2}) == ['b']
