# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The day schedule over a real SQLite store: created once, its frames per tables 5.427 / 5.428, kept for
recovery. Times are given to the functions, so every row of the tables is made at any wall-clock time."""

from __future__ import annotations

import datetime
import textwrap
import threading

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _schedule, _store

UTC = datetime.timezone.utc
DATE = '2027-01-04'   # a Monday


def at(hhmm, day=4):
    hour, minute = (int(x) for x in hhmm.split(':'))
    return datetime.datetime(2027, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def schedule(tmp_path):
    (tmp_path / 'frames').mkdir()
    for name in ('early', 'late', 'open', 'after'):
        (tmp_path / 'frames' / ('%s.yml' % name)).write_text(
            'frame: %s\njobs:\n  - {name: a, host: localhost, shell: "true"}\n' % name)
    path = tmp_path / 'nightly.yml'
    path.write_text(textwrap.dedent('''
        base_time: "05:00"
        timezone: UTC
        frames:
          - {file: frames/early.yml, start_at: "06:00"}
          - {file: frames/late.yml, start_at: "10:00"}
          - {file: frames/open.yml}
          - {file: frames/after.yml, start_at: {from: late, offset: "+00:30"}}
    ''').lstrip())
    return _schedule.load_schedule(str(path), hosts={'localhost'})


@pytest.fixture
def store(tmp_path):
    s = _store.open_store('sqlite:///%s' % (tmp_path / 'state.db'))
    yield s
    s.close()


def engine(store):
    return _engine.Engine(store, _store, owner=_engine.controller_owner('test'))


def states(store, created):
    return {f['frame']: (store.get_instance(f['instance']) or {}).get('state') for f in created.record['frames']}


@pytest.mark.parametrize('base, now, exists, case', [
    (at('05:00'), at('04:59'), False, 'C'),
    (at('05:00'), at('05:00'), False, 'B'),
    (at('05:00'), at('09:00'), False, 'B'),
    (at('05:00'), at('09:00'), True, 'A'),
    (at('05:00'), at('04:00'), True, 'A'),
])
def test_table_5_427_names_the_case_of_a_day_at_recovery(base, now, exists, case):
    assert _day.day_case(base, now, exists) == case


@pytest.mark.parametrize('start, now, by, catch_up, outcome', [
    (None, at('09:00'), 'recovery', False, 'submitted'),
    (at('10:00'), at('09:00'), 'recovery', False, 'submitted'),        # B-2
    (at('06:00'), at('09:00'), 'recovery', False, 'not_started'),      # B-1
    (at('06:00'), at('09:00'), 'recovery', True, 'submitted'),         # B-1 with catch_up
    (at('06:00'), at('09:00'), 'schedule', False, 'submitted'),        # a late schedule run starts it
])
def test_table_5_428_decides_each_frame_of_a_day_being_created(start, now, by, catch_up, outcome):
    assert _day.frame_outcome(start, now, by, catch_up) == outcome


def test_a_day_schedule_at_its_base_time_submits_every_frame_standby_until_its_start(store, schedule):
    made = _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    assert made.created and made.record['created_by'] == 'schedule'
    assert states(store, made) == {'early': 'standby', 'late': 'standby', 'open': 'running', 'after': 'standby'}
    starts = {f['frame']: f['start'] for f in made.record['frames']}
    assert starts == {'early': '2027-01-04T06:00:00+00:00', 'late': '2027-01-04T10:00:00+00:00', 'open': None,
                      'after': '2027-01-04T10:30:00+00:00'}
    inst = store.get_instance('after@%s' % DATE)
    assert inst['definition']['start_at'] == '2027-01-04T10:30:00+00:00'
    assert inst['definition']['schedule'] == {'name': 'nightly', 'operation_date': DATE,
                                              'planned_start': '2027-01-04T10:30:00+00:00'}
    assert sorted(made.leases) == sorted(made.instances) and len(made.instances) == 4


def test_a_second_creation_of_the_same_day_creates_nothing_twice(store, schedule):
    first = _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    second = _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:01'))
    assert first.created and not second.created
    assert second.instances == [] and sorted(second.existing) == sorted(first.instances)
    assert len(store.list_instances(DATE)) == 4


def test_two_creations_at_once_make_one_day_schedule_and_submit_each_frame_once(tmp_path, schedule):
    url = 'sqlite:///%s' % (tmp_path / 'race.db')
    results, errors = [], []

    def create():
        st = _store.open_store(url)
        try:
            results.append(_day.make_day(st, engine(st), schedule, 'nightly', DATE, now=at('05:00')))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            errors.append(exc)
        finally:
            st.close()
    threads = [threading.Thread(target=create) for _i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.created for r in results) == [False, True]
    submitted = [iid for r in results for iid in r.instances]
    assert sorted(submitted) == sorted(set(submitted)) and len(submitted) == 4


def test_recovery_after_the_base_time_creates_the_day_and_leaves_passed_frames_not_submitted(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    made, lines = _day.recover_days(store, engine(store), now=at('09:00'))
    assert len(made) == 1 and made[0].record['created_by'] == 'recovery'
    # B-1: early (06:00) passed during the failure; B-2: late, after; open has no start time: it starts
    assert states(store, made[0]) == {'early': 'not_submitted', 'late': 'standby', 'open': 'running',
                                      'after': 'standby'}
    assert made[0].not_started == ['early@%s' % DATE]
    assert any('early@%s' % DATE in line and 'JNR121' in line for line in lines)


def test_recovery_with_catch_up_starts_the_frames_whose_start_passed(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    made, _lines = _day.recover_days(store, engine(store), now=at('09:00'), catch_up=True)
    assert states(store, made[0])['early'] == 'standby'


def test_recovery_keeps_a_day_that_exists_and_leaves_a_day_to_come_to_its_base_time(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    made, lines = _day.recover_days(store, engine(store), now=at('09:00'))
    assert made == [] and any('JNR123' in line for line in lines)                      # A
    assert any('JNR124 day schedule nightly 2027-01-05' in line for line in lines)     # C: the next date
    made, lines = _day.recover_days(store, engine(store), now=at('04:00', day=5))
    assert made == [] and any('JNR123' in line for line in lines)                      # still the 4th's day
    made, lines = _day.recover_days(store, engine(store), now=at('05:00', day=5))
    assert len(made) == 1 and made[0].operation_date == '2027-01-05'                   # B of the 5th


def test_a_day_created_by_recovery_before_its_base_time_is_case_c_and_not_created(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    made, lines = _day.recover_days(store, engine(store), now=at('04:30'))
    # 04:30 on the 4th belongs to the 3rd, whose day was never made: its base time passed: B for the 3rd
    assert [m.operation_date for m in made] == ['2027-01-03']


def test_an_operator_submits_a_frame_left_not_submitted(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    _day.recover_days(store, engine(store), now=at('09:00'))
    again = _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('09:05'), only={'early'})
    assert again.instances == ['early@%s' % DATE]
    assert store.get_instance('early@%s' % DATE)['state'] in ('standby', 'running')


def test_a_day_made_ahead_starts_its_frames_without_a_start_time_at_the_base_time(store, schedule):
    made = _day.make_day(store, engine(store), schedule, 'nightly', '2027-01-05', now=at('09:00'))
    frames = {f['frame']: f['start'] for f in made.record['frames']}
    assert frames['open'] == '2027-01-05T05:00:00+00:00'
    assert store.get_instance('open@2027-01-05')['state'] == 'standby'


def test_status_lists_the_live_days_with_their_frames_planned_starts_and_states(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    rows = _day.status_days(store, now=at('09:00'))
    by_date = {r['operation_date']: r for r in rows}
    assert by_date[DATE]['created'] and by_date[DATE]['created_by'] == 'schedule'
    assert {f['frame']: f['state'] for f in by_date[DATE]['frames']}['late'] == 'standby'
    assert not by_date['2027-01-03']['created']


def test_a_schedule_name_is_checked():
    assert _day.schedule_name('/etc/jobnet/nightly.yml') == 'nightly'
    assert _day.schedule_name('/x/y.yml', 'payroll') == 'payroll'
    with pytest.raises(_day.DayError, match='cannot name a schedule'):
        _day.schedule_name('/x/y.yml', 'a b')


def _ended(store, frame, date, state='normal_end'):
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model
    defn = _model.normalise({'frame': frame, 'jobs': [{'name': 'a', 'host': 'localhost', 'shell': 'true'}]},
                            hosts={'localhost'})
    inst = _engine.make_instance(defn, date)
    inst['state'] = state
    store.create_instance(inst, _engine.initial_items(defn))
    return inst['id']


def test_ended_instances_before_the_live_dates_are_history_the_others_are_not(store, schedule):
    now = at('09:00')
    oldest = _day.oldest_live_date(store, now=now, days=2)
    assert oldest == '2027-01-03'
    assert _day.is_history({'state': 'normal_end', 'operation_date': '2027-01-02'}, oldest)
    assert not _day.is_history({'state': 'normal_end', 'operation_date': '2027-01-03'}, oldest)
    assert not _day.is_history({'state': 'running', 'operation_date': '2020-01-01'}, oldest)   # never ended
    assert not _day.is_history({'state': 'waiting', 'operation_date': '2020-01-01'}, oldest)
    # a schedule whose current operation date is still the day before (before its base time) widens the window
    _day.save_schedule(store, schedule, 'nightly')
    assert _day.oldest_live_date(store, now=at('04:00'), days=2) == '2027-01-02'


def test_purge_removes_ended_history_and_old_day_records_and_keeps_what_has_not_ended(store, schedule):
    old = _ended(store, 'old', '2027-01-01')
    live = _ended(store, 'live', '2027-01-01', state='running')
    new = _ended(store, 'new', '2027-01-04')
    store.put_schedule_record(_day.day_key('nightly', '2027-01-01'), {'operation_date': '2027-01-01'})
    store.put_schedule_record(_day.day_key('nightly', '2027-01-04'), {'operation_date': '2027-01-04'})
    preview = _day.purge(store, engine(store), '2027-01-03', preview=True)
    assert preview['removed'] == [old] and store.get_instance(old) is not None
    out = _day.purge(store, engine(store), '2027-01-03')
    assert out['removed'] == [old] and store.get_instance(old) is None
    assert [iid for iid, _why in out['kept']] == [live] and store.get_instance(live) is not None
    assert store.get_instance(new) is not None
    assert out['days'] == ['day/nightly/2027-01-01']
    assert list(store.list_schedule_records('day/')) == ['day/nightly/2027-01-04']
    assert store.read_events(old) == []


def test_a_time_override_is_refused_while_a_recovery_holds_the_instance(store, schedule):
    made = _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    iid = 'late@%s' % DATE
    store.release_lease(_engine.lease_from_dict(_store, made.leases[iid]))
    recovering = _engine.Engine(store, _store, owner=_engine.controller_owner('recover'))
    recovering.acquire(iid)
    with pytest.raises(_day.DayError, match='JNR110 reschedule refused on %s: not allowed during recovery '
                                            r'\(5.5.3.3 note 15\)' % iid):
        _day.reschedule(store, engine(store), iid, '11:00')


def test_a_time_override_reads_a_time_with_the_schedule_s_base_time_rule_and_is_kept(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')
    _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    iid = 'late@%s' % DATE
    old, new = _day.reschedule(store, engine(store), iid, '04:30')      # before the base time: the next day
    assert (old, new) == ('2027-01-04T10:00:00+00:00', '2027-01-05T04:30:00+00:00')
    defn = store.get_instance(iid)['definition']
    assert defn['start_at'] == new and defn['start_overrides'][-1]['was'] == old
    assert 'JNR126' in store.read_events(iid)[-1]['reason']
    assert _day.recovery_start_message(store, iid).startswith(
        'PEX056 frame recovery started: %s [start date converting]' % iid)
    with pytest.raises(_day.DayError, match='start_at'):
        _day.reschedule(store, engine(store), iid, 'soon')


def test_a_frame_s_own_catch_up_decides_row_b_1_for_it(store, schedule):
    _day.save_schedule(store, schedule, 'nightly')

    def catch_up(defn):
        return defn['frame'] == 'early'
    made, _lines = _day.recover_days(store, engine(store), now=at('09:00'), catch_up=catch_up)
    assert states(store, made[0])['early'] == 'standby'       # started after all (its start has passed)
    made2 = _day.make_day(store, engine(store), schedule, 'nightly', '2027-01-05', now=at('09:00', day=5),
                          by='recovery', catch_up=lambda defn: False)
    assert states(store, made2)['early'] == 'not_submitted'


def test_a_schedule_name_may_hold_dots():
    assert _day.schedule_name('/x/my.daily.yml') == 'my.daily'


def test_a_time_override_without_a_date_finds_the_frame_s_one_standby_instance(store, schedule):
    assert _day.standby_instance(store, 'late') is None
    _day.make_day(store, engine(store), schedule, 'nightly', DATE, now=at('05:00'))
    assert _day.standby_instance(store, 'late') == 'late@%s' % DATE
    _day.make_day(store, engine(store), schedule, 'nightly', '2027-01-05', now=at('05:00'))
    with pytest.raises(_day.DayError, match='frame late has 2 standby instances .*give operation_date'):
        _day.standby_instance(store, 'late')
