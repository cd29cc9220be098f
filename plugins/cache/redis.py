# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: redis
short_description: Fact cache in Redis, next to the jobnet.scheduler state store
version_added: 0.1.0
author: jobnet.scheduler maintainers (@jobnet)
description:
  - An ordinary Ansible fact cache (C(fact_caching = jobnet.scheduler.redis)) kept in one Redis hash,
    C(<prefix>facts), of the jobnet.scheduler state store.
  - A write that fails (server down, out of memory, read-only replica) is an error, never a warning.
    A record that does not parse is reported and left in place, not deleted.
  - Entries older than O(_timeout) seconds are treated as absent, as with the builtin caches.
requirements:
  - redis (Python package) on the controller
options:
  _uri:
    description:
      - The Redis server - V(redis://[:PASSWORD@]HOST:PORT/DB[?prefix=PREFIX]) or V(rediss://...).
      - When unset, O(store) is used; it must then name a Redis server.
    type: str
    env:
      - name: ANSIBLE_CACHE_PLUGIN_CONNECTION
    ini:
      - key: fact_caching_connection
        section: defaults
    version_added: 0.1.0
extends_documentation_fragment:
  - jobnet.scheduler.store
  - jobnet.scheduler.fact_cache
notes:
  - ansible-runner writes the environment to the job's artifacts; put a URL with a password in C(ansible.cfg)
    rather than in E(ANSIBLE_CACHE_PLUGIN_CONNECTION).
seealso:
  - plugin: jobnet.scheduler.sqlite
    plugin_type: cache
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# fact_caching = jobnet.scheduler.redis
# fact_caching_connection = redis://127.0.0.1:6379/0?prefix=facts:
"""

from ansible.errors import AnsibleError

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._fact_cache import StoreFactCache
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import StoreError, parse_store_url


class CacheModule(StoreFactCache):
    """Fact cache in Redis."""

    _backend = 'redis'

    def _store_url(self):
        uri = self.get_option('_uri') or self.get_option('store')
        source = 'fact_caching_connection' if self.get_option('_uri') else 'the jobnet store option'
        if not uri:
            raise AnsibleError('jobnet.scheduler.redis cache: no Redis server given; set fact_caching_connection '
                               '(or ANSIBLE_CACHE_PLUGIN_CONNECTION) to redis://HOST:PORT/DB')
        uri = str(uri).strip()
        try:
            kind = parse_store_url(uri)[0]
        except StoreError as e:
            raise AnsibleError('jobnet.scheduler.redis cache: %s' % e) from e
        if kind != 'redis':
            raise AnsibleError('jobnet.scheduler.redis cache: %s names an SQLite file, not a Redis server; '
                               'use redis://HOST:PORT/DB' % source)
        return uri
