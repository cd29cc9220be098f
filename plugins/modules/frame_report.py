#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_report
short_description: Print and write the state of frame instances; release their leases
version_added: 0.1.0
description:
  - Prints a table of frame instances (frame, net, job, host, state, started, ended, rc, reason) and writes the same
    as JSON to O(status_json). The reason is the item's message (why it ended abnormally, what it waits for), cut
    to 80 characters in the table.
  - Without O(instances) (the C(status) playbook) it also shows, per schedule kept in the store and each of its live
    operation dates, whether the day schedule exists (when and by whom it was created) and each frame's planned
    start and state; the JSON has them as C(schedules).
  - An instance whose records are damaged is shown with the state C(corrupt) and the problem (the record and key),
    and the others are shown as usual.
  - Releases the leases it is given (the end of a run, an operation, a recovery).
  - With O(fail_on_abnormal), fails when an instance ended C(abnormal_end) or a host's driver reported an error, so the
    playbook exits non-zero.
  - Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  instances:
    description: Instance ids to report; every instance (filtered by O(frame) and O(operation_date)) when omitted.
    type: list
    elements: str
  frame:
    description: Only instances of this frame.
    type: str
  operation_date:
    description: Only instances of this operation date (C(YYYY-MM-DD)).
    type: str
  leases:
    description: Leases to release.
    type: dict
  status_json:
    description:
      - Write the status as JSON to this path on the controller, atomically.
      - 'The document is C({"frames": [{"frame", "operation_date", "id", "state", "started", "ended", "items": [{"kind",
        "path", "host", "state", "started", "ended", "rc", "signal", "attempt", "attempt_id", "message"}]}]}); an
        instance that cannot be read has the state C(corrupt), a C(problem) and no items.'
    type: path
  fail_on_abnormal:
    description: Fail when an instance is C(abnormal_end) or a host driver reported an error.
    type: bool
    default: false
  steps:
    description: Results of M(jobnet.scheduler.frame_step) to check for errors; read from the C(jobnet_drive) group's
      C(jobnet_step) results when omitted.
    type: list
    elements: raw
  check_instances:
    description: With O(fail_on_abnormal), only these instances' abnormal ends fail the task (all reported ones when
      omitted).
    type: list
    elements: str
  chart_html:
    description:
      - Write the run chart of the reported instance to this path on the controller (the newest instance of O(frame)
        when O(operation_date) is not given) - one self-contained HTML page (inline SVG, nothing fetched from any
        network), a Gantt chart of every attempt by net and job with its host, coloured by the state it ended in,
        with the dependencies, the moments a controller was lost and recovered, reruns as further bars, and each
        bar's rc and reason when hovered. It is built from the state store's event log and job records; while the
        frame runs the page reloads itself every 10 seconds.
    type: path
  charts:
    description: Write the run chart of every reported instance into the folder of the C(chart_dir) setting
      (C(jobnet_chart_dir), default C(~/.ansible/jobnet/charts)) as C(<frame>@<date>.html).
    type: bool
    default: false
  blame_hosts:
    description:
      - With O(fail_on_abnormal) - do not fail this task for the jobs that ended C(abnormal_end) nor for the host
        drivers that failed; return them per host in RV(failed_hosts) instead, so that a later play fails those
        hosts (the play recap, AWX host summaries and C(--limit @retry) then name the hosts where it went wrong, as
        the collection's drive play does). This task still fails for the controller's own problems (O(problems), an
        unreadable instance).
    type: bool
    default: false
  problems:
    description: Problems found before the report (instances a recovery refused); with O(fail_on_abnormal) they fail
      the task.
    type: list
    elements: str
    default: []
  quiet:
    description: Do not print the table.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It reads the state store and prints; under C(--check) it does not write O(status_json) and releases no
      lease.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

EXAMPLES = r"""
- name: Status of today's instances, as a table and as JSON
  jobnet.scheduler.frame_report:
    operation_date: "{{ '%Y-%m-%d' | strftime }}"
    status_json: /tmp/status.json
"""

RETURN = r"""
status:
  description: The status document (the same as written to O(status_json)).
  returned: success
  type: dict
errors:
  description: Errors reported by the host drivers, and the controller's own problems.
  returned: success
  type: list
  elements: str
charts:
  description: Per instance id, the path of the run chart written.
  returned: success
  type: dict
failed_hosts:
  description: Per host, one text per job of the reported instances that ended C(abnormal_end) there (instance, path,
    rc or signal, reason), and the error of its driver if it failed.
  returned: success
  type: dict
abnormal:
  description: The ids of the reported instances that ended C(abnormal_end).
  returned: success
  type: list
  elements: str
"""
