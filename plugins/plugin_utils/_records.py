# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The records the scheduler keeps, typed: :class:`Instance`, :class:`Item`, :class:`Event`, :class:`Flags` and
the launch :class:`Phase` of an attempt.

Not a public API. Pure: standard library, ``_states`` and ``_time`` only. This is the one place where a record is **built**
(``X.new(...)``), **reset** (:meth:`Item.cleared_attempt`, :meth:`Item.init_reset`, :meth:`Instance.cleared_run`),
**checked** (``*_problems``, used by the store on every read, and by ``X.from_dict``) and **(de)serialised**
(``X.from_dict(record)`` / ``x.to_dict()``).

The records themselves stay plain JSON dicts wherever they travel (store, planner, recovery, action results):
``to_dict()`` gives exactly the dict the store keeps, key for key and in the same order, and
``X.from_dict(record).to_dict() == record`` for every record a store of schema 1 holds, keys the scheduler does not
know (``version``, ``seq``, ``at``, ``message`` of an instance...) included. A record read from a store keeps the
keys it had (``keys``); a record made by ``new`` has today's keys in today's order.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import Kind, State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime

__all__ = [
    'SCHEMA', 'MIGRATIONS', 'PHASES', 'KINDS', 'STATES', 'INSTANCE_REQUIRED', 'ITEM_REQUIRED', 'EVENT_REQUIRED',
    'ITEM_TYPES', 'INSTANCE_TYPES', 'EVENT_TYPES', 'Phase', 'RecordError', 'Flags', 'Item', 'Instance', 'Event',
    'instance_id', 'item_problems', 'instance_problems', 'event_problems', 'migrate_instance',
]

SCHEMA = 1
"""The version of the records' shape: the ``schema`` key of an instance record (one without it is schema 1).

A later version that changes a record's shape raises ``SCHEMA`` to N and adds ``MIGRATIONS[N - 1]``: a function
that takes a schema N - 1 instance record and its items (``(instance, {path: item})``, plain dicts) and returns
them in the shape of schema N with ``schema`` set to N. :func:`migrate_instance` applies the steps in order, so a
store written by any earlier version is read as today's; records of a newer schema than this code knows are
refused, never guessed at. Schema 1 is the first: nothing to migrate yet.
"""

MIGRATIONS: dict[int, Callable[[dict, dict], tuple[dict, dict]]] = {}
"""``{N: step from schema N to N + 1}`` (empty while :data:`SCHEMA` is 1)."""


class Phase(str, Enum):
    """The launch phase of a job's current attempt (the item's ``phase``; ``None`` there: no attempt in flight,
    either none started yet or the last one was reset / rerun).

    - ``launching``: the attempt (attempt number and id) is recorded **before** the call that starts it
      (write-ahead). Its outcome is unknown until the host answers: the same attempt id is launched again, and
      recovery asks the host whether it has it (found: adopted; not found: queued again with the same id).
    - ``launched``: the host confirmed the attempt (it runs or ran), or the launch failed for good; from now on the
      state the host reports for it is taken, and the attempt is never started again.
    """

    LAUNCHING = 'launching'
    LAUNCHED = 'launched'

    def __str__(self):
        return self.value


PHASES = (None, Phase.LAUNCHING, Phase.LAUNCHED)
"""The values of an item's ``phase`` (``None``: no attempt in flight)."""

KINDS = (Kind.JOB.value, Kind.NET.value)
"""The kinds of an item record (the frame itself is the instance record)."""

STATES = frozenset(s.value for s in State)

INSTANCE_REQUIRED = ('id', 'frame', 'operation_date', 'state')
"""Keys an instance record must carry (the store's ``_common`` names the same keys for its checks)."""

ITEM_REQUIRED = ('path', 'kind', 'state')
"""Keys an item record must carry."""

EVENT_REQUIRED = ('path', 'kind', 'from', 'to')
"""Keys an event record must carry."""

_UID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'


class RecordError(ValueError):
    """A record that does not have the shape of its type; ``key`` names the key (None: the whole record)."""

    def __init__(self, what, key, reason):
        self.what = what
        self.key = key
        self.reason = reason
        super().__init__('%s: %s' % (what, reason))


# ---------------------------------------------------------------------------------------------- checks

def shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > 60:
        text = text[:57] + '...'
    return '%s (%s)' % (text, 'null' if value is None else type(value).__name__)


def is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def str_or_none(v) -> bool:
    return v is None or isinstance(v, str)


# key -> (test, what it must be): checked when the key is present (required keys are checked before)
ITEM_TYPES = (
    ('path', lambda v: isinstance(v, str) and v != '', 'a non-empty string'),
    ('kind', lambda v: v in KINDS, "'job' or 'net'"),
    ('state', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('host', str_or_none, 'a string or null'),
    ('parent', str_or_none, 'a string or null'),
    ('attempt', is_count, 'a whole number >= 0'),
    ('attempt_id', str_or_none, 'a string or null'),
    ('phase', lambda v: v in PHASES, "null, 'launching' or 'launched'"),
    ('flags', lambda v: isinstance(v, dict), 'an object'),
    ('opened', lambda v: isinstance(v, bool), 'true or false'),
)

INSTANCE_TYPES = (
    ('state', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('flags', lambda v: isinstance(v, dict), 'an object'),
    ('opened', lambda v: isinstance(v, bool), 'true or false'),
    ('definition', lambda v: isinstance(v, dict), 'an object'),
)

EVENT_TYPES = (
    ('path', lambda v: isinstance(v, str), 'a string'),
    ('kind', lambda v: v in (Kind.FRAME.value,) + KINDS, "'frame', 'net' or 'job'"),
    ('host', str_or_none, 'a string or null'),
    ('from', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('to', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('reason', lambda v: isinstance(v, str), 'a string'),
    ('attempt_id', str_or_none, 'a string or null'),
    ('time', str_or_none, 'a string or null'),
)


def type_problems(record: dict, table) -> list[tuple[str, str]]:
    """``[(key, reason)]`` for every key of ``table`` present in ``record`` with a value of the wrong type."""
    return [(key, 'key %r is %s, expected %s' % (key, shown(record[key]), what))
            for key, test, what in table if key in record and not test(record[key])]


def definition_problems(defn: dict) -> list[tuple[str, str]]:
    """``[('definition.items', reason)]`` for a frame definition (kept in an instance) whose items are not items."""
    if 'items' not in defn:
        return []
    items = defn['items']
    if not isinstance(items, list):
        return [('definition.items', 'key %r is %s, expected a list of items' % ('definition.items', shown(items)))]
    out = []
    for i, d in enumerate(items):
        reason = None
        if not isinstance(d, dict):
            reason = 'is %s, expected an object' % shown(d)
        elif not isinstance(d.get('path'), str) or not d['path']:
            reason = 'has path %s, expected a non-empty string' % shown(d.get('path'))
        elif d.get('kind') not in KINDS:
            reason = "has kind %s, expected 'job' or 'net'" % shown(d.get('kind'))
        if reason:
            out.append(('definition.items', 'definition item #%d %s' % (i, reason)))
    return out


def item_problems(record: dict) -> list[tuple[str, str]]:
    """The type problems of an item record (its required keys are checked apart, by the caller)."""
    return type_problems(record, ITEM_TYPES)


def instance_problems(record: dict) -> list[tuple[str, str]]:
    """The type problems of an instance record, its definition's items included."""
    problems = type_problems(record, INSTANCE_TYPES)
    if isinstance(record.get('definition'), dict):
        problems += definition_problems(record['definition'])
    return problems


def event_problems(record: dict) -> list[tuple[str, str]]:
    """The type problems of an event record."""
    return type_problems(record, EVENT_TYPES)


def _checked(what, record, required, problems_of):
    if not isinstance(record, dict):
        raise RecordError(what, None, 'is %s, not a mapping' % shown(record))
    for key in required:
        if key not in record:
            raise RecordError(what, key, 'missing key %r' % key)
    problems = problems_of(record)
    if problems:
        key, reason = problems[0]
        raise RecordError(what, key, reason)


def migrate_instance(instance: dict, items: dict) -> tuple[dict, dict]:
    """An instance record and its items in today's shape (:data:`SCHEMA`), by the steps of :data:`MIGRATIONS`;
    the records themselves are returned when they are of today's schema. A newer schema is a :class:`RecordError`.
    """
    schema = instance.get('schema', 1)
    if not is_count(schema) or schema < 1:
        raise RecordError('instance %s' % instance.get('id'), 'schema', 'key %r is %s, expected a schema number '
                          '>= 1' % ('schema', shown(schema)))
    if schema > SCHEMA:
        raise RecordError('instance %s' % instance.get('id'), 'schema', 'schema %d is newer than this version '
                          'of the collection reads (%d)' % (schema, SCHEMA))
    while schema < SCHEMA:
        instance, items = MIGRATIONS[schema](instance, items)
        schema += 1
    return instance, items


# ---------------------------------------------------------------------------------------------- the layer

def _encode(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Flags):
        return value.to_dict()
    return value


class _Record:
    """(De)serialisation shared by the record types: ``_KEYS`` maps a record key to its field, ``_DECODE`` a key to
    the function that types its value; ``keys`` is the record's keys in order (empty: today's, ``_ORDER``) and
    ``extra`` the keys this layer does not know, kept as they are."""

    _KEYS: dict = {}
    _DECODE: dict = {}
    _ORDER: tuple = ()

    def _key_order(self):
        return self.keys or tuple(k for k in self._ORDER if self._present(k))

    def _present(self, key):
        return True

    def to_dict(self) -> dict:
        """The record as the store keeps it (plain JSON values, the record's own key order)."""
        out = {}
        for key in self._key_order():
            attr = self._KEYS.get(key)
            if attr is not None:
                out[key] = _encode(getattr(self, attr))
            elif key in self.extra:
                out[key] = self.extra[key]
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def _build(cls, record):
        kwargs = {}
        extra = {}
        for key, value in record.items():
            attr = cls._KEYS.get(key)
            if attr is None:
                extra[key] = value
            else:
                decode = cls._DECODE.get(key)
                kwargs[attr] = decode(value) if decode else value
        return cls(**kwargs, extra=extra, keys=tuple(record))

    def replace(self, **changes):
        """A copy with ``changes`` (field names); a key the record did not carry is added."""
        keys = self._key_order()
        by_attr = {a: k for k, a in self._KEYS.items()}
        added = tuple(by_attr[a] for a in changes if a in by_attr and by_attr[a] not in keys)
        return dataclasses.replace(self, keys=keys + added, **changes)


def _phase(value):
    return None if value is None else Phase(value)


@dataclass(frozen=True)
class Flags(_Record):
    """The operator's marks on a net or job (``skip``, ``pause`` from the definition or an operation, ``stopped``
    for a stopped net, ``force`` for a job force-started), and on an instance (``stopped``; ``skip`` / ``pause``
    once a frame is marked)."""

    skip: bool = False
    pause: bool = False
    stopped: bool = False
    force: bool = False
    extra: dict = field(default_factory=dict, compare=True, repr=False)
    keys: tuple = field(default=(), compare=False, repr=False)

    _KEYS = {'skip': 'skip', 'pause': 'pause', 'stopped': 'stopped', 'force': 'force'}
    _ORDER = ('skip', 'pause', 'stopped', 'force')

    @classmethod
    def new(cls, definition) -> Flags:
        """The flags of a new item: its definition's marks, not stopped, not forced."""
        return cls(skip=bool(definition.get('skip')), pause=bool(definition.get('pause')), keys=cls._ORDER)

    @staticmethod
    def cleared(definition) -> dict:
        """The flags an init puts back on an item (merged into its flags; other keys stay): not stopped, not forced,
        the definition's marks."""
        return {'stopped': False, 'force': False, 'skip': bool(definition.get('skip')),
                'pause': bool(definition.get('pause'))}

    @classmethod
    def from_dict(cls, record) -> Flags:
        if not isinstance(record, dict):
            raise RecordError('flags', None, 'is %s, not a mapping' % shown(record))
        return cls._build(record)


#: the keys of an item record, in the order the store keeps them (a net adds ``opened``)
ITEM_KEYS = ('path', 'kind', 'parent', 'host', 'state', 'flags', 'attempt', 'attempt_id', 'phase', 'started',
             'ended', 'rc', 'signal', 'message', 'updated')

#: the fields a reset clears on a job (recovery with end_recover off) and an init on every item
_ATTEMPT_CLEARED = ('attempt_id', 'phase', 'started', 'ended', 'rc', 'signal')


@dataclass(frozen=True)
class Item(_Record):
    """One net or job of an instance, keyed by ``(instance id, path)``.

    ``state`` is the spec's state; ``phase`` the launch phase of the current attempt (:class:`Phase`, ``None``:
    none in flight); ``attempt`` counts the attempts (it only grows, so an ``attempt_id`` is never reused);
    ``opened`` (nets only) says the net's start conditions were met, so its children may start and its state is
    derived from theirs; ``flags`` the operator's marks. Nets have ``host`` None and never an attempt.
    """

    path: str
    kind: Kind
    state: State
    parent: str | None = ''
    host: str | None = None
    flags: Flags = field(default_factory=Flags)
    attempt: int = 0
    attempt_id: str | None = None
    phase: Phase | None = None
    started: str | None = None
    ended: str | None = None
    rc: int | None = None
    signal: Any = None
    message: str = ''
    updated: str | None = None
    opened: bool | None = None      # None: the record has no ``opened`` (a job)
    extra: dict = field(default_factory=dict, repr=False)
    keys: tuple = field(default=(), compare=False, repr=False)

    _KEYS = {k: k for k in ITEM_KEYS + ('opened',)}
    _DECODE = {'kind': Kind, 'state': State, 'phase': _phase, 'flags': Flags.from_dict}
    _ORDER = ITEM_KEYS + ('opened',)

    def _present(self, key):
        return key != 'opened' or self.opened is not None

    @classmethod
    def new(cls, definition) -> Item:
        """The ``not_submitted`` record of one net or job of a (normalised) definition."""
        kind = Kind(definition['kind'])
        net = kind is Kind.NET
        return cls(path=definition['path'], kind=kind, parent=definition.get('parent', ''),
                   host=definition.get('host') if kind is Kind.JOB else None, state=State.NOT_SUBMITTED,
                   flags=Flags.new(definition), opened=False if net else None,
                   keys=ITEM_KEYS + (('opened',) if net else ()))

    @classmethod
    def from_dict(cls, record) -> Item:
        """The typed item of a record; :class:`RecordError` naming the key for a missing key or a wrong type (the
        checks the store makes on every item it reads)."""
        _checked('item %s' % (record.get('path') if isinstance(record, dict) else '?'), record, ITEM_REQUIRED,
                 item_problems)
        return cls._build(record)

    @staticmethod
    def cleared_attempt(kind, message='') -> dict:
        """The fields a **reset** writes (recovery: an ended item put back to not_submitted, end_recover off; the
        whole frame reset before its start): a job's attempt (id, phase, rc, signal, started, ended) and the
        message; a net's started, ended and message. The attempt counter is kept, and so are the flags; recovery
        sets a net's ``opened`` itself."""
        if Kind(kind) is Kind.JOB:
            out = dict.fromkeys(('attempt_id', 'phase', 'rc', 'signal', 'started', 'ended'))
        else:
            out = dict.fromkeys(('started', 'ended'))
        out['message'] = message
        return out

    @staticmethod
    def init_reset(definition) -> tuple[dict, dict]:
        """``(fields, flags)`` an **init** writes on an item (``Planner.init``): the attempt fields cleared on every
        kind (a net's are None anyway), the message emptied, a net not opened; flags (:meth:`Flags.cleared`) to
        merge into its flags. The attempt counter is kept."""
        fields = dict.fromkeys(_ATTEMPT_CLEARED)
        fields['message'] = ''
        if Kind(definition['kind']) is Kind.NET:
            fields['opened'] = False
        return fields, Flags.cleared(definition)


def instance_id(frame, operation_date) -> str:
    """``<frame>@<YYYY-MM-DD>``: the id of one frame's instance for one operation date."""
    return '%s@%s' % (frame, operation_date)


INSTANCE_KEYS = ('id', 'frame', 'operation_date', 'uid', 'state', 'definition', 'options', 'flags', 'opened',
                 'submitted', 'started', 'ended', 'updated', 'schema')


@dataclass(frozen=True)
class Instance(_Record):
    """One frame for one operation date (id ``<frame>@<YYYY-MM-DD>``): the frame's state, its normalised
    ``definition``, the ``options`` it runs with, ``uid`` (random per creation, part of every attempt id),
    ``flags`` (``stopped``, and ``skip`` / ``pause`` marks), ``opened`` (its start conditions were met), times and
    the records' ``schema``."""

    id: str
    frame: str
    operation_date: str
    state: State
    uid: str | None = None
    definition: dict = field(default_factory=dict, repr=False)
    options: dict = field(default_factory=dict)
    flags: Flags = field(default_factory=lambda: Flags(keys=('stopped',)))
    opened: bool = False
    submitted: str | None = None
    started: str | None = None
    ended: str | None = None
    updated: str | None = None
    schema: int = SCHEMA
    extra: dict = field(default_factory=dict, repr=False)
    keys: tuple = field(default=(), compare=False, repr=False)

    _KEYS = {k: k for k in INSTANCE_KEYS}
    _DECODE = {'state': State, 'flags': Flags.from_dict}
    _ORDER = INSTANCE_KEYS

    @classmethod
    def new(cls, defn, operation_date, options=None, *, now=None, uid=None) -> Instance:
        """The ``not_submitted`` instance of a frame definition for ``operation_date``: ``now`` the time text of
        ``updated`` (None: now), ``uid`` six random letters and digits (None: drawn)."""
        if now is None:
            now = isotime()
        if uid is None:
            uid = ''.join(secrets.choice(_UID_ALPHABET) for _i in range(6))
        return cls(id=instance_id(defn['frame'], operation_date), frame=defn['frame'],
                   operation_date=operation_date, uid=uid, state=State.NOT_SUBMITTED, definition=defn,
                   options=dict(options or {}), flags=Flags(keys=('stopped',)), opened=False, updated=now,
                   schema=SCHEMA, keys=INSTANCE_KEYS)

    @classmethod
    def from_dict(cls, record) -> Instance:
        """The typed instance of a record; :class:`RecordError` naming the key (the store's checks on read)."""
        _checked('instance %s' % (record.get('id') if isinstance(record, dict) else '?'), record,
                 INSTANCE_REQUIRED, instance_problems)
        return cls._build(record)

    @staticmethod
    def cleared_run() -> dict:
        """The fields an init or a reset writes on an instance (not started, not ended, not opened). The flags
        differ: an init clears ``stopped``, ``skip`` and ``pause``, a recovery reset ``stopped`` only."""
        return {'started': None, 'ended': None, 'opened': False}


EVENT_KEYS = ('path', 'kind', 'host', 'from', 'to', 'reason', 'attempt_id', 'time')


@dataclass(frozen=True)
class Event(_Record):
    """One change of state, for the history: ``path`` ('' for the frame), its ``kind`` and ``host``, the states
    ``from`` / ``to`` (fields ``from_state`` / ``to_state``), the ``reason``, the attempt and the ``time`` of the
    change. The store adds ``at`` (when it was written) and ``seq`` (its number), kept in ``extra``."""

    path: str
    kind: Kind
    from_state: State
    to_state: State
    host: str | None = None
    reason: str = ''
    attempt_id: str | None = None
    time: str | None = None
    extra: dict = field(default_factory=dict, repr=False)
    keys: tuple = field(default=(), compare=False, repr=False)

    _KEYS = {'path': 'path', 'kind': 'kind', 'host': 'host', 'from': 'from_state', 'to': 'to_state',
             'reason': 'reason', 'attempt_id': 'attempt_id', 'time': 'time'}
    _DECODE = {'kind': Kind, 'from': State, 'to': State}
    _ORDER = EVENT_KEYS

    @classmethod
    def new(cls, path, kind, host, from_state, to_state, reason, attempt_id, time) -> Event:
        """The event of one move (``from_state`` / ``to_state``: a :class:`State` or its value)."""
        return cls(path=path, kind=Kind(kind), host=host, from_state=State(from_state), to_state=State(to_state),
                   reason=reason, attempt_id=attempt_id, time=time, keys=EVENT_KEYS)

    @classmethod
    def from_dict(cls, record) -> Event:
        """The typed event of a record; :class:`RecordError` naming the key."""
        _checked('event', record, EVENT_REQUIRED, event_problems)
        return cls._build(record)
