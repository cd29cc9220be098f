# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.job (documented in plugins/modules/job.py).

Runs the module on the task's host unchanged, except that every job it starts without a ``host`` label gets the
label ``host: <inventory host>``, so that jobnet.scheduler.job_info on that host lists only its own jobs where
several inventory hosts share one machine and job root.
"""

from __future__ import annotations

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._host_label import host_label_action, with_host_labels

ActionModule = host_label_action('jobnet.scheduler.job', with_host_labels)
