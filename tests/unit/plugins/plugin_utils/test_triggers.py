# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triggers (``_triggers``, pure): their validation in the frame file (``_model.normalise``), their state as the
sources say (``evaluate``, ``set_manual``), after a recovery (``recover``, note 1 and table 5.432), the status rows,
and the planner's waits on them (``wait_for`` of the frame, a net, a job)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _triggers as T
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._planner import OperationError, initial_items

HOSTS = ['h1', 'h2', 'h3']
DAY = '2026-01-01'
IID = 'f@2026-01-01'
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
STAMP = '2026-01-01T12:00:00.000000Z'
LATER = NOW + datetime.timedelta(minutes=5)
LATER_STAMP = '2026-01-01T12:05:00.000000Z'
OFF = {'state': 'off', 'updated': None, 'sender': None}

TRIGGERS = [
    {'name': 'go', 'event': 'go.now'},
    {'name': 'flag', 'file': '/data/in/ready.flag', 'host': 'h3'},
    {'name': 'up', 'frame': 'other'},
    {'name': 'any', 'frame': 'other', 'state': 'ended'},
]
#: with a time-based ON (its instant is in the machine's zone: only the tests of on_at take it)
TIMED = TRIGGERS + [{'name': 'six', 'event': 'six', 'on_at': '6:00'}]


def job(name, **extra):
    return dict({'name': name, 'host': 'h1', 'shell': 'true'}, **extra)


def frame(triggers=None, jobs=None, **extra):
    raw = {'frame': 'f', 'jobs': jobs or [job('a')]}
    if triggers is not None:
        raw['triggers'] = triggers
    raw.update(extra)
    return raw


def defn(triggers=None, **extra):
    return _model.normalise(frame(TRIGGERS if triggers is None else triggers, **extra), hosts=HOSTS)


def problems(raw):
    with pytest.raises(_model.FrameError) as info:
        _model.normalise(raw, hosts=HOSTS)
    return [(p.item, p.problem) for p in info.value.problems]


def instance(records=None, definition=None):
    out = {'id': IID, 'frame': 'f', 'operation_date': DAY, 'definition': definition or defn()}
    if records:
        out['triggers'] = dict(T.initial_records(out['definition']), **records)
    return out


def state(records, name):
    return records[name]['state']


# ---------------------------------------------------------------------------------------------------- validation

def test_each_kind_of_trigger_is_normalised():
    d = _model.normalise(frame(TIMED, wait_for='go', jobs=[job('a', wait_for=['flag', 'up'])],
                               nets=[{'name': 'n', 'wait_for': 'six', 'jobs': [job('b')]}]), hosts=HOSTS)
    assert d['triggers'] == [
        {'name': 'go', 'kind': 'event', 'event': 'go.now', 'on_at': None},
        {'name': 'flag', 'kind': 'file', 'file': '/data/in/ready.flag', 'host': 'h3', 'on_at': None},
        {'name': 'up', 'kind': 'frame', 'frame': 'other', 'state': 'normal_end', 'on_at': None},
        {'name': 'any', 'kind': 'frame', 'frame': 'other', 'state': 'ended', 'on_at': None},
        {'name': 'six', 'kind': 'event', 'event': 'six', 'on_at': '06:00:00'},
    ]
    items = {i['path']: i for i in d['items']}
    assert d['wait_for'] == ['go'] and items['a']['wait_for'] == ['flag', 'up'] and items['n']['wait_for'] == ['six']
    assert 'wait_for' not in items['n/b']


def test_the_host_of_a_file_trigger_is_one_of_the_definitions_hosts():
    d = defn()
    assert d['hosts'] == ['h1', 'h3'] and _model.frame_hosts(d) == ['h1', 'h3']


def test_a_frame_without_triggers_normalises_as_before():
    d = _model.normalise(frame(jobs=[job('a'), job('b', after='a')]), hosts=HOSTS)
    assert set(d) == {'frame', 'start_at', 'options', 'description', 'items', 'hosts'}
    assert all('wait_for' not in item and 'on_end' not in item for item in d['items'])


def test_on_end_names_the_event_a_normal_end_sets_on():
    d = _model.normalise(frame(jobs=[job('a', on_end={'event': 'a.done'})]), hosts=HOSTS)
    assert d['items'][0]['on_end'] == {'event': 'a.done'}


@pytest.mark.parametrize('trigger,problem', [
    ({'file': 'data/in/x', 'host': 'h1'}, "file: the path 'data/in/x' is not absolute"),
    ({'file': '/data/../x', 'host': 'h1'}, "file: the path '/data/../x' is not in its plain form ('/x')"),
    ({'file': '/data/x/', 'host': 'h1'}, 'ends with "/"'),
    ({'file': '/data/x', 'host': 'nowhere'}, "unknown host 'nowhere' (not in the inventory)"),
    ({'file': '/data/x'}, 'a file trigger needs "host"'),
    ({'frame': 'f'}, 'a frame-link to the frame itself (f) would wait for ever'),
    ({'frame': 'g', 'state': 'running'}, "state: a frame-link waits for one of normal_end, abnormal_end, skip_end, "
                                         "ended, not 'running'"),
    ({}, 'a trigger gives exactly one of "event", "file", "frame" (none given)'),
    ({'event': 'e', 'frame': 'g'}, 'a trigger gives exactly one of "event", "file", "frame" (got event, frame)'),
    ({'event': 'e', 'host': 'h1'}, "'host' does not apply to a"),
    ({'event': '-e'}, "event: '-e' is not a valid event name"),
    ({'event': 'e', 'on_at': '25:00'}, "on_at: '25:00' is not a time of day"),
])
def test_a_bad_trigger_is_refused_naming_it_and_the_problem(trigger, problem):
    found = problems(frame([dict(trigger, name='t')]))
    assert len(found) == 1 and found[0][0] == 'trigger t' and problem in found[0][1], found


def test_a_duplicate_trigger_name_is_refused():
    assert problems(frame([{'name': 't', 'event': 'e'}, {'name': 't', 'event': 'e2'}])) == [
        ('trigger t', "duplicate trigger name 't'")]


def test_the_waiters_of_a_refused_trigger_are_not_reported_as_well():
    found = problems(frame([{'name': 't', 'file': 'rel'}], wait_for='t', jobs=[job('a', wait_for='t')]))
    assert found and all(item == 'trigger t' for item, _problem in found), found


@pytest.mark.parametrize('where,item', [('frame', None), ('net', 'n'), ('job', 'a')])
def test_an_unknown_name_in_wait_for_is_refused_with_a_suggestion(where, item):
    jobs = [job('a', wait_for='redy')] if where == 'job' else [job('a')]
    extra = {'wait_for': 'redy'} if where == 'frame' else {}
    if where == 'net':
        extra['nets'] = [{'name': 'n', 'wait_for': 'redy', 'jobs': [job('b')]}]
    found = problems(frame([{'name': 'ready', 'event': 'e'}], jobs=jobs, **extra))
    assert found == [(item, "unknown trigger 'redy' in wait_for (did you mean 'ready'? triggers of the frame: "
                            "ready)")]


def test_wait_for_without_triggers_says_the_frame_has_none():
    assert problems(frame(wait_for='x')) == [(None, "unknown trigger 'x' in wait_for (triggers of the frame: none)")]


@pytest.mark.parametrize('on_end,problem', [
    ({'event': 'e', 'state': 'on'}, "on_end: unknown key 'state' (known: event, normal_end, abnormal_end)"),
    ({}, 'on_end: give the event to set ON when the job ends normally'),
    ({'event': 'a b'}, "on_end: 'a b' is not a valid event name"),
])
def test_a_bad_on_end_is_refused(on_end, problem):
    found = problems(frame(jobs=[job('a', on_end=on_end)]))
    assert len(found) == 1 and found[0][0] == 'a' and found[0][1].startswith(problem), found


@pytest.mark.parametrize('name,ok', [('a' * 128, True), ('a' * 129, False), ('A.b-c_9', True), ('.a', False),
                                     ('a b', False), ('a\n', False), (7, False)])
def test_event_names(name, ok):
    if ok:
        assert T.check_event_name(name) == name
    else:
        with pytest.raises(T.TriggerError, match='is not a valid event name'):
            T.check_event_name(name)


@pytest.mark.parametrize('path', ['/a/./b', '/a//b', '///a', '/a/.', 'a\0b', '', '/' + 'a' * T.PATH_MAX])
def test_a_watched_path_not_in_its_plain_absolute_form_is_refused(path):
    with pytest.raises(T.TriggerError):
        T.check_path(path)


def test_a_watched_path_with_two_leading_slashes_is_refused():
    with pytest.raises(T.TriggerError):
        T.check_path('//data/x')


# ---------------------------------------------------------------------------------------------------- evaluate

def event(st, sender='operator', updated=STAMP):
    return {'state': st, 'updated': updated, 'sender': sender}


def test_an_event_trigger_follows_the_events_of_the_view():
    records, changes = T.evaluate(instance(), {'events': {'go.now': event('on')}}, NOW)
    assert records['go'] == event('on') and changes == [('go', OFF, event('on'))]
    records, changes = T.evaluate(instance(records), {'events': {'go.now': event('off', 'job x')}}, LATER)
    assert records['go'] == event('off', 'job x') and [c[0] for c in changes] == ['go']


def test_an_event_missing_from_the_store_is_off_and_no_events_in_the_view_changes_nothing():
    records, _changes = T.evaluate(instance({'go': event('on')}), {'events': {}}, NOW)
    assert records['go'] == OFF
    records, changes = T.evaluate(instance({'go': event('on')}), {'frames': {}}, NOW)
    assert records['go'] == event('on') and changes == []


def files(exists, mtime=100):
    return {'host': 'h3', 'files': {'/data/in/ready.flag': {'exists': exists, 'mtime': mtime}}}


def test_a_file_is_seen_only_by_the_view_of_its_own_host():
    records, changes = T.evaluate(instance(), dict(files(True), host='h1'), NOW)
    assert state(records, 'flag') == 'off' and changes == []
    records, changes = T.evaluate(instance(), files(True), NOW)
    assert records['flag'] == {'state': 'on', 'updated': STAMP, 'sender': 'file', 'detected': STAMP, 'mtime': 100}
    assert [c[0] for c in changes] == ['flag']


def test_the_detection_time_is_kept_while_the_file_stays():
    records, _changes = T.evaluate(instance(), files(True), NOW)
    records, changes = T.evaluate(instance(records), files(True, 200), LATER)
    assert records['flag'] == {'state': 'on', 'updated': STAMP, 'sender': 'file', 'detected': STAMP, 'mtime': 200}
    assert changes == []


def test_a_file_that_goes_turns_its_trigger_off():
    records, _changes = T.evaluate(instance(), files(True), NOW)
    records, changes = T.evaluate(instance(records), files(False), LATER)
    assert records['flag']['state'] == 'off' and records['flag']['updated'] == LATER_STAMP
    assert [c[0] for c in changes] == ['flag']


def test_the_detection_time_is_cleared_when_the_file_goes_and_nothing_changes_while_it_stays_away():
    records, _changes = T.evaluate(instance(), files(True), NOW)
    gone, _changes = T.evaluate(instance(records), files(False), LATER)
    assert gone['flag'] == {'state': 'off', 'updated': LATER_STAMP, 'sender': 'file'}
    still, _changes = T.evaluate(instance(gone), files(False), LATER + datetime.timedelta(seconds=5))
    assert still == gone


def test_a_file_trigger_of_unknown_state_stays_unknown_for_the_driver():
    unknown = {'state': 'unknown', 'updated': STAMP, 'sender': 'recovery skip'}
    records, changes = T.evaluate(instance({'flag': unknown}), files(True), LATER)
    assert records['flag'] == unknown and changes == []


def other(st, **extra):
    return {'frames': {'other': dict({'id': 'other@2026-01-01', 'state': st, 'updated': STAMP}, **extra)}}


@pytest.mark.parametrize('st,up,any_end', [
    ('normal_end', 'on', 'on'), ('abnormal_end', 'off', 'on'), ('skip_end', 'off', 'on'), ('running', 'off', 'off'),
])
def test_a_frame_link_is_on_when_the_other_frame_is_in_the_state_it_waits_for(st, up, any_end):
    records, _changes = T.evaluate(instance(), other(st, ended=LATER_STAMP), NOW)
    assert (state(records, 'up'), state(records, 'any')) == (up, any_end)


def test_a_frame_link_records_when_and_which_instance_met_it():
    records, _changes = T.evaluate(instance(), other('normal_end', ended=LATER_STAMP), NOW)
    assert records['up'] == {'state': 'on', 'updated': LATER_STAMP, 'sender': 'frame other@2026-01-01 (normal_end)'}


def test_a_frame_link_goes_off_when_the_other_instance_is_no_longer_ended_or_is_gone():
    records, _changes = T.evaluate(instance(), other('normal_end'), NOW)
    records, changes = T.evaluate(instance(records), other('running'), LATER)
    assert records['up'] == {'state': 'off', 'updated': STAMP, 'sender': 'frame other@2026-01-01 (running)'}
    assert [c[0] for c in changes] == ['up', 'any']
    records, _changes = T.evaluate(instance({'up': records['up']}), {'frames': {}}, LATER)
    assert records['up'] == OFF


def six(operation_date=DAY):
    return T.on_at_instant({'on_at': '06:00:00'}, operation_date)


def timed(records=None):
    return instance(records, defn(TIMED))


def test_on_at_turns_a_trigger_on_at_its_instant_of_the_operation_day():
    at = six()
    assert at.tzinfo is not None and at.utcoffset() == datetime.timedelta(0)
    records, changes = T.evaluate(timed(), {}, at - datetime.timedelta(seconds=1))
    assert state(records, 'six') == 'off' and changes == []
    records, changes = T.evaluate(timed(), {}, at)
    assert records['six'] == {'state': 'on', 'updated': at.strftime('%Y-%m-%dT%H:%M:%S.%fZ'), 'sender': 'time',
                              'timed': True}
    assert [c[0] for c in changes] == ['six']


def test_on_at_falls_on_the_operation_date_in_the_zone_given():
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    assert T.on_at_instant({'on_at': '06:00:00'}, DAY, tokyo) == datetime.datetime(
        2025, 12, 31, 21, 0, 0, tzinfo=datetime.timezone.utc)
    assert six('2026-01-02') - six() == datetime.timedelta(days=1)
    assert T.on_at_instant({'on_at': None}, DAY) is None


def test_a_time_based_on_stays_on_when_the_source_says_off():
    records, _changes = T.evaluate(timed(), {}, six())
    records, changes = T.evaluate(timed(records), {'events': {'six': event('off')}}, six() + (LATER - NOW))
    assert records['six']['state'] == 'on' and records['six']['sender'] == 'time' and changes == []


def test_a_manual_setting_holds_until_auto():
    records = T.set_manual(instance(), 'go', 'on', NOW, by='alice')
    assert records['go'] == {'state': 'on', 'updated': STAMP, 'sender': 'alice', 'manual': 'on'}
    records, changes = T.evaluate(instance(records), {'events': {'go.now': event('off')}}, LATER)
    assert state(records, 'go') == 'on' and changes == []
    records = T.set_manual(instance(records), 'go', 'auto', LATER, by='alice')
    assert records['go'] == {'state': 'on', 'updated': LATER_STAMP, 'sender': 'alice (back to its source)'}
    records, changes = T.evaluate(instance(records), {'events': {'go.now': event('off')}}, LATER)
    assert state(records, 'go') == 'off' and [c[0] for c in changes] == ['go']


def test_auto_turns_an_unknown_trigger_off_and_drops_the_time_based_on():
    unknown = {'state': 'unknown', 'updated': STAMP, 'sender': 'recovery skip'}
    records = T.set_manual(instance({'flag': unknown}), 'flag', 'auto', NOW)
    assert state(records, 'flag') == 'off'
    records, _changes = T.evaluate(timed(), {}, six())
    assert 'timed' not in T.set_manual(timed(records), 'six', 'auto', NOW)['six']


@pytest.mark.parametrize('name,value,message', [
    ('nope', 'on', "frame instance f@2026-01-01 has no trigger 'nope' \\(its triggers: go, flag, up, any\\)"),
    ('go', 'maybe', "a trigger is set to one of on, off, auto, not 'maybe'"),
])
def test_set_manual_refuses_an_unknown_trigger_or_state(name, value, message):
    with pytest.raises(T.TriggerError, match=message):
        T.set_manual(instance(), name, value, NOW)


# ---------------------------------------------------------------------------------------------------- recover

FOUND_ON = {'files': {('h3', '/data/in/ready.flag'): {'exists': True, 'mtime': 7}}}
FOUND_OFF = {'files': {('h3', '/data/in/ready.flag'): {'exists': False}}}
BEFORE = {'go': event('on', 'alice'), 'up': {'state': 'on', 'updated': STAMP, 'sender': 'frame other@2026-01-01'},
          'flag': {'state': 'on', 'updated': STAMP, 'sender': 'file', 'detected': STAMP, 'mtime': 1}}


@pytest.mark.parametrize('options', [{}, {'recovery_skip': True}])
def test_recovery_keeps_event_and_frame_link_records_as_they_were(options):
    records = T.recover(instance(BEFORE), FOUND_OFF, LATER, options)
    assert records['go'] == BEFORE['go'] and records['up'] == BEFORE['up']


def test_recovery_takes_a_file_triggers_state_from_its_file_now():
    on = T.recover(instance({'flag': OFF}), FOUND_ON, LATER, {})['flag']
    assert on == {'state': 'on', 'updated': LATER_STAMP, 'sender': 'file', 'detected': LATER_STAMP, 'mtime': 7}
    again = T.recover(instance(BEFORE), FOUND_ON, LATER, {})['flag']
    assert again['updated'] == again['detected'] == LATER_STAMP
    off = T.recover(instance(BEFORE), FOUND_OFF, LATER, {})['flag']
    assert off == {'state': 'off', 'updated': LATER_STAMP, 'sender': 'file'}


@pytest.mark.parametrize('before,options', [
    (OFF, {}),
    ({'state': 'unknown', 'updated': STAMP, 'sender': 'recovery skip'}, {}),
    ({'state': 'on', 'updated': STAMP, 'sender': 'operator', 'manual': 'on'}, {'file_wait_reset': True}),
], ids=['off', 'unknown', 'manual-reset'])
def test_recovery_of_a_file_still_absent_sets_its_last_update_and_sender_anew(before, options):
    rec = T.recover(instance({'flag': before}), FOUND_OFF, LATER, options)['flag']
    assert rec['state'] == 'off' and rec['updated'] == LATER_STAMP and 'manual' not in rec
    assert rec['sender'] not in (None, before['sender'])


def test_a_file_trigger_whose_host_did_not_answer_is_unknown():
    rec = T.recover(instance(BEFORE), {'files': {}}, LATER, {})['flag']
    assert rec['state'] == 'unknown' and rec['updated'] == LATER_STAMP and rec['sender'] == 'recovery (h3 not reached)'


def test_a_recovery_skip_makes_a_file_trigger_unknown():
    rec = T.recover(instance(BEFORE), FOUND_ON, LATER, {'recovery_skip': True})['flag']
    assert rec['state'] == 'unknown' and rec['sender'] == 'recovery skip' and rec['updated'] == LATER_STAMP


@pytest.mark.parametrize('options', [{}, {'recovery_skip': True}])
def test_a_time_based_on_comes_back_as_it_was(options):
    by_time = {'state': 'on', 'updated': STAMP, 'sender': 'time', 'timed': True}
    by_time_file = dict(by_time, detected=STAMP)
    records = T.recover(instance({'go': by_time, 'flag': by_time_file}), FOUND_OFF, LATER, options)
    assert records['go'] == by_time and records['flag'] == by_time_file


def test_a_manual_setting_of_a_file_trigger_is_kept_unless_file_wait_reset():
    manual = T.set_manual(instance(), 'flag', 'on', NOW)['flag']
    assert T.recover(instance({'flag': manual}), FOUND_OFF, LATER, {})['flag'] == manual
    reset = T.recover(instance({'flag': manual}), FOUND_ON, LATER, {'file_wait_reset': True})['flag']
    assert reset == {'state': 'on', 'updated': LATER_STAMP, 'sender': 'file', 'detected': LATER_STAMP, 'mtime': 7}


# ---------------------------------------------------------------------------------------------------- helpers

def test_what_the_drivers_look_at():
    d = defn(TRIGGERS + [{'name': 'late', 'file': '/data/in/late', 'host': 'h3'},
                         {'name': 'h1f', 'file': '/tmp/x', 'host': 'h1'}])
    assert T.hosts_of(d) == ['h1', 'h3'] and T.linked_frames(d) == ['other'] and T.needs_events(d)
    assert T.files_on(d, 'h3') == ['/data/in/late', '/data/in/ready.flag'] and T.files_on(d, 'h2') == []
    records = {'flag': {'state': 'unknown'}, 'late': {'state': 'on', 'manual': 'on'}}
    assert T.files_on(d, 'h3', records) == []
    assert T.files_on(d, 'h3', {'late': {'state': 'on', 'timed': True}}) == ['/data/in/ready.flag']
    assert not T.needs_events(defn([{'name': 'up', 'frame': 'other'}]))


# ---------------------------------------------------------------------------------------------------- planner

def planner(raw, records=None):
    d = _model.normalise(raw, hosts=HOSTS)
    inst = _engine.make_instance(d, DAY)
    if records:
        inst['triggers'] = records
    pl = _engine.planner_for(inst, initial_items(d), now=NOW)
    pl.submit()
    return pl


def states(pl):
    return dict({p: it['state'] for p, it in pl.items.items()}, **{'': pl.instance['state']})


def finish(pl, path):
    assert path in pl.pick_launches(pl.items[path]['host'], None, lambda p, n: '%s.%d' % (p, n))
    pl.apply_job(path, {'state': 'normal_end', 'rc': 0})
    pl.advance()


def take(pl, view):
    changes = pl.take_triggers(view)
    pl.advance()
    return changes


JOBS_WAITING = frame(TRIGGERS, jobs=[job('a'), job('b', after='a', wait_for='go'),
                                     job('c', wait_for=['go', 'flag'])])


def test_a_job_does_not_queue_until_all_its_triggers_are_on():
    pl = planner(JOBS_WAITING)
    assert states(pl) == {'': 'running', 'a': 'queuing', 'b': 'waiting', 'c': 'waiting'}
    assert pl.trigger_waiters() == {'go': ['b', 'c'], 'flag': ['c']}
    assert [c[0] for c in take(pl, {'events': {'go.now': event('on')}})] == ['go']
    assert states(pl)['c'] == 'waiting' and pl.instance_changed
    take(pl, files(True))
    assert states(pl)['c'] == 'queuing'


def test_a_job_waiting_for_a_trigger_still_needs_its_after():
    pl = planner(JOBS_WAITING)
    take(pl, {'events': {'go.now': event('on')}})
    assert states(pl)['b'] == 'waiting'
    finish(pl, 'a')
    assert states(pl)['b'] == 'queuing'


def test_a_frame_with_wait_for_stays_waiting_and_not_opened_until_its_trigger_is_on():
    pl = planner(frame(TRIGGERS, wait_for='up', jobs=[job('a')]))
    assert states(pl) == {'': 'waiting', 'a': 'waiting'} and not pl.instance['opened']
    assert pl.trigger_waiters() == {'up': ['']} and not pl.quiescent()
    take(pl, other('running'))
    assert states(pl) == {'': 'waiting', 'a': 'waiting'}
    take(pl, other('normal_end'))
    assert pl.instance['opened'] and states(pl) == {'': 'running', 'a': 'queuing'} and pl.trigger_waiters() == {}


def test_a_rerun_or_an_init_of_a_frame_waiting_for_its_trigger_leaves_it_waiting():
    pl = planner(frame(TRIGGERS, wait_for='up', jobs=[job('a')]))
    pl.rerun()
    assert not pl.instance['opened'] and states(pl) == {'': 'waiting', 'a': 'waiting'}
    take(pl, other('normal_end'))
    assert pl.instance['opened'] and states(pl)['a'] == 'queuing'
    pl.instance['triggers'] = T.set_manual(pl.instance, 'up', 'on', NOW)
    pl.init(force=True)
    assert 'triggers' not in pl.instance   # an init starts its triggers afresh


def test_a_net_with_wait_for_opens_when_its_trigger_is_on():
    pl = planner(frame(TRIGGERS, jobs=[job('a')], nets=[{'name': 'n', 'wait_for': 'go', 'jobs': [job('b')]}]))
    assert states(pl)['n'] == 'waiting' and states(pl)['n/b'] == 'waiting'
    take(pl, {'events': {'go.now': event('on')}})
    assert states(pl)['n'] == 'running' and states(pl)['n/b'] == 'queuing'


def test_the_driver_waits_while_a_trigger_can_still_free_a_waiter():
    pl = planner(JOBS_WAITING)
    assert pl.waiting_on_triggers() == (['c'], []) and not pl.quiescent(ignore=['a'])


def test_a_waiter_held_only_by_a_trigger_of_unknown_state_lets_the_driver_end():
    records = T.recover(instance(), FOUND_ON, NOW, {'recovery_skip': True})
    pl = planner(frame(TRIGGERS, wait_for='flag', jobs=[job('a')]), records)
    assert state(pl.instance['triggers'], 'flag') == 'unknown'
    assert pl.waiting_on_triggers() == ([], ['']) and pl.quiescent()
    pl = planner(frame(TRIGGERS, jobs=[job('a', wait_for='flag')]), records)
    assert pl.waiting_on_triggers() == ([], ['a']) and pl.quiescent()


def test_an_operators_setting_frees_a_waiter():
    pl = planner(frame(TRIGGERS, jobs=[job('a', wait_for='flag')]))
    pl.set_trigger('flag', 'on', by='alice')
    pl.advance()
    assert states(pl)['a'] == 'queuing' and pl.instance['triggers']['flag']['manual'] == 'on'


def test_set_trigger_on_an_unknown_trigger_is_an_operation_error():
    pl = planner(JOBS_WAITING)
    with pytest.raises(OperationError, match="has no trigger 'nope'"):
        pl.set_trigger('nope', 'on')
    with pytest.raises(OperationError, match="not 'sometimes'"):
        pl.set_trigger('go', 'sometimes')


def test_a_frame_without_triggers_takes_no_trigger_view():
    pl = planner(frame(jobs=[job('a')]))
    assert pl.take_triggers({'events': {'go.now': event('on')}}) == [] and 'triggers' not in pl.instance


# ---------------------------------------------------------------------------------------------------- status

def test_the_status_rows_of_the_triggers():
    records, _changes = T.evaluate(timed(), dict(files(True), events={'go.now': event('on', 'alice')}), six())
    records = T.set_manual(timed(records), 'up', 'off', NOW, by='bob')
    rows = {r['name']: r for r in T.status(defn(TIMED), records, {'flag': ['a', ''], 'up': ['n']})}
    assert list(rows) == ['go', 'flag', 'up', 'any', 'six']
    assert rows['go'] == {'name': 'go', 'kind': 'event', 'what': 'event go.now', 'state': 'on', 'sender': 'alice',
                          'updated': STAMP, 'waiting': []}
    assert rows['flag']['what'] == 'file /data/in/ready.flag on h3' and rows['flag']['waiting'] == ['a', '']
    assert rows['flag']['detected'] == rows['flag']['updated'] and rows['flag']['mtime'] == 100
    assert rows['up']['what'] == 'frame other normal_end' and rows['up']['manual'] == 'off'
    assert rows['up']['sender'] == 'bob' and rows['up']['waiting'] == ['n']
    assert rows['any']['what'] == 'frame other ended' and rows['any']['state'] == 'off'
    assert rows['six']['on_at'] == '06:00:00' and rows['six']['sender'] == 'time' and 'on_at' not in rows['go']


def test_a_trigger_without_a_record_shows_off():
    assert [r['state'] for r in T.status(defn(), {}, {})] == ['off'] * 4


def test_the_line_a_change_prints():
    tdef = defn()['triggers'][0]
    assert T.change_line(IID, 'go', tdef, OFF, event('on', 'alice')) == \
        'jobnet: f@2026-01-01 trigger go (event go.now) OFF -> ON by alice'
    assert T.change_line(IID, 'go', None, event('on'), {'state': 'off'}) == \
        'jobnet: f@2026-01-01 trigger go (?) ON -> OFF'
