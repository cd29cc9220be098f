# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One recovery of the store, after a controller failure: the orchestration around the recovery tables.

:class:`RecoveryRun` is what the ``recover`` playbook's action asks for, in two calls around the hosts' answers:

- :meth:`RecoveryRun.plan`: the instances to recover (not ``not_submitted``, not history, not driven by a live
  controller), each leased, with its options, and the attempt ids to ask each host about (one ``job_info`` call
  per host, made by the playbook's next play);
- :meth:`RecoveryRun.apply`: with the answers, the recovery tables applied to every instance in one transaction
  each (:meth:`_engine.Engine.recover`), per operation date and frames in name order, with the PEX056 / PEX058 /
  PEX060 messages; the attempts that ran on the manager node stopped and their ends recorded; the day schedules
  whose base time passed during the failure created (table 5.427 B); the instances to hand to the automatic rerun.

It runs no module itself: the action gives it a function that stops attempts on a manager node. Every decision
is the engine's and the tables'; this module only puts them in order.
"""

from __future__ import annotations

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _monitor, _recovery, _store, _triggers
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import utcnow

#: the errors of a record that recovery cannot use: that instance is refused, the others go on
DAMAGE = (_store.StoreError, _recovery.IncompleteRecord, ValueError, KeyError, TypeError, AttributeError)


def damaged(iid, exc):
    """The message of a record that could not be used: store and recovery errors say it themselves; a raw Python
    error (a damaged definition) is named as such, with the key or value it stumbled on."""
    if isinstance(exc, (_store.StoreError, _recovery.IncompleteRecord)):
        return str(exc)
    return ('its records are damaged (%s %s while reading them); they were left as they are: repair the instance '
            'or restore the store from a backup' % (type(exc).__name__, exc))


def corrupt_by_instance(problems):
    """{instance id: [its problems]} of the problems list_instances collected."""
    out = {}
    for problem in problems:
        out.setdefault(problem.get('instance') or '?', []).append(problem)
    return out


def options_for(instance, base, explicit):
    """Frame options override the play-level ``base``; ``explicit`` task arguments (-e) override both."""
    frame_opts = (instance.get('definition') or {}).get('options') or {}
    opts = _recovery.RecoveryOptions.from_mapping(frame_opts, where='frame %s options' % instance['frame'],
                                                  base=base, ignore_unknown=True)
    return _recovery.RecoveryOptions.from_mapping(explicit, where='task arguments', base=opts)


def _catch_up_per_frame(base, explicit):
    """``catch_up`` of each frame: its own ``options.catch_up`` between the setting (``base``) and an explicit
    ``-e catch_up``."""
    def catch_up(defn):
        return options_for({'definition': defn, 'frame': defn.get('frame')}, base, explicit).catch_up
    return catch_up


class RecoveryRun:
    """A recovery on ``store`` by ``engine`` (its owner says ``recover``); ``say`` prints an operator's line."""

    def __init__(self, store, engine, *, say, manager_hosts=('localhost',), check_mode=False):
        self.store = store
        self.engine = engine
        self.say = say
        self.manager = frozenset(manager_hosts)
        self.check_mode = check_mode

    def _tell(self, line):
        self.say('jobnet: %s%s' % ('check mode: ' if self.check_mode and not line.startswith('check mode')
                                   else '', line))

    # ------------------------------------------------------------------ plan
    def _check_lease(self, iid):
        """Check mode: refuse as acquire would (a live driver), take nothing; returns None."""
        current = self.store.get_lease(iid)
        if current is not None and current.token and not current.expired \
                and not _store.owner_is_dead(current.owner):
            raise _engine.EngineError(str(_store.LeaseHeld(iid, current.owner, current.expires)))
        return None

    def plan(self, *, base, explicit, operation_date=None, frame=None, live_days=_day.LIVE_DAYS):
        """Lease every instance to recover; returns the plan (instances, leases, options, polls per host, hosts,
        refused)."""
        problems = []   # a corrupt instance record refuses only its own instance
        candidates = [i for i in self.store.list_instances(operation_date, frame=frame, problems=problems)
                      if i['state'] != State.NOT_SUBMITTED.value]
        candidates.sort(key=lambda i: (i['operation_date'], i['frame']))
        if operation_date is None:
            # ended instances of dates before the live ones are history: kept, never changed by recovery
            oldest = _day.oldest_live_date(self.store, days=live_days, problems=[])
            history = [i for i in candidates if _day.is_history(i, oldest)]
            if history:
                candidates = [i for i in candidates if not _day.is_history(i, oldest)]
                self.say('jobnet: %d ended instance(s) of operation dates before %s are history and not recovered '
                         '(live_days; recover them with -e operation_date=DATE, remove them with '
                         'jobnet.scheduler.purge)' % (len(history), oldest))
        leases, refused, polls, options, hosts, files = {}, [], {}, {}, set(), {}
        for iid, probs in corrupt_by_instance(problems).items():
            corrupt = _store.CorruptRecord(getattr(self.store, 'url', ''), probs)
            refused.append('%s not recovered: %s' % (iid, corrupt))
        for summary in candidates:
            iid = summary['id']
            try:
                lease = self._check_lease(iid) if self.check_mode else self.engine.acquire(iid)
            except (_engine.EngineError, _store.StoreError) as exc:   # a live driver, or a corrupt lease record
                refused.append('%s not recovered: %s' % (iid, exc))
                continue
            try:
                instance, items = self.store.load(iid)
                opts = options_for(instance, base, explicit)
                if opts.recovery and not opts.recovery_skip:
                    asks = _recovery.attempts_to_poll(instance, items, manager_hosts=self.manager, options=opts)
                    for host, ids in asks.items():
                        polls.setdefault(host, []).extend(ids)
                    for act in (instance.get('actions') or {}).values():
                        # an action or end command launching or running: asked about in the same call (adopted)
                        if _monitor.is_live(act) and act.get('attempt_id'):
                            polls.setdefault(act['host'], []).append(act['attempt_id'])
                    defn = instance.get('definition') or {}
                    for host in _triggers.hosts_of(defn):
                        # note 1: a file-wait follows whether its file exists now, asked in the same call
                        polls.setdefault(host, [])
                        files.setdefault(host, set()).update(_triggers.files_on(defn, host))
                hosts.update((instance.get('definition') or {}).get('hosts', []))
            except DAMAGE as exc:
                refused.append('%s not recovered: %s' % (iid, damaged(iid, exc)))
                if lease is not None:
                    self.store.release_lease(lease)
                continue
            leases[iid] = lease.to_dict() if lease is not None else {'iid': iid, 'token': '', 'epoch': 0}
            options[iid] = opts.as_dict()
        for line in refused:
            self.say('jobnet: ' + line)
        polls = {h: sorted(set(ids)) for h, ids in polls.items()}
        return {
            'changed': bool(leases),
            'instances': list(leases),
            'leases': leases,
            'options': options,
            'polls': polls,
            'poll_hosts': sorted(polls),
            'files': {h: sorted(paths) for h, paths in files.items()},
            'hosts': sorted(hosts),
            'refused': refused,
        }

    # ------------------------------------------------------------------ apply
    def apply(self, plan, *, fetched, unreachable, lease_ttl, stop_on_manager, catch_up=False, days=True,
              now=None, base=None, explicit=None, files=None):
        """Apply the recovery tables to every planned instance with the hosts' answers (``fetched``: {attempt id:
        job_info view}; ``unreachable``: hosts that did not answer). ``stop_on_manager(host, ids)`` stops attempts
        on a manager node and returns the ``job`` module's result. ``days``: also create the day schedules whose
        base time passed during the failure; ``catch_up`` (a bool), or ``base`` and ``explicit`` recovery options
        (each frame's own ``options.catch_up`` between them), decide table 5.428 B-1. ``files``: {(host, path):
        {'exists', 'mtime'}} of the file triggers the hosts were asked about (note 1). Returns the result of the apply phase (instances and leases for the
        automatic rerun, messages, the report list)."""
        iids = list(plan.get('instances') or [])
        leases = dict(plan.get('leases') or {})
        now = now or utcnow()
        total = len(iids)
        engine = self.engine
        resumed, stops, messages, failed, failed_ids, done = [], {}, [], [], set(), []
        for k, iid in enumerate(iids, 1):
            opts = _recovery.RecoveryOptions(**plan['options'][iid])
            if self.check_mode:
                try:
                    res = engine.recover(iid, None, fetched=fetched, unreachable=unreachable, options=opts, now=now,
                                         manager_hosts=self.manager, preview=True, files=files)
                except DAMAGE as exc:
                    failed.append('%s would not be recovered: %s' % (iid, damaged(iid, exc)))
                    self.say('jobnet: check mode: ' + failed[-1])
                    failed_ids.add(iid)
                    continue
                for line in res.messages:
                    self.say('jobnet: check mode: %s' % line)
                messages.extend(res.messages)
                self.say('jobnet: check mode: %s would be recovered (nothing was recorded)' % iid)
                done.append(iid)
                continue
            lease = _engine.lease_from_dict(_store, leases[iid])
            try:
                lease = self.store.renew_lease(lease, float(lease_ttl)) or lease
            except _store.LeaseLost as exc:
                failed.append('%s not recovered: another controller took it over during the recovery (%s)'
                              % (iid, exc))
                self.say('jobnet: ' + failed[-1])
                failed_ids.add(iid)
                leases.pop(iid, None)
                continue
            leases[iid] = lease.to_dict()
            self.say('jobnet: ' + _day.recovery_start_message(self.store, iid))
            try:
                res = engine.recover(iid, lease, fetched=fetched, unreachable=unreachable, options=opts, now=now,
                                     manager_hosts=self.manager, files=files)
            except (_recovery.IncompleteRecord, _store.CorruptRecord, ValueError, KeyError, TypeError,
                    AttributeError) as exc:
                failed.append('%s not recovered: %s' % (iid, damaged(iid, exc)))
                failed_ids.add(iid)
                self.say('jobnet: %s' % failed[-1])
                self.store.release_lease(lease)
                leases.pop(iid, None)
                continue
            for line in res.messages:
                self.say('jobnet: %s' % line)
            messages.extend(res.messages)
            for host, aid in res.stop:
                stops.setdefault(host, {}).setdefault(iid, []).append(aid)
            self.say('jobnet: ' + _recovery.progress_message(k, total, iid))
            done.append(iid)
            if opts.recovery and opts.auto_rerun:
                resumed.append(iid)
        self.say('jobnet: ' + _recovery.all_done_message(total))
        stopped_on_manager = self._stop_on_manager(stops, leases, stop_on_manager, messages)
        for iid in done:
            if iid not in resumed and not self.check_mode:
                self.store.release_lease(_engine.lease_from_dict(_store, leases.pop(iid)))
        made_days = []
        if days:
            # table 5.427: the day schedule whose base time passed during the failure is created now (B), its
            # frames per table 5.428 B-1 / B-2; the frames it submits join the automatic rerun
            problems = []
            if base is not None:
                catch_up = _catch_up_per_frame(base, dict(explicit or {}))
            made, lines = _day.recover_days(self.store, engine, now=now, catch_up=catch_up, problems=problems,
                                            preview=self.check_mode)
            for problem in problems:
                where = problem.get('key') or problem.get('record')
                self.say('jobnet: schedule record %s %s' % (where, problem.get('reason')))
            for line in lines:
                self._tell(line)
            messages.extend(lines)
            for created in made:
                made_days.append(created.as_dict())
                resumed.extend(i for i in created.instances if i not in resumed)
                leases.update(created.leases)
        hosts = set()
        for iid in resumed:
            inst = self.store.get_instance(iid)
            hosts.update((inst.get('definition') or {}).get('hosts', []))
        return {
            'changed': True,
            'instances': resumed,
            'leases': {iid: leases[iid] for iid in resumed},
            'hosts': sorted(hosts),
            'recovered': [i for i in iids if i not in failed_ids],
            'report': [i for i in iids if i not in failed_ids] + [i for d in made_days for i in d['instances']],
            'messages': messages,
            'unreachable_hosts': sorted(unreachable),
            'stopped_on_manager': stopped_on_manager,
            'failed_instances': failed,
            'refused': plan.get('refused') or [],
            'events': engine.events,
            'days': made_days,
        }

    def _stop_on_manager(self, stops, leases, stop_on_manager, messages):
        """Jobs that were running on the manager node (this controller) are stopped (table 5.431), and what the host
        says of each stop (rc, signal, end) is recorded while the instance's lease is still held."""
        stopped = {}
        for host, per_iid in stops.items():
            if host not in self.manager:
                continue
            ids = [aid for aids in per_iid.values() for aid in aids]
            stopped[host] = ids
            out = stop_on_manager(host, ids)
            if out.get('failed'):
                messages.append('could not stop %s on %s: %s' % (', '.join(ids), host, out.get('msg')))
                self.say('jobnet: ' + messages[-1])
            views = [v for v in out.get('jobs') or [] if isinstance(v, dict)]
            for iid in per_iid:
                if views and iid in leases:
                    self.engine.record_recovery_stops(iid, _engine.lease_from_dict(_store, leases[iid]), views)
        return stopped
