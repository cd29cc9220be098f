#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: job_info
short_description: State and output of detached jobs on a host, and of native async jobs
version_added: 0.1.0
description:
  - Reports the jobs started by M(jobnet.scheduler.job) on the target - the jobs of O(ids), or every job under
    O(root) - with their state, exit status, times and their stdout / stderr read from a byte offset in
    bounded chunks. Reading consumes nothing; the same bytes can be read again at any time.
  - With O(wait) it returns as soon as any of the listed jobs changes state, or when the time is up.
  - In the same call it reports whether files exist (O(files), the file triggers of a frame), and with O(wait) it
    also returns as soon as one of them appears or goes away.
  - In the same call it reports native Ansible async jobs (O(async_jids)), including V(lost) for one whose
    C(async_wrapper) process died before it finished.
  - See C(docs/jobs.md) of the collection for the life cycle and the files on the host.
author:
  - jobnet.scheduler maintainers (@jobnet)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only; runs the same in check mode.
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
    details: Changes nothing on the host.
options:
  ids:
    description:
      - The job ids to report. Without it, every job under O(root) is reported.
      - The filters O(name), O(state) and O(labels) apply in both cases.
    type: list
    elements: str
  name:
    description: Only jobs whose name matches this shell-style pattern (C(*), C(?), C([...])).
    type: str
  state:
    description: Only jobs in one of these states.
    type: list
    elements: str
    choices: [running, normal_end, abnormal_end, stopped, lost]
  labels:
    description: Only jobs that carry every one of these labels with exactly this value.
    type: dict
  host:
    description:
      - Only jobs whose C(host) label is this inventory host, and jobs that have no C(host) label (started by
        hand without the collection's action plugin, or by an older version).
      - Every job started through M(jobnet.scheduler.job) (ad hoc, in a playbook or by a frame) carries the label
        C(host) with its inventory host, so hosts that share a machine and a job root (local connections, several
        inventory names for one machine) each list their own jobs.
      - When neither O(ids) nor O(host) is given, the action plugin sets O(host) to the task's inventory host.
        V(*) lists every job under O(root), whatever its host.
    type: str
  missing:
    description:
      - What to do with an id of O(ids) that does not exist under O(root).
      - V(fail) fails the call, naming the id. V(ignore) lists it in RV(missing).
    type: str
    choices: [fail, ignore]
    default: fail
  root:
    description: The job root on the target. C(~) is expanded on the target.
    type: path
    default: ~/.jobnet/jobs
  output:
    description: Whether to read stdout and stderr. With V(false) only their sizes are reported.
    type: bool
    default: true
  stdout_offset:
    description: The byte offset to read stdout from, for every job (see O(offsets)).
    type: int
    default: 0
  stderr_offset:
    description: The byte offset to read stderr from, for every job (see O(offsets)).
    type: int
    default: 0
  offsets:
    description:
      - "Per job offsets that override O(stdout_offset) and O(stderr_offset) - a dictionary
        C(id -> {stdout: N, stderr: M}), typically the RV(jobs[].next_offset) of the previous call."
    type: dict
  max_bytes:
    description:
      - At most this many bytes of each stream per job in this call, from V(4) to V(16777216) (16 MiB).
      - Read more in pages - pass RV(jobs[].next_offset) back through O(offsets).
    type: int
    default: 65536
  encoding:
    description:
      - V(text) returns UTF-8 text; a chunk never ends inside a multi-byte character while more bytes follow,
        and invalid bytes are replaced (so RV(jobs[].next_offset) still counts the bytes of the file).
      - V(base64) returns the exact bytes, base64 encoded.
    type: str
    choices: [text, base64]
    default: text
  wait:
    description:
      - Seconds to wait for any of the listed jobs to change state from what it was when the call began.
        Returns at once when none of them is running. V(0) does not wait. At most V(86400) (a day).
    type: raw
    default: 0
  files:
    description:
      - Absolute paths of files to look at in the same call - the file-wait triggers of frames on this host. Each is
        reported in RV(files); only C(stat) is called, nothing is opened. Paths are taken as given (no C(~) or
        variable is expanded).
      - With O(wait), the call also returns as soon as the set of these files that exist differs from
        O(files_present).
    type: list
    elements: str
  files_present:
    description:
      - The files of O(files) the caller knows to exist; a difference returns a waiting call at once.
    type: list
    elements: str
  async_jids:
    description: Native Ansible async job ids (C(ansible_job_id)) to report in RV(async_jobs).
    type: list
    elements: str
  async_dir:
    description: Where the native async status files are (the remote C(async_dir)).
    type: path
    default: ~/.ansible_async
notes:
  - Fast for many jobs - it reads a few small files per job and starts no process. Give O(output=false) when
    only states are wanted.
  - O(root), when it exists, must be owned by the user that runs the module and not be writable by group or
    others; otherwise the call is refused (its records could have been planted by another user).
seealso:
  - module: jobnet.scheduler.job
  - module: ansible.builtin.async_status
'''

EXAMPLES = r'''
- name: All jobs on the host, no output
  jobnet.scheduler.job_info:
    output: false

- name: Wait up to 30 seconds for any of these jobs to change state
  jobnet.scheduler.job_info:
    ids: "{{ started.jobs | map(attribute='id') }}"
    wait: 30
    output: false
  register: info

- name: Read the next chunk of output of one job, exact bytes
  jobnet.scheduler.job_info:
    ids: [nightly.20261121.k3x9q2.load.stage.1]
    offsets: "{{ {'nightly.20261121.k3x9q2.load.stage.1': previous.jobs[0].next_offset} }}"
    encoding: base64
    max_bytes: 1048576
  register: previous

- name: Which of these attempts does the host know (recovery)
  jobnet.scheduler.job_info:
    ids: "{{ attempt_ids }}"
    missing: ignore
    output: false

- name: Running jobs of one frame
  jobnet.scheduler.job_info:
    state: [running]
    labels:
      frame: nightly

- name: Wait up to 60 seconds for a flag file to appear, with no job
  jobnet.scheduler.job_info:
    ids: []
    files: [/data/in/ready.flag]
    wait: 60

- name: Native async jobs in the same round trip
  jobnet.scheduler.job_info:
    ids: []
    async_jids: ["{{ backup.ansible_job_id }}"]
'''

RETURN = r'''
jobs:
  description: The reported jobs, in the order of O(ids) (or sorted by id).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The job id.
      type: str
    name:
      description: The job's name.
      type: str
    labels:
      description: The job's labels.
      type: dict
    state:
      description: V(running), V(normal_end), V(abnormal_end), V(stopped) or V(lost).
      type: str
      sample: normal_end
    rc:
      description: Exit status; V(null) while running, after a signal or when lost.
      type: int
      sample: 0
    signal:
      description: The signal number that ended the job, or V(null).
      type: int
    reason:
      description:
        - V(exit), V(timeout) or V(stopped) once ended, V(null) before.
        - V(launch_failed) only for a job folder that a failed launch could not remove (the job never ran).
      type: str
    started:
      description: When the job was launched, ISO-8601 UTC.
      type: str
      sample: '2026-11-21T01:00:00.123456Z'
    ended:
      description: When the job ended, ISO-8601 UTC, or V(null).
      type: str
    pid:
      description: The job's pid (also its process group id).
      type: int
    path:
      description: The job's folder on the host.
      type: str
    stdout:
      description: The chunk of stdout read from RV(jobs[].stdout_offset) (text or base64, see RV(jobs[].encoding)).
        Absent with O(output=false).
      type: str
    stderr:
      description: The chunk of stderr read from RV(jobs[].stderr_offset). Absent with O(output=false).
      type: str
    stdout_offset:
      description: The offset stdout was read from.
      type: int
    stderr_offset:
      description: The offset stderr was read from.
      type: int
    next_offset:
      description: "Where the next read should start, C({stdout: N, stderr: M}); pass it back through O(offsets)."
      type: dict
    stdout_size:
      description: The size of stdout in bytes at the time of the call.
      type: int
    stderr_size:
      description: The size of stderr in bytes at the time of the call.
      type: int
    has_more_data:
      description: True while the job runs or while bytes beyond RV(jobs[].next_offset) remain in either stream.
      type: bool
    encoding:
      description: V(text) or V(base64).
      type: str
missing:
  description: Ids of O(ids) that do not exist under O(root) (with O(missing=ignore)).
  returned: always
  type: list
  elements: str
missing_async_jids:
  description: Ids of O(async_jids) without a status file (with O(missing=ignore)).
  returned: always
  type: list
  elements: str
async_jobs:
  description: The native async jobs of O(async_jids).
  returned: always
  type: list
  elements: dict
  contains:
    jid:
      description: The async job id.
      type: str
    state:
      description: V(running), V(finished), or V(lost) when not finished and no process carries the jid.
      type: str
    finished:
      description: Whether the status file holds the final result.
      type: bool
    rc:
      description: The module's rc, if it returned one.
      type: int
    failed:
      description: Whether the module failed.
      type: bool
    msg:
      description: The module's message, if any.
      type: str
    results_file:
      description: The status file on the host.
      type: str
    result:
      description: The whole result of the module, once finished.
      type: dict
files:
  description: The files of O(files), in that order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path as given.
      type: str
    exists:
      description: Whether it exists (C(stat) succeeds, any type of file).
      type: bool
    mtime:
      description: Its modification time, ISO-8601 UTC, or V(null).
      type: str
    size:
      description: Its size in bytes, or V(null).
      type: int
root:
  description: The job root on the host, expanded.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jobnet.scheduler.plugins.module_utils._jobrunner import (
    DEFAULT_ASYNC_DIR,
    DEFAULT_ROOT,
    MAX_BYTES_MAX,
    WAIT_MAX,
    JobError,
    JobRoot,
    JobState,
    async_status,
    check_files,
    file_states,
    normalize_ids,
    seconds,
    select_views,
    wait_for_change,
    with_output,
)


class JobInfo(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.jroot = JobRoot(self.p['root'])

    def _offsets(self):
        p = self.p
        for field in ('stdout_offset', 'stderr_offset'):
            if p[field] < 0:
                raise JobError('%s must be >= 0, got %d' % (field, p[field]))
        out = {}
        for jid, val in (p['offsets'] or {}).items():
            if not isinstance(val, dict):
                raise JobError('offsets.%s must be a dictionary {stdout: N, stderr: M}' % jid)
            o = {}
            for stream in ('stdout', 'stderr'):
                v = val.get(stream, p[stream + '_offset'])
                try:
                    v = int(v)
                except (TypeError, ValueError):
                    raise JobError('offsets.%s.%s must be an integer, got %r' % (jid, stream, v))
                if v < 0:
                    raise JobError('offsets.%s.%s must be >= 0, got %d' % (jid, stream, v))
                o[stream] = v
            unknown = set(val) - set(('stdout', 'stderr'))
            if unknown:
                raise JobError('offsets.%s: unknown keys %s (use stdout and stderr)' % (jid, ', '.join(sorted(unknown))))
            out[jid] = o
        return out

    def run(self):
        p = self.p
        wait = seconds(p['wait'], 'wait', WAIT_MAX)
        if p['max_bytes'] < 4:
            raise JobError('max_bytes must be >= 4, got %d' % p['max_bytes'])
        if p['max_bytes'] > MAX_BYTES_MAX:
            raise JobError('max_bytes must be at most %d (16 MiB), got %d; read more output in pages: pass '
                           'next_offset back through offsets (or stdout_offset / stderr_offset)'
                           % (MAX_BYTES_MAX, p['max_bytes']))
        labels = p['labels'] or {}
        for k, v in labels.items():
            if isinstance(v, (dict, list)) or v is None:
                raise JobError('labels.%s must be a string, got %r' % (k, v))
        labels = dict((k, str(v)) for k, v in labels.items())
        offsets = self._offsets()
        ids = normalize_ids(p['ids'])
        async_jobs, missing_async = [], []
        if p['async_jids']:
            async_jobs, missing_async = async_status(p['async_jids'], p['async_dir'])
            if missing_async and p['missing'] == 'fail':
                raise JobError('async_jids: no async job %s in %s (use missing=ignore to list unknown ids instead)'
                               % (', '.join(repr(j) for j in missing_async), p['async_dir']))
        if p['ids'] is not None and not ids:
            views, missing = [], []     # ids: [] asks for no job (only async_jids)
        else:
            views, missing = select_views(self.jroot, ids, p['missing'], p['name'], p['state'], labels,
                                          host=p['host'])
        files = check_files(p['files'] or [])
        views = wait_for_change(self.jroot, views, wait, files=files, present=p['files_present'])
        jobs = []
        for v in views:
            o = offsets.get(v['id'], {})
            jobs.append(with_output(v, p['output'], o.get('stdout', p['stdout_offset']),
                                    o.get('stderr', p['stderr_offset']), p['max_bytes'], p['encoding']))
        return dict(changed=False, jobs=jobs, missing=missing, async_jobs=async_jobs,
                    missing_async_jids=missing_async, root=self.jroot.root, files=file_states(files))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ids=dict(type='list', elements='str'),
            name=dict(type='str'),
            state=dict(type='list', elements='str',
                       choices=[s.value for s in JobState]),
            labels=dict(type='dict'),
            host=dict(type='str'),
            missing=dict(type='str', default='fail', choices=['fail', 'ignore']),
            root=dict(type='path', default=DEFAULT_ROOT),
            output=dict(type='bool', default=True),
            stdout_offset=dict(type='int', default=0),
            stderr_offset=dict(type='int', default=0),
            offsets=dict(type='dict'),
            max_bytes=dict(type='int', default=65536),
            encoding=dict(type='str', default='text', choices=['text', 'base64']),
            wait=dict(type='raw', default=0),
            files=dict(type='list', elements='str'),
            files_present=dict(type='list', elements='str'),
            async_jids=dict(type='list', elements='str'),
            async_dir=dict(type='path', default=DEFAULT_ASYNC_DIR),
        ),
        supports_check_mode=True,
    )
    try:
        result = JobInfo(module).run()
    except JobError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
