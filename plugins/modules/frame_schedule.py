#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_schedule
short_description: Create the day schedule of an operation date and submit its frames
version_added: 0.1.0
description:
  - Reads a schedule file (base time, time zone, calendars of open days, and on which days each frame runs and when
    it starts; see C(docs/schedule.md)) and every frame file it names, and checks them all before anything is
    recorded; every problem is reported at once with its file and line.
  - Creates the B(day schedule) of the operation date once, in the state store - the record of which frames the date
    runs and when each starts - and one frame instance per frame, submitted (C(standby) until its start time). A
    second run for the same date, even at the same moment, creates nothing twice; it submits only frames whose
    instance is not there yet.
  - The schedule's definition is kept in the store too, so that C(jobnet.scheduler.recover) knows what should exist
    after a controller failure (tables 5.427 and 5.428 of C(docs/recovery.md)).
  - Used by the C(jobnet.scheduler.schedule) playbook; the drive play that follows runs
    M(jobnet.scheduler.frame_step) on every host of the day's frames.
  - Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  schedule_file:
    description: Path of the schedule file (YAML) on the controller; frame files are found relative to it.
    type: path
    required: true
  schedule_name:
    description:
      - The name the schedule is kept under in the store (letters, digits, C(_), C(-), C(.)). Default the schedule
        file's name without its extension.
    type: str
  operation_date:
    description:
      - The operation date, exactly C(YYYY-MM-DD). Default the current one in the schedule's zone - the date whose
        base time passed last (with base time C(05:00), 03:00 on the 2nd is still the operation date of the 1st).
      - A date ahead creates that day in advance; its frames without a start time then start at its base time.
    type: str
  plan_days:
    description: How many operation dates from O(operation_date) on RV(plan) lists (1 to 3660).
    type: int
    default: 1
  plan_json:
    description:
      - Write RV(plan) to this file on the controller as JSON (atomically). With C(--check) this is how to see what
        a date (or a year of dates) will run, recording nothing.
    type: path
  catch_up:
    description:
      - Only for a day schedule made by recovery (C(jobnet.scheduler.recover -e catch_up=true) sets it there). A
        frame whose start time passed during a controller failure starts at once instead of staying
        C(not_submitted) (table 5.428 rows A-2 and B-1).
      - A C(schedule) run itself starts a frame whose start time passed at once, as an operator's request.
    type: bool
    default: false
  submit:
    description:
      - Submit only these frames of the day, also when their instance is C(not_submitted) because their start time
        passed during a failure (the operator's "submit it if needed" of table 5.428). They start at once when
        their start time has passed.
    type: list
    elements: str
  lease_ttl:
    description: Seconds the instances' leases last without renewal (default C(60), or C(jobnet_lease_ttl)).
    type: float
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) the schedule and every frame file are checked as for a real run, RV(plan) (and
      O(plan_json)) says what the dates would run, and nothing is recorded (the store is only read, not created).
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: A day schedule is created once; a second run submits only frames that are not there yet.
"""

EXAMPLES = r"""
- name: Create today's day schedule
  jobnet.scheduler.frame_schedule:
    schedule_file: /etc/jobnet/schedule.yml
  register: jobnet_run

- name: What the next year will run, recording nothing
  jobnet.scheduler.frame_schedule:
    schedule_file: /etc/jobnet/schedule.yml
    operation_date: "2027-01-01"
    plan_days: 365
    plan_json: /tmp/plan.json
  check_mode: true
"""

RETURN = r"""
schedule:
  description: The name the schedule is kept under.
  returned: always
  type: str
operation_date:
  description: The operation date used.
  returned: always
  type: str
plan:
  description:
    - What the operation dates from O(operation_date) on run, every date listed even when no frame runs on it.
    - C(start) is ISO-8601 with the zone's offset, or null for a frame without a start time (it starts when its day
      schedule is created).
  returned: always
  type: dict
  sample: {"days": [{"operation_date": "2027-01-04", "frames": [{"frame": "nightly", "start": "2027-01-05T01:30:00+09:00"}]}]}
day:
  description: What this run did to the day schedule.
  returned: success, not in check mode
  type: dict
  contains:
    created:
      description: Whether this run created the day schedule (false when it existed).
      type: bool
    created_by:
      description: Who created it, C(schedule) or C(recovery).
      type: str
    frames:
      description: The day's frames with their instance ids and planned starts.
      type: list
      elements: dict
    not_started:
      description: Instances left C(not_submitted) (table 5.428 B-1).
      type: list
      elements: str
    existing:
      description: Instances that were there already.
      type: list
      elements: str
    refused:
      description: Instances another controller drives, with why.
      type: list
      elements: dict
would_create:
  description: Check mode only - whether a real run would create the day schedule.
  returned: check mode
  type: bool
instances:
  description: The instances this run submitted and drives (leased to it).
  returned: always
  type: list
  elements: str
leases:
  description: The lease of each instance, for M(jobnet.scheduler.frame_step) and M(jobnet.scheduler.frame_report).
  returned: always
  type: dict
report:
  description: Every instance of the day, for the report.
  returned: success, not in check mode
  type: list
  elements: str
hosts:
  description: The hosts of the instances this run drives.
  returned: always
  type: list
  elements: str
implicit_localhost:
  description: Whether C(localhost) runs jobs without being in the inventory.
  returned: always
  type: bool
events:
  description: The state changes this task recorded (at most 10,000), each with its C(instance).
  returned: always
  type: list
  elements: dict
"""
