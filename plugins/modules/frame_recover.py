#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_recover
short_description: Recover frame instances after the controller failed
version_added: 0.1.0
description:
  - The steps of the C(jobnet.scheduler.recover) playbook, after the scheduler manual's recovery procedure
    (tables 5.429 to 5.432, see C(docs/recovery.md)).
  - C(plan) (on C(localhost)) - takes the lease of every frame instance that is not C(not_submitted) (per operation
    date, frames in name order), refusing those another live controller drives, checks their records (an incomplete
    record refuses that instance and says which), and lists per host every attempt id to ask about.
  - C(poll) (on each host) - one M(jobnet.scheduler.job_info) call with every attempt id of that host, whatever their
    number, with bounded retries; a host that does not answer is reported, not failed.
  - C(apply) (on C(localhost)) - applies the recovery tables to each instance with the answers (jobs on agents adopted,
    never restarted; a C(launching) attempt resolved against its host; jobs on the manager node stopped and ended
    C(abnormal_end)), prints C(PEX058) after each frame and C(PEX060) at the end, and with O(auto_rerun) hands every
    recovered instance to the drive play.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  phase:
    description: The step.
    type: str
    choices: [plan, poll, apply]
    default: plan
  plan:
    description: The result of the C(plan) step (for C(poll) and C(apply)).
    type: dict
  polls:
    description: Per host, the result of its C(poll) step; read from the hosts' C(jobnet_poll) results when omitted.
    type: dict
  operation_date:
    description: Recover only the instances of this date.
    type: str
  frame:
    description: Recover only the instances of this frame.
    type: str
  root:
    description: The job root on the host (C(poll)).
    type: str
  manager_root:
    description: The job root on the manager node (to stop its jobs in C(apply)).
    type: str
  manager_hosts:
    description: Inventory names of the manager node (the controller itself).
    type: list
    elements: str
    default: [localhost]
  recovery:
    description: Recover frame state at all (default on; C(jobnet_recovery)). Overrides the frames' own options.
    type: bool
  end_recover:
    description: Off - frames, nets and jobs that had ended come back C(not_submitted) (default on; C(jobnet_end_recover)).
    type: bool
  auto_rerun:
    description: Drive every recovered frame on right after recovery (default on; C(jobnet_auto_rerun)).
    type: bool
  recovery_skip:
    description: Do not contact agents; running and abnormal jobs become C(queuing_env_down) (default off; C(jobnet_recovery_skip)).
    type: bool
  adopt_manager_jobs:
    description: Extension - adopt jobs still running on the manager node instead of stopping them (default off).
    type: bool
  catch_up:
    description:
      - Extension (C(apply)) - a frame of a day schedule whose start time passed during the failure starts at once
        instead of staying C(not_submitted) (table 5.428 rows A-2 and B-1). Default off, the tables' behaviour.
      - Without O(frame) and O(operation_date), C(apply) also creates the day schedule of every schedule kept in the
        store whose base time passed during the failure (table 5.427 B), and hands its submitted frames to the
        automatic rerun.
    type: bool
  resource_reset:
    description:
      - C(apply) - the jobs recovery finds still running hold no resource or host slot and the waiting order is lost,
        as in the original (notes 2 and 11). Default off - both are restored from the records (C(jobnet_resource_reset)).
    type: bool
  file_wait_reset:
    description:
      - C(apply) - an operator's ON / OFF of a file-wait trigger is dropped and the trigger follows whether its file
        exists, as in the original (note 1). Default off - the setting is kept (C(jobnet_file_wait_reset)).
    type: bool
  unreachable_retries:
    description: Calls to a host before it counts as unreachable (C(poll)); C(jobnet_unreachable_retries), default C(3).
    type: int
  unreachable_delay:
    description: Seconds between those calls; C(jobnet_unreachable_delay), default C(2).
    type: float
  lease_ttl:
    description: Seconds the leases last without renewal.
    type: float
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      Under C(--check) the plan takes no lease, the hosts are asked (read-only), and the apply phase prints the
      recovery messages it would give; nothing is recorded, stopped or driven.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: none
    details: A second recovery of recovered instances changes nothing more but takes their leases again.
"""

EXAMPLES = r"""
- name: Plan the recovery of every frame instance
  jobnet.scheduler.frame_recover:
    phase: plan
  register: jobnet_recover_plan
"""

RETURN = r"""
instances:
  description: C(plan) - the instances leased for recovery; C(apply) - those handed to the automatic rerun.
  returned: success
  type: list
  elements: str
leases:
  description: Their leases.
  returned: success
  type: dict
polls:
  description: C(plan) - per host, the attempt ids to ask about.
  returned: success
  type: dict
refused:
  description: Instances not recovered, and why.
  returned: success
  type: list
  elements: str
jobs:
  description: C(poll) - what the host reported per attempt (see M(jobnet.scheduler.job_info)).
  returned: success
  type: list
  elements: dict
messages:
  description: C(apply) - the recovery messages (PEX056, PEX058, PEX060, PEX170, ...).
  returned: success
  type: list
  elements: str
days:
  description: C(apply) - the day schedules created by this recovery (table 5.427 B), each as
    M(jobnet.scheduler.frame_schedule) returns RV(jobnet.scheduler.frame_schedule#module:day).
  returned: success
  type: list
  elements: dict
unreachable_hosts:
  description: C(apply) - hosts that could not be reached.
  returned: success
  type: list
  elements: str
events:
  description: C(apply) - The state changes this task recorded (at most 10,000), each with its C(instance), for the recorder
    callback's history. The store's event log keeps them all.
  returned: success
  type: list
  elements: dict
"""
