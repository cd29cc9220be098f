# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The schedule file (docs/schedule.md): calendars and start-time rules over the whole of 2027, table-driven and
named after the behaviours; every kind of bad schedule file, with its message, file and line."""

from __future__ import annotations

import datetime
import json
import os
import textwrap

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _schedule as S

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEDULES = os.path.join(HERE, 'schedules')
HOSTS = {'localhost', 'agent1', 'agent2', 'agent3'}
D = datetime.date
YEAR = [D(2027, 1, 1) + datetime.timedelta(days=i) for i in range(365)]


def frame_text(name, start_at=None, host='localhost'):
    text = 'frame: %s\n' % name
    if start_at is not None:
        text += 'start_at: "%s"\n' % start_at
    return text + 'jobs:\n  - {name: a, host: %s, shell: "true"}\n' % host


def build(folder, schedule, frames=(), starts=None):
    """Write schedule.yml and frames/<name>.yml (``starts``: a frame's own start_at) into ``folder``."""
    (folder / 'frames').mkdir(exist_ok=True)
    for name in frames:
        (folder / 'frames' / ('%s.yml' % name)).write_text(frame_text(name, (starts or {}).get(name)))
    path = folder / 'schedule.yml'
    path.write_text(textwrap.dedent(schedule).lstrip('\n'))
    return str(path)


def run_dates(schedule, frame, days=YEAR):
    return [day for day in days if S.runs_on(schedule, frame, day)]


def utc(instant):
    """An aware datetime in UTC: datetimes of one tzinfo compare and subtract as wall times, across DST too."""
    return instant.astimezone(datetime.timezone.utc)


def dates(*texts):
    return [D.fromisoformat(text) for text in texts]


# ------------------------------------------------------------------------------------------------------
# The issue's example

def test_issue_example_is_read_with_its_frames():
    schedule = S.load_schedule(os.path.join(SCHEDULES, 'issue.yml'), hosts=HOSTS)
    assert [entry.frame for entry in schedule.frames] == ['nightly', 'payroll', 'weekly']
    record = schedule.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record['base_time'] == '05:00:00'
    assert record['timezone'] == 'Asia/Tokyo'
    assert record['calendars'] == {'business': {
        'weekdays': ['mon', 'tue', 'wed', 'thu', 'fri'], 'exclude': ['2026-12-31', '2027-01-01'],
        'include': ['2027-01-09'], 'based_on': None, 'description': None}}
    payroll = dict(record['frames'][1])
    definition = payroll.pop('definition')
    assert definition == _model.read_frame(os.path.join(SCHEDULES, 'frames', 'payroll.yml'), hosts=HOSTS)
    assert payroll == {
        'frame': 'payroll', 'file': 'frames/payroll.yml', 'path': os.path.join(SCHEDULES, 'frames', 'payroll.yml'),
        'calendar': 'business', 'days': [25, 'last'], 'weekdays': None, 'months': None, 'shift': 'previous',
        'start_at': '22:00:00', 'start_at_from': 'frame'}
    assert record['frames'][2]['start_at'] is None and record['frames'][2]['start_at_from'] is None


def test_issue_example_plan_around_new_year():
    schedule = S.load_schedule(os.path.join(SCHEDULES, 'issue.yml'), hosts=HOSTS)
    days = S.plan(schedule, '2026-12-29', 12)['days']
    assert [day['operation_date'] for day in days] == ['2026-12-%02d' % d for d in (29, 30, 31)] + \
        ['2027-01-%02d' % d for d in range(1, 10)]
    by_date = {day['operation_date']: day['frames'] for day in days}
    # payroll: the 31st is closed and moves to the 30th; the nightly start 01:30 is on the next calendar day
    assert by_date['2026-12-30'] == [{'frame': 'nightly', 'start': '2026-12-31T01:30:00+09:00'},
                                     {'frame': 'payroll', 'start': '2026-12-30T22:00:00+09:00'}]
    assert by_date['2026-12-31'] == [] and by_date['2027-01-01'] == [] and by_date['2027-01-02'] == []
    assert by_date['2027-01-03'] == [{'frame': 'weekly', 'start': None}]
    assert by_date['2027-01-09'] == [{'frame': 'nightly', 'start': '2027-01-10T01:30:00+09:00'}]   # included


def test_record_reads_back_to_the_same_schedule():
    schedule = S.load_schedule(os.path.join(SCHEDULES, 'issue.yml'), hosts=HOSTS)
    record = json.loads(json.dumps(schedule.to_record()))
    again = S.Schedule.from_record(record)
    assert again.to_record() == record
    assert S.plan(again, '2027-01-01', 365) == S.plan(schedule, '2027-01-01', 365)
    assert 'definition' not in schedule.to_record(definitions=False)['frames'][0]
    with pytest.raises(ValueError, match='not a schedule record of version 1'):
        S.Schedule.from_record({'version': 99})


# ------------------------------------------------------------------------------------------------------
# Calendars, days, weekdays, months and shifts over the whole of 2027

BUSINESS_CLOSED = set(dates('2027-01-01', '2027-05-03', '2027-05-04', '2027-05-05', '2027-12-31'))


def business_open(day):
    return (day.weekday() < 5 and day not in BUSINESS_CLOSED) or day == D(2027, 1, 9)


def banking_open(day):
    return (business_open(day) and day.weekday() < 4 and day != D(2027, 3, 1)) or day == D(2027, 1, 10)


def last_day(day):
    return (day + datetime.timedelta(days=1)).month != day.month


CALENDAR_SCHEDULE = '''
base_time: "05:00"
timezone: Asia/Tokyo
calendars:
  business:
    weekdays: [mon, tue, wed, thu, fri]
    exclude: ["2026-12-31", "2027-01-01", "2027-05-03..2027-05-05", "2027-12-31"]
    include: ["2027-01-09"]
  banking:
    based_on: business
    weekdays: [Mon, tuesday, wed, thu]
    exclude: ["2027-03-01"]
    include: ["2027-01-10"]
  rare:
    weekdays: []
    include: ["2027-01-04", "2029-02-27"]
  rarer:
    weekdays: []
    include: ["2027-01-04", "2029-03-05"]
frames:
  - {file: frames/every_day.yml}
  - {file: frames/sundays.yml, weekdays: [sun]}
  - {file: frames/open_days.yml, calendar: business}
  - {file: frames/based_on.yml, calendar: banking}
  - {file: frames/month_days.yml, days: [1, 15, last]}
  - {file: frames/day_31.yml, days: [31]}
  - {file: frames/second_last.yml, days: [-2]}
  - {file: frames/quarterly.yml, days: [1], months: [1, apr, 7, October]}
  - {file: frames/days_or_weekdays.yml, days: [1], weekdays: [fri], months: [3]}
  - {file: frames/skip_default.yml, calendar: business, days: [1]}
  - {file: frames/skip.yml, calendar: business, days: [1], shift: skip}
  - {file: frames/previous.yml, calendar: business, days: [1], shift: previous}
  - {file: frames/next.yml, calendar: business, days: [1], shift: next}
  - {file: frames/payroll.yml, calendar: business, days: [25, last], shift: previous}
  - {file: frames/twice.yml, calendar: business, days: [30, 31], shift: previous}
  - {file: frames/august_first.yml, calendar: business, days: [1], months: [8], shift: previous}
  - {file: frames/weekly_next.yml, calendar: business, weekdays: [mon], shift: next}
  - {file: frames/leap_near.yml, calendar: rare, days: [29], months: [2], shift: next}
  - {file: frames/leap_far.yml, calendar: rarer, days: [29], months: [2], shift: next}
  - {file: frames/feb_29.yml, days: [29], months: [feb]}
'''

CALENDAR_FRAMES = ('every_day', 'sundays', 'open_days', 'based_on', 'month_days', 'day_31', 'second_last',
                   'quarterly', 'days_or_weekdays', 'skip_default', 'skip', 'previous', 'next', 'payroll', 'twice',
                   'august_first', 'weekly_next', 'leap_near', 'leap_far', 'feb_29')


@pytest.fixture(scope='module')
def calendars(tmp_path_factory):
    return S.load_schedule(build(tmp_path_factory.mktemp('calendars'), CALENDAR_SCHEDULE, CALENDAR_FRAMES))


FIRSTS_OPEN = dates('2027-02-01', '2027-03-01', '2027-04-01', '2027-06-01', '2027-07-01', '2027-09-01',
                    '2027-10-01', '2027-11-01', '2027-12-01')

# frame -> a rule over the days of 2027, or the exact list of its run dates in 2027
YEAR_CASES = [
    ('every_day', lambda day: True),
    ('sundays', lambda day: day.weekday() == 6),
    ('open_days', business_open),
    ('based_on', banking_open),
    ('month_days', lambda day: day.day in (1, 15) or last_day(day)),
    ('day_31', dates('2027-01-31', '2027-03-31', '2027-05-31', '2027-07-31', '2027-08-31', '2027-10-31',
                     '2027-12-31')),
    ('second_last', lambda day: last_day(day + datetime.timedelta(days=1))),
    ('quarterly', dates('2027-01-01', '2027-04-01', '2027-07-01', '2027-10-01')),
    ('days_or_weekdays', dates('2027-03-01', '2027-03-05', '2027-03-12', '2027-03-19', '2027-03-26')),
    ('skip_default', FIRSTS_OPEN),
    ('skip', FIRSTS_OPEN),
    # Jan 1 (closed) moves to 2026-12-30; May 1 (Sat) to Apr 30; Aug 1 (Sun) to Jul 30; 2028-01-01 (Sat; and
    # 2027-12-31 is closed) to 2027-12-30
    ('previous', sorted(FIRSTS_OPEN + dates('2027-04-30', '2027-07-30', '2027-12-30'))),
    # Jan 1 -> Jan 4 (Mon); May 1 (Sat, then Sun and three closed days) -> May 6; Aug 1 (Sun) -> Aug 2
    ('next', sorted(FIRSTS_OPEN + dates('2027-01-04', '2027-05-06', '2027-08-02'))),
    ('payroll', dates('2027-01-25', '2027-01-29', '2027-02-25', '2027-02-26', '2027-03-25', '2027-03-31',
                      '2027-04-23', '2027-04-30', '2027-05-25', '2027-05-31', '2027-06-25', '2027-06-30',
                      '2027-07-23', '2027-07-30', '2027-08-25', '2027-08-31', '2027-09-24', '2027-09-30',
                      '2027-10-25', '2027-10-29', '2027-11-25', '2027-11-30', '2027-12-24', '2027-12-30')),
    # the 30th and the 31st both closed land on the same Friday: one run
    ('twice', dates('2027-01-29', '2027-03-30', '2027-03-31', '2027-04-30', '2027-05-28', '2027-05-31',
                    '2027-06-30', '2027-07-30', '2027-08-30', '2027-08-31', '2027-09-30', '2027-10-29',
                    '2027-11-30', '2027-12-30')),
    # the 1st of August moves to July: still August's run
    ('august_first', dates('2027-07-30')),
    # Mondays; a closed Monday (May 3) moves to the next open day (May 6)
    ('weekly_next', [day for day in YEAR if day.weekday() == 0 and day != D(2027, 5, 3)] + [D(2027, 5, 6)]),
    ('feb_29', []),   # not a leap year
    ('leap_near', []),
]


@pytest.mark.parametrize('frame, expected', YEAR_CASES, ids=[case[0] for case in YEAR_CASES])
def test_run_dates_over_2027(calendars, frame, expected):
    wanted = [day for day in YEAR if expected(day)] if callable(expected) else sorted(expected)
    assert run_dates(calendars, frame) == wanted


def test_every_open_day_of_a_calendar_counts(calendars):
    # 261 weekdays in 2027, less 5 closed, plus the open Saturday
    assert len(run_dates(calendars, 'open_days')) == 257
    assert S.runs_on(calendars, 'open_days', D(2027, 1, 9))        # include: open although a Saturday
    assert not S.runs_on(calendars, 'open_days', D(2027, 1, 1))    # exclude: closed although a Friday
    assert not S.runs_on(calendars, 'open_days', '2027-05-04')     # a range of closed days
    assert not S.runs_on(calendars, 'based_on', D(2027, 1, 9))     # not a weekday of the derived calendar
    assert S.runs_on(calendars, 'based_on', D(2027, 1, 10))        # its own include


@pytest.mark.parametrize('year, last, second_last, day_29', [
    (2027, D(2027, 2, 28), D(2027, 2, 27), None),
    (2028, D(2028, 2, 29), D(2028, 2, 28), D(2028, 2, 29)),
    (2100, D(2100, 2, 28), D(2100, 2, 27), None),          # not a leap year
    (2000, D(2000, 2, 29), D(2000, 2, 28), D(2000, 2, 29)),
], ids=['2027', '2028-leap', '2100-not-leap', '2000-leap'])
def test_last_day_of_february_in_leap_and_other_years(calendars, year, last, second_last, day_29):
    february = [day for day in (D(year, 2, 1) + datetime.timedelta(days=i) for i in range(29)) if day.month == 2]
    assert [day for day in run_dates(calendars, 'month_days', february) if day.day not in (1, 15)] == [last]
    assert run_dates(calendars, 'second_last', february) == [second_last]
    assert run_dates(calendars, 'feb_29', february) == ([day_29] if day_29 else [])


def test_shift_previous_crosses_the_year(calendars):
    # 2027-01-01 is closed; 2026-12-31 too: the 1st of January runs on 2026-12-30
    assert S.runs_on(calendars, 'previous', D(2026, 12, 30))
    assert not S.runs_on(calendars, 'previous', D(2026, 12, 31))
    assert not S.runs_on(calendars, 'skip', D(2026, 12, 30))


def test_shift_looks_a_year_far(calendars):
    # 2028-02-29 is closed; the next open day is 2029-02-27 (364 days) for "rare", 2029-03-05 (370) for "rarer"
    assert S.runs_on(calendars, 'leap_near', D(2029, 2, 27))
    assert not S.runs_on(calendars, 'leap_far', D(2029, 3, 5))
    assert run_dates(calendars, 'leap_far', [D(2027, 1, 4) + datetime.timedelta(days=i) for i in range(900)]) == []


def test_twice_on_one_day_is_one_run(calendars):
    day = [entry for entry in S.plan(calendars, '2027-10-29')['days'][0]['frames'] if entry['frame'] == 'twice']
    assert len(day) == 1
    # Jul 30 (Fri) and Jul 31 (Sat); Dec 30 and Dec 31 (closed)
    assert [entry['frame'] for entry in S.plan(calendars, '2027-07-30')['days'][0]['frames']].count('twice') == 1
    assert [entry['frame'] for entry in S.plan(calendars, '2027-12-30')['days'][0]['frames']].count('twice') == 1


def test_calendar_record_lists_ranges_day_by_day(calendars):
    record = calendars.to_record(definitions=False)['calendars']
    assert record['business']['exclude'] == ['2026-12-31', '2027-01-01', '2027-05-03', '2027-05-04', '2027-05-05',
                                             '2027-12-31']
    assert record['banking'] == {'weekdays': ['mon', 'tue', 'wed', 'thu'], 'exclude': ['2027-03-01'],
                                 'include': ['2027-01-10'], 'based_on': 'business', 'description': None}
    assert record['rare']['weekdays'] == []


def test_runs_on_takes_an_entry_or_a_name(calendars):
    entry = calendars.entry('sundays')
    assert S.runs_on(calendars, entry, D(2027, 1, 3)) is True
    with pytest.raises(KeyError, match="frame 'nope' is not in the schedule"):
        S.runs_on(calendars, 'nope', D(2027, 1, 3))


# ------------------------------------------------------------------------------------------------------
# Start times

START_SCHEDULE = '''
base_time: "05:00"
timezone: Asia/Tokyo
frames:
  - {file: frames/early.yml, start_at: "01:30"}
  - {file: frames/at_base.yml, start_at: "05:00"}
  - {file: frames/just_before.yml, start_at: "04:59:59"}
  - {file: frames/late.yml, start_at: "23:00"}
  - {file: frames/own.yml}
  - {file: frames/override.yml, start_at: "06:15"}
  - {file: frames/none.yml}
  - {file: frames/from_base.yml, start_at: "+00:30"}
  - {file: frames/from_base_long.yml, start_at: "+26:00:10"}
  - {file: frames/from_early.yml, start_at: {from: early, offset: "+00:30"}}
  - {file: frames/chain.yml, start_at: {from: from_early, offset: "+1:00"}}
  - {file: frames/from_none.yml, start_at: {from: none, offset: "+00:10"}}
  - {file: frames/same_as.yml, start_at: {from: late}}
  - {file: frames/sunday_only.yml, weekdays: [sun], start_at: "07:00"}
  - {file: frames/from_sunday.yml, start_at: {from: sunday_only, offset: "+02:00"}}
'''
START_FRAMES = ('early', 'at_base', 'just_before', 'late', 'own', 'override', 'none', 'from_base', 'from_base_long',
                'from_early', 'chain', 'from_none', 'same_as', 'sunday_only', 'from_sunday')


@pytest.fixture(scope='module')
def starts(tmp_path_factory):
    return S.load_schedule(build(tmp_path_factory.mktemp('starts'), START_SCHEDULE, START_FRAMES,
                                 starts={'own': '02:00', 'override': '02:00'}))


START_CASES = [
    ('early', '2027-01-06T01:30:00+09:00'),          # before the base time: the next calendar day
    ('at_base', '2027-01-05T05:00:00+09:00'),        # the base time itself: the day itself
    ('just_before', '2027-01-06T04:59:59+09:00'),
    ('late', '2027-01-05T23:00:00+09:00'),
    ('own', '2027-01-06T02:00:00+09:00'),            # the frame file's own start_at, by the same rule
    ('override', '2027-01-05T06:15:00+09:00'),       # the entry's start_at wins over the frame's
    ('none', None),
    ('from_base', '2027-01-05T05:30:00+09:00'),
    ('from_base_long', '2027-01-06T07:00:10+09:00'),
    ('from_early', '2027-01-06T02:00:00+09:00'),
    ('chain', '2027-01-06T03:00:00+09:00'),
    ('from_none', '2027-01-05T05:10:00+09:00'),      # a frame without a start counts as starting at the base time
    ('same_as', '2027-01-05T23:00:00+09:00'),        # offset left out: +00:00
    ('from_sunday', '2027-01-05T09:00:00+09:00'),    # counts from sunday_only's rule, which does not run that day
]


@pytest.mark.parametrize('frame, expected', START_CASES, ids=[case[0] for case in START_CASES])
def test_start_on_an_operation_day(starts, frame, expected):
    start = S.frame_start(starts, frame, D(2027, 1, 5))
    assert (None if start is None else start.isoformat()) == expected


def test_start_before_and_after_the_base_time_over_the_year(starts):
    for day in YEAR:
        early = S.frame_start(starts, 'early', day)
        late = S.frame_start(starts, 'late', day)
        assert early.date() == day + datetime.timedelta(days=1) and early.strftime('%H:%M') == '01:30'
        assert late.date() == day and late.strftime('%H:%M') == '23:00'
        assert utc(S.base_instant(starts, day)) <= utc(late) < utc(early) < \
            utc(S.base_instant(starts, day + datetime.timedelta(days=1)))


def test_entry_start_at_source_is_recorded(starts):
    record = {entry['frame']: entry for entry in starts.to_record(definitions=False)['frames']}
    assert (record['own']['start_at'], record['own']['start_at_from']) == ('02:00:00', 'frame')
    assert (record['override']['start_at'], record['override']['start_at_from']) == ('06:15:00', 'schedule')
    assert (record['none']['start_at'], record['none']['start_at_from']) == (None, None)
    assert record['from_base_long']['start_at'] == '+26:00:10'
    assert record['chain']['start_at'] == {'from': 'from_early', 'offset': '+01:00:00'}
    assert record['same_as']['start_at'] == {'from': 'late', 'offset': '+00:00:00'}


def test_relative_starts_count_from_the_original_start(starts):
    # notes 3 and 6 of the recovery spec: a frame that started at another time (as recorded) is counted from
    recorded = datetime.datetime(2027, 1, 5, 16, 0, tzinfo=datetime.timezone.utc)   # 01:00 +09:00 on the 6th
    assert S.frame_start(starts, 'from_early', D(2027, 1, 5), {'early': recorded}).isoformat() == \
        '2027-01-06T01:30:00+09:00'
    assert S.frame_start(starts, 'chain', D(2027, 1, 5), {'early': recorded}).isoformat() == \
        '2027-01-06T02:30:00+09:00'
    assert S.frame_start(starts, 'early', D(2027, 1, 5), {'early': recorded}).isoformat() == \
        '2027-01-06T01:00:00+09:00'
    # the same result whenever it is asked: nothing depends on the clock
    assert S.frame_start(starts, 'from_base', '2027-01-05') == S.frame_start(starts, 'from_base', D(2027, 1, 5))
    with pytest.raises(ValueError, match='aware datetime'):
        S.frame_start(starts, 'chain', D(2027, 1, 5), {'early': datetime.datetime(2027, 1, 5, 1, 0)})


def test_day_schedule_lists_frames_with_starts_in_file_order(starts):
    day = S.day_schedule(starts, D(2027, 1, 3))   # a Sunday
    assert [entry.frame for entry, _start in day] == list(START_FRAMES)
    assert dict((entry.frame, start) for entry, start in day)['sunday_only'].isoformat() == \
        '2027-01-03T07:00:00+09:00'
    assert 'sunday_only' not in [entry.frame for entry, _start in S.day_schedule(starts, D(2027, 1, 4))]


# ------------------------------------------------------------------------------------------------------
# The operation day and DST

def zone_schedule(tmp_path, zone, base_time, entries=''):
    frames = [line.split('frames/')[1].split('.yml')[0] for line in entries.splitlines() if 'frames/' in line]
    text = 'base_time: "%s"\n' % base_time
    if zone:
        text += 'timezone: %s\n' % zone
    text += 'frames:\n' + (textwrap.dedent(entries) if entries.strip() else '  []\n')
    return S.load_schedule(build(tmp_path, text, frames))


@pytest.mark.parametrize('instant, expected', [
    ('2027-01-05T04:59:59+09:00', '2027-01-04'),
    ('2027-01-05T05:00:00+09:00', '2027-01-05'),
    ('2027-01-05T23:59:59+09:00', '2027-01-05'),
    ('2027-01-06T00:00:00+09:00', '2027-01-05'),
    ('2027-01-06T04:59:59+09:00', '2027-01-05'),
    ('2027-01-05T19:59:59+00:00', '2027-01-05'),   # the zone of the instant does not matter
    ('2027-01-05T20:00:00+00:00', '2027-01-06'),
    ('2027-01-01T00:00:00+09:00', '2026-12-31'),
])
def test_operation_date_around_the_base_time(tmp_path, instant, expected):
    schedule = zone_schedule(tmp_path, 'Asia/Tokyo', '05:00')
    assert S.operation_date_at(schedule, datetime.datetime.fromisoformat(instant)) == D.fromisoformat(expected)


def test_operation_date_needs_an_aware_instant(tmp_path):
    schedule = zone_schedule(tmp_path, 'Asia/Tokyo', '05:00')
    with pytest.raises(ValueError, match='aware datetime'):
        S.operation_date_at(schedule, datetime.datetime(2027, 1, 5, 5, 0))


def test_base_time_defaults_to_midnight(tmp_path):
    (tmp_path / 'schedule.yml').write_text('timezone: UTC\nframes: []\n')
    schedule = S.load_schedule(str(tmp_path / 'schedule.yml'))
    assert schedule.to_record()['base_time'] == '00:00:00'
    assert S.base_instant(schedule, D(2027, 6, 1)).isoformat() == '2027-06-01T00:00:00+00:00'


DST_CASES = [
    # zone, base time, operation date, start_at, start
    ('Europe/Berlin', '00:00', '2027-03-28', '02:30', '2027-03-28T03:00:00+02:00'),   # in the gap: first instant after
    ('Europe/Berlin', '00:00', '2027-03-28', '03:00', '2027-03-28T03:00:00+02:00'),
    ('Europe/Berlin', '00:00', '2027-03-28', '01:59:59', '2027-03-28T01:59:59+01:00'),
    ('Europe/Berlin', '00:00', '2027-03-28', '+03:00', '2027-03-28T04:00:00+02:00'),  # elapsed time from 00:00+01:00
    ('Europe/Berlin', '05:00', '2027-03-27', '02:30', '2027-03-28T03:00:00+02:00'),   # D+1 falls in the gap
    ('Europe/Berlin', '05:00', '2027-03-27', '06:00', '2027-03-27T06:00:00+01:00'),
    ('Europe/Berlin', '05:00', '2027-03-28', '06:00', '2027-03-28T06:00:00+02:00'),
    ('Europe/Berlin', '00:00', '2027-10-31', '02:30', '2027-10-31T02:30:00+02:00'),   # twice: the first occurrence
    ('Europe/Berlin', '00:00', '2027-10-31', '+03:00', '2027-10-31T02:00:00+01:00'),  # the second 02:00
    ('Europe/Berlin', '05:00', '2027-10-30', '+23:00', '2027-10-31T03:00:00+01:00'),  # a day of 25 hours
    ('America/New_York', '00:00', '2027-03-14', '02:30', '2027-03-14T03:00:00-04:00'),
    ('America/New_York', '01:30', '2027-11-07', '+01:00', '2027-11-07T01:30:00-05:00'),  # base is the first 01:30
    ('America/New_York', '01:30', '2027-11-07', '01:30', '2027-11-07T01:30:00-04:00'),
    ('America/New_York', '05:00', '2027-11-06', '01:45', '2027-11-07T01:45:00-04:00'),
]


@pytest.mark.parametrize('zone, base, day, start_at, expected', DST_CASES,
                         ids=['%s-%s-%s-%s' % (c[0].split('/')[1], c[1], c[2], c[3]) for c in DST_CASES])
def test_start_across_a_dst_change(tmp_path, zone, base, day, start_at, expected):
    schedule = zone_schedule(tmp_path, zone, base, '  - {file: frames/job.yml, start_at: "%s"}\n' % start_at)
    assert S.frame_start(schedule, 'job', D.fromisoformat(day)).isoformat() == expected


def test_base_time_in_a_dst_gap_and_a_dst_fold(tmp_path):
    berlin = zone_schedule(tmp_path, 'Europe/Berlin', '02:30')
    hour = datetime.timedelta(hours=1)
    # spring forward: 02:30 does not exist on 2027-03-28; the day begins at 03:00+02:00 and is 23.5 hours after
    assert S.base_instant(berlin, D(2027, 3, 28)).isoformat() == '2027-03-28T03:00:00+02:00'
    assert utc(S.base_instant(berlin, D(2027, 3, 28))) - utc(S.base_instant(berlin, D(2027, 3, 27))) == 23.5 * hour
    assert S.operation_date_at(berlin, datetime.datetime.fromisoformat('2027-03-28T01:59:59+01:00')) == \
        D(2027, 3, 27)
    assert S.operation_date_at(berlin, datetime.datetime.fromisoformat('2027-03-28T03:00:00+02:00')) == \
        D(2027, 3, 28)
    # fall back: 02:30 occurs twice on 2027-10-31; the day begins at the first; it lasts 25 hours
    assert S.base_instant(berlin, D(2027, 10, 31)).isoformat() == '2027-10-31T02:30:00+02:00'
    assert utc(S.base_instant(berlin, D(2027, 11, 1))) - utc(S.base_instant(berlin, D(2027, 10, 31))) == 25 * hour
    assert S.operation_date_at(berlin, datetime.datetime.fromisoformat('2027-10-31T02:15:00+02:00')) == \
        D(2027, 10, 30)
    assert S.operation_date_at(berlin, datetime.datetime.fromisoformat('2027-10-31T02:15:00+01:00')) == \
        D(2027, 10, 31)


def test_every_instant_of_2027_has_one_operation_date(tmp_path):
    schedule = zone_schedule(tmp_path, 'America/New_York', '01:30')
    instant = datetime.datetime(2027, 1, 1, 12, tzinfo=datetime.timezone.utc)
    previous = None
    while instant.year == 2027:
        day = S.operation_date_at(schedule, instant)
        assert S.base_instant(schedule, day) <= instant < S.base_instant(schedule, day + datetime.timedelta(days=1))
        assert previous is None or day - previous in (datetime.timedelta(0), datetime.timedelta(days=1))
        previous = day
        instant += datetime.timedelta(minutes=30)


def test_plan_over_a_dst_change_keeps_the_local_time(tmp_path):
    schedule = zone_schedule(tmp_path, 'Europe/Berlin', '05:00', '  - {file: frames/daily.yml, start_at: "06:00"}\n')
    starts = [day['frames'][0]['start'] for day in S.plan(schedule, '2027-03-27', 3)['days']]
    assert starts == ['2027-03-27T06:00:00+01:00', '2027-03-28T06:00:00+02:00', '2027-03-29T06:00:00+02:00']


def test_no_timezone_is_the_controller_zone(tmp_path, monkeypatch):
    monkeypatch.setenv('TZ', 'Europe/Berlin')
    schedule = zone_schedule(tmp_path, None, '05:00', '  - {file: frames/daily.yml, start_at: "06:00"}\n')
    assert schedule.to_record()['timezone'] is None
    assert S.frame_start(schedule, 'daily', D(2027, 7, 1)).isoformat() == '2027-07-01T06:00:00+02:00'
    monkeypatch.setenv('TZ', ':Asia/Tokyo')
    assert S.local_zone().key == 'Asia/Tokyo'


# ------------------------------------------------------------------------------------------------------
# The plan

def test_plan_lists_every_date(calendars):
    result = S.plan(calendars, D(2027, 1, 1), 365)
    assert json.loads(json.dumps(result)) == result
    assert [day['operation_date'] for day in result['days']] == [day.isoformat() for day in YEAR]
    by_date = {day['operation_date']: [frame['frame'] for frame in day['frames']] for day in result['days']}
    assert by_date['2027-05-01'] == ['every_day', 'month_days']   # a Saturday, closed
    assert by_date['2027-04-30'] == ['every_day', 'open_days', 'month_days', 'previous', 'payroll', 'twice']
    for day in YEAR:
        assert by_date[day.isoformat()] == [name for name in CALENDAR_FRAMES if S.runs_on(calendars, name, day)]


def test_plan_of_one_day_by_default(calendars):
    assert [day['operation_date'] for day in S.plan(calendars, '2027-02-01')['days']] == ['2027-02-01']


def test_plan_lists_dates_without_frames(tmp_path):
    schedule = zone_schedule(tmp_path, 'UTC', '00:00', '  - {file: frames/weekly.yml, weekdays: [sun]}\n')
    result = S.plan(schedule, '2027-01-01', 7)
    assert result == {'days': [
        {'operation_date': '2027-01-01', 'frames': []}, {'operation_date': '2027-01-02', 'frames': []},
        {'operation_date': '2027-01-03', 'frames': [{'frame': 'weekly', 'start': None}]},
        {'operation_date': '2027-01-04', 'frames': []}, {'operation_date': '2027-01-05', 'frames': []},
        {'operation_date': '2027-01-06', 'frames': []}, {'operation_date': '2027-01-07', 'frames': []}]}


@pytest.mark.parametrize('first, days, message', [
    ('2027-01-01', 0, 'the number of days of a plan must be a whole number from 1 to 3660, got 0'),
    ('2027-01-01', 3661, 'from 1 to 3660, got 3661'),
    ('2027-01-01', True, 'got True'),
    ('2027-01-01', '5', "got '5'"),
    ('20270101', 1, "operation date '20270101' is not YYYY-MM-DD"),
    ('9999-12-31', 1, 'goes past the last date'),
])
def test_plan_refuses_bad_arguments(calendars, first, days, message):
    with pytest.raises(ValueError) as info:
        S.plan(calendars, first, days)
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------------
# Bad schedule files: every problem at once, with file and line, nothing returned

GOOD_FRAMES = ('nightly', 'payroll', 'weekly')


def problems_of(tmp_path, monkeypatch, schedule, frames=GOOD_FRAMES, hosts=None):
    monkeypatch.chdir(tmp_path)
    build(tmp_path, schedule, frames)
    with pytest.raises(S.ScheduleError) as info:
        S.load_schedule('schedule.yml', hosts=hosts)
    error = info.value
    assert isinstance(error, _model.FrameError)
    return [problem.one_line() for problem in error.problems], str(error)


BAD_CASES = [
    ('bad_yaml', 'frames:\n  - {file: frames/nightly.yml\nbase_time: "05:00"\n',
     ['schedule.yml:3: YAML syntax error: while parsing a flow mapping']),
    ('not_a_mapping', '- frames/nightly.yml\n',
     ['schedule.yml:1: the top level must be a mapping (base_time, timezone, calendars, frames), not a list']),
    ('duplicate_key', 'base_time: "05:00"\nbase_time: "06:00"\nframes: []\n',
     ["schedule.yml:2: duplicate key 'base_time' (lines 1 and 2); the last one would win"]),
    ('unknown_key', 'base_tme: "05:00"\nframes:\n  - {file: frames/nightly.yml, calender: business}\n',
     ["schedule.yml:1: unknown key 'base_tme' (did you mean 'base_time'?)",
      "schedule.yml:3: frames[0]: unknown key 'calender' (did you mean 'calendar'?)"]),
    ('missing_frames', 'base_time: "05:00"\n',
     ["schedule.yml:1: missing required key 'frames' (the list of frame entries)"]),
    ('unknown_calendar',
     'calendars:\n  business: {weekdays: [mon]}\nframes:\n  - {file: frames/nightly.yml, calendar: busines}\n',
     ["schedule.yml:4: frames[0].calendar: unknown calendar 'busines' (did you mean 'business'? calendars: "
      "business)"]),
    ('no_calendars', 'frames:\n  - {file: frames/nightly.yml, calendar: business}\n',
     ["schedule.yml:2: frames[0].calendar: unknown calendar 'business' (calendars: none)"]),
    ('bad_weekday', 'calendars:\n  business:\n    weekdays: [mon, tue, fry]\nframes: []\n',
     ["schedule.yml:3: calendars.business.weekdays[2]: 'fry' is not a weekday (did you mean 'fri'? allowed: mon, "
      "tue, wed, thu, fri, sat, sun)"]),
    ('bad_entry_weekday', 'frames:\n  - {file: frames/weekly.yml, weekdays: sunday}\n'
     '  - {file: frames/nightly.yml, weekdays: [7]}\n',
     ["schedule.yml:3: frames[1].weekdays[0]: expected a weekday (mon, tue, wed, thu, fri, sat, sun), got an "
      "integer 7"]),
    ('bad_day_numbers', 'frames:\n  - {file: frames/payroll.yml, days: [0, 32, last, -32, "25", first]}\n',
     ['schedule.yml:2: frames[0].days[0]: 0 is not a day of the month (allowed: 1 to 31, last, or -1 to -31 '
      'counting back from the end, -1 being the last day)',
      'schedule.yml:2: frames[0].days[1]: 32 is not a day of the month (allowed: 1 to 31, last, or -1 to -31 '
      'counting back from the end, -1 being the last day)',
      'schedule.yml:2: frames[0].days[3]: -32 is not a day of the month',
      "schedule.yml:2: frames[0].days[4]: expected a day of the month, got a string '25'",
      "schedule.yml:2: frames[0].days[5]: expected a day of the month, got a string 'first'"]),
    ('empty_days', 'frames:\n  - {file: frames/payroll.yml, days: []}\n',
     ['schedule.yml:2: frames[0].days: must not be empty (leave days out for every day)']),
    ('bad_month', 'frames:\n  - {file: frames/payroll.yml, days: [1], months: [0, 13, foo]}\n',
     ['schedule.yml:2: frames[0].months[0]: 0 is not a month (allowed: 1 to 12, or jan to dec)',
      'schedule.yml:2: frames[0].months[1]: 13 is not a month',
      "schedule.yml:2: frames[0].months[2]: 'foo' is not a month"]),
    ('bad_shift', 'calendars: {business: {}}\nframes:\n  - {file: frames/payroll.yml, calendar: business, days: [1], '
     'shift: back}\n',
     ["schedule.yml:3: frames[0].shift: 'back' is not a shift (allowed: previous, next, skip)"]),
    ('shift_without_calendar', 'frames:\n  - {file: frames/payroll.yml, days: [1], shift: next}\n',
     ['schedule.yml:2: frames[0].shift: shift needs a calendar (without one every day is open and nothing is '
      'moved)']),
    ('bad_base_time', 'base_time: "25:00"\nframes: []\n',
     ["schedule.yml:1: base_time: '25:00' is not a time of day: give \"HH:MM\" or \"HH:MM:SS\", from 00:00 to "
      "23:59:59"]),
    ('base_time_as_number', 'base_time: 5\nframes: []\n',
     ['schedule.yml:1: base_time: expected a time of day "HH:MM" or "HH:MM:SS", got the number 5 (quote times in '
      'YAML)']),
    ('bad_start_time', 'frames:\n  - {file: frames/nightly.yml, start_at: "24:00"}\n'
     '  - {file: frames/payroll.yml, start_at: "-00:30"}\n  - {file: frames/weekly.yml, start_at: "+1:60"}\n',
     ["schedule.yml:2: frames[0].start_at: '24:00' is not a start time: give a time of day \"HH:MM[:SS]\", a time "
      "after the base time \"+HH:MM[:SS]\" or {from: FRAME, offset: \"+HH:MM[:SS]\"}",
      "schedule.yml:3: frames[1].start_at: '-00:30' is not a start time",
      "schedule.yml:4: frames[2].start_at: '+1:60' is not a relative time: give \"+HH:MM\" or \"+HH:MM:SS\""]),
    ('fixed_start', 'frames:\n  - {file: frames/nightly.yml, start_at: "2027-01-01T05:00:00+09:00"}\n',
     ["schedule.yml:2: frames[0].start_at: '2027-01-01T05:00:00+09:00' is a fixed date and time, which a daily "
      "schedule cannot repeat"]),
    ('bad_zone', 'timezone: Asia/Tokio\nframes: []\n',
     ["schedule.yml:1: timezone: unknown time zone 'Asia/Tokio' (did you mean 'Asia/Tokyo'?)"]),
    ('zone_path', 'timezone: ../../etc/passwd\nframes: []\n',
     ["schedule.yml:1: timezone: unknown time zone '../../etc/passwd'"]),
    ('bad_dates', 'calendars:\n  business:\n    exclude: ["2027-02-30", 20270101, "2027-01-05..2027-01-01"]\n'
     '    include: ["2027-01-01..2038-01-01"]\nframes: []\n',
     ["schedule.yml:3: calendars.business.exclude[0]: '2027-02-30' is not a valid date: day is out of range for "
      "month",
      'schedule.yml:3: calendars.business.exclude[1]: expected a date "YYYY-MM-DD" (or a range '
      '"YYYY-MM-DD..YYYY-MM-DD"), got an integer 20270101',
      "schedule.yml:3: calendars.business.exclude[2]: the range '2027-01-05..2027-01-01' ends before it begins",
      "schedule.yml:4: calendars.business.include[0]: the range '2027-01-01..2038-01-01' has 4019 days; a range "
      "may have at most 3660 (ten years)"]),
    ('included_and_excluded', 'calendars:\n  business:\n    exclude: ["2027-01-09"]\n'
     '    include: ["2027-01-08..2027-01-10"]\nframes: []\n',
     ['schedule.yml:4: calendars.business.include: 2027-01-09 both included and excluded; give each date once']),
    ('bad_calendar', 'calendars:\n  "bad name": {}\n  good: [mon]\n  derived: {based_on: nothing}\n'
     '  self: {based_on: self}\n  a: {based_on: b}\n  b: {based_on: a}\nframes: []\n',
     ["schedule.yml:2: calendars: 'bad name' is not a valid calendar name",
      "schedule.yml:3: calendars.good: expected a mapping (weekdays, exclude, include, based_on), got a list",
      "schedule.yml:4: calendars.derived.based_on: unknown calendar 'nothing' (calendars: a, b, derived, self)",
      'schedule.yml:5: calendars.self.based_on: a calendar cannot be based on itself',
      'schedule.yml:6: calendars.a.based_on: calendar cycle: a -> b -> a (each is based on the next)']),
    ('missing_frame_file', 'frames:\n  - {file: frames/nightly.yml}\n  - {file: frames/missing.yml}\n',
     ['schedule.yml:3: frames[1].file: frames/missing.yml: cannot read the frame file: No such file or directory']),
    ('missing_file_key', 'frames:\n  - {calendar: business}\n  - {file: ""}\n',
     ["schedule.yml:2: frames[0]: missing required key 'file' (the frame file, relative to the schedule file)",
      "schedule.yml:2: frames[0].calendar: unknown calendar 'business' (calendars: none)",
      'schedule.yml:3: frames[1].file: must not be empty: give the path of a frame file (relative to the schedule '
      'file)']),
    ('frame_file_does_not_validate', 'frames:\n  - {file: frames/nightly.yml}\n  - {file: frames/broken.yml}\n'
     '  - {file: frames/weekly.yml, calendar: nope}\n',
     ["frames/broken.yml:3: frame 'broken', item 'a': unknown host 'agent9' (inventory hosts: agent1, agent2, "
      "agent3, localhost)",
      "frames/broken.yml:4: frame 'broken', item 'b': unknown dependency 'x' (known at this level: a)",
      "schedule.yml:4: frames[2].calendar: unknown calendar 'nope' (calendars: none)"]),
    ('duplicate_frame', 'frames:\n  - {file: frames/nightly.yml}\n  - {file: frames/weekly.yml}\n'
     '  - {file: ./frames/nightly.yml, weekdays: [mon]}\n',
     ["schedule.yml:4: frames[2]: frame 'nightly' is already in the schedule (frames[0], line 2); a frame runs at "
      "most once per operation date"]),
    ('relative_start_cycle', 'frames:\n  - {file: frames/nightly.yml, start_at: {from: payroll}}\n'
     '  - {file: frames/payroll.yml, start_at: {from: weekly, offset: "+00:10"}}\n'
     '  - {file: frames/weekly.yml, start_at: {from: nightly, offset: "+00:10"}}\n',
     ['schedule.yml:2: frames[0].start_at.from: relative start cycle: nightly -> payroll -> weekly -> nightly (each '
      'counts from the start of the next)']),
    ('relative_start_unknown_or_self', 'frames:\n  - {file: frames/nightly.yml, start_at: {from: payrol}}\n'
     '  - {file: frames/payroll.yml, start_at: {from: payroll}}\n'
     '  - {file: frames/weekly.yml, start_at: {offset: "+00:10", form: nightly}}\n',
     ["schedule.yml:2: frames[0].start_at.from: unknown frame 'payrol' (did you mean 'payroll'? frames of this "
      "schedule: payroll, weekly)",
      'schedule.yml:3: frames[1].start_at.from: a frame cannot count its start from its own start',
      "schedule.yml:4: frames[2].start_at: unknown key 'form' (did you mean 'from'?)",
      "schedule.yml:4: frames[2].start_at: missing required key 'from' (the frame whose start this one counts "
      "from)"]),
    ('frames_not_a_list', 'frames: {file: frames/nightly.yml}\n',
     ['schedule.yml:1: frames: expected a list of frame entries ({file: ..., calendar: ...}), got a mapping']),
    ('entry_not_a_mapping', 'frames:\n  - frames/nightly.yml\n',
     ["schedule.yml:1: frames[0]: each frame entry must be a mapping ({file: ..., calendar: ...}), got a string "
      "'frames/nightly.yml'"]),
]


@pytest.mark.parametrize('text, expected', [case[1:] for case in BAD_CASES], ids=[case[0] for case in BAD_CASES])
def test_bad_schedule_file(tmp_path, monkeypatch, text, expected):
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / 'broken.yml').write_text(
        'frame: broken\njobs:\n  - {name: a, host: agent9, shell: "true"}\n  - {name: b, host: agent1, shell: "true", '
        'after: [x]}\n')
    found, message = problems_of(tmp_path, monkeypatch, text, hosts=HOSTS)
    assert len(found) == len(expected), found
    if len(found) > 1:
        assert message.splitlines()[0] == 'schedule schedule.yml: %d problems' % len(found)
    for line, wanted in zip(found, expected):
        assert line.startswith(wanted), (line, wanted)


def test_every_problem_is_reported_at_once_in_line_order(tmp_path, monkeypatch):
    text = '''\
        base_time: "5 am"
        timezone: Mars/Olympus
        calendars:
          business:
            weekdays: [mon, tue, wed, thu, fry]
        frames:
          - {file: frames/nightly.yml, calendar: busines}
          - {file: frames/missing.yml}
          - {file: frames/payroll.yml, days: [32]}
          - {file: frames/nightly.yml}
        '''
    found, message = problems_of(tmp_path, monkeypatch, text)
    assert [line.split(':')[1] for line in found] == ['1', '2', '5', '7', '8', '9', '10']
    assert message.splitlines()[0] == 'schedule schedule.yml: 7 problems'
    assert message.splitlines()[1] == "  - schedule.yml:1: base_time: '5 am' is not a time of day: give \"HH:MM\" " \
        "or \"HH:MM:SS\", from 00:00 to 23:59:59"


def test_many_problems_print_the_first_fifty(tmp_path, monkeypatch):
    text = 'frames:\n' + ''.join('  - {file: frames/f%d.yml}\n' % index for index in range(60))
    found, message = problems_of(tmp_path, monkeypatch, text, frames=())
    assert len(found) == 60
    lines = message.splitlines()
    assert lines[0] == 'schedule schedule.yml: 60 problems'
    assert len(lines) == 52 and lines[-1] == '  - ... and 10 more'


def test_dates_are_dates_or_their_text():
    assert S.as_date('2027-01-05') == S.as_date(D(2027, 1, 5)) == D(2027, 1, 5)
    with pytest.raises(ValueError, match="operation date '2027-1-5' is not YYYY-MM-DD"):
        S.as_date('2027-1-5')
    with pytest.raises(TypeError, match='expected a date, got a datetime'):
        S.as_date(datetime.datetime(2027, 1, 5))


def test_one_problem_prints_on_one_line(tmp_path, monkeypatch):
    _found, message = problems_of(tmp_path, monkeypatch, 'timezone: Asia/Tokio\nframes: []\n')
    assert message == "schedule.yml:1: timezone: unknown time zone 'Asia/Tokio' (did you mean 'Asia/Tokyo'?)"


def test_frame_file_with_a_fixed_start_needs_an_entry_start(tmp_path, monkeypatch):
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / 'fixed.yml').write_text(frame_text('fixed', '2027-01-01T05:00:00Z'))
    found, _message = problems_of(tmp_path, monkeypatch, 'frames:\n  - {file: frames/fixed.yml}\n', frames=())
    assert found == ["schedule.yml:2: frames[0]: the frame's start_at '2027-01-01T05:00:00+00:00' (in "
                     "frames/fixed.yml) is a fixed date and time, which a daily schedule cannot repeat: give the "
                     "entry a start_at (a time of day \"HH:MM[:SS]\", a time after the base time \"+HH:MM[:SS]\" or "
                     "{from: FRAME, offset: \"+HH:MM[:SS]\"})"]
    build(tmp_path, 'frames:\n  - {file: frames/fixed.yml, start_at: "06:00"}\n')
    assert S.load_schedule('schedule.yml').frames[0].start == S.Start('time', 6 * 3600)


def test_schedule_file_that_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(S.ScheduleError) as info:
        S.load_schedule('absent.yml')
    assert str(info.value) == 'absent.yml: cannot read the schedule file: No such file or directory'
    (tmp_path / 'binary.yml').write_bytes(b'frames: []\nbase_time: "\x00"\n')
    with pytest.raises(S.ScheduleError) as info:
        S.load_schedule('binary.yml')
    assert str(info.value).startswith('binary.yml:2: the file holds a NUL byte at column 13; a schedule file is text')


def test_frame_files_are_found_next_to_the_schedule(tmp_path, monkeypatch):
    folder = tmp_path / 'ops'
    folder.mkdir()
    build(folder, 'frames:\n  - {file: frames/nightly.yml}\n', ['nightly'])
    monkeypatch.chdir(tmp_path)
    schedule = S.load_schedule(os.path.join('ops', 'schedule.yml'))
    assert schedule.frames[0].path == str(folder / 'frames' / 'nightly.yml')
    assert schedule.source == str(folder / 'schedule.yml')
    (folder / 'frames' / 'nightly.yml').unlink()
    with pytest.raises(S.ScheduleError) as info:
        S.load_schedule(os.path.join('ops', 'schedule.yml'))
    assert str(info.value) == 'ops/schedule.yml:2: frames[0].file: ops/frames/nightly.yml: cannot read the frame ' \
        'file: No such file or directory'


def test_hosts_are_checked_in_every_frame_file(tmp_path, monkeypatch):
    found, _message = problems_of(tmp_path, monkeypatch, 'frames:\n  - {file: frames/nightly.yml}\n',
                                  frames=('nightly',), hosts={'agent1'})
    assert found == ["frames/nightly.yml:3: frame 'nightly', item 'a': unknown host 'localhost' (inventory hosts: "
                     "agent1)"]
