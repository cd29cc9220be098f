#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: job
short_description: Start, stop or remove detached jobs on a host
version_added: 0.1.0
description:
  - Starts one or many jobs on the target in one call. Each job is B(detached) - it runs in a session of its
    own under a small C(sh) supervisor and survives C(kill -9) of C(ansible-playbook), a dropped SSH
    connection and the end of the playbook.
  - Each job is identified by an attempt id. Starting an id that already exists on the host starts nothing,
    reports C(changed=false) and returns the existing job, so a launch can be repeated safely.
  - The job's folder under O(root) holds C(spec.json), C(status.json), C(result.json) and the append-only
    C(stdout) / C(stderr) files; read them with M(jobnet.scheduler.job_info).
  - O(state=stopped) ends the whole process group of a job (C(TERM), then C(KILL) after O(grace) seconds) and
    records it as V(stopped). O(state=absent) removes finished jobs' folders (a running one only with
    O(force=true), which stops it first).
  - See C(docs/jobs.md) of the collection for the life cycle and the files on the host.
author:
  - jobnet.scheduler maintainers (@jobnet)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is started, stopped or removed; RV(started) lists the ids that would start.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
    details: Per job id. A second start of an existing id, a stop of an ended job and a removal of a missing job
      change nothing.
options:
  state:
    description:
      - V(started) starts every job of O(jobs) whose id does not exist yet under O(root).
      - V(stopped) ends the running jobs of O(ids) (their whole process group).
      - V(absent) removes the folders of O(ids).
    type: str
    choices: [started, stopped, absent]
    default: started
  jobs:
    description:
      - The jobs to start, all in this one call. Required with O(state=started).
    type: list
    elements: dict
    suboptions:
      id:
        description:
          - The attempt id, unique on the host under O(root). 1 to 128 characters of C(A-Z a-z 0-9 . _ -),
            not C(.) or C(..).
        type: str
        required: true
      name:
        description: A name for people and for the O(jobnet.scheduler.job_info#module:name) filter. Defaults to the id.
        type: str
      command:
        description:
          - The command as an argv list, run without a shell. Give exactly one of O(jobs[].command) and
            O(jobs[].shell).
          - Each argument reaches the program byte for byte (it is written to the job's folder, not passed through
            the supervisor's command line). Only the kernel's limits on the program's own argv apply (one
            argument at most 131071 bytes, all with the environment at most C(ARG_MAX)); they are checked before
            anything starts.
        type: list
        elements: str
      shell:
        description:
          - A command line run by C(/bin/sh) from the file C(command.sh) of the job's folder, so it has no size
            limit. Give exactly one of O(jobs[].command) and O(jobs[].shell).
        type: str
      chdir:
        description: The working directory of the job; must exist. Defaults to the remote user's home.
        type: path
      env:
        description:
          - Environment variables added to the module's environment for the job.
          - The values are never written on the host (C(spec.json) holds only the names) and are masked in the
            module's echoed arguments.
        type: dict
      secret_env:
        description:
          - Environment variables for secrets, added after O(jobs[].env) (a name may not be in both).
          - Like O(jobs[].env), the values reach only the job's environment - never a file on the host (only
            the names, in C(spec.json)), never the module's result; they are masked in its echoed arguments.
            Keep secrets here so that callers which store O(jobs[].env) know not to store them.
        type: dict
      timeout:
        description:
          - Seconds after which the job's process group gets C(TERM) (then C(KILL) after O(grace)); the job
            ends as V(abnormal_end) with C(reason=timeout). V(0) or unset means no timeout.
          - A finite number from V(0) to V(2678400) (31 days); other values (V(nan), V(inf), V(1e400)) are refused.
        type: raw
      labels:
        description:
          - Free metadata (string keys and values), for example frame, instance and path. Stored in
            C(spec.json), returned by M(jobnet.scheduler.job_info) and usable as its filter.
          - The label C(host) is the job's inventory host. The action plugin adds it (the task's inventory host)
            to every job that does not give it, and M(jobnet.scheduler.job_info) lists only the jobs of its own
            host by default.
        type: dict
  ids:
    description: The job ids to stop or remove. Required with O(state=stopped) and O(state=absent).
    type: list
    elements: str
  root:
    description:
      - The job root on the target; one folder (mode C(0700)) per job id. C(~) is expanded on the target.
    type: path
    default: ~/.jobnet/jobs
  grace:
    description:
      - Seconds between C(TERM) and C(KILL) when a job is stopped, reaches its timeout, or ends while other
        processes are left in its process group. From V(0) to V(3600).
    type: raw
    default: 10
  force:
    description: With O(state=absent), stop running jobs first instead of failing.
    type: bool
    default: false
notes:
  - Needs Python 3, a POSIX C(/bin/sh), C(setsid) (util-linux) and GNU coreutils on the target (Linux C(/proc)).
  - When a job's main process ends (by itself, by its timeout or stopped), what is left of its process group
    gets C(TERM), then C(KILL) after O(grace); the result is recorded after that. A child meant to outlive its
    job must start a session of its own (C(setsid)); such processes are not ended by a stop or a timeout.
  - Every check of O(jobs) is done before anything is created or started, so bad input starts nothing. A job
    that still cannot be started (the host cannot fork, for example) is listed in RV(refused) and leaves no
    folder; the call then fails, and still returns what it started in RV(jobs), RV(started) and RV(existing).
  - O(root) must be owned by the user that runs the module and not be writable by group or others (nor be a
    symbolic link owned by another user), and so must an existing job folder; otherwise the call is refused
    and nothing starts. Folders are created with mode C(0700) and files with C(0600) whatever the umask; the
    job itself runs with the module's umask.
  - The supervisor reads an exit status of 129 to 192 as "killed by signal N = status - 128", as shells do,
    so a command that exits with such a status by itself is reported with a signal.
seealso:
  - module: jobnet.scheduler.job_info
  - module: ansible.builtin.async_status
'''

EXAMPLES = r'''
- name: Start two jobs (nothing starts for an id that already exists)
  jobnet.scheduler.job:
    jobs:
      - id: nightly.20261121.k3x9q2.load.stage.1
        name: load/stage
        command: [/opt/etl/stage.sh, --date, "2026-11-21"]
        timeout: 3600
        secret_env:
          DB_PASSWORD: "{{ vault_db_password }}"
        labels:
          frame: nightly
          path: load/stage
      - id: nightly.20261121.k3x9q2.load.check.1
        shell: "df -h /data > /tmp/df.txt && echo done"
        chdir: /tmp
        env:
          LC_ALL: C
  register: started

- name: Stop a job (TERM, then KILL after 5 seconds)
  jobnet.scheduler.job:
    state: stopped
    ids: [nightly.20261121.k3x9q2.load.stage.1]
    grace: 5

- name: Remove jobs, stopping any still running
  jobnet.scheduler.job:
    state: absent
    ids: "{{ started.jobs | map(attribute='id') }}"
    force: true
'''

RETURN = r'''
jobs:
  description:
    - One entry per job of the call, in the order given (O(jobs) or O(ids)).
    - For O(state=absent) the entries describe the jobs before removal.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The job id.
      type: str
      sample: nightly.20261121.k3x9q2.load.stage.1
    name:
      description: The job's name.
      type: str
    labels:
      description: The job's labels.
      type: dict
    state:
      description:
        - V(running), V(normal_end), V(abnormal_end), V(stopped) or V(lost).
        - V(null) in check mode for a job that would start.
      type: str
      sample: running
    rc:
      description: Exit status; V(null) while running, after a signal or when lost.
      type: int
    signal:
      description: The signal that ended the job, if any.
      type: int
    reason:
      description:
        - V(exit), V(timeout) or V(stopped) once ended; V(null) before.
        - V(launch_failed) only for a job folder that a failed launch could not remove (the job never ran).
      type: str
    started:
      description: When the job was launched (ISO-8601 UTC).
      type: str
      sample: '2026-11-21T01:00:00.123456Z'
    ended:
      description: When the job ended (ISO-8601 UTC), V(null) while running.
      type: str
    pid:
      description: The job's pid, which is also its process group and session id.
      type: int
    path:
      description: The job's folder on the host.
      type: str
started:
  description:
    - Ids started by this call (with O(state=started)); in check mode the ids that would start.
    - Also returned when the call fails because some jobs were refused (RV(refused)).
  returned: always
  type: list
  elements: str
refused:
  description:
    - Jobs of O(jobs) that could not be started (with O(state=started)), with the reason. Nothing of them runs
      and they leave no folder (if the folder cannot be removed, it holds a C(result.json) with
      C(reason=launch_failed) and is not reported in RV(jobs)); a later call may start the same id.
    - When this is not empty the call fails (C(failed=true), RV(msg) names each refused job) and still returns
      RV(jobs), RV(started) and RV(existing) for the other jobs of the call.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The job id.
      type: str
    msg:
      description: Why it could not be started.
      type: str
  sample:
    - id: nightly.20261121.k3x9q2.load.check.1
      msg: "cannot start the supervisor: [Errno 11] Resource temporarily unavailable"
msg:
  description: What went wrong, when the call failed.
  returned: failure
  type: str
existing:
  description: Ids of O(jobs) that already existed, so nothing was started for them.
  returned: always
  type: list
  elements: str
stopped:
  description: Ids that were running and were stopped by this call (with O(state=stopped) or O(force=true)).
  returned: always
  type: list
  elements: str
removed:
  description: Ids whose folders were removed by this call (with O(state=absent)).
  returned: always
  type: list
  elements: str
root:
  description: The job root on the host, expanded.
  returned: always
  type: str
'''

import copy

from ansible.module_utils.basic import AnsibleModule, remove_values

from ansible_collections.jobnet.scheduler.plugins.module_utils._jobrunner import (
    DEFAULT_ROOT,
    GRACE_MAX,
    JobError,
    JobRoot,
    JobState,
    launch_failure_message,
    normalize_ids,
    normalize_jobs,
    public_view,
    seconds,
)

SECRET_OPTIONS = ('env', 'secret_env')


class JobModule(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.jroot = JobRoot(self.p['root'])

    def run(self):
        state = self.p['state']
        grace = seconds(self.p['grace'], 'grace', GRACE_MAX)
        result = dict(changed=False, jobs=[], started=[], existing=[], refused=[], stopped=[], removed=[],
                      root=self.jroot.root)
        if state == 'started':
            if self.p['ids']:
                raise JobError('ids is for state=stopped and state=absent; with state=started give jobs')
            specs = normalize_jobs(self.p['jobs'])
            res = self.jroot.launch(specs, grace, self.module.check_mode)
            for note in res['notes']:
                self.module.warn(note)
            result.update(jobs=[public_view(v) for v in res['views']], started=res['started'],
                          existing=res['existing'], refused=res['refused'], changed=bool(res['started']))
            if res['refused']:
                result.update(failed=True, msg=launch_failure_message(res))
            return result
        if self.p['jobs']:
            raise JobError('jobs is for state=started; with state=%s give ids' % state)
        ids = normalize_ids(self.p['ids'])
        if not ids:
            raise JobError('ids: give at least one job id to %s' % ('stop' if state == 'stopped' else 'remove'))
        if state == 'stopped':
            self.jroot.check()
            unknown = [j for j in ids if not self.jroot.exists(j)]
            if unknown:
                raise JobError('ids: no job %s under %s' % (', '.join(repr(u) for u in unknown), self.jroot.root))
            views, stopped = self.jroot.stop(ids, grace, self.module.check_mode)
            result.update(jobs=[public_view(v) for v in views], stopped=stopped, changed=bool(stopped))
            return result
        self.jroot.check()
        before = [self.jroot.view(j) for j in ids]
        views = [public_view(v) for v in before if v is not None]
        stopped = [v['id'] for v in views if v['state'] == JobState.RUNNING] if self.p['force'] else []
        removed = self.jroot.remove(ids, self.p['force'], grace, self.module.check_mode)
        result.update(jobs=views, removed=removed, stopped=stopped, changed=bool(removed))
        return result


def secret_values(params):
    """The values of env and secret_env of every job, as strings."""
    values = set()
    for job in params.get('jobs') or []:
        if isinstance(job, dict):
            for option in SECRET_OPTIONS:
                if isinstance(job.get(option), dict):
                    values.update(str(v) for v in job[option].values())
    return values


def mask_secrets_in_arguments_only(module):
    """Mask the values of env and secret_env in the echoed arguments, and only there.

    Both options are no_log, so Ansible would replace every occurrence of each of their values in every string
    of the result: a value such as "1" would garble every id, time and path holding a 1. The values are never
    part of the result proper (no message, view or record holds them), so they are masked, as Ansible does it,
    in the echoed arguments (``invocation``, where a command or shell text may also hold them) and taken out of
    the list Ansible masks the rest of the result with. The module's log of its invocation, written when the
    module starts, masked them already. Returns the ``invocation`` to give with the result.
    """
    values = secret_values(module.params)
    invocation = {'module_args': remove_values(copy.deepcopy(module.params), module.no_log_values)}
    module.no_log_values.difference_update(values)
    return invocation


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='started', choices=['started', 'stopped', 'absent']),
            jobs=dict(type='list', elements='dict', options=dict(
                id=dict(type='str', required=True),
                name=dict(type='str'),
                command=dict(type='list', elements='str'),
                shell=dict(type='str'),
                chdir=dict(type='path'),
                env=dict(type='dict', no_log=True),
                secret_env=dict(type='dict', no_log=True),
                timeout=dict(type='raw'),
                labels=dict(type='dict'),
            )),
            ids=dict(type='list', elements='str'),
            root=dict(type='path', default=DEFAULT_ROOT),
            grace=dict(type='raw', default=10),
            force=dict(type='bool', default=False),
        ),
        required_if=[
            ('state', 'started', ['jobs']),
            ('state', 'stopped', ['ids']),
            ('state', 'absent', ['ids']),
        ],
        supports_check_mode=True,
    )
    invocation = mask_secrets_in_arguments_only(module)
    try:
        result = JobModule(module).run()
    except JobError as e:
        module.fail_json(msg=str(e), invocation=invocation)
    if result.get('failed'):
        module.fail_json(invocation=invocation, **result)
    module.exit_json(invocation=invocation, **result)


if __name__ == '__main__':
    main()
