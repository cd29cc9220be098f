# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of the fact cache plugins ``jobnet.scheduler.sqlite`` and ``jobnet.scheduler.redis`` they share: an
Ansible fact cache over the fact namespace of a state store (``_store``). Each plugin only says which store URL
it opens (``_store_url``); their common options are the doc fragment ``jobnet.scheduler.fact_cache``.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleError
from ansible.plugins.cache import BaseCacheModule

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import CorruptRecord, StoreError, open_store


class StoreFactCache(BaseCacheModule):
    """A fact cache over the fact namespace of a jobnet state store (shared by the sqlite and redis plugins)."""

    _backend = ''

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prefix = self.get_option('_prefix') or ''
        self._timeout = float(self.get_option('_timeout') or 0)
        self._cache = {}
        url = self._store_url()
        try:
            self._store = open_store(url, timeout=float(self.get_option('store_timeout')))
        except StoreError as e:
            raise AnsibleError('jobnet.scheduler.%s cache: %s' % (self._backend, e)) from e

    def _store_url(self):  # pragma: no cover - per backend
        """The URL of the store to open (``None``: the default SQLite file)."""
        raise NotImplementedError

    def _fail(self, e, key):
        if isinstance(e, CorruptRecord):
            return AnsibleError('jobnet.scheduler.%s cache: the entry %r is corrupt and was left as it is (delete '
                                'it or flush the cache): %s' % (self._backend, key, e))
        return AnsibleError('jobnet.scheduler.%s cache: %s' % (self._backend, e))

    def _fetch(self, key):
        try:
            got = self._store.fact_get(self._prefix + key)
        except StoreError as e:
            raise self._fail(e, key) from e
        if got is None:
            return None
        value, stored = got
        if self._timeout and time.time() - stored > self._timeout:
            return None
        return (value,)

    def get(self, key):
        # entries seen in this run stay, even if they expire meanwhile (as with the builtin caches)
        if key not in self._cache:
            got = self._fetch(key)
            if got is None:
                raise KeyError(key)
            self._cache[key] = got[0]
        return self._cache[key]

    def set(self, key, value):
        try:
            self._store.fact_set(self._prefix + key, value)
        except StoreError as e:
            raise self._fail(e, key) from e
        self._cache[key] = value

    def keys(self):
        try:
            keys = [k[len(self._prefix):] for k in self._store.fact_keys() if k.startswith(self._prefix)]
        except StoreError as e:
            raise self._fail(e, '*') from e
        if not self._timeout:
            return keys
        return [k for k in keys if k in self._cache or self._fetch(k) is not None]

    def contains(self, key):
        if key in self._cache:
            return True
        return self._fetch(key) is not None

    def delete(self, key):
        self._cache.pop(key, None)
        try:
            self._store.fact_delete(self._prefix + key)
        except StoreError as e:
            raise self._fail(e, key) from e

    def flush(self):
        self._cache = {}
        try:
            self._store.fact_flush(self._prefix)
        except StoreError as e:
            raise self._fail(e, '*') from e
