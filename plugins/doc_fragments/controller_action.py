# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes shared by the frame actions, which run on the controller only. Each action says in its own
documentation what it does in check mode (attribute check_mode)."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
attributes:
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
"""
