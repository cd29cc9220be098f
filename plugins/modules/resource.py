#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: resource
short_description: Define, change, remove or show the resources jobs hold while they run
version_added: 0.1.0
description:
  - A resource is a named, counted lock with a capacity (a database that takes 2 loaders, one tape drive). A job
    names what it needs in its frame (C(resources) of a job); it takes those units, with one slot of its host,
    in the same store transaction as its write-ahead C(launching) record, and gives them back in the transaction
    that records its end - over every frame instance and every controller on the store.
  - The definition is kept in the state store, so every controller sees the same capacity. It wins over the
    inventory's C(jobnet_resources), which only seeds a name the store does not have yet.
  - Changing the capacity while jobs hold the resource never stops them; no new job takes it until fewer units
    than the new capacity are held. Removing a definition makes the jobs that need it wait (their message says
    C(not defined)).
  - Without O(name), or with O(state=query), nothing is changed and every resource is returned with its holders
    and its waiters in serving order.
  - Used by the C(jobnet.scheduler.resource) playbook. Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  name:
    description:
      - The resource. Letters, digits, V(_), V(.) and V(-), starting with a letter or a digit, up to 64 characters.
    type: str
  capacity:
    description:
      - How many units jobs may hold at once, from 0 (nobody starts) to 100000. Required with O(state=present).
    type: int
  state:
    description:
      - V(present) defines or changes O(name); V(absent) removes its definition; V(query) changes nothing.
    type: str
    choices: [present, absent, query]
    default: present
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) the result's C(changed) says whether the definition would change; nothing is written.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

EXAMPLES = r"""
- name: The warehouse database takes two loaders at once
  jobnet.scheduler.resource:
    name: db
    capacity: 2

- name: Show every resource, who holds it and who waits for it
  jobnet.scheduler.resource:
    state: query
  register: resources
"""

RETURN = r"""
resources:
  description:
    - Every resource, by name; each with C(capacity) (null when a job holds or waits for a name nobody defined),
      C(held) (units held), C(holders) (C(instance), C(path), C(host), C(units)) and C(waiters) in the order
      they will be served (C(instance), C(path), C(host), C(units), C(priority)).
  returned: success
  type: dict
hosts:
  description:
    - Every host with a running job, by name; each with C(running) (the jobs that hold one of its slots),
      C(holders) and C(waiters) (jobs waiting for a free slot, in serving order).
  returned: success
  type: dict
resource:
  description: The definition of O(name) after the task (null when it is absent).
  returned: when O(name) is given
  type: dict
"""
