# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Times and dates as the controller writes and reads them: the one home of the ISO-8601 helpers.

Not a public API. Standard library only, nothing from Ansible, so the store, the planner and the report can
use it. Every time the controller records is UTC with microseconds and a ``Z``::

    2026-11-21T01:02:03.123456Z      isotime()          (a datetime; None: now)
    2026-11-21T01:02:03Z             isotime(fraction=False)
    2026-11-21T01:02:03.123456Z      epoch_isotime(t)   (a UNIX time, as leases keep it; None: now)

:func:`parse_time` reads them back, strictly, as aware UTC datetimes: the ``Z`` suffix and numeric offsets
(what ``datetime.isoformat()`` writes for a frame's ``start_at``), and up to nine fraction digits (what a
host's ``date +%N`` writes). An operation date is exactly ``YYYY-MM-DD`` in ASCII digits (:func:`parse_date`).

The target side (``module_utils/_jobrunner.py``) cannot import this module and writes the same format itself.
"""

from __future__ import annotations

import datetime as _dt
import re

UTC = _dt.timezone.utc

#: the format of every recorded time (UTC, microseconds, ``Z``)
ISO_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ'
#: the same without the fraction (lease expiries in messages, the run chart's "drawn" time)
ISO_FORMAT_SECONDS = '%Y-%m-%dT%H:%M:%SZ'

#: an operation date: exactly YYYY-MM-DD in ASCII digits (``date.fromisoformat`` alone would also take 20270101
#: and 2027-W05-1, and ``\d`` would take other scripts' digits)
DATE_RE = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})\Z')

_TIME_RE = re.compile(
    r'(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<clock>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?'
    r'(?P<zone>Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?\Z')


def utcnow() -> _dt.datetime:
    """Now, as an aware UTC datetime."""
    return _dt.datetime.now(UTC)


def isotime(value: _dt.datetime | None = None, *, fraction: bool = True) -> str:
    """``2026-11-21T01:02:03.123456Z``: ``value`` (an aware datetime; None: now) in UTC, with microseconds and a
    ``Z`` (``fraction=False``: whole seconds)."""
    value = value or utcnow()
    return value.astimezone(UTC).strftime(ISO_FORMAT if fraction else ISO_FORMAT_SECONDS)


def from_epoch_seconds(seconds: float) -> _dt.datetime:
    """A UNIX time (seconds) as an aware UTC datetime."""
    return _dt.datetime.fromtimestamp(seconds, tz=UTC)


def epoch_isotime(seconds: float | None = None, *, fraction: bool = True) -> str:
    """:func:`isotime` of a UNIX time (None: now), as leases record their expiry."""
    return isotime(utcnow() if seconds is None else from_epoch_seconds(seconds), fraction=fraction)


def parse_time(text) -> _dt.datetime:
    """A recorded time (``2026-11-21T01:02:03.123456Z``, or with an offset such as ``+09:00``) as an aware UTC
    datetime. Strict: a time without a zone, another form of ISO-8601 (``20261121T010203Z``, week dates, a space
    for the ``T``) or anything that is not text raises ValueError naming the value."""
    if not isinstance(text, str):
        raise ValueError('%r is not a time: expected text such as 2026-11-21T01:02:03.123456Z' % (text,))
    m = _TIME_RE.match(text)
    if not m:
        raise ValueError('%r is not a time of the form YYYY-MM-DDTHH:MM:SS[.ffffff]Z (or with an offset such as '
                         '+09:00)' % (text,))
    if not m.group('zone'):
        raise ValueError('%r has no UTC offset' % (text,))
    zone = m.group('zone')
    fraction = '.' + m.group('fraction')[:6] if m.group('fraction') else ''
    try:
        parsed = _dt.datetime.fromisoformat('%sT%s%s%s' % (m.group('date'), m.group('clock'), fraction,
                                                           '+00:00' if zone == 'Z' else zone))
    except ValueError as exc:
        raise ValueError('%r is not a valid time: %s' % (text, exc)) from None
    return parsed.astimezone(UTC)


def is_date_form(text) -> bool:
    """True when ``text`` is of the form ``YYYY-MM-DD`` (ASCII digits, nothing before or after)."""
    return isinstance(text, str) and DATE_RE.match(text) is not None


def parse_date(text) -> _dt.date:
    """An operation date ``YYYY-MM-DD`` as a date. ValueError when ``text`` is not of that form, or with the
    calendar's own reason (``day is out of range for month``) when it is not a real date."""
    m = DATE_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError('%r is not a date of the form YYYY-MM-DD' % (text,))
    year, month, day = (int(part) for part in m.groups())
    return _dt.date(year, month, day)
