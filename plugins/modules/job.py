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
        description: The command as an argv list, run without a shell. Give exactly one of O(jobs[].command) and O(jobs[].shell).
        type: list
        elements: str
      shell:
        description: A command line run by C(/bin/sh -c). Give exactly one of O(jobs[].command) and O(jobs[].shell).
        type: str
      chdir:
        description: The working directory of the job; must exist. Defaults to the remote user's home.
        type: path
      env:
        description: Environment variables added to the module's environment for the job.
        type: dict
      timeout:
        description:
          - Seconds after which the job's process group gets C(TERM) (then C(KILL) after O(grace)); the job
            ends as V(abnormal_end) with C(reason=timeout). V(0) or unset means no timeout.
        type: float
      labels:
        description:
          - Free metadata (string keys and values), for example frame, instance and path. Stored in
            C(spec.json), returned by M(jobnet.scheduler.job_info) and usable as its filter.
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
      - Seconds between C(TERM) and C(KILL) when a job is stopped or reaches its timeout.
    type: float
    default: 10
  force:
    description: With O(state=absent), stop running jobs first instead of failing.
    type: bool
    default: false
notes:
  - Needs Python 3, a POSIX C(/bin/sh), C(setsid) (util-linux) and GNU coreutils on the target (Linux C(/proc)).
  - A job's children stay in its process group unless they leave it themselves (C(setsid), daemons); those
    are not ended by a stop or a timeout.
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
      description: V(exit), V(timeout) or V(stopped) once ended; V(null) before.
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
  description: Ids started by this call (with O(state=started)); in check mode the ids that would start.
  returned: always
  type: list
  elements: str
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jobnet.scheduler.plugins.module_utils._jobrunner import (
    DEFAULT_ROOT,
    JobError,
    JobRoot,
    JobState,
    normalize_ids,
    normalize_jobs,
    public_view,
)


class JobModule(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.jroot = JobRoot(self.p['root'])

    def run(self):
        state = self.p['state']
        grace = self.p['grace']
        if grace is None or grace < 0:
            raise JobError('grace must be >= 0 seconds, got %r' % (grace,))
        result = dict(changed=False, jobs=[], started=[], existing=[], stopped=[], removed=[], root=self.jroot.root)
        if state == 'started':
            if self.p['ids']:
                raise JobError('ids is for state=stopped and state=absent; with state=started give jobs')
            specs = normalize_jobs(self.p['jobs'])
            views, started, existing = self.jroot.start(specs, grace, self.module.check_mode)
            result.update(jobs=[public_view(v) for v in views], started=started, existing=existing,
                          changed=bool(started))
            return result
        if self.p['jobs']:
            raise JobError('jobs is for state=started; with state=%s give ids' % state)
        ids = normalize_ids(self.p['ids'])
        if not ids:
            raise JobError('ids: give at least one job id to %s' % ('stop' if state == 'stopped' else 'remove'))
        if state == 'stopped':
            unknown = [j for j in ids if not self.jroot.exists(j)]
            if unknown:
                raise JobError('ids: no job %s under %s' % (', '.join(repr(u) for u in unknown), self.jroot.root))
            views, stopped = self.jroot.stop(ids, grace, self.module.check_mode)
            result.update(jobs=[public_view(v) for v in views], stopped=stopped, changed=bool(stopped))
            return result
        before = [self.jroot.view(j) for j in ids]
        views = [public_view(v) for v in before if v is not None]
        stopped = [v['id'] for v in views if v['state'] == JobState.RUNNING] if self.p['force'] else []
        removed = self.jroot.remove(ids, self.p['force'], grace, self.module.check_mode)
        result.update(jobs=views, removed=removed, stopped=stopped, changed=bool(removed))
        return result


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
                env=dict(type='dict'),
                timeout=dict(type='float'),
                labels=dict(type='dict'),
            )),
            ids=dict(type='list', elements='str'),
            root=dict(type='path', default=DEFAULT_ROOT),
            grace=dict(type='float', default=10),
            force=dict(type='bool', default=False),
        ),
        required_if=[
            ('state', 'started', ['jobs']),
            ('state', 'stopped', ['ids']),
            ('state', 'absent', ['ids']),
        ],
        supports_check_mode=True,
    )
    try:
        result = JobModule(module).run()
    except JobError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
