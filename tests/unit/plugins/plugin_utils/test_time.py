# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_time: the one format of recorded times, read back strictly; operation dates exactly YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model, _planner, _recovery, _time

UTC = dt.timezone.utc
TOKYO = dt.timezone(dt.timedelta(hours=9))

MOMENTS = [
    dt.datetime(2026, 11, 21, 1, 2, 3, 123456, tzinfo=UTC),
    dt.datetime(2026, 11, 21, 1, 2, 3, tzinfo=UTC),
    dt.datetime(2026, 11, 21, 10, 2, 3, 5, tzinfo=TOKYO),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
]


@pytest.mark.parametrize('moment', MOMENTS, ids=str)
def test_isotime_is_the_format_of_every_recorded_time(moment):
    # the planner's and recovery's own helpers, while they have them (they are to use this one)
    for helper in (getattr(_planner, 'isotime', None), getattr(_recovery, '_utc_text', None)):
        if helper is not None and helper is not _time.isotime:
            assert _time.isotime(moment) == helper(moment)
    assert _time.isotime(moment) == moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    assert _time.isotime(moment, fraction=False) == moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_isotime_of_nothing_is_now():
    before = dt.datetime.now(UTC).replace(microsecond=0)
    text = _time.isotime()
    assert text.endswith('Z') and len(text) == len('2026-11-21T01:02:03.123456Z')
    assert before <= _time.parse_time(text) <= dt.datetime.now(UTC)
    assert _time.utcnow().tzinfo is UTC


@pytest.mark.parametrize('seconds', [0, 0.5, 1795568523.123456, 1795568523])
def test_epoch_isotime_is_the_store_s_format_of_a_unix_time(seconds):
    old = dt.datetime.fromtimestamp(seconds, tz=UTC)
    assert _time.epoch_isotime(seconds) == old.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    assert _time.epoch_isotime(seconds, fraction=False) == old.strftime('%Y-%m-%dT%H:%M:%SZ')
    assert _time.from_epoch_seconds(seconds) == old


@pytest.mark.parametrize('text, expected', [
    ('2026-11-21T01:02:03.123456Z', dt.datetime(2026, 11, 21, 1, 2, 3, 123456, tzinfo=UTC)),
    ('2026-11-21T01:02:03Z', dt.datetime(2026, 11, 21, 1, 2, 3, tzinfo=UTC)),
    ('2026-11-21T01:02:03.1Z', dt.datetime(2026, 11, 21, 1, 2, 3, 100000, tzinfo=UTC)),
    ('2026-11-21T01:02:03.123456789Z', dt.datetime(2026, 11, 21, 1, 2, 3, 123456, tzinfo=UTC)),   # date +%N
    ('2026-11-21T10:02:03+09:00', dt.datetime(2026, 11, 21, 1, 2, 3, tzinfo=UTC)),
    ('2026-11-21T01:02:03.500000+00:00', dt.datetime(2026, 11, 21, 1, 2, 3, 500000, tzinfo=UTC)),
    ('2026-11-20T20:32:03-05:30', dt.datetime(2026, 11, 21, 2, 2, 3, tzinfo=UTC)),
    ('2026-11-21T10:02:33+09:00:30', dt.datetime(2026, 11, 21, 1, 2, 3, tzinfo=UTC)),
])
def test_parse_time_reads_what_the_store_holds_as_aware_utc(text, expected):
    parsed = _time.parse_time(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize('moment', MOMENTS, ids=str)
def test_parse_time_reads_back_isotime_and_isoformat(moment):
    assert _time.parse_time(_time.isotime(moment)) == moment
    assert _time.parse_time(moment.isoformat()) == moment


@pytest.mark.parametrize('value', ['2026-11-21T01:00+09:00', '2026-11-21T01:00:00.5+09:00', '2026-11-21T01:00:00Z',
                                   '2026-11-21 01:00:00-03:00', '20261121T010000z',
                                   dt.datetime(2026, 11, 21, 1, 0, 0, 7, tzinfo=TOKYO)], ids=str)
def test_parse_time_reads_every_canonical_start_at(value):
    canonical = _model.start_at(value)
    assert _time.parse_time(canonical) == dt.datetime.fromisoformat(canonical)
    assert _model.start_datetime({'start_at': canonical}, '2030-01-01') == dt.datetime.fromisoformat(canonical)


@pytest.mark.parametrize('value', [
    '2026-11-21T01:02:03',            # no zone
    '2026-11-21 01:02:03Z',           # a space for the T
    '20261121T010203Z',               # basic form
    '2026-W47-6T01:02:03Z',           # week date
    '2026-11-21T01:02Z',              # no seconds
    '2026-11-21T01:02:03.Z',
    '2026-11-21T01:02:03.1234567890Z',
    '2026-11-21T01:02:03z',
    '2026-11-21T01:02:03Z\n',
    ' 2026-11-21T01:02:03Z',
    '2026-02-30T01:02:03Z',           # not a day
    '2026-11-21T24:00:00Z',
    '٢٠٢٦-١١-٢١T01:02:03Z',
    '',
    None,
    1795568523,
    dt.datetime(2026, 11, 21, tzinfo=UTC),
], ids=repr)
def test_parse_time_is_strict(value):
    with pytest.raises(ValueError) as info:
        _time.parse_time(value)
    assert repr(value) in str(info.value)


def test_a_time_without_zone_says_so():
    with pytest.raises(ValueError, match="'2026-11-21T01:02:03' has no UTC offset"):
        _time.parse_time('2026-11-21T01:02:03')


@pytest.mark.parametrize('value, expected', [
    ('2026-11-21', dt.date(2026, 11, 21)),
    ('2024-02-29', dt.date(2024, 2, 29)),
])
def test_parse_date(value, expected):
    assert _time.is_date_form(value)
    assert _time.parse_date(value) == expected


@pytest.mark.parametrize('value', ['20270101', '2027-W05-1', '31/12/2026', '2026-11-21\n', '2026-11-21T00:00',
                                   '٢٠٢٦-١١-٢١', '', None, 20270101, dt.date(2026, 11, 21)], ids=repr)
def test_a_date_is_exactly_yyyy_mm_dd_in_ascii_digits(value):
    assert not _time.is_date_form(value)
    with pytest.raises(ValueError, match='is not a date of the form YYYY-MM-DD'):
        _time.parse_date(value)


@pytest.mark.parametrize('value, reason', [('2026-02-30', 'day is out of range for month'),
                                           ('0000-01-01', 'year 0 is out of range'),
                                           ('2026-13-01', 'month must be in 1..12')])
def test_a_date_of_the_form_that_is_no_day_gives_the_calendar_s_reason(value, reason):
    assert _time.is_date_form(value)
    with pytest.raises(ValueError, match=reason):
        _time.parse_date(value)
