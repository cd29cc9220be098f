#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_log
short_description: Read the output of a frame's job from its host, found by frame and path
version_added: 0.2.0
description:
  - With O(phase=find), finds in the state store the host and the attempt id of a job of a frame instance (the
    newest instance of the frame when O(operation_date) is omitted; the job's last attempt unless O(attempt) says
    which).
  - With O(phase=read), run on that host (C(delegate_to)), reads the attempt's stdout and stderr there with
    M(jobnet.scheduler.job_info) and prints them. Output stays on its host and can be read again at any time
    (as C(Receive-Job -Keep)), while the job runs and after it ended.
  - The playbook C(jobnet.scheduler.log) does both; see C(docs/operations.md).
  - It only reads, so it runs in check mode as well.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  phase:
    description: C(find) on the controller, then C(read) on the job's host.
    type: str
    choices: [find, read]
    default: find
  frame:
    description: The frame's name (phase C(find)).
    type: str
  path:
    description: The job's path in the frame, C(net/job) (phase C(find)); with O(action), the frame, net or job whose
      action it is (omitted - the frame).
    type: str
  action:
    description:
      - Read a delay action or an end command instead of a job (phase C(find)) - V(delay:start), V(delay:end),
        V(delay:duration), V(end:normal_end) or V(end:abnormal_end) of O(path), with V(:N) for its Nth run (the last
        one without). Its output stays on its host like a job's.
    type: str
  operation_date:
    description: The instance's operation date (C(YYYY-MM-DD)); the newest instance of the frame when omitted.
    type: str
  attempt:
    description: The attempt number (1 is the first run, each rerun adds one); the last attempt when omitted.
    type: int
  found:
    description: Phase C(read) - the result of phase C(find).
    type: dict
  stream:
    description: Which output to read.
    type: str
    choices: [stdout, stderr, both]
    default: both
  tail:
    description: Only the last this many lines of each stream (1 to 100000). Without it, the whole output up to
      16 MiB per stream (a longer one is cut, with a note).
    type: int
  root:
    description: The job root on the job's host (the host's C(jobnet_job_root)); the module's default when omitted.
    type: str
  quiet:
    description: Do not print the output, only return it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It only reads.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

EXAMPLES = r"""
- name: Find the merge job of the newest nightly instance
  jobnet.scheduler.frame_log:
    frame: nightly
    path: load/merge
  register: found

- name: Print the last 50 lines of its stderr, read on its host
  jobnet.scheduler.frame_log:
    phase: read
    found: "{{ found }}"
    stream: stderr
    tail: 50
  delegate_to: "{{ found.host }}"
"""

RETURN = r"""
instance:
  description: The frame instance id.
  returned: success
  type: str
path:
  description: The job's path.
  returned: success
  type: str
host:
  description: The job's host.
  returned: success
  type: str
attempt:
  description: The attempt number.
  returned: success
  type: int
attempt_id:
  description: The attempt id on the host.
  returned: success
  type: str
state:
  description: The attempt's state (as recorded in phase C(find), as its host says in phase C(read)).
  returned: success
  type: str
rc:
  description: Its exit status once it ended (phase C(read)).
  returned: phase read
  type: int
signal:
  description: The signal that ended it, if any (phase C(read)).
  returned: phase read
  type: int
stdout:
  description: The output read (phase C(read), O(stream) C(stdout) or C(both)).
  returned: phase read
  type: str
stderr:
  description: The error output read (phase C(read), O(stream) C(stderr) or C(both)).
  returned: phase read
  type: str
notes:
  description: What was left out (an output over 16 MiB).
  returned: phase read
  type: list
  elements: str
"""
