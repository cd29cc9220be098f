# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operator messages that carry an id, in one catalogue, and the one function that words them.

``PEX`` ids are the original scheduler's (5.5.3); ``JNR`` ids are this product's own, for situations the original
has no message for. Each text starts with its id and names its fields in braces; a key ``ID/variant`` is another
wording of the same id for another place (its text starts with the id as well). Pure data: this module imports
nothing, so that every room (recovery, the state store, the engine) can word its messages here.
"""

from __future__ import annotations

#: id -> text (``str.format`` fields in braces).
MESSAGES = {
    # recovery of one frame instance starts (printed by the engine)
    'PEX056': 'PEX056 frame recovery started: {iid}',
    # a frame instance is recovered: the k-th of the n this recovery takes (printed by the engine after each)
    'PEX058': 'PEX058 frame recovery completed: {k} of {n} frames ({iid})',
    # every frame instance of this recovery is recovered (printed by the engine at the end)
    'PEX060': 'PEX060 all frames recovered: {n} frames',
    # recovery runs with recovery_skip on: no agent is asked (table 5.432)
    # a deadline (start_by, end_by, max_duration) that passed before recovery completed: reported, its action not run
    'PEX174': 'PEX174 delay action not executed: {iid} {what} was late ({late}: {setting}, {deadline}) during the '
              'failure',
    'PEX170': 'PEX170 recovery skip: agents are not contacted; their running and abnormal_end jobs are '
              'queuing_env_down until a recovery with recovery_skip off',
    # the state store cannot be written: the message of every failed store write (StoreWriteError); ``detail``
    # names the record, the store and the cause
    'PEX209': 'PEX209 state store write failed: {detail}. Nothing of this write was recorded; new launches stop '
              'until the store can be written again.',
    # the same error as PEX209, as recovery's own list of messages words it (docs/recovery.md, "Messages")
    'PEX209/recovery': 'PEX209 status store write error: {detail}; no new job is launched and no frame can be '
                       'recovered until the store can be written again',
    # table 5.431: a job running on the manager node is ended abnormal_end (and its attempt stopped)
    'JNR101': 'JNR101 job {path} was running on the manager node {host}: abnormal_end{stopping} '
              '(not restarted; the next rerun restarts it)',
    # recovery cannot reach the job's host: the job waits for the host as queuing_env_down
    'JNR102': 'JNR102 job {path} on {host}: unreachable, queuing_env_down',
    # a running job whose attempt its host does not have
    'JNR103': 'JNR103 job {path}: attempt {aid} not found on {host}: abnormal_end '
              '(not restarted; the next rerun restarts it)',
    # table 5.432, second recovery after a skip: the attempt is gone from its host (the machine stopped)
    'JNR104': 'JNR104 job {path}: agent machine stopped: attempt {aid} lost on {host}: abnormal_end '
              '(not restarted; the next rerun restarts it)',
    # an attempt recorded launching (write-ahead) that its host never started: queued again, same attempt id
    'JNR105': 'JNR105 job {path}: attempt {aid} was never started on {host}: queuing',
    # an adopted attempt ended abnormally, was stopped or was lost while the controller was down
    'JNR106': 'JNR106 job {path}: attempt {aid} ended while the controller was down: {how}',
    # table 5.429: a standby frame whose start time passed during the failure goes back to not_submitted
    'JNR107': 'JNR107 frame {iid}: its start time {start_at} passed during the failure: not_submitted, '
              'the frame does not start (submit it if needed)',
    # table 5.429: an ended frame with end_recover off goes back to not_submitted with all its items
    'JNR108': 'JNR108 frame {iid}: was {state}, end_recover is off: not_submitted with all its nets and jobs',
    # recovery off: the instance is left as it was
    'JNR109': 'JNR109 frame {iid}: recovery is off: not recovered, its records are left as they were '
              '(init or force_init it, or recover it with recovery on)',
    # an operation refused while a recovery holds the instance (5.5.3.3 notes 14 and 15)
    'JNR110': 'JNR110 {operation} refused on {iid}: not allowed during recovery (5.5.3.3 note {note})',
    # the day schedule of an operation date is created (by the schedule playbook, or by recovery: table 5.427 B)
    'JNR120': 'JNR120 day schedule {schedule} {date} created by {by}: {count} frame(s)',
    # table 5.428 B-1: recovery created the day after the frame's start time passed during the failure
    'JNR121': 'JNR121 frame {iid}: its start time {start} passed during the failure before its day schedule was '
              'created: not_submitted, the frame does not start (submit it if needed: jobnet.scheduler.schedule '
              '-e submit=FRAME)',
    # a frame of a day schedule is submitted: standby until its start time, or waiting
    'JNR122': 'JNR122 frame {iid} submitted: {state}, starts {start}',
    # table 5.427 A: the day schedule was created before the failure: kept
    'JNR123': 'JNR123 day schedule {schedule} {date} was created before the failure: kept',
    # table 5.427 C: the base time comes after the recovery: the day is created then (the next schedule run)
    'JNR124': 'JNR124 day schedule {schedule} {date}: its base time {base} comes after the recovery: created then '
              'by jobnet.scheduler.schedule',
    # check mode of recovery: table 5.427 B, what would be created
    'JNR125': 'JNR125 day schedule {schedule} {date} would be created by recovery: {frames}',
    # note 13: a frame recovered while its start time was being changed keeps the new start time
    'PEX056/reschedule': 'PEX056 frame recovery started: {iid} [start date converting]: its time override '
                         '{start_at} is kept',
    # a submitted frame's start time is changed (a time override)
    'JNR126': 'JNR126 frame {iid}: start time changed from {old} to {new}',
    # resources and host slots after recovery (notes 2 and 11: the product restores them from the records)
    'JNR127': 'JNR127 frame {iid}: resources restored from the recovered jobs: {holds}; waiting in order: {waits}',
    'JNR128': 'JNR128 frame {iid}: resources reset (resource_reset, the original behaviour of notes 2 and 11): '
              '{count} job(s) that may still run hold nothing and {waiters} waiting job(s) lost their place; limits can '
              'be exceeded',
}


def message(code, **fields):
    """The text of the message ``code`` with its ``fields`` filled in.

    Raises KeyError for an unknown id (naming it and the known ones) or a field the text needs and was not given.
    """
    try:
        text = MESSAGES[code]
    except KeyError:
        raise KeyError('unknown message id %r (known: %s)' % (code, ', '.join(sorted(MESSAGES)))) from None
    return text.format(**fields)
