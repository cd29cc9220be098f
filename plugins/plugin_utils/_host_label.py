# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``host`` label of jobs: which inventory host a job belongs to where hosts share a machine.

Pure functions over module arguments, and the action plugin class of jobnet.scheduler.job and job_info that
applies them. Arguments that are not of the documented types are passed through unchanged, so the module reports
them.
"""

from __future__ import annotations

#: the label every job carries: the inventory host it was started for
HOST_LABEL = 'host'


def with_host_labels(args, host):
    """A copy of ``job`` arguments where every job without a ``host`` label gets ``host: <host>``."""
    out = dict(args)
    jobs = out.get('jobs')
    if not host or not isinstance(jobs, list):
        return out
    labelled = []
    for job in jobs:
        if isinstance(job, dict):
            labels = job.get('labels')
            if labels is None:
                job = dict(job, labels={HOST_LABEL: host})
            elif isinstance(labels, dict) and HOST_LABEL not in labels:
                job = dict(job, labels=dict(labels, **{HOST_LABEL: host}))
        labelled.append(job)
    out['jobs'] = labelled
    return out


def with_host_filter(args, host):
    """A copy of ``job_info`` arguments that lists only ``host``'s jobs when neither ``ids`` nor ``host`` is given."""
    out = dict(args)
    if host and out.get('ids') is None and out.get('host') is None:
        out['host'] = host
    return out


def host_label_action(module, adjust):
    """An action plugin class that runs ``module`` on the task's host with its arguments passed through
    ``adjust(args, inventory host)`` (:func:`with_host_labels` or :func:`with_host_filter`)."""
    from ansible.plugins.action import ActionBase

    class ActionModule(ActionBase):

        _supports_check_mode = True
        _supports_async = False

        def run(self, tmp=None, task_vars=None):
            task_vars = task_vars or {}
            result = super().run(tmp, task_vars)
            args = adjust(self._task.args, task_vars.get('inventory_hostname'))
            result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
            return result

    return ActionModule
