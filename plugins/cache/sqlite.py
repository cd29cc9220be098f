# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: sqlite
short_description: Fact cache in an SQLite file, transactional and crash-safe
version_added: 0.1.0
author: jobnet.scheduler maintainers (@jobnet)
description:
  - An ordinary Ansible fact cache (C(fact_caching = jobnet.scheduler.sqlite)) kept in the SQLite file of the
    jobnet.scheduler state store, in a table of its own.
  - Every write is one SQLite transaction (WAL journal, C(synchronous=FULL)); a write that fails is an error,
    never a warning, and never replaces a good entry with a partial one. A record that does not parse is
    reported and left in place, not deleted.
  - Entries older than O(_timeout) seconds are treated as absent, as with the builtin caches.
options:
  _uri:
    description:
      - The SQLite file - V(sqlite:///ABSOLUTE/PATH.db), an absolute file path, or an existing folder (the file
        C(state.db) in it).
      - When unset, O(store) is used if it names an SQLite file, else the default file
        C(~/.ansible/jobnet/state.db).
    type: str
    env:
      - name: ANSIBLE_CACHE_PLUGIN_CONNECTION
    ini:
      - key: fact_caching_connection
        section: defaults
    version_added: 0.1.0
  _prefix:
    description: A prefix put before every host name in the cache's keys.
    type: str
    default: ''
    env:
      - name: ANSIBLE_CACHE_PLUGIN_PREFIX
    ini:
      - key: fact_caching_prefix
        section: defaults
    version_added: 0.1.0
  _timeout:
    description: Seconds after which an entry is treated as absent; V(0) keeps entries for ever.
    type: integer
    default: 86400
    env:
      - name: ANSIBLE_CACHE_PLUGIN_TIMEOUT
    ini:
      - key: fact_caching_timeout
        section: defaults
    version_added: 0.1.0
extends_documentation_fragment:
  - jobnet.scheduler.store
notes:
  - The variable source of O(store) does not apply to a fact cache (it is loaded before any variable exists).
  - Under ansible-runner (AWX) the fact cache is forced to C(jsonfile) in the job's artifacts unless
    C(fact_cache_type) is set; the scheduler's state store does not depend on the fact cache.
seealso:
  - plugin: jobnet.scheduler.redis
    plugin_type: cache
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# fact_caching = jobnet.scheduler.sqlite
# fact_caching_connection = sqlite:///var/lib/ansible/facts.db
# fact_caching_timeout = 0
"""

import os
import time

from ansible.errors import AnsibleError
from ansible.plugins.cache import BaseCacheModule

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import (
    CorruptRecord,
    StoreError,
    open_store,
    parse_store_url,
)


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


class CacheModule(StoreFactCache):
    """Fact cache in an SQLite file."""

    _backend = 'sqlite'

    def _store_url(self):
        uri = self.get_option('_uri')
        if uri:
            uri = os.path.expandvars(os.path.expanduser(str(uri).strip()))
            if uri.startswith('/'):
                if os.path.isdir(uri):
                    uri = os.path.join(uri, 'state.db')
                return 'sqlite://' + uri
            if not uri.lower().startswith('sqlite:'):
                raise AnsibleError('jobnet.scheduler.sqlite cache: fact_caching_connection %r is not an SQLite file; '
                                   'use sqlite:///ABSOLUTE/PATH.db or an absolute path' % uri)
            return uri
        store = self.get_option('store')
        if store:
            try:
                kind = parse_store_url(str(store))[0]
            except StoreError as e:
                raise AnsibleError('jobnet.scheduler.sqlite cache: %s' % e) from e
            if kind == 'sqlite':
                return str(store)
        return None
