# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The schedule file: which frames run on which operation date, and when they start. Pure logic, no I/O but
reading the files.

A schedule file (docs/schedule.md) gives the base time (the operation day D runs from D base time to D+1 base
time), an optional IANA time zone, calendars of open days and one entry per frame: on which days it runs and
when it starts. :func:`load_schedule` reads and checks the file and every frame file it names, and returns a
:class:`Schedule` (``to_record()`` gives its plain JSON form, :meth:`Schedule.from_record` reads it back). Every
problem of the schedule file and of its frame files is reported at once, in one :class:`ScheduleError`
naming the file and line of each.

Then, for a schedule:

- :func:`operation_date_at` - the operation date that holds an instant;
- :func:`base_instant` - the instant at which the operation day D begins;
- :func:`runs_on` - whether a frame runs on an operation date (calendar, days, weekdays, months, shift);
- :func:`frame_start` - when a frame starts on an operation date (an aware datetime, or None);
- :func:`day_schedule` - the frames of one operation date with their starts;
- :func:`plan` - the day schedules of a run of operation dates, as JSON.

Local times are resolved in the schedule's zone the same way everywhere: a time that does not exist (it falls
in the gap of a spring-forward change) is the first instant after the gap; a time that occurs twice (a fall-back
change) is its first occurrence.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import zoneinfo

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _model

UTC = datetime.timezone.utc

WEEKDAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_WEEKDAY_NAMES = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')
MONTHS = ('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec')
_MONTH_NAMES = ('january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october',
                'november', 'december')
SHIFTS = ('skip', 'previous', 'next')

#: How far a closed day looks for the open day it moves to (shift previous / next), in days.
SHIFT_SEARCH_DAYS = 366
#: Longest range of dates (``"2026-12-29..2027-01-03"``) in a calendar's include / exclude, in days.
RANGE_DAYS_MAX = 3660
#: Most operation dates one plan lists (ten years).
PLAN_DAYS_MAX = 3660
#: Most frame entries in one schedule.
MAX_FRAMES = 10000
#: Most problems printed in one message (all of them are in ``ScheduleError.problems``).
PROBLEMS_SHOWN = 50
#: Version of the record written by :meth:`Schedule.to_record`.
RECORD_VERSION = 1

TOP_KEYS = ('base_time', 'timezone', 'calendars', 'frames', 'description')
CALENDAR_KEYS = ('weekdays', 'exclude', 'include', 'based_on', 'description')
ENTRY_KEYS = ('file', 'calendar', 'days', 'weekdays', 'months', 'shift', 'start_at')
FROM_KEYS = ('from', 'offset')

CALENDAR_NAME_RE = _model.ITEM_NAME_RE
OFFSET_RE = re.compile(r'\+([0-9]{1,2}):([0-5][0-9])(?::([0-5][0-9]))?\Z')
_RANGE_RE = re.compile(r'(\S+)\s*\.\.\s*(\S+)\Z')

_DAY_RULE = 'allowed: 1 to 31, last, or -1 to -31 counting back from the end, -1 being the last day'
_TIME_FORMS = 'a time of day "HH:MM[:SS]", a time after the base time "+HH:MM[:SS]" or ' \
    '{from: FRAME, offset: "+HH:MM[:SS]"}'
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# --------------------------------------------------------------------------------------------------------
# Errors

class ScheduleError(_model.FrameError):
    """An invalid schedule: ``problems`` lists every problem (each a ScheduleError of its own), with ``source``
    (the schedule file or a frame file), ``line``, ``item`` (where in the file: ``frames[1].calendar``, or
    ``frame 'x', item 'y'`` in a frame file) and ``problem``; ``source``, ``line`` and ``item`` of the error itself
    are those of its first problem, ``schedule`` is the schedule file. A FrameError, so that what catches those
    catches this too."""

    def __init__(self, problem, *, schedule=None, **kwargs):
        self.schedule = schedule if schedule is not None else kwargs.get('source')
        super().__init__(problem, **kwargs)

    def one_line(self):
        location = str(self.source) if self.source else ''
        if self.line:
            location = '%s:%d' % (location, self.line) if location else 'line %d' % self.line
        return ': '.join(part for part in (location, self.item, self.problem) if part)

    def _render(self):
        if len(self.problems) <= 1:
            return self.one_line()
        head = 'schedule %s' % self.schedule if self.schedule else 'schedule'
        lines = ['%s: %d problems' % (head, len(self.problems))]
        for problem in self.problems[:PROBLEMS_SHOWN]:
            lines.append('  - ' + problem.one_line())
        if len(self.problems) > PROBLEMS_SHOWN:
            lines.append('  - ... and %d more' % (len(self.problems) - PROBLEMS_SHOWN))
        return '\n'.join(lines)


class _Problems:
    """The problems found so far, each with a key that sorts them: the schedule file's by line; a frame file's
    right after the line of the entry that names it."""

    def __init__(self, source, lines):
        self.source = source
        self.lines = lines
        self.found = []   # (sort key, ScheduleError)

    def add(self, message, where=None, mapping=None, key=None, line=None):
        if line is None and mapping is not None:
            line = self.lines.line(mapping, key)
        self.found.append(((line is None, line or 0, 0, 0),
                           ScheduleError(message, item=where, source=self.source, line=line)))

    def add_frame_problem(self, entry_line, problem, source):
        """A problem of a frame file (a FrameError of _model): at its own file and line."""
        item = 'frame %r' % problem.frame if problem.frame else 'frame'
        if problem.item:
            item += ', item %r' % problem.item
        self.found.append(((entry_line is None, entry_line or 0, 1, problem.line or 0),
                           ScheduleError(problem.problem, frame=problem.frame, item=item, source=source,
                                         line=problem.line)))

    def error(self):
        ordered = [problem for _key, problem in sorted(self.found, key=lambda found: found[0])]
        first = ordered[0]
        return ScheduleError(first.problem, frame=first.frame, item=first.item, source=first.source,
                             line=first.line, problems=ordered, schedule=self.source)


# --------------------------------------------------------------------------------------------------------
# Values of the file. Each check returns the normalised value or raises TypeError / ValueError with the
# problem (the caller adds where it is).

def _time_of_day(value):
    """Seconds after midnight of 'HH:MM' / 'HH:MM:SS'."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise TypeError('expected a time of day "HH:MM" or "HH:MM:SS", got the number %s (quote times in YAML)'
                        % _number(value))
    if not isinstance(value, str):
        raise TypeError('expected a time of day "HH:MM" or "HH:MM:SS", got %s' % _model._describe(value))
    match = _model.TIME_RE.fullmatch(value.strip())
    if not match:
        raise ValueError('%r is not a time of day: give "HH:MM" or "HH:MM:SS", from 00:00 to 23:59:59' % value)
    hour, minute, second = (int(part or 0) for part in match.groups())
    return hour * 3600 + minute * 60 + second


def _offset(value):
    """Seconds of '+HH:MM' / '+HH:MM:SS'."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise TypeError('expected a relative time "+HH:MM" or "+HH:MM:SS", got the number %s (quote times in '
                        'YAML)' % _number(value))
    if not isinstance(value, str):
        raise TypeError('expected a relative time "+HH:MM" or "+HH:MM:SS", got %s' % _model._describe(value))
    match = OFFSET_RE.fullmatch(value.strip())
    if not match:
        raise ValueError('%r is not a relative time: give "+HH:MM" or "+HH:MM:SS" (a time after the reference, '
                         'from +00:00 to +99:59:59)' % value)
    hour, minute, second = (int(part or 0) for part in match.groups())
    return hour * 3600 + minute * 60 + second


def _number(value):
    return value if value.bit_length() <= 64 else _model._describe(value)


def _hms(seconds, sign=''):
    hours, rest = divmod(seconds, 3600)
    return '%s%02d:%02d:%02d' % (sign, hours, rest // 60, rest % 60)


def _zone(value):
    if not isinstance(value, str):
        raise TypeError('expected an IANA time zone name such as "Asia/Tokyo", got %s' % _model._describe(value))
    name = value.strip()
    try:
        if not name or name.startswith(('/', '.')) or '\0' in name:
            raise ValueError(name)
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        try:
            known = zoneinfo.available_timezones()
        except Exception:  # pylint: disable=broad-exception-caught
            known = set()
        guess = _model._suggest(name, known) if known else None
        hint = 'did you mean %r?' % guess if guess else 'give an IANA zone name such as "Asia/Tokyo" or "UTC"'
        raise ValueError('unknown time zone %r (%s)' % (value, hint)) from None
    return name


def _weekday(value):
    if not isinstance(value, str):
        raise TypeError('expected a weekday (%s), got %s' % (', '.join(WEEKDAYS), _model._describe(value)))
    word = value.strip().lower()
    if word in WEEKDAYS:
        return WEEKDAYS.index(word)
    if word in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(word)
    guess = _model._suggest(word, WEEKDAYS + _WEEKDAY_NAMES)
    hint = 'did you mean %r? ' % WEEKDAYS[(WEEKDAYS + _WEEKDAY_NAMES).index(guess) % 7] if guess else ''
    raise ValueError('%r is not a weekday (%sallowed: %s)' % (value, hint, ', '.join(WEEKDAYS)))


def _day_of_month(value):
    """1 to 31, or -1 (last) to -31."""
    if isinstance(value, str) and value.strip().lower() == 'last':
        return -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a day of the month, got %s (%s)' % (_model._describe(value), _DAY_RULE))
    if not (1 <= value <= 31 or -31 <= value <= -1):
        raise ValueError('%s is not a day of the month (%s)' % (_number(value), _DAY_RULE))
    return value


def _month(value):
    if isinstance(value, str):
        word = value.strip().lower()
        if word in MONTHS:
            return MONTHS.index(word) + 1
        if word in _MONTH_NAMES:
            return _MONTH_NAMES.index(word) + 1
        raise ValueError('%r is not a month (allowed: 1 to 12, or jan to dec)' % (value,))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a month (1 to 12, or jan to dec), got %s' % _model._describe(value))
    if not 1 <= value <= 12:
        raise ValueError('%s is not a month (allowed: 1 to 12, or jan to dec)' % (_number(value),))
    return value


def _date(value):
    if isinstance(value, datetime.datetime):
        raise TypeError('expected a date "YYYY-MM-DD", got a date and time %s' % value.isoformat())
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str):
        raise TypeError('expected a date "YYYY-MM-DD" (or a range "YYYY-MM-DD..YYYY-MM-DD"), got %s'
                        % _model._describe(value))
    match = _model.DATE_RE.fullmatch(value.strip())
    if not match:
        raise ValueError('%r is not a date of the form YYYY-MM-DD (or a range YYYY-MM-DD..YYYY-MM-DD)' % value)
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError as exc:
        raise ValueError('%r is not a valid date: %s' % (value, exc)) from None


def _dates(value):
    """A date or an inclusive range 'A..B' (at most RANGE_DAYS_MAX days): a list of dates."""
    if isinstance(value, str):
        match = _RANGE_RE.fullmatch(value.strip())
        if match:
            first, last = _date(match.group(1)), _date(match.group(2))
            if last < first:
                raise ValueError('the range %r ends before it begins' % value)
            count = last.toordinal() - first.toordinal() + 1
            if count > RANGE_DAYS_MAX:
                raise ValueError('the range %r has %d days; a range may have at most %d (ten years)'
                                 % (value, count, RANGE_DAYS_MAX))
            return [datetime.date.fromordinal(first.toordinal() + i) for i in range(count)]
    return [_date(value)]


def _name(value, what):
    if not isinstance(value, str):
        raise TypeError('expected the name of %s, got %s' % (what, _model._describe(value)))
    return value


def _file_name(value):
    if not isinstance(value, str):
        raise TypeError('expected the path of a frame file, got %s' % _model._describe(value))
    if not value.strip():
        raise ValueError('must not be empty: give the path of a frame file (relative to the schedule file)')
    if '\0' in value:
        raise ValueError('the path contains a NUL byte')
    return value


def _shift(value):
    if not isinstance(value, str) or value not in SHIFTS:
        shown = repr(value) if isinstance(value, str) else _model._describe(value)
        raise ValueError('%s is not a shift (allowed: previous, next, skip)' % shown)
    return value


def as_date(value, what='operation date'):
    """``value`` as a date: a date, or its text ``YYYY-MM-DD`` (ValueError naming it otherwise)."""
    if isinstance(value, datetime.datetime):
        raise TypeError('%s: expected a date, got a datetime %s' % (what, value.isoformat()))
    if isinstance(value, datetime.date):
        return value
    return _model._parse_date(value)


_as_date = as_date


def _aware(value, what):
    if not isinstance(value, datetime.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError('%s must be an aware datetime (with a time zone), got %r' % (what, value))
    return value


# --------------------------------------------------------------------------------------------------------
# The normalised schedule

@dataclasses.dataclass(frozen=True)
class Start:
    """When a frame starts on its operation day D.

    ``kind``: ``none`` (no start time: it starts when the day's schedule is created), ``time`` (``seconds``
    after midnight on D, or on D+1 when earlier than the base time), ``base`` (``seconds`` after D's base
    instant), ``frame`` (``seconds`` after the start of the frame ``ref`` on D).
    """
    kind: str = 'none'
    seconds: int = 0
    ref: str | None = None

    def to_record(self):
        if self.kind == 'time':
            return _hms(self.seconds)
        if self.kind == 'base':
            return _hms(self.seconds, '+')
        if self.kind == 'frame':
            return {'from': self.ref, 'offset': _hms(self.seconds, '+')}
        return None

    @classmethod
    def from_record(cls, value):
        if value is None:
            return cls()
        if isinstance(value, dict):
            return cls('frame', _offset(value.get('offset') or '+00:00'), value['from'])
        if value.startswith('+'):
            return cls('base', _offset(value))
        return cls('time', _time_of_day(value))


@dataclasses.dataclass
class Calendar:
    """A calendar: open days. ``weekdays``: open weekdays (0 = Monday); ``based_on``: a calendar whose open days
    this one starts from; ``exclude`` / ``include``: dates closed / open whatever the rest says."""
    name: str
    weekdays: frozenset = frozenset(range(7))
    exclude: frozenset = frozenset()
    include: frozenset = frozenset()
    based_on: str | None = None
    description: str | None = None

    def to_record(self):
        return {
            'weekdays': [WEEKDAYS[day] for day in sorted(self.weekdays)],
            'exclude': sorted(day.isoformat() for day in self.exclude),
            'include': sorted(day.isoformat() for day in self.include),
            'based_on': self.based_on,
            'description': self.description,
        }

    @classmethod
    def from_record(cls, name, record):
        return cls(name=name, weekdays=frozenset(WEEKDAYS.index(day) for day in record['weekdays']),
                   exclude=frozenset(_date(day) for day in record['exclude']),
                   include=frozenset(_date(day) for day in record['include']),
                   based_on=record.get('based_on'), description=record.get('description'))


@dataclasses.dataclass
class FrameEntry:
    """One frame of the schedule: on which operation dates it runs and when it starts.

    ``days``: days of the month (1 to 31; -1 is the last day, -2 the one before, ...), or None;
    ``weekdays`` (0 = Monday) and ``months`` (1 to 12): sets, or None. None for all three: every day.
    ``start``: the :class:`Start` rule; ``start_at_from``: ``schedule`` when the entry gives it, ``frame`` when
    it is the frame file's own ``start_at``, None when there is none. ``definition``: the frame's normalised
    definition (as _model.normalise returns it).
    """
    frame: str
    file: str
    path: str
    calendar: str | None = None
    days: tuple | None = None
    weekdays: frozenset | None = None
    months: frozenset | None = None
    shift: str = 'skip'
    start: Start = Start()
    start_at_from: str | None = None
    definition: dict | None = None
    line: int | None = None

    def __post_init__(self):
        days = self.days or ()
        self._positive = frozenset(day for day in days if day > 0)
        self._negative = frozenset(day for day in days if day < 0)
        self._every_day = self.days is None and self.weekdays is None

    def to_record(self, definitions=True):
        record = {
            'frame': self.frame,
            'file': self.file,
            'path': self.path,
            'calendar': self.calendar,
            'days': None if self.days is None else ['last' if day == -1 else day for day in self.days],
            'weekdays': None if self.weekdays is None else [WEEKDAYS[day] for day in sorted(self.weekdays)],
            'months': None if self.months is None else sorted(self.months),
            'shift': self.shift,
            'start_at': self.start.to_record(),
            'start_at_from': self.start_at_from,
        }
        if definitions:
            record['definition'] = self.definition
        return record

    @classmethod
    def from_record(cls, record):
        days = record.get('days')
        weekdays = record.get('weekdays')
        months = record.get('months')
        return cls(frame=record['frame'], file=record['file'], path=record['path'], calendar=record.get('calendar'),
                   days=None if days is None else tuple(_day_of_month(day) for day in days),
                   weekdays=None if weekdays is None else frozenset(WEEKDAYS.index(day) for day in weekdays),
                   months=None if months is None else frozenset(months),
                   shift=record.get('shift') or 'skip', start=Start.from_record(record.get('start_at')),
                   start_at_from=record.get('start_at_from'), definition=record.get('definition'))


@dataclasses.dataclass(eq=False)
class Schedule:
    """A checked schedule. ``base_time``: seconds after midnight; ``timezone``: an IANA name, or None for the
    controller's local zone; ``calendars``: name -> :class:`Calendar`; ``frames``: the :class:`FrameEntry` list in
    the order of the file."""
    source: str | None
    base_time: int = 0
    timezone: str | None = None
    calendars: dict = dataclasses.field(default_factory=dict)
    frames: list = dataclasses.field(default_factory=list)
    description: str | None = None

    def __post_init__(self):
        self.entries = {entry.frame: entry for entry in self.frames}
        self._tz = None
        self._open = {}       # calendar name -> {year: (ordinal of Jan 1, bytearray of open flags)}
        self._instants = {}   # (ordinal, seconds) -> aware datetime

    @property
    def tz(self):
        """The zone (a tzinfo) local times are taken in."""
        if self._tz is None:
            self._tz = zoneinfo.ZoneInfo(self.timezone) if self.timezone else local_zone()
        return self._tz

    def entry(self, frame):
        """The entry of a frame name (an entry is returned as it is); KeyError for a frame not in the schedule."""
        if isinstance(frame, FrameEntry):
            return frame
        try:
            return self.entries[frame]
        except KeyError:
            raise KeyError('frame %r is not in the schedule (frames: %s)'
                           % (frame, _model._few(self.entries))) from None

    def to_record(self, definitions=True):
        """The schedule as plain JSON (``definitions``: with each frame's normalised definition)."""
        return {
            'version': RECORD_VERSION,
            'source': self.source,
            'base_time': _hms(self.base_time),
            'timezone': self.timezone,
            'description': self.description,
            'calendars': {name: calendar.to_record() for name, calendar in self.calendars.items()},
            'frames': [entry.to_record(definitions) for entry in self.frames],
        }

    @classmethod
    def from_record(cls, record):
        """A schedule from its record (as :meth:`to_record` wrote it)."""
        if not isinstance(record, dict) or record.get('version') != RECORD_VERSION:
            raise ValueError('not a schedule record of version %d: %r'
                             % (RECORD_VERSION, record.get('version') if isinstance(record, dict) else record))
        return cls(source=record.get('source'), base_time=_time_of_day(record['base_time']),
                   timezone=record.get('timezone'), description=record.get('description'),
                   calendars={name: Calendar.from_record(name, value)
                              for name, value in record['calendars'].items()},
                   frames=[FrameEntry.from_record(entry) for entry in record['frames']])

    # ---- calendars
    def is_open(self, calendar, day):
        """Whether ``day`` (a date) is an open day of the calendar named ``calendar`` (None: every day is)."""
        if calendar is None:
            return True
        years = self._open.get(calendar)
        if years is None:
            years = self._open[calendar] = {}
        flags = years.get(day.year)
        if flags is None:
            flags = self._year_flags(calendar, day.year)
        return flags[1][day.toordinal() - flags[0]] == 1

    def _year_flags(self, name, year):
        """The open flags of one calendar-year (and of the calendars it is based on), computed once."""
        chain = []
        below = name
        while below is not None and year not in self._open.setdefault(below, {}):
            if below in chain:
                raise ValueError('calendar cycle: %s' % ' -> '.join(chain + [below]))
            chain.append(below)
            below = self.calendars[below].based_on
        first = datetime.date(year, 1, 1).toordinal()
        count = datetime.date(year, 12, 31).toordinal() - first + 1
        base = None if below is None else self._open[below][year][1]
        for current in reversed(chain):
            calendar = self.calendars[current]
            weekday = (first - 1) % 7   # date.fromordinal(first).weekday()
            flags = bytearray(count)
            for index in range(count):
                if (weekday + index) % 7 in calendar.weekdays and (base is None or base[index]):
                    flags[index] = 1
            for day in calendar.exclude:
                if day.year == year:
                    flags[day.toordinal() - first] = 0
            for day in calendar.include:
                if day.year == year:
                    flags[day.toordinal() - first] = 1
            self._open[current][year] = (first, flags)
            base = flags
        return self._open[name][year]

    # ---- local times
    def local_instant(self, day, seconds):
        """The aware datetime (in the schedule's zone) of ``seconds`` after midnight on the calendar day ``day``:
        a time in a spring-forward gap is the first instant after the gap; a time that occurs twice, its first
        occurrence."""
        key = (day.toordinal(), seconds)
        found = self._instants.get(key)
        if found is not None:
            return found
        tz = self.tz
        hour, rest = divmod(seconds, 3600)
        local = datetime.datetime(day.year, day.month, day.day, hour, rest // 60, rest % 60, tzinfo=tz)
        before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
        if before is not None and after is not None and after > before:
            local = _gap_end(local, before, after, tz)
        # (after < before: the time occurs twice; fold=0 is the first occurrence)
        if len(self._instants) > 200000:
            self._instants.clear()
        self._instants[key] = local
        return local


def _gap_end(local, before, after, tz):
    """The first instant after the gap that the wall time ``local`` (which does not exist) falls in."""
    naive = local.replace(tzinfo=None)
    low = (naive - after).replace(tzinfo=UTC)    # before the change: the offset there is ``before``
    high = (naive - before).replace(tzinfo=UTC)  # after it
    low_s, high_s = 0, int((high - low).total_seconds())
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if (low + datetime.timedelta(seconds=middle)).astimezone(tz).utcoffset() == before:
            low_s = middle
        else:
            high_s = middle
    return (low + datetime.timedelta(seconds=high_s)).astimezone(tz)


def local_zone():
    """The controller's local zone: the ``TZ`` variable when it names a zone, else ``/etc/localtime``, else
    (without a zone database) the current UTC offset of the local time."""
    name = os.environ.get('TZ')
    if name:
        key = name[1:] if name.startswith(':') else name
        try:
            if key.startswith('/'):
                with open(key, 'rb') as handle:
                    return zoneinfo.ZoneInfo.from_file(handle, key=key)
            return zoneinfo.ZoneInfo(key)
        except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
            return datetime.datetime.now().astimezone().tzinfo   # a POSIX TZ string: the C library's offset
    try:
        target = os.path.realpath('/etc/localtime')
        marker = os.sep + 'zoneinfo' + os.sep
        if marker in target:
            try:
                return zoneinfo.ZoneInfo(target.split(marker, 1)[1])
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                pass
        with open('/etc/localtime', 'rb') as handle:
            return zoneinfo.ZoneInfo.from_file(handle, key='localtime')
    except (OSError, ValueError):
        return datetime.datetime.now().astimezone().tzinfo   # no zone database: the current offset


# --------------------------------------------------------------------------------------------------------
# Reading and checking a schedule file

def _load_yaml(source):
    """The schedule file's top-level mapping and its lines (_model's reader, messages about a schedule file)."""
    try:
        raw = _model.load_frame_file(source)
    except _model.FrameError as exc:
        message = exc.problem
        if message.startswith('the top level must be a mapping'):
            message = 'the top level must be a mapping (base_time, timezone, calendars, frames), not %s' \
                % message.rsplit(', not ', 1)[-1]
        message = message.replace(' (nets at most %d)' % _model.MAX_NESTING, '')
        message = message.replace('frame file', 'schedule file')
        raise ScheduleError(message, source=source, line=exc.line) from None
    return raw, _model._lines_for(raw)


def _check_keys(problems, raw, allowed, where, prefix=''):
    for key in raw:
        if not isinstance(key, str):
            problems.add('key %r is not a string' % (key,), where, raw)
        elif key not in allowed:
            guess = _model._suggest(key, allowed)
            hint = 'did you mean %r?' % guess if guess else 'known keys: %s' % ', '.join(sorted(allowed))
            problems.add('unknown key %r (%s)' % (prefix + key, hint), where, raw, key)


def _join(where, key):
    return '%s.%s' % (where, key) if where else key


def _value(problems, raw, key, where, check, *args):
    """``check(raw[key])``, or None (reported) when it fails or the key is absent / empty."""
    value = raw.get(key)
    if value is None:
        return None
    try:
        return check(value, *args)
    except (TypeError, ValueError) as exc:
        problems.add(str(exc), _join(where, key), raw, key)
        return _BAD


_BAD = object()


def _list(problems, raw, key, where, check, empty_ok=False):
    """``[check(element)]`` of the list (or single value) ``raw[key]``, without duplicates, in the given order;
    None when absent, _BAD (reported) when an element is wrong."""
    value = raw.get(key)
    if value is None:
        return None
    path = _join(where, key)
    if isinstance(value, dict):
        problems.add('expected a list, got a mapping', path, raw, key)
        return _BAD
    elements = list(value) if isinstance(value, (list, tuple)) else [value]
    if not elements and not empty_ok:
        problems.add('must not be empty (leave %s out for every day)' % key, path, raw, key)
        return _BAD
    result = []
    seen = set()
    bad = False
    for index, element in enumerate(elements):
        try:
            item = check(element)
        except (TypeError, ValueError) as exc:
            label = '%s[%d]' % (path, index) if isinstance(value, (list, tuple)) else path
            problems.add(str(exc), label, raw, key)
            bad = True
            continue
        for one in (item if isinstance(item, list) else [item]):
            if one not in seen:
                seen.add(one)
                result.append(one)
    return _BAD if bad else result


def _text(value):
    return _model.text(value)


def _check_calendars(problems, raw_calendars):
    calendars = {}
    if raw_calendars is None:
        return calendars
    raw_lines = {}
    for name, raw in raw_calendars.items():
        where = 'calendars.%s' % (name,)
        if not isinstance(name, str) or not CALENDAR_NAME_RE.fullmatch(name):
            problems.add('%r is not a valid calendar name: use letters, digits, "_" and "-", starting with a '
                         'letter or digit, at most 64 characters' % (name,), 'calendars', raw_calendars, name)
            continue
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.add('expected a mapping (weekdays, exclude, include, based_on), got %s'
                         % _model._describe(raw), where, raw_calendars, name)
            continue
        raw_lines[name] = raw
        _check_keys(problems, raw, CALENDAR_KEYS, where)
        weekdays = _list(problems, raw, 'weekdays', where, _weekday, empty_ok=True)
        exclude = _list(problems, raw, 'exclude', where, _dates, empty_ok=True)
        include = _list(problems, raw, 'include', where, _dates, empty_ok=True)
        based_on = _value(problems, raw, 'based_on', where, _name, 'a calendar')
        description = _value(problems, raw, 'description', where, _text)
        if exclude not in (None, _BAD) and include not in (None, _BAD):
            both = sorted(set(exclude) & set(include))
            if both:
                problems.add('%s both included and excluded; give each date once'
                             % ', '.join(day.isoformat() for day in both[:5])
                             + (' (and %d more)' % (len(both) - 5) if len(both) > 5 else ''),
                             _join(where, 'include'), raw, 'include')
        calendars[name] = Calendar(
            name=name,
            weekdays=frozenset(range(7)) if weekdays in (None, _BAD) else frozenset(weekdays),
            exclude=frozenset() if exclude in (None, _BAD) else frozenset(exclude),
            include=frozenset() if include in (None, _BAD) else frozenset(include),
            based_on=None if based_on is _BAD else based_on,
            description=None if description is _BAD else description)
    # based_on: known, not itself, no cycle
    for name, calendar in calendars.items():
        if calendar.based_on is None:
            continue
        raw = raw_lines[name]
        where = 'calendars.%s.based_on' % name
        if calendar.based_on == name:
            problems.add('a calendar cannot be based on itself', where, raw, 'based_on')
            calendar.based_on = None
        elif calendar.based_on not in calendars:
            hint = _known(calendar.based_on, calendars, 'calendars')
            problems.add('unknown calendar %r%s' % (calendar.based_on, hint), where, raw, 'based_on')
            calendar.based_on = None
    reported = set()
    for name in calendars:
        chain = [name]
        current = calendars[name].based_on
        while current is not None and current not in chain:
            chain.append(current)
            current = calendars[current].based_on
        if current is not None and current == name and not reported & set(chain):
            reported.update(chain)
            problems.add('calendar cycle: %s (each is based on the next)' % ' -> '.join(chain + [name]),
                         'calendars.%s.based_on' % name, raw_lines[name], 'based_on')
    for name in reported:
        calendars[name].based_on = None
    return calendars


def _known(word, names, what):
    others = sorted(names)
    guess = _model._suggest(word, others)
    text = '%s: %s' % (what, _model._few(others))
    return ' (did you mean %r? %s)' % (guess, text) if guess else ' (%s)' % text


def _check_start(problems, raw, where):
    """The entry's start_at: a Start, None (absent) or _BAD."""
    value = raw.get('start_at')
    if value is None:
        return None
    path = _join(where, 'start_at')
    if isinstance(value, dict):
        _check_keys(problems, value, FROM_KEYS, path)
        ref = value.get('from')
        bad = False
        if ref is None:
            problems.add('missing required key \'from\' (the frame whose start this one counts from)', path, value)
            bad = True
        elif not isinstance(ref, str):
            problems.add('expected the name of a frame of the schedule, got %s' % _model._describe(ref),
                         _join(path, 'from'), value, 'from')
            bad = True
        offset = _value(problems, value, 'offset', path, _offset)
        if bad or offset is _BAD or any(key not in FROM_KEYS for key in value):
            return _BAD
        return Start('frame', offset or 0, ref)
    if isinstance(value, str) and value.strip().startswith('+'):
        try:
            return Start('base', _offset(value))
        except ValueError as exc:
            problems.add(str(exc), path, raw, 'start_at')
            return _BAD
    if isinstance(value, str) and not _model.TIME_RE.fullmatch(value.strip()):
        try:
            fixed = _model.start_at(value) if value.strip() else None
        except ValueError:
            fixed = None
        if fixed is not None:
            problems.add('%r is a fixed date and time, which a daily schedule cannot repeat: give %s'
                         % (value, _TIME_FORMS), path, raw, 'start_at')
        else:
            problems.add('%r is not a start time: give %s' % (value, _TIME_FORMS), path, raw, 'start_at')
        return _BAD
    try:
        return Start('time', _time_of_day(value))
    except (TypeError, ValueError) as exc:
        problems.add('%s; a start time is %s' % (exc, _TIME_FORMS), path, raw, 'start_at')
        return _BAD


def _read_entry_frame(problems, shown, where, hosts, entry_line, file_line):
    """The frame file's definition (or None, its problems reported) and its name (None when unknown)."""
    try:
        definition = _model.read_frame(shown, hosts=hosts)
    except _model.FrameError as exc:
        name = exc.frame if isinstance(exc.frame, str) and _model.FRAME_NAME_RE.fullmatch(exc.frame) else None
        for problem in exc.problems:
            if problem.line is None and problem.problem.startswith(('cannot read', 'the frame file is larger')):
                problems.add('%s: %s' % (shown, problem.problem), where, line=file_line)
            else:
                problems.add_frame_problem(entry_line, problem, shown)
        return None, name
    return definition, definition['frame']


def load_schedule(path, *, hosts=None):
    """Read and check a schedule file and every frame file it names; return the :class:`Schedule`.

    ``hosts``: the inventory host names the frames' jobs may name (None: not checked). Frame files are found
    relative to the schedule file's folder. Raises ScheduleError listing every problem of the schedule file and
    of its frame files, each with its file and line.
    """
    source = os.fspath(path)
    raw, lines = _load_yaml(source)
    problems = _Problems(source, lines)
    for line, message in lines.problems:
        problems.add(message, line=line)
    _check_keys(problems, raw, TOP_KEYS, None)

    base_time = _value(problems, raw, 'base_time', None, _time_of_day)
    timezone = _value(problems, raw, 'timezone', None, _zone)
    description = _value(problems, raw, 'description', None, _text)
    raw_calendars = raw.get('calendars')
    if raw_calendars is not None and not isinstance(raw_calendars, dict):
        problems.add('expected a mapping of calendar names to calendars, got %s'
                     % _model._describe(raw_calendars), 'calendars', raw, 'calendars')
        raw_calendars = None
    calendars = _check_calendars(problems, raw_calendars)

    raw_frames = raw.get('frames')
    entries = []
    if 'frames' not in raw:
        problems.add('missing required key \'frames\' (the list of frame entries)', None, raw)
        raw_frames = []
    elif raw_frames is None:
        raw_frames = []
    elif not isinstance(raw_frames, list):
        problems.add('expected a list of frame entries ({file: ..., calendar: ...}), got %s'
                     % _model._describe(raw_frames), 'frames', raw, 'frames')
        raw_frames = []
    if len(raw_frames) > MAX_FRAMES:
        problems.add('the schedule has %d frames; a schedule may have at most %d' % (len(raw_frames), MAX_FRAMES),
                     'frames', raw, 'frames')
        raw_frames = raw_frames[:MAX_FRAMES]
    folder = os.path.dirname(source)
    seen = {}          # frame name -> (index, line)
    raw_entries = {}   # frame name -> its raw mapping
    for index, item in enumerate(raw_frames):
        where = 'frames[%d]' % index
        if not isinstance(item, dict):
            problems.add('each frame entry must be a mapping ({file: ..., calendar: ...}), got %s'
                         % _model._describe(item), where, raw, 'frames')
            continue
        entry_line = lines.line(item)
        _check_keys(problems, item, ENTRY_KEYS, where)
        if item.get('file') is None:
            problems.add('missing required key \'file\' (the frame file, relative to the schedule file)', where,
                         item)
        file_name = _value(problems, item, 'file', where, _file_name)
        calendar = _value(problems, item, 'calendar', where, _name, 'a calendar')
        days = _list(problems, item, 'days', where, _day_of_month)
        weekdays = _list(problems, item, 'weekdays', where, _weekday)
        months = _list(problems, item, 'months', where, _month)
        shift = _value(problems, item, 'shift', where, _shift)
        start = _check_start(problems, item, where)
        if calendar not in (None, _BAD) and calendar not in calendars:
            problems.add('unknown calendar %r%s' % (calendar, _known(calendar, calendars, 'calendars')),
                         _join(where, 'calendar'), item, 'calendar')
        if shift not in (None, _BAD) and calendar is None:
            problems.add('shift needs a calendar (without one every day is open and nothing is moved)',
                         _join(where, 'shift'), item, 'shift')
        definition = name = None
        if file_name not in (None, _BAD):
            shown = os.path.normpath(os.path.join(folder, file_name))
            definition, name = _read_entry_frame(problems, shown, _join(where, 'file'), hosts, entry_line,
                                                 lines.line(item, 'file'))
            if definition is not None and start is None:
                own = definition.get('start_at')
                if own is not None and not _model.TIME_RE.fullmatch(own):
                    problems.add('the frame\'s start_at %r (in %s) is a fixed date and time, which a daily schedule '
                                 'cannot repeat: give the entry a start_at (%s)'
                                 % (own, shown, _TIME_FORMS), where, item)
                    start = _BAD
                elif own is not None:
                    start = Start('time', _time_of_day(own))
        if name is not None:
            if name in seen:
                first_index, first_line = seen[name]
                problems.add('frame %r is already in the schedule (frames[%d]%s); a frame runs at most once per '
                             'operation date' % (name, first_index, ', line %d' % first_line if first_line else ''),
                             where, item)
                continue
            seen[name] = (index, entry_line)
            raw_entries[name] = item
        bad = _BAD in (file_name, calendar, days, weekdays, months, shift, start) or definition is None or \
            (calendar is not None and calendar not in calendars)
        if bad:
            if name is not None and isinstance(start, Start):
                entries.append((name, item, start, None))   # kept for the checks of relative starts
            continue
        start_from = 'schedule' if item.get('start_at') is not None else ('frame' if start is not None else None)
        entry = FrameEntry(
            frame=name, file=file_name, path=os.path.abspath(shown), calendar=calendar,
            days=None if days is None else tuple(days),
            weekdays=None if weekdays is None else frozenset(weekdays),
            months=None if months is None else frozenset(months),
            shift=shift or 'skip', start=start or Start(), start_at_from=start_from, definition=definition,
            line=entry_line)
        entries.append((name, item, entry.start, entry))

    # relative starts: a known frame, not itself, no cycle
    names = set(seen)
    graph = {}
    for name, item, start, _entry in entries:
        if start.kind != 'frame':
            continue
        path = _join('frames[%d]' % seen[name][0], 'start_at.from')
        start_at = item.get('start_at')
        if start.ref == name:
            problems.add('a frame cannot count its start from its own start', path, start_at, 'from')
        elif start.ref not in names:
            hint = _known(start.ref, names - {name}, 'frames of this schedule')
            problems.add('unknown frame %r%s' % (start.ref, hint), path, start_at, 'from')
        else:
            graph[name] = start.ref
    reported = set()
    for name, item, start, _entry in entries:
        chain = []
        current = name
        while current in graph and current not in chain:
            chain.append(current)
            current = graph[current]
        if current == name and chain and not reported & set(chain):
            reported.update(chain)
            problems.add('relative start cycle: %s (each counts from the start of the next)'
                         % ' -> '.join(chain + [name]), _join('frames[%d]' % seen[name][0], 'start_at.from'),
                         item.get('start_at'), 'from')

    if problems.found:
        raise problems.error()
    return Schedule(source=os.path.abspath(source), base_time=base_time or 0, timezone=timezone,
                    calendars=calendars, frames=[entry for _name, _item, _start, entry in entries if entry],
                    description=description)


# --------------------------------------------------------------------------------------------------------
# Operation days, calendars and starts

def base_instant(schedule, day):
    """The instant (aware, in the schedule's zone) at which the operation day ``day`` begins: its base time."""
    return schedule.local_instant(as_date(day), schedule.base_time)


def operation_date_at(schedule, instant):
    """The operation date (a date) whose day holds the aware datetime ``instant``: D when D's base instant <=
    instant < D+1's."""
    _aware(instant, 'instant')
    moment = instant.astimezone(UTC)
    day = moment.astimezone(schedule.tz).date()
    for _attempt in range(4):
        if moment < base_instant(schedule, day).astimezone(UTC):
            day = day - datetime.timedelta(days=1)
        elif moment >= base_instant(schedule, day + datetime.timedelta(days=1)).astimezone(UTC):
            day = day + datetime.timedelta(days=1)
        else:
            return day
    raise ValueError('no operation date holds %s' % instant.isoformat())   # not reached for a real zone


def _month_length(year, month):
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def _wanted(entry, day):
    """Whether ``day`` is one of the entry's days (before the calendar and the shift)."""
    if entry.months is not None and day.month not in entry.months:
        return False
    if entry._every_day:
        return True
    if entry.weekdays is not None and day.weekday() in entry.weekdays:
        return True
    if entry.days is not None:
        if day.day in entry._positive:
            return True
        if entry._negative and day.day - _month_length(day.year, day.month) - 1 in entry._negative:
            return True
    return False


_FIRST_ORDINAL = datetime.date.min.toordinal()
_LAST_ORDINAL = datetime.date.max.toordinal()


def runs_on(schedule, entry, day):
    """Whether the frame (an entry or a frame name) runs on the operation date ``day``.

    Without a calendar it runs on each of its days (``days`` / ``weekdays`` / ``months``; none: every day). With
    one, a day of the frame that is open runs; a closed one is dropped (``shift: skip``) or moves to the nearest
    open day before (``previous``) or after it (``next``), looked for up to SHIFT_SEARCH_DAYS days away. A day
    that several of them land on runs once.
    """
    entry = schedule.entry(entry)
    day = as_date(day)
    calendar = entry.calendar
    if calendar is None:
        return _wanted(entry, day)
    if not schedule.is_open(calendar, day):
        return False
    if _wanted(entry, day):
        return True
    if entry.shift == 'skip':
        return False
    step = 1 if entry.shift == 'previous' else -1   # previous: closed days after D move back to D
    ordinal = day.toordinal()
    for _count in range(SHIFT_SEARCH_DAYS):
        ordinal += step
        if not _FIRST_ORDINAL <= ordinal <= _LAST_ORDINAL:
            return False
        other = datetime.date.fromordinal(ordinal)
        if schedule.is_open(calendar, other):
            return False
        if _wanted(entry, other):
            return True
    return False


def frame_start(schedule, entry, day, starts=None):
    """When the frame (an entry or a frame name) starts on the operation date ``day``: an aware datetime in the
    schedule's zone, or None when it has no start time (it starts when the day's schedule is created).

    ``HH:MM:SS`` is that time on the calendar day D, or on D+1 when it is earlier than the base time; ``+HH:MM``
    counts from D's base instant; ``{from: F, offset: +HH:MM}`` counts from F's start on D, whether or not F
    runs on D (F's own rule applied to D; F without a start time counts as starting at the base instant).
    Offsets are elapsed time, also across a DST change. ``starts``: frame name -> the start (aware datetime, or
    None) already known for D, e.g. recorded ones: a frame named there starts then, and frames counting from it
    count from that (so relative starts keep counting from the original start).
    """
    memo = _known_starts(starts)
    return _start(schedule, schedule.entry(entry), as_date(day), memo)


def _known_starts(starts):
    memo = {}
    for name, value in (starts or {}).items():
        memo[name] = None if value is None else _aware(value, 'the start of %s' % name)
    return memo


def _start(schedule, entry, day, memo):
    chain = []
    current = entry
    while current.frame not in memo:
        rule = current.start
        if rule.kind != 'frame':
            memo[current.frame] = _direct_start(schedule, current, day)
            break
        if len(chain) > len(schedule.frames):
            raise ValueError('relative start cycle through frame %r' % entry.frame)
        chain.append(current)
        current = schedule.entry(rule.ref)
    value = memo[current.frame]
    for current in reversed(chain):
        reference = value if value is not None else base_instant(schedule, day)
        value = (reference.astimezone(UTC) + datetime.timedelta(seconds=current.start.seconds)) \
            .astimezone(schedule.tz)
        memo[current.frame] = value
    value = memo[entry.frame]
    return None if value is None else value.astimezone(schedule.tz)


def _direct_start(schedule, entry, day):
    rule = entry.start
    if rule.kind == 'time':
        if rule.seconds < schedule.base_time:
            day = day + datetime.timedelta(days=1)
        return schedule.local_instant(day, rule.seconds)
    if rule.kind == 'base':
        base = base_instant(schedule, day)
        return (base.astimezone(UTC) + datetime.timedelta(seconds=rule.seconds)).astimezone(schedule.tz)
    return None


def day_schedule(schedule, day, starts=None):
    """The frames that run on the operation date ``day``, in the order of the schedule file: a list of
    ``(FrameEntry, start)``, start as :func:`frame_start` gives it."""
    day = as_date(day)
    memo = _known_starts(starts)
    return [(entry, _start(schedule, entry, day, memo)) for entry in schedule.frames
            if runs_on(schedule, entry, day)]


def plan(schedule, first_date, days=1):
    """What ``days`` operation dates from ``first_date`` on will run: ``{"days": [{"operation_date":
    "YYYY-MM-DD", "frames": [{"frame": NAME, "start": ISO-8601 with offset or None}, ...]}, ...]}``, every date
    listed (with an empty list when no frame runs on it)."""
    first = as_date(first_date)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= PLAN_DAYS_MAX:
        raise ValueError('the number of days of a plan must be a whole number from 1 to %d, got %r'
                         % (PLAN_DAYS_MAX, days))
    if first.toordinal() + days > _LAST_ORDINAL:
        raise ValueError('a plan of %d days from %s goes past the last date' % (days, first.isoformat()))
    result = []
    for index in range(days):
        day = datetime.date.fromordinal(first.toordinal() + index)
        result.append({
            'operation_date': day.isoformat(),
            'frames': [{'frame': entry.frame, 'start': None if start is None else start.isoformat()}
                       for entry, start in day_schedule(schedule, day)],
        })
    return {'days': result}
