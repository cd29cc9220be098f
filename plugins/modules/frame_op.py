#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_op
short_description: Operations on a frame instance - rerun, init, force init, skip, pause, release, stop, force start
version_added: 0.1.0
description:
  - Applies one operator operation to a frame instance in the state store, under the instance's lease, so it is
    refused with a clear message while another controller (a run, a recovery, another operation) drives the instance.
  - C(rerun) restarts the C(abnormal_end) jobs, clears stops and lets waiting and queued items go on; C(release),
    C(force_start) and C(rerun) hand the instance to a drive play (see the collection's playbooks).
  - C(init) puts the frame (or one net / job, O(path)) back to C(not_submitted), refused while its jobs run;
    C(force_init) does the same and returns the running jobs to stop in RV(stop).
  - C(skip) / C(pause) mark a net or job that has not started; C(release) undoes them or releases a paused item.
  - Without O(path), C(skip) / C(pause) mark the whole frame before it starts (C(not_submitted) or C(standby)). It
    goes to C(skip_wait) / C(pause_wait) and, at its start time, to C(skip_end) (every net and job with it) or
    C(paused). C(release) without O(path) undoes the mark, or starts a frame paused that way. The instance is
    then handed to a drive play, which waits for the start time.
  - C(stop) stops the frame (or the net O(path)); nothing new starts there; running jobs end on their own unless
    O(kill) is set (their ids are then in RV(stop)).
  - C(force_start) starts a job now, whatever its start conditions and its host's limit.
  - C(resume) carries a frame on as the automatic rerun after recovery does (stops cleared; abnormal ends not
    restarted). C(record) takes the states the hosts reported in O(jobs) for jobs an operation stopped.
  - Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  operation:
    description: The operation.
    type: str
    required: true
    choices: [rerun, init, force_init, skip, pause, release, stop, force_start, resume, record]
  frame:
    description: The frame's name.
    type: str
    required: true
  operation_date:
    description: The instance's operation date (C(YYYY-MM-DD)); today when omitted.
    type: str
  path:
    description: The net or job the operation applies to (C(net/job)); the whole frame when omitted (required for
      C(force_start)).
    type: str
  kill:
    description: With C(stop), also stop the running jobs inside.
    type: bool
    default: false
  lease_ttl:
    description: Seconds the lease lasts without renewal.
    type: float
  jobs:
    description: With C(record), the jobs as M(jobnet.scheduler.job) returned them after stopping them.
    type: list
    elements: dict
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      Under C(--check) the operation is decided on the records as they are and printed (the moves it would make, or
      why it would be refused); nothing is recorded, leased or stopped.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details: Marks (skip, pause, stop) applied twice change nothing more; rerun and force_start start attempts.
"""

EXAMPLES = r"""
- name: Pause the merge job of today's nightly frame
  jobnet.scheduler.frame_op:
    operation: pause
    frame: nightly
    path: load/merge

- name: Skip tonight's whole nightly frame before its start time
  jobnet.scheduler.frame_op:
    operation: skip
    frame: nightly
    operation_date: "2026-11-21"
  register: jobnet_run
"""

RETURN = r"""
operation:
  description: The operation applied.
  returned: success
  type: str
instances:
  description: The instance id, in a list (as M(jobnet.scheduler.frame_submit) returns it).
  returned: success
  type: list
  elements: str
leases:
  description: The lease taken for the operation (released by M(jobnet.scheduler.frame_report)).
  returned: success
  type: dict
hosts:
  description: For operations after which the frame goes on, the frame's hosts to drive.
  returned: success
  type: list
  elements: str
stop:
  description: Per host, the attempt ids of jobs to stop (force_init, stop with kill).
  returned: success
  type: dict
stop_hosts:
  description: The hosts in RV(stop).
  returned: success
  type: list
  elements: str
state:
  description: The frame instance's state after the operation.
  returned: success
  type: str
events:
  description: The state changes this task recorded (at most 10,000), each with its C(instance), for the recorder
    callback's history. The store's event log keeps them all.
  returned: success
  type: list
  elements: dict
"""
