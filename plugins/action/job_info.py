# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.job_info (documented in plugins/modules/job_info.py).

Runs the module on the task's host; a listing without O(ids) and without O(host) is limited to the jobs of the
task's inventory host (``host: <inventory host>``), so that hosts that share a machine and a job root each list
their own jobs.
"""

from __future__ import annotations

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._host_label import host_label_action, with_host_filter

ActionModule = host_label_action('jobnet.scheduler.job_info', with_host_filter)
