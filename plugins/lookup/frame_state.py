# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: frame_state
short_description: Read frame instances and their nets and jobs from the jobnet.scheduler state store
version_added: 0.1.0
author: jobnet.scheduler maintainers (@jobnet)
description:
  - Reads the state store of C(jobnet.scheduler) (SQLite or Redis, see O(store)) without changing it.
  - With terms, each term is a frame instance id C(<frame>@<YYYY-MM-DD>) and the result for it is the instance
    record with its C(items) (nets and jobs, in definition order) and its C(lease), if any.
  - With no terms, the result is the list of instances (summaries, without the frame definition), sorted by
    operation date then frame name, optionally filtered by O(operation_date) and O(frame).
  - The scheduler's own settings (O(recovery), O(auto_rerun), ...) are declared here too, so that all jobnet
    settings resolve through one place; this lookup itself only reads O(store) and O(store_timeout).
options:
  _terms:
    description: Frame instance ids, C(<frame>@<YYYY-MM-DD>). None - list the instances.
    type: list
    elements: str
    required: false
  operation_date:
    description: With no terms, list only the instances of this operation date (C(YYYY-MM-DD)).
    type: str
    version_added: 0.1.0
  frame:
    description: With no terms, list only the instances of this frame.
    type: str
    version_added: 0.1.0
  items:
    description:
      - Include the C(items) list (nets and jobs) and C(counts) (number of items per state).
      - Defaults to V(true) with terms and V(false) without.
    type: bool
    version_added: 0.1.0
extends_documentation_fragment:
  - jobnet.scheduler.store
  - jobnet.scheduler.options
notes:
  - A frame instance that is not in the store is an error; add C(errors='ignore') to the lookup call to get
    nothing instead.
  - A record that does not parse or lacks a required key is an error that names it; the record is left as it is.
  - Read the item list as C(result['items']); C(result.items) is the dictionary method of the same name in Jinja.
seealso:
  - name: The state store
    description: Backends, locations, options, records.
    link: https://github.com/jobnet/scheduler/blob/main/docs/store.md
"""

EXAMPLES = r"""
- name: Show the state of one frame instance
  ansible.builtin.debug:
    msg: "{{ lookup('jobnet.scheduler.frame_state', 'nightly@2026-11-21').state }}"

- name: Jobs of the instance that ended abnormally
  ansible.builtin.debug:
    msg: >-
      {{ lookup('jobnet.scheduler.frame_state', 'nightly@2026-11-21')['items']
         | selectattr('kind', '==', 'job') | selectattr('state', '==', 'abnormal_end')
         | map(attribute='path') | list }}

- name: Every instance of one operation date, from a Redis store
  ansible.builtin.debug:
    msg: "{{ item.id }} {{ item.state }}"
  loop: "{{ query('jobnet.scheduler.frame_state', operation_date='2026-11-21', store='redis://127.0.0.1:6379/0') }}"

- name: Nothing (instead of an error) when the instance does not exist
  ansible.builtin.set_fact:
    maybe_instance: "{{ lookup('jobnet.scheduler.frame_state', 'weekly@2026-11-21', errors='ignore') }}"
"""

RETURN = r"""
_raw:
  description:
    - One instance per term, or the list of instances when no term is given.
  type: list
  elements: dict
  contains:
    id:
      description: Instance id, C(<frame>@<YYYY-MM-DD>).
      type: str
      sample: nightly@2026-11-21
    frame:
      description: Frame name.
      type: str
    operation_date:
      description: Operation date, C(YYYY-MM-DD).
      type: str
    state:
      description: The frame's state (one of the scheduler's states, for example C(running) or C(normal_end)).
      type: str
    version:
      description: Number of writes the instance has seen (grows by one with every update).
      type: int
    definition:
      description: The normalised frame definition (only with terms).
      type: dict
    items:
      description: Nets and jobs in definition order (with terms, or with O(items=true)).
      type: list
      elements: dict
      sample:
        - path: load/stage
          kind: job
          parent: load
          host: agent2
          state: running
          attempt: 1
          attempt_id: nightly.20261121.k3x9q2.load.stage.1
          phase: launched
          rc: null
    counts:
      description: Number of items per state (with O(items)).
      type: dict
      sample: {running: 2, normal_end: 5}
    lease:
      description:
        - The controller driving the instance (only with terms) - C(owner) (host, pid, what), C(epoch),
          C(expires_at) and C(expired); V(null) when no controller holds it.
      type: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store import (
    NoStore,
    StoreError,
    UnknownInstance,
    open_store,
)


def _counts(items):
    counts = {}
    for it in items:
        counts[it['state']] = counts.get(it['state'], 0) + 1
    return counts


class LookupModule(LookupBase):

    def _option(self, name):
        """An option; a value that came from a variable is templated (variables reach lookups untemplated)."""
        value, origin = self.get_option_and_origin(name)
        if origin.startswith('var:') and self._templar is not None and isinstance(value, str):
            value = self._templar.template(value)
        return value

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        url = self._option('store') or None
        want_items = self.get_option('items')
        try:
            store = open_store(None if url is None else str(url), timeout=float(self._option('store_timeout')),
                               create=False)
        except NoStore as e:
            if not terms:
                return []
            raise AnsibleLookupError('frame instance(s) %s not found: %s' % (', '.join(map(str, terms)), e)) from e
        except StoreError as e:
            raise AnsibleLookupError(str(e)) from e
        try:
            with store:
                if terms:
                    return [self._one(store, str(term), True if want_items is None else want_items)
                            for term in terms]
                date = self.get_option('operation_date')
                frame = self.get_option('frame')
                out = []
                for inst in store.list_instances(None if date is None else str(date),
                                                 frame=None if frame is None else str(frame)):
                    inst.pop('definition', None)
                    if want_items:
                        items = list(store.load(inst['id'])[1].values())
                        inst['items'] = items
                        inst['counts'] = _counts(items)
                    out.append(inst)
                return out
        except UnknownInstance as e:
            raise AnsibleLookupError(str(e)) from e
        except StoreError as e:
            raise AnsibleLookupError('jobnet.scheduler.frame_state: %s' % e) from e

    @staticmethod
    def _one(store, iid, want_items):
        inst, items = store.load(iid)
        if want_items:
            inst['items'] = list(items.values())
            inst['counts'] = _counts(inst['items'])
        lease = store.get_lease(iid)
        if lease is None or not lease.token:
            inst['lease'] = None
        else:
            inst['lease'] = {'owner': lease.owner, 'epoch': lease.epoch, 'expires_at': lease.expires_at,
                             'expired': lease.expired}
        return inst
