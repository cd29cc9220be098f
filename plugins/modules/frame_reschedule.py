#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_reschedule
short_description: Give a submitted frame that waits for its start time a new start time
version_added: 0.1.0
description:
  - A time override. The frame instance must be C(standby) (submitted, before its start time). The new start time
    is recorded in the instance, with the old one, in one transaction; a controller that drives the instance takes
    it at its next step, and C(jobnet.scheduler.recover) keeps it (5.5.3.3 note 13).
  - Refused while a recovery holds the instance (note 15, C(JNR110)) and for a frame that has started.
  - Used by the C(jobnet.scheduler.reschedule) playbook. Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  frame:
    description: The frame's name.
    type: str
    required: true
  operation_date:
    description:
      - The instance's operation date, exactly C(YYYY-MM-DD).
      - When omitted, the frame's one C(standby) instance, whatever its date (refused, naming them, when it has
        several); today's instance when it has none.
    type: str
  start_at:
    description:
      - The new start time. C(HH:MM) or C(HH:MM:SS) on the operation day - for a frame of a day schedule in the
        schedule's zone, a time before its base time on the next calendar day, as in the schedule file - or an
        ISO-8601 date and time with an offset (C(2027-01-04T22:30:00+09:00)).
    type: str
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) the new start time is worked out and the instance checked; nothing is written.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

EXAMPLES = r"""
- name: Start tonight's payroll at 22:30 instead
  jobnet.scheduler.frame_reschedule:
    frame: payroll
    operation_date: "2027-01-25"
    start_at: "22:30"
"""

RETURN = r"""
instance:
  description: The instance id (C(<frame>@<date>)).
  returned: success
  type: str
start_at:
  description: The new start time, ISO-8601 with offset.
  returned: success
  type: str
was:
  description: The start time it had before (null when it had none).
  returned: success
  type: str
events:
  description: The state change recorded (the frame stays C(standby); the event says the new time).
  returned: success
  type: list
  elements: dict
"""
