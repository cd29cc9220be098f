# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durable state store of jobnet.scheduler: SQLite (default) and Redis backends.

Private helper (the leading underscore says: not a public API). Standard library only (and the pure
``_states`` and ``_time`` modules for the state names and the recorded times, ``module_utils/_proc`` for the
liveness of lease owners); ``redis`` is imported when a ``redis://`` store is opened. Nothing here imports
Ansible, so it can be tested on its own.

Records (see ``docs/design.md``, "Records in the store"):

- one **instance** record per frame and operation date, id ``<frame>@<YYYY-MM-DD>``;
- one **item** record per net and per job of an instance, keyed by ``(instance id, path)``;
- one **lease** per instance (owner, token, epoch, expiry): who drives the instance;
- an append-only **event** list per instance; **host** records; a separate **fact** namespace for the cache
  plugins.

Every write is one transaction: a failed write raises :class:`StoreWriteError` (``PEX209``) and leaves the
store as it was; :meth:`Store.update` writes the records and the events that go with them together. A record
that does not parse, lacks a required key or has a key of the wrong type raises :class:`CorruptRecord`, which
names it; such a record is never deleted or rewritten by the store, and refuses only its own instance.

The package:

- ``_base``: :class:`Store`, the abstract contract, with the lease protocol and the reading helpers;
- ``_sqlite``, ``_redis``: the backends;
- ``_checks``: record checks in and out; ``_url``: store URLs; ``_owner``: lease owners and their liveness;
- ``_common``: constants, errors, instance ids, :class:`Lease`.

Everything callers use is imported from this package (``from ... import _store``; ``_store.open_store``).
"""

from __future__ import annotations

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (  # noqa: F401
    _STORE_KEYS_INSTANCE,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_SQLITE_PATH,
    DEFAULT_TIMEOUT,
    IID_RE,
    INSTANCE_REQUIRED,
    ITEM_REQUIRED,
    SCHEMA,
    CorruptRecord,
    InstanceExists,
    InvalidRecord,
    Lease,
    LeaseHeld,
    LeaseLost,
    NoStore,
    StoreError,
    StoreWriteError,
    UnknownInstance,
    _dumps,
    iso_utc,
    make_iid,
    parse_iid,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._owner import (  # noqa: F401
    _boot_id,
    default_owner,
    describe_owner,
    owner_is_dead,
    process_start_time,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._url import (  # noqa: F401
    ACCEPTED_FORMS,
    default_sqlite_path,
    mask_url,
    parse_store_url,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._base import Store  # noqa: F401
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._sqlite import SQLiteStore  # noqa: F401
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._redis import RedisStore  # noqa: F401

__all__ = [
    'ACCEPTED_FORMS', 'DEFAULT_REDIS_PREFIX', 'DEFAULT_SQLITE_PATH', 'DEFAULT_TIMEOUT', 'IID_RE', 'INSTANCE_REQUIRED',
    'ITEM_REQUIRED', 'SCHEMA', 'CorruptRecord', 'InstanceExists', 'InvalidRecord', 'Lease', 'LeaseHeld',
    'LeaseLost', 'NoStore', 'RedisStore', 'SQLiteStore', 'Store', 'StoreError', 'StoreWriteError',
    'UnknownInstance', 'default_owner', 'default_sqlite_path', 'describe_owner', 'iso_utc', 'make_iid',
    'mask_url', 'open_store', 'owner_is_dead', 'parse_iid', 'parse_store_url', 'process_start_time',
]


def open_store(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, create: bool = True) -> Store:
    """Open the store named by ``url`` (``None``: the default SQLite file ``~/.ansible/jobnet/state.db``).

    ``create=False`` (for readers) raises :class:`NoStore` instead of creating a missing SQLite file.
    """
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise StoreError('invalid state store timeout %r: expected a number of seconds' % (timeout,))
    if timeout <= 0:
        raise StoreError('invalid state store timeout %r: expected a positive number of seconds' % (timeout,))
    kind, args = parse_store_url(url)
    if kind == 'sqlite':
        return SQLiteStore(args['path'], timeout=timeout, create=create)
    return RedisStore(args['url'], prefix=args['prefix'], timeout=timeout)
