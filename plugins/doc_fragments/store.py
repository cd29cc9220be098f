# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection to the jobnet.scheduler state store, shared by every plugin that reads or writes it."""

from __future__ import annotations


class ModuleDocFragment:

    # The one declaration of these settings and their defaults: plugin_utils/_options.py reads this YAML
    # (_options.DEFAULTS); the store's own DEFAULT_TIMEOUT is kept equal by tests/unit/.../test_defaults.py.
    DOCUMENTATION = r"""
options:
  store:
    description:
      - The state store that holds frame instances, their items, leases and event histories.
      - V(sqlite:///ABSOLUTE/PATH.db) for an SQLite file on the controller (three slashes, absolute path).
      - V(redis://[:PASSWORD@]HOST:PORT/DB) or V(rediss://...) (TLS) for a Redis server; the query argument
        C(prefix) (default V(jobnet:)) puts the keys of several stores apart in one database,
        for example V(redis://redis.example.com:6379/0?prefix=prod:).
      - When no source sets it, the SQLite file C(~/.ansible/jobnet/state.db) of the controller user is used;
        its folder is created with mode C(0700).
      - Precedence, highest first, as everywhere in Ansible - variable C(jobnet_store), environment
        E(JOBNET_STORE), C(store) in the C([jobnet]) section of C(ansible.cfg).
      - Under AWX / ansible-runner, prefer the ini file or a variable from a credential to the environment for a URL
        that carries a password, because ansible-runner writes the environment to the job's artifacts.
    type: str
    env:
      - name: JOBNET_STORE
    ini:
      - section: jobnet
        key: store
    vars:
      - name: jobnet_store
    version_added: 0.1.0
  store_timeout:
    description:
      - Seconds to wait for the store - the SQLite busy timeout, the Redis socket timeouts and the longest wait for
        the lock of one frame instance. A write that cannot be done within it fails with C(PEX209).
    type: float
    default: 10
    env:
      - name: JOBNET_STORE_TIMEOUT
    ini:
      - section: jobnet
        key: store_timeout
    vars:
      - name: jobnet_store_timeout
    version_added: 0.1.0
"""

    # For the action plugins documented as modules: module documentation has no env / ini / vars sources, so the
    # same options are described with their sources in words.
    MODULES = r"""
options:
  store:
    description:
      - The state store, as V(sqlite:///ABSOLUTE/PATH.db) or V(redis://[:PASSWORD@]HOST:PORT/DB) (V(rediss://...) for
        TLS; query argument C(prefix), default V(jobnet:)).
      - When omitted, the variable C(jobnet_store), then the environment variable E(JOBNET_STORE), then C(store) in the
        C([jobnet]) section of C(ansible.cfg) are used, and last the SQLite file C(~/.ansible/jobnet/state.db).
      - See C(docs/store.md).
    type: str
  store_timeout:
    description:
      - Seconds to wait for the store (SQLite busy timeout, Redis socket timeouts, the lock of one instance).
      - When omitted, C(jobnet_store_timeout), E(JOBNET_STORE_TIMEOUT) or C(store_timeout) in C([jobnet]), else V(10).
    type: float
"""
