# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options and notes the fact cache plugins jobnet.scheduler.sqlite and jobnet.scheduler.redis share."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
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
notes:
  - The variable source of O(store) does not apply to a fact cache (it is loaded before any variable exists).
"""
