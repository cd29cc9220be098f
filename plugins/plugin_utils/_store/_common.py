# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the state store shares: constants, the errors, instance ids, JSON, the ``Lease`` value."""

from __future__ import annotations

import json
import re
import time

from dataclasses import dataclass, field

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._messages import message
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._owner import describe_owner
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import epoch_isotime, parse_date

SCHEMA = 1
DEFAULT_SQLITE_PATH = '~/.ansible/jobnet/state.db'
DEFAULT_REDIS_PREFIX = 'jobnet:'
#: the documented default of the setting store_timeout (doc fragment jobnet.scheduler.store); the store imports
#: no YAML, so it is written here too, and tests/unit/plugins/plugin_utils/test_defaults.py keeps the two equal
DEFAULT_TIMEOUT = 10.0

IID_RE = re.compile(r'^(?P<frame>[a-z0-9_-]+)@(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})\Z')

INSTANCE_REQUIRED = ('id', 'frame', 'operation_date', 'state')
"""Keys an instance record must carry; a stored record without one of them is a :class:`CorruptRecord`."""

ITEM_REQUIRED = ('path', 'kind', 'state')
"""Keys an item record must carry; a stored record without one of them is a :class:`CorruptRecord`."""

# keys the store maintains itself (stripped from what callers hand in, set on what it returns)
_STORE_KEYS_INSTANCE = ('version',)


# --------------------------------------------------------------------------------------------------------------
# errors


class StoreError(Exception):
    """Base class of every error raised by the state store."""


class InvalidRecord(StoreError, ValueError):
    """A record handed to the store is not acceptable (bad id, missing key, not JSON). Nothing was written."""


class StoreWriteError(StoreError):
    """A write failed (disk full, read-only file, Redis down, lock timeout). Nothing of it was written.

    The message starts with ``PEX209 state store write failed:`` and names the store and the record.
    """

    def __init__(self, store: str, record: str, reason: str) -> None:
        self.store = store
        self.record = record
        self.reason = reason
        super().__init__(message('PEX209', detail='could not write %s to %s: %s' % (record, store, reason)))


class LeaseHeld(StoreError):
    """Another live controller drives the instance."""

    def __init__(self, iid: str, owner: dict, expires: float, epoch: int = 0) -> None:
        self.iid = iid
        self.owner = dict(owner or {})
        self.expires = expires
        self.epoch = epoch
        super().__init__('frame instance %s is driven by %s until %s; wait for it to end or for the lease to expire'
                         % (iid, describe_owner(self.owner), epoch_isotime(expires, fraction=False)))


class LeaseLost(StoreError):
    """The lease given is no longer the current one (taken over, released or the instance deleted)."""

    def __init__(self, iid: str, lease: Lease, current: Lease | None) -> None:
        self.iid = iid
        self.lease = lease
        self.current = current
        if current is None or not current.token:
            now = 'nobody holds it now'
        else:
            now = 'it is now held by %s (epoch %d) until %s' % (describe_owner(current.owner), current.epoch,
                                                                epoch_isotime(current.expires, fraction=False))
        super().__init__('the lease on frame instance %s (epoch %d) was lost: %s; this controller must stop driving it'
                         % (iid, lease.epoch, now))


class CorruptRecord(StoreError):
    """Stored records that do not parse or lack required keys. They are kept as they are.

    ``problems`` lists every bad record found as dicts ``{"instance", "path", "key", "reason"}`` (``path`` is
    ``None`` for the instance record, ``key`` is ``None`` when the record does not parse at all).
    """

    def __init__(self, store: str, problems: list[dict]) -> None:
        self.store = store
        self.problems = problems
        first = problems[0]
        self.instance = first.get('instance')
        self.path = first.get('path')
        self.key = first.get('key')
        parts = []
        for p in problems[:10]:
            where = 'instance %s' % p['instance']
            if p.get('path') is not None:
                where += ' item %r' % p['path']
            elif p.get('record'):
                where += ' %s record' % p['record']
            parts.append('%s: %s' % (where, p['reason']))
        more = '' if len(problems) <= 10 else ' (and %d more)' % (len(problems) - 10)
        super().__init__('corrupt record(s) in state store %s: %s%s. The records were left as they are; repair '
                         'them or restore the store from a backup' % (store, '; '.join(parts), more))


class InstanceExists(StoreError):
    """``create_instance`` of an id that is already taken."""


class UnknownInstance(StoreError):
    """The instance id is not in the store."""


class NoStore(StoreError):
    """``open_store(..., create=False)`` of an SQLite file that does not exist."""


# --------------------------------------------------------------------------------------------------------------
# ids, times, JSON, leases


def iso_utc(ts: float | None = None, micro: bool = True) -> str:
    """ISO-8601 UTC time with a ``Z``: ``2026-11-21T01:02:03.123456Z`` (or without the fraction) of a UNIX time
    (None: now); the store's name for :func:`_time.epoch_isotime`."""
    return epoch_isotime(ts, fraction=micro)


def make_iid(frame: str, operation_date: str) -> str:
    """``nightly`` + ``2026-11-21`` -> ``nightly@2026-11-21`` (validated)."""
    iid = '%s@%s' % (frame, operation_date)
    parse_iid(iid)
    return iid


def parse_iid(iid: object) -> tuple[str, str]:
    """``nightly@2026-11-21`` -> ``('nightly', '2026-11-21')``; :class:`InvalidRecord` when malformed."""
    m = IID_RE.match(iid) if isinstance(iid, str) else None
    if not m:
        raise InvalidRecord('invalid frame instance id %r: expected <frame>@<YYYY-MM-DD> with a frame name of '
                            'lower-case letters, digits, "_" and "-" (e.g. nightly@2026-11-21)' % (iid,))
    try:
        parse_date(m.group('date'))
    except ValueError:
        raise InvalidRecord('invalid frame instance id %r: %s is not a calendar date' % (iid, m.group('date')))
    return m.group('frame'), m.group('date')


def _dumps(value: object, what: str) -> str:
    try:
        return json.dumps(value, separators=(',', ':'), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise InvalidRecord('%s cannot be stored: it is not plain JSON data (%s); nothing was written' % (what, e))


@dataclass
class Lease:
    """A lease on one frame instance. ``expires`` is a UNIX time (seconds, UTC)."""

    iid: str
    token: str
    epoch: int
    owner: dict = field(default_factory=dict)
    expires: float = 0.0
    #: the store's clock (``Store.clock``): a lease's expiry is the store's time, never a controller's own
    clock: object = field(default=time.time, compare=False, repr=False)

    @property
    def expired(self) -> bool:
        return self.expires <= self.clock()

    @property
    def expires_at(self) -> str:
        return epoch_isotime(self.expires, fraction=False)

    def to_dict(self) -> dict:
        return {'iid': self.iid, 'token': self.token, 'epoch': self.epoch, 'owner': dict(self.owner),
                'expires': self.expires, 'expires_at': self.expires_at}
