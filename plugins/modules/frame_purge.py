#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: frame_purge
short_description: Remove the history of operation dates before a date from the state store
version_added: 0.1.0
description:
  - Removes every frame instance of an operation date before O(before) that has ended (C(normal_end),
    C(abnormal_end), C(skip_end)) or was never submitted (C(not_submitted)) - its records, items, event history and
    lease, in one transaction per instance - and the day schedule records of those dates.
  - Recovery already leaves such history alone (setting C(live_days)); this removes it on purpose, to keep the
    store small.
  - An instance that has not ended, or that a live controller holds, is kept and named in RV(kept).
  - Used by the C(jobnet.scheduler.purge) playbook. Runs on the controller only.
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  before:
    description: Remove what belongs to operation dates before this one, exactly C(YYYY-MM-DD), at most today.
    type: str
    required: true
  frame:
    description: Only the instances of this frame (day schedule records are then kept).
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) RV(removed) and RV(days) list what would be removed; nothing is.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

EXAMPLES = r"""
- name: Keep a month of history
  jobnet.scheduler.frame_purge:
    before: "{{ '%Y-%m-%d' | strftime(now().timestamp() - 31 * 86400) }}"
"""

RETURN = r"""
removed:
  description: The instances removed (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
kept:
  description: Instances of those dates that were kept, each with why (C(instance), C(msg)).
  returned: success
  type: list
  elements: dict
days:
  description: The day schedule records removed (C(day/<schedule>/<date>)).
  returned: success
  type: list
  elements: str
"""
