# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.job (documented in plugins/modules/job.py).

Runs the module on the task's host unchanged, except that every job it starts without a ``host`` label gets the
label ``host: <inventory host>``, so that jobnet.scheduler.job_info on that host lists only its own jobs where
several inventory hosts share one machine and job root.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._host_label import with_host_labels


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = with_host_labels(self._task.args, task_vars.get('inventory_hostname'))
        result.update(self._execute_module(module_name='jobnet.scheduler.job', module_args=args,
                                           task_vars=task_vars))
        return result
