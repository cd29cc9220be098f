#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: event
short_description: Raise, clear or show the named events that triggers wait for, or set a trigger by hand
version_added: 0.2.0
description:
  - An event is a named record in the state store - V(on) or V(off), its last update and its sender - shared by
    every frame and every controller on the store. A frame's event-wait trigger (C(triggers) of a frame, with
    C(event)) is ON while its event is ON; the frame, nets and jobs that name the trigger in C(wait_for) start once
    it is (with their C(after)).
  - With O(name) and O(state=on) or O(state=off) it sets the event (sender - the operator, or O(sender)). Setting
    an event to the state it has changes nothing (its last update and sender stay).
  - With O(instance) and O(trigger) it sets one trigger of one frame instance by hand - V(on) or V(off) hold until
    set back to V(auto) (its source again - the event, the file or the frame). Such a setting is kept across a
    recovery, also for a file-wait trigger (see the option C(file_wait_reset) to drop it as the original does).
  - Without O(state), or with O(state=query), nothing is changed and every event (or O(name)) is shown.
  - Runs on the controller only, whatever the task's host, so an event can be raised ad hoc from any machine with
    the collection and the store - C(ansible localhost -m jobnet.scheduler.event -a "name=data_ready state=on").
    A job raises one when it ends normally, with an C(event) in its C(on_end) in the frame.
  - Used by the C(jobnet.scheduler.event) playbook. See C(docs/triggers.md).
author:
  - jobnet.scheduler maintainers (@jobnet)
extends_documentation_fragment:
  - jobnet.scheduler.store.modules
  - jobnet.scheduler.controller_action
options:
  name:
    description:
      - The event. Letters, digits, V(_), V(.) and V(-), starting with a letter or a digit, up to 128 characters.
    type: str
  state:
    description:
      - V(on) or V(off) sets O(name) (or the trigger O(trigger) of O(instance)); V(auto) gives that trigger back to
        its source; V(query) changes nothing. V(true) / V(yes) are read as V(on), V(false) / V(no) as V(off) (an
        unquoted C(on) in YAML is a boolean).
    type: str
    choices: ['on', 'off', auto, query]
    default: query
  instance:
    description: A frame instance (C(FRAME@YYYY-MM-DD)) whose trigger O(trigger) is set by hand.
    type: str
  trigger:
    description: The name of a trigger of O(instance) (its C(name) in the frame's C(triggers)).
    type: str
  sender:
    description: Who sets it, as the record and the status show it. The default names the user and the machine.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Under C(--check) the result's C(changed) says whether the event or the trigger would change; nothing is
      written.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates
      no change.
    support: full
"""

EXAMPLES = r"""
- name: The upstream system's data is ready
  jobnet.scheduler.event:
    name: data_ready
    state: "on"

- name: Let the waiting load job go without its flag file
  jobnet.scheduler.event:
    instance: load@2026-12-02
    trigger: inbox
    state: "on"

- name: Back to the file
  jobnet.scheduler.event:
    instance: load@2026-12-02
    trigger: inbox
    state: auto

- name: Every event
  jobnet.scheduler.event:
  register: events
"""

RETURN = r"""
event:
  description: The record of O(name) after the task (C(name), C(state), C(sender), C(updated), C(changes)); null
    when it was never set.
  returned: when O(name) is given
  type: dict
events:
  description: Every event in the store, by name.
  returned: when no trigger is set
  type: dict
instance:
  description: The frame instance whose trigger was set.
  returned: when O(instance) is given
  type: str
trigger:
  description: The trigger's record after the task (C(state), C(sender), C(updated), C(manual)).
  returned: when O(instance) is given
  type: dict
"""
