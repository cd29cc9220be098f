#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_step
short_description: Drive the jobs of frame instances on one host until they can make no more progress
version_added: 0.1.0
description:
  - Runs on the controller for one inventory host (the task's host) and, until no instance can make progress (or for
    up to O(step_seconds) when it is above C(0)), repeats one round
    - renew the lease; let the planner advance every instance (start conditions, skip, pause, derived net and frame
    states) and pick this host's queued jobs within its limit; record them C(launching) with their attempt ids
    (write-ahead); start them all with one M(jobnet.scheduler.job) call; record what it reports; wait up to
    O(poll_interval) with one M(jobnet.scheduler.job_info) call for any running job of this host to change; record every
    change before the next decision.
  - Hosts step in parallel (one task per host) and coordinate through the state store.
  - It prints one line when each of this host's jobs starts (C(jobnet START <instance> <path> on <host> (attempt N))),
    one when it ends (state, rc or signal, duration, and for a failure its reason and the last lines of its stderr),
    and a progress line per instance every O(progress_interval) seconds.
  - Returns C(done) when no instance can make progress without an operator (ended, paused, stopped, or waiting on a
    host that is down).
  - A host that does not answer O(unreachable_retries) times in a row is recorded as down, its queued jobs become
    C(queuing_env_down) and its driver stops; the other hosts go on.
  - A failed write to the state store (C(PEX209)) stops this host's launches at once and is reported in RV(error).
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  instances:
    description: Ids of the frame instances to drive.
    type: list
    elements: str
    required: true
  leases:
    description: The leases of those instances, as returned by M(jobnet.scheduler.frame_submit).
    type: dict
    required: true
  root:
    description: The job root on the host (the host variable C(jobnet_job_root)); the modules' default when omitted.
    type: str
  limit:
    description: Most jobs running at once on this host (the host variable C(jobnet_max_running)); no limit when omitted.
    type: int
  poll_interval:
    description: Seconds one status call waits on the host for a change (C(jobnet_poll_interval), default C(1)).
    type: float
  step_seconds:
    description: Seconds one step runs before it returns (C(jobnet_step_seconds)); C(0), the default, drives until
      the frame can make no more progress.
    type: float
  progress_interval:
    description: Least seconds between two progress lines of one instance (C(jobnet_progress_interval), default
      C(5)).
    type: float
  lease_ttl:
    description: Seconds a lease lasts without renewal (C(jobnet_lease_ttl), default C(60)).
    type: float
  unreachable_retries:
    description: Failed calls in a row before the host counts as down (C(jobnet_unreachable_retries), default C(3)).
    type: int
  unreachable_delay:
    description: Seconds between those calls (C(jobnet_unreachable_delay), default C(2)).
    type: float
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: none
    details: It records in the state store and starts jobs for real, so under C(--check) the task is skipped.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: none
    details: Each step launches what is ready; an attempt is never launched twice (idempotent attempt ids).
"""

EXAMPLES = r"""
- name: Jobnet frame step
  jobnet.scheduler.frame_step:
    instances: "{{ hostvars['localhost'].jobnet_run.instances }}"
    leases: "{{ hostvars['localhost'].jobnet_run.leases }}"
    root: "{{ jobnet_job_root | default(omit) }}"
    limit: "{{ jobnet_max_running | default(omit) }}"
  register: jobnet_step
  until: jobnet_step.done | default(false)
  retries: 100000000
  delay: 0
"""

RETURN = r"""
done:
  description: Whether nothing more can happen without an operator; the C(until) condition.
  returned: always
  type: bool
host:
  description: The host driven.
  returned: success
  type: str
down:
  description: Whether the host was found unreachable.
  returned: success
  type: bool
launched:
  description: Jobs launched during this step.
  returned: success
  type: int
ended:
  description: Job ends seen during this step.
  returned: success
  type: int
instances:
  description: Per instance id, its state and the count of its jobs per state.
  returned: success
  type: dict
events:
  description: The state changes this step recorded (at most 500), for the recorder callback's history.
  returned: always
  type: list
  elements: dict
error:
  description: Why this host's driver stopped (lease lost, state store write failure, host down, any other error).
  returned: on error
  type: str
progress_printed:
  description: Whether this step printed the progress and job lines itself (the recorder callback then prints none).
  returned: success
  type: bool
driver_failed:
  description:
    - Whether this host's driver stopped with an error. It then gives up the leases of its instances, so that the
      drivers of the other hosts stop at their next store transaction and the whole run ends (exit status 2, the
      report naming this host and the error); the instances are left for M(jobnet.scheduler.frame_recover).
  returned: on error
  type: bool
stopped_with_run:
  description: Whether this host's driver stopped only because the driver of another host of the run failed.
  returned: on error
  type: bool
calls:
  description:
    - The modules this step ran on its host, by name, with how many times - one C(jobnet.scheduler.job_info) call a
      round however many jobs run and file triggers wait there, one C(jobnet.scheduler.job) call a round that
      launches.
  returned: success
  type: dict
monitoring:
  description:
    - The delays this step's driver recorded, the actions and end commands it launched or saw end, and the
      notifications it sent, each with C(instance), C(kind) (C(delay), C(action), C(notice)), C(line) (what it
      printed) and C(time). A webhook URL appears only as its scheme and host.
  returned: success
  type: list
  elements: dict
rounds:
  description: How many rounds this step drove (each - the decisions, the launches, one look at the host).
  returned: success
  type: int
"""
