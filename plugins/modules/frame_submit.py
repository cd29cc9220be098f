#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_submit
short_description: Validate a frame, record it in the state store and submit it
version_added: 0.1.0
description:
  - Reads a frame definition (nets and jobs with start conditions), validates it completely before anything is
    recorded (unknown keys, names, types, duplicates, unknown dependencies, cycles, unknown hosts, the limits of
    C(docs/validation.md)), creates the frame instance for the operation date in the state store, submits it
    (C(waiting), or C(standby) before its start time) and takes the instance's lease for this controller.
  - The operation date (exactly C(YYYY-MM-DD)) and the host variable C(jobnet_max_running) of every host of the frame
    (a whole number from C(0), no limit, to C(1000000)) are checked before anything is recorded too.
  - Used by the C(jobnet.scheduler.run) playbook; the drive play that follows runs
    M(jobnet.scheduler.frame_step) on every host of the frame.
  - Refuses to start when forks are fewer than the frame's hosts (each host holds one fork while the frame runs), when
    another live controller holds the instance, or when the instance was already submitted (use rerun, init or recover).
  - Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  frame_file:
    description: Path of the frame definition (YAML) on the controller. See C(docs/frames.md).
    type: path
  frame:
    description: The frame definition itself, as a mapping. Mutually exclusive with O(frame_file).
    type: dict
  operation_date:
    description:
      - The operation date of the instance, exactly C(YYYY-MM-DD) (a real date); today (controller time) when
        omitted. Other forms (C(20270101), C(2027-W05-1), an empty value) are refused.
    type: str
  lease_ttl:
    description: Seconds the instance's lease lasts without renewal (default C(60), or C(jobnet_lease_ttl)).
    type: float
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) the frame, the operation date and the host limits are checked as for a real submit and
      RV(would_submit) says what would be submitted; nothing is recorded (the store is only read, and not created)
      and RV(instances) is empty. For an instance that was already submitted it says why a real submit would be
      refused (RV(would_refuse)) and reports no change.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: none
    details: Submitting an instance that was already submitted is refused with a message; nothing changes then.
"""

EXAMPLES = r"""
- name: Submit the nightly frame for today
  jobnet.scheduler.frame_submit:
    frame_file: frames/nightly.yml
  register: jobnet_run
"""

RETURN = r"""
instances:
  description: Ids of the submitted frame instances (C(<frame>@<date>)).
  returned: success
  type: list
  elements: str
leases:
  description: The lease of each instance, to hand to M(jobnet.scheduler.frame_step) and M(jobnet.scheduler.frame_report).
  returned: success
  type: dict
hosts:
  description: The hosts the frame's jobs run on.
  returned: success
  type: list
  elements: str
implicit_localhost:
  description: Whether C(localhost) runs jobs without being in the inventory (it is then added with the local connection).
  returned: success
  type: bool
state:
  description: The instance's state after submit (C(running), C(standby), C(skip_wait), C(pause_wait), C(paused) or C(skip_end)).
  returned: success
  type: str
operation_date:
  description: The operation date used.
  returned: success
  type: str
would_refuse:
  description: Check mode only - why a real submit would be refused (the instance was already submitted).
  returned: check mode, when it would be refused
  type: str
would_submit:
  description: Check mode only - what a real run would submit, recording nothing (null when it would be refused).
  returned: check mode
  type: dict
  contains:
    instance:
      description: The instance id (C(<frame>@<date>)).
      type: str
    frame:
      description: The frame's name.
      type: str
    operation_date:
      description: The operation date.
      type: str
    hosts:
      description: The hosts the frame's jobs would run on.
      type: list
      elements: str
    jobs:
      description: How many jobs the frame has.
      type: int
    nets:
      description: How many nets the frame has.
      type: int
    limits:
      description: The host limits (C(jobnet_max_running)) of the frame's hosts that have one.
      type: dict
    resubmit:
      description: Whether an instance in C(not_submitted) would be submitted again (after C(init)).
      type: bool
events:
  description: The state changes this task recorded (at most 10,000), each with its C(instance), for the recorder
    callback's history. The store's event log keeps them all.
  returned: success
  type: list
  elements: dict
"""
