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
extends_documentation_fragment:
  - jobnet.scheduler.store
  - jobnet.scheduler.fact_cache
notes:
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

from ansible.errors import AnsibleError

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._fact_cache import StoreFactCache
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import StoreError, parse_store_url


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
