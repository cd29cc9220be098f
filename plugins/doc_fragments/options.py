# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduler's own settings (recovery, leases, polling), resolvable from variables, environment and ini."""

from __future__ import annotations


class ModuleDocFragment:

    # The one declaration of these settings and their defaults: plugin_utils/_options.py reads this YAML
    # (_options.DEFAULTS), the engine and the frame actions take their defaults from there.
    DOCUMENTATION = r"""
options:
  recovery:
    description:
      - Recover frame state when the scheduler starts again (the C(recover) playbook). Off - the recovery
        playbook reports what it would recover and changes nothing.
      - Precedence, highest first - a setting of the frame itself, variable C(jobnet_recovery), environment
        E(JOBNET_RECOVERY), C(recovery) in the C([jobnet]) section of C(ansible.cfg), the default.
    type: bool
    default: true
    env:
      - name: JOBNET_RECOVERY
    ini:
      - section: jobnet
        key: recovery
    vars:
      - name: jobnet_recovery
    version_added: 0.1.0
  end_recover:
    description:
      - Off - frames, nets and jobs that had ended C(normal_end) or C(skip_end) come back as C(not_submitted)
        after recovery (the original's C(SJ_PEX_END_RECOVER=N)).
    type: bool
    default: true
    env:
      - name: JOBNET_END_RECOVER
    ini:
      - section: jobnet
        key: end_recover
    vars:
      - name: jobnet_end_recover
    version_added: 0.1.0
  auto_rerun:
    description:
      - Rerun every recovered frame right after recovery, in the same run (the original's C(SJ_PEX_AUTORERUN)).
    type: bool
    default: true
    env:
      - name: JOBNET_AUTO_RERUN
    ini:
      - section: jobnet
        key: auto_rerun
    vars:
      - name: jobnet_auto_rerun
    version_added: 0.1.0
  recovery_skip:
    description:
      - Do not contact agents during recovery (a large outage); their C(running) and C(abnormal_end) jobs
        become C(queuing_env_down).
    type: bool
    default: false
    env:
      - name: JOBNET_RECOVERY_SKIP
    ini:
      - section: jobnet
        key: recovery_skip
    vars:
      - name: jobnet_recovery_skip
    version_added: 0.1.0
  unreachable_retries:
    description:
      - How many calls in a row to a host that cannot be reached, during recovery or while a frame runs, before the
        host counts as down and its jobs become C(queuing_env_down).
    type: int
    default: 3
    env:
      - name: JOBNET_UNREACHABLE_RETRIES
    ini:
      - section: jobnet
        key: unreachable_retries
    vars:
      - name: jobnet_unreachable_retries
    version_added: 0.1.0
  unreachable_delay:
    description:
      - Seconds between two calls to a host that could not be reached.
    type: float
    default: 2
    env:
      - name: JOBNET_UNREACHABLE_DELAY
    ini:
      - section: jobnet
        key: unreachable_delay
    vars:
      - name: jobnet_unreachable_delay
    version_added: 0.1.0
  step_seconds:
    description:
      - Seconds one M(jobnet.scheduler.frame_step) task drives its host before it returns. C(0) (the default) - it
        drives until the frame can make no more progress, printing a line as each job starts and ends and a progress
        line every O(progress_interval) seconds, so the play shows no C(FAILED - RETRYING) lines. A value above
        C(0) returns after that many seconds; the drive play then repeats the step with C(until).
    type: float
    default: 0
    env:
      - name: JOBNET_STEP_SECONDS
    ini:
      - section: jobnet
        key: step_seconds
    vars:
      - name: jobnet_step_seconds
    version_added: 0.1.0
  adopt_manager_jobs:
    description:
      - An extension to the recovery tables. On - jobs that were running on the manager node (C(localhost)) and
        still run are adopted after recovery instead of being stopped and ended C(abnormal_end).
    type: bool
    default: false
    env:
      - name: JOBNET_ADOPT_MANAGER_JOBS
    ini:
      - section: jobnet
        key: adopt_manager_jobs
    vars:
      - name: jobnet_adopt_manager_jobs
    version_added: 0.1.0
  catch_up:
    description:
      - An extension to the recovery tables. On - a frame of a day schedule whose start time passed during a
        controller failure starts at once after recovery, instead of staying C(not_submitted) (table 5.428 rows A-2
        and B-1); what Airflow calls catch-up.
      - Precedence, highest first - a setting of the frame itself, variable C(jobnet_catch_up), environment
        E(JOBNET_CATCH_UP), C(catch_up) in the C([jobnet]) section of C(ansible.cfg), the default.
    type: bool
    default: false
    env:
      - name: JOBNET_CATCH_UP
    ini:
      - section: jobnet
        key: catch_up
    vars:
      - name: jobnet_catch_up
    version_added: 0.1.0
  resource_reset:
    description:
      - Off (the default) - recovery restores what the recovered jobs hold (their resources and host slots) and
        the waiting order from the records, before anything starts, so limits and capacities hold after
        recovery (better than the original's notes 2 and 11).
      - On - the original's behaviour - the jobs recovery finds still running hold nothing, and the jobs waiting
        lose their place; capacities and host limits can be exceeded until those jobs end.
      - Precedence, highest first - a setting of the frame itself, variable C(jobnet_resource_reset), environment
        E(JOBNET_RESOURCE_RESET), C(resource_reset) in the C([jobnet]) section of C(ansible.cfg), the default.
    type: bool
    default: false
    env:
      - name: JOBNET_RESOURCE_RESET
    ini:
      - section: jobnet
        key: resource_reset
    vars:
      - name: jobnet_resource_reset
    version_added: 0.1.0
  file_wait_reset:
    description:
      - What recovery does with an operator's ON / OFF of a file-wait trigger (C(jobnet.scheduler.event) with
        C(trigger)). V(false) (the default) keeps it, so the frame goes on as it was set. V(true) drops it as the
        original does, and the trigger follows whether its file exists at recovery time.
      - Precedence, highest first - a setting of the frame itself, variable C(jobnet_file_wait_reset), environment
        E(JOBNET_FILE_WAIT_RESET), C(file_wait_reset) in the C([jobnet]) section of C(ansible.cfg), the default.
    type: bool
    default: false
    env:
      - name: JOBNET_FILE_WAIT_RESET
    ini:
      - section: jobnet
        key: file_wait_reset
    vars:
      - name: jobnet_file_wait_reset
    version_added: 0.2.0
  live_days:
    description:
      - How many operation dates recovery covers for instances that have ended - the current one and the ones
        before it (C(2) - today and yesterday). Instances that have not ended are always recovered, whatever their
        date. Older ended instances are history - kept and readable, never changed by recovery (not even with
        O(end_recover) off); C(jobnet.scheduler.purge) removes them on purpose.
      - The current operation date is the controller's calendar date, and for the frames of a schedule the date
        whose base time passed last in the schedule's zone.
    type: int
    default: 2
    env:
      - name: JOBNET_LIVE_DAYS
    ini:
      - section: jobnet
        key: live_days
    vars:
      - name: jobnet_live_days
    version_added: 0.1.0
  lease_ttl:
    description:
      - Seconds a controller's lease on a frame instance lasts without renewal. A controller that died is
        replaced after this time at the latest (at once when it ran on the same machine and its process is gone).
    type: float
    default: 60
    env:
      - name: JOBNET_LEASE_TTL
    ini:
      - section: jobnet
        key: lease_ttl
    vars:
      - name: jobnet_lease_ttl
    version_added: 0.1.0
  poll_interval:
    description:
      - Longest wait, in seconds, of one frame step for a change of the jobs on its host before it looks at the
        store again.
    type: float
    default: 1
    env:
      - name: JOBNET_POLL_INTERVAL
    ini:
      - section: jobnet
        key: poll_interval
    vars:
      - name: jobnet_poll_interval
    version_added: 0.1.0
  chart_dir:
    description:
      - Folder where the driving playbooks write the run chart of each frame instance they drive, as
        C(<frame>@<date>.html) (a self-contained page; see C(docs/operations.md)). It is rewritten while the frame
        runs and once at the end. Created C(0700) when missing. An empty value writes no chart.
    type: path
    default: ~/.ansible/jobnet/charts
    env:
      - name: JOBNET_CHART_DIR
    ini:
      - section: jobnet
        key: chart_dir
    vars:
      - name: jobnet_chart_dir
    version_added: 0.2.0
  trigger_timeout:
    description:
      - Longest time, in seconds, a driving playbook (C(run), C(recover), C(schedule), ...) keeps driving a frame
        instance in which nothing runs or is queued and something waits only for a trigger (C(wait_for)). Then it
        stops driving it and says so; the instance stays C(waiting) in the store and goes on when driven again
        (C(jobnet.scheduler.recover) or C(jobnet.scheduler.rerun)). V(0) drives until the trigger turns ON.
    type: float
    default: 86400
    env:
      - name: JOBNET_TRIGGER_TIMEOUT
    ini:
      - section: jobnet
        key: trigger_timeout
    vars:
      - name: jobnet_trigger_timeout
    version_added: 0.2.0
  progress_interval:
    description:
      - Shortest time, in seconds, between two progress lines printed while a frame runs (one line per frame
        instance, printed by the driver of its first host that is up).
    type: float
    default: 5
    env:
      - name: JOBNET_PROGRESS_INTERVAL
    ini:
      - section: jobnet
        key: progress_interval
    vars:
      - name: jobnet_progress_interval
    version_added: 0.1.0
"""
