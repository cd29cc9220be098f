# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: recorder
type: notification
short_description: Records jobnet frame and job results, prints frame progress, writes the run history
version_added: 0.1.0
description:
  - A notification callback that works beside any stdout callback (the default one, or the stdout callback of
    AWX / Automation Platform through ansible-runner).
  - The frame drivers print their own progress lines; for a driver that does not (a C(frame_step) bounded by
    C(step_seconds) of an older release), it prints a progress line per frame instance (jobs ended / running /
    queued / errors), at most every O(progress_interval) seconds.
  - It appends the delays, delay actions, end commands and notifications a frame step reports (C(monitoring) of
    C(jobnet.scheduler.frame_step)) to the same history, and prints their lines when the driver did not.
  - It appends every state change that the frame drivers, submits, operations and recoveries report (each with its
    C(source), the action that made it), and every job state that the M(jobnet.scheduler.job) and
    M(jobnet.scheduler.job_info) modules report, to an event history of JSON lines, one file per frame instance
    (C(<history_dir>/<frame>@<date>.jsonl); job results without a frame go to C(<history_dir>/jobs.jsonl)).
    Times are ISO-8601 UTC. The run chart does not need them; it is built from the state store's event log.
  - The frame state itself is recorded by the action plugins, in the state store, before each next decision; this
    callback never writes the store, so a run without it loses no state, only the history file and the progress lines.
  - Enable it with C(callbacks_enabled = jobnet.scheduler.recorder) in C(ansible.cfg) (or C(ANSIBLE_CALLBACKS_ENABLED));
    ad-hoc C(ansible) runs load it only with C(bin_ansible_callbacks = true).
requirements:
  - enable in configuration
options:
  history_dir:
    description: Folder of the event history files (created C(0700) when missing).
    type: path
    default: ~/.ansible/jobnet/history
    env:
      - name: JOBNET_HISTORY_DIR
    ini:
      - section: jobnet
        key: history_dir
  progress_interval:
    description: Least number of seconds between two progress lines of one frame instance.
    type: float
    default: 5
    env:
      - name: JOBNET_PROGRESS_INTERVAL
    ini:
      - section: jobnet
        key: progress_interval
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import isotime

FRAME_ACTIONS = frozenset(('frame_step', 'frame_submit', 'frame_op', 'frame_recover', 'frame_report'))
JOB_ACTIONS = frozenset(('job', 'job_info'))


def _short(action):
    return (action or '').rsplit('.', 1)[-1]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'jobnet.scheduler.recorder'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._last_progress = {}
        self._dir = None
        self._interval = 5.0

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._dir = os.path.expanduser(self.get_option('history_dir'))
        self._interval = float(self.get_option('progress_interval'))

    # ------------------------------------------------------------------ history
    def _append(self, name, records):
        if not records:
            return
        try:
            os.makedirs(self._dir, mode=0o700, exist_ok=True)
            safe = ''.join(c if c.isalnum() or c in '@._-' else '_' for c in name)
            path = os.path.join(self._dir, safe + '.jsonl')
            data = ''.join(json.dumps(r, sort_keys=True, default=str) + '\n' for r in records)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data.encode('utf-8'))
            finally:
                os.close(fd)
        except OSError as exc:
            self._display.warning('jobnet.scheduler.recorder: cannot append to the history in %s: %s'
                                  % (self._dir, exc))

    def _record_frame_events(self, host, res, source):
        per_instance = {}
        for ev in res.get('events') or []:
            if isinstance(ev, dict) and ev.get('instance'):
                rec = dict(ev, recorded=isotime(), driver=host, source=source)
                per_instance.setdefault(ev['instance'], []).append(rec)
        for iid, recs in per_instance.items():
            self._append(iid, recs)

    def _record_jobs(self, host, action, res):
        per_file = {}
        for job in res.get('jobs') or []:
            if not isinstance(job, dict):
                continue
            labels = job.get('labels') or {}
            rec = {'time': isotime(), 'host': host, 'source': action, 'id': job.get('id'), 'name': job.get('name'),
                   'state': job.get('state'), 'rc': job.get('rc'), 'signal': job.get('signal'),
                   'started': job.get('started'), 'ended': job.get('ended')}
            if labels.get('instance'):
                rec['path'] = labels.get('path')
            per_file.setdefault(labels.get('instance') or 'jobs', []).append(rec)
        for name, recs in per_file.items():
            self._append(name, recs)

    def _record_monitoring(self, host, res, printed):
        """The delays, actions and notifications a frame step reports: into the history, and printed when the
        driver did not print its own lines (so that a job output that shows only callbacks shows them too)."""
        per_instance = {}
        for rec in res.get('monitoring') or []:
            if isinstance(rec, dict) and rec.get('instance'):
                per_instance.setdefault(rec['instance'], []).append(dict(rec, recorded=isotime(), driver=host))
                if not printed and rec.get('line'):
                    self._display.display(str(rec['line']))
        for iid, recs in per_instance.items():
            self._append(iid, recs)

    # ------------------------------------------------------------------ progress
    def _progress(self, host, res, force=False):
        now = time.monotonic()
        for iid, summ in sorted((res.get('instances') or {}).items()):
            if not isinstance(summ, dict):
                continue
            if not force and now - self._last_progress.get(iid, 0.0) < self._interval:
                continue
            self._last_progress[iid] = now
            counts = summ.get('counts') or {}
            ended = sum(counts.get(s, 0) for s in ('normal_end', 'skip_end', 'abnormal_end'))
            total = sum(counts.values())
            queued = sum(counts.get(s, 0) for s in ('queuing', 'queuing_env_down'))
            waiting = sum(counts.get(s, 0) for s in ('waiting', 'skip_wait', 'pause_wait', 'paused'))
            self._display.display(
                'jobnet: %s %s: %d/%d ended, %d running, %d queued, %d waiting, %d errors'
                % (iid, summ.get('state'), ended, total, counts.get('running', 0), queued, waiting,
                   counts.get('abnormal_end', 0)))

    # ------------------------------------------------------------------ callback entry points
    def _handle(self, result, final):
        action = _short(getattr(result.task, 'action', '') if hasattr(result, 'task') else '')
        res = result.result if hasattr(result, 'result') else {}
        if not isinstance(res, dict):
            return
        host = result.host.get_name() if hasattr(result, 'host') else None
        if action == 'frame_step':
            self._record_frame_events(host, res, action)
            self._record_monitoring(host, res, printed=res.get('progress_printed'))
            if not res.get('progress_printed'):   # a driver that prints its own progress lines
                self._progress(host, res, force=final and res.get('done'))
        elif action in ('frame_submit', 'frame_op', 'frame_recover'):
            if final:
                self._record_frame_events(host, res, action)
        elif action in JOB_ACTIONS:
            self._record_jobs(host, action, res)

    def v2_runner_retry(self, result):
        self._handle(result, final=False)

    def v2_runner_on_ok(self, result):
        self._handle(result, final=True)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._handle(result, final=True)
