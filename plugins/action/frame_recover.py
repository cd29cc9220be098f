# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_recover (documented in plugins/modules/frame_recover.py).

``phase: plan`` takes the lease of every instance to recover and says which attempt ids to ask each host about
(one ``job_info`` call per host, made by the playbook's next play); ``phase: apply`` applies the recovery tables
to every instance, per operation date and frames in name order, with the answers, stops the jobs that were
running on the manager node, and (auto rerun) hands the recovered instances to the drive play.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _recovery, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import utcnow

#: the recovery options (task arguments and jobnet settings): the fields of RecoveryOptions
OPTION_NAMES = _recovery.RecoveryOptions.names()


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


class ActionModule(JobnetAction):

    # under --check: what would be recovered and how (the hosts are asked, read-only); nothing leased or written
    _supports_check_mode = True

    _requires_connection = True  # phase poll talks to the task's host; plan and apply run on localhost
    _VALID_ARGS = frozenset(('phase', 'plan', 'polls', 'store', 'lease_ttl', 'operation_date', 'frame',
                             'manager_hosts', 'manager_root', 'root', 'unreachable_retries', 'unreachable_delay')
                            + OPTION_NAMES)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        spec = {
            'phase': {'type': 'str', 'choices': ['plan', 'poll', 'apply']},
            'manager_root': {'type': 'str'},
            'root': {'type': 'str'},
            'unreachable_retries': {'type': 'int'},
            'unreachable_delay': {'type': 'float'},
            'plan': {'type': 'dict'},
            'polls': {'type': 'dict'},
            'store': {'type': 'str'},
            'lease_ttl': {'type': 'float'},
            'operation_date': {'type': 'str'},
            'frame': {'type': 'str'},
            'manager_hosts': {'type': 'list', 'elements': 'str'},
        }
        for name in OPTION_NAMES:
            spec[name] = {'type': 'bool'}
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_recover', spec))
        if args.get('operation_date'):
            args['operation_date'] = self.check_date(args['operation_date'])
        if args['phase'] == 'poll':
            result.update(self.poll(args, task_vars))
            return result
        store = self.open_store(task_vars)
        try:
            if args['phase'] == 'plan':
                result.update(self.plan(store, args, task_vars))
            else:
                result.update(self.apply(store, args, task_vars))
        except (_store.StoreError, _engine.EngineError) as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        return result

    # ------------------------------------------------------------------ options
    def base_options(self, args, task_vars):
        """Play-level recovery options: vars jobnet_<name> > env JOBNET_<NAME> > ini [jobnet] <name> > the default the
        doc fragment jobnet.scheduler.options documents."""
        values = {name: self.option(name, task_vars) if args.get(name) is None else None for name in OPTION_NAMES}
        return _recovery.RecoveryOptions.from_mapping(values, where='jobnet_* variables / environment / ansible.cfg')

    @staticmethod
    def options_for(instance, base, args):
        """Frame options override the play-level ones; an explicit task argument (-e) overrides both."""
        frame_opts = (instance.get('definition') or {}).get('options') or {}
        opts = _recovery.RecoveryOptions.from_mapping(frame_opts, where='frame %s options' % instance['frame'],
                                                      base=base, ignore_unknown=True)
        explicit = {name: args.get(name) for name in OPTION_NAMES if args.get(name) is not None}
        return _recovery.RecoveryOptions.from_mapping(explicit, where='task arguments', base=opts)

    # ------------------------------------------------------------------ plan
    def plan(self, store, args, task_vars):
        engine = self.engine(store, task_vars, 'recover')
        base = self.base_options(args, task_vars)
        manager = frozenset(args['manager_hosts'])
        problems = []   # a corrupt instance record refuses only its own instance
        candidates = [i for i in store.list_instances(args.get('operation_date'), frame=args.get('frame'),
                                                      problems=problems)
                      if i['state'] != State.NOT_SUBMITTED.value]
        candidates.sort(key=lambda i: (i['operation_date'], i['frame']))
        if args.get('operation_date') is None:
            # ended instances of dates before the live ones are history: kept, never changed by recovery
            oldest = _day.oldest_live_date(store, days=self.option('live_days', task_vars), problems=[])
            history = [i for i in candidates if _day.is_history(i, oldest)]
            if history:
                candidates = [i for i in candidates if not _day.is_history(i, oldest)]
                say('jobnet: %d ended instance(s) of operation dates before %s are history and not recovered '
                    '(live_days; recover them with -e operation_date=DATE, remove them with jobnet.scheduler.purge)'
                    % (len(history), oldest))
        leases, refused, polls, options, hosts = {}, [], {}, {}, set()
        for iid, probs in corrupt_by_instance(problems).items():
            refused.append('%s not recovered: %s' % (iid, _store.CorruptRecord(getattr(store, 'url', ''), probs)))
        for summary in candidates:
            iid = summary['id']
            try:
                lease = self.check_lease(store, iid) if self._task.check_mode else engine.acquire(iid)
            except (_engine.EngineError, _store.StoreError) as exc:   # a live driver, or a corrupt lease record
                refused.append('%s not recovered: %s' % (iid, exc))
                continue
            try:
                instance, items = store.load(iid)
                opts = self.options_for(instance, base, args)
                if opts.recovery and not opts.recovery_skip:
                    asks = _recovery.attempts_to_poll(instance, items, manager_hosts=manager, options=opts)
                    for host, ids in asks.items():
                        polls.setdefault(host, []).extend(ids)
                hosts.update((instance.get('definition') or {}).get('hosts', []))
            except (_store.StoreError, _recovery.IncompleteRecord, ValueError, KeyError, TypeError,
                    AttributeError) as exc:
                refused.append('%s not recovered: %s' % (iid, damaged(iid, exc)))
                if lease is not None:
                    store.release_lease(lease)
                continue
            leases[iid] = lease.to_dict() if lease is not None else {'iid': iid, 'token': '', 'epoch': 0}
            options[iid] = opts.as_dict()
        for line in refused:
            say('jobnet: ' + line)
        polls = {h: sorted(set(ids)) for h, ids in polls.items()}
        self.check_forks(sorted(hosts | set(polls)))
        self.max_running(task_vars, sorted(hosts))
        return {
            'changed': bool(leases),
            'instances': list(leases),
            'leases': leases,
            'options': options,
            'polls': polls,
            'poll_hosts': sorted(polls),
            'refused': refused,
        }

    @staticmethod
    def check_lease(store, iid):
        """Check mode: refuse as acquire would (a live driver), take nothing; returns None."""
        current = store.get_lease(iid)
        if current is not None and current.token and not current.expired \
                and not _store.owner_is_dead(current.owner):
            raise _engine.EngineError(str(_store.LeaseHeld(iid, current.owner, current.expires)))
        return None

    # ------------------------------------------------------------------ poll (on each host)
    def poll(self, args, task_vars):
        """One job_info call with every attempt id this host must be asked about; bounded retries."""
        host = task_vars.get('inventory_hostname')
        ids = ((args.get('plan') or {}).get('polls') or {}).get(host) or []
        retries = int(self.option('unreachable_retries', task_vars))
        delay = float(self.option('unreachable_delay', task_vars))
        margs = {'ids': ids, 'missing': 'ignore', 'output': False}
        if args.get('root'):
            margs['root'] = args['root']
        last = 'no answer'
        for attempt in range(1, max(1, retries) + 1):
            try:
                out = self._execute_module(module_name='jobnet.scheduler.job_info', module_args=margs,
                                           task_vars=task_vars)
            except AnsibleConnectionFailure as exc:
                out = {'unreachable': True, 'msg': str(exc)}
            if not out.get('unreachable'):
                if out.get('failed'):
                    return {'failed': True, 'msg': 'job_info on %s failed: %s' % (host, out.get('msg')),
                            'host': host, 'asked': len(ids)}
                return {'host': host, 'asked': len(ids), 'jobs': out.get('jobs', []),
                        'missing': out.get('missing', []), 'attempts': attempt}
            last = out.get('msg') or last
            if attempt < retries:
                time.sleep(delay)
        return {'host': host, 'asked': len(ids), 'host_unreachable': True, 'attempts': retries,
                'msg': '%s unreachable after %d attempts: %s' % (host, retries, str(last).strip()[:300])}

    # ------------------------------------------------------------------ apply
    def apply(self, store, args, task_vars):
        plan = args.get('plan') or {}
        iids = list(plan.get('instances') or [])
        leases = dict(plan.get('leases') or {})
        manager = frozenset(args['manager_hosts'])
        fetched, unreachable = {}, set()
        hostvars = task_vars.get('hostvars') or {}
        for host in plan.get('poll_hosts') or []:
            poll = (args.get('polls') or {}).get(host)
            if poll is None:
                try:
                    poll = hostvars[host].get('jobnet_poll')
                except (KeyError, AttributeError):
                    poll = None
            if not isinstance(poll, dict) or poll.get('unreachable') or poll.get('host_unreachable') \
                    or poll.get('failed') or 'jobs' not in poll:
                unreachable.add(host)
                why = (poll or {}).get('msg', 'no answer') if isinstance(poll, dict) else 'no answer'
                say('jobnet: %s could not be reached during recovery (%s): its jobs become queuing_env_down'
                    % (host, str(why).splitlines()[0][:200] if why else 'no answer'))
                continue
            for job in poll.get('jobs') or []:
                fetched[job['id']] = job
        now = utcnow()
        total = len(iids)
        engine = self.engine(store, task_vars, 'recover')
        resumed, stops, messages, failed, failed_ids, done = [], {}, [], [], set(), []
        for k, iid in enumerate(iids, 1):
            opts = _recovery.RecoveryOptions(**plan['options'][iid])
            if self._task.check_mode:
                try:
                    res = engine.recover(iid, None, fetched=fetched, unreachable=unreachable, options=opts, now=now,
                                         manager_hosts=manager, preview=True)
                except (_recovery.IncompleteRecord, _store.StoreError, ValueError, KeyError, TypeError,
                        AttributeError) as exc:
                    failed.append('%s would not be recovered: %s' % (iid, damaged(iid, exc)))
                    say('jobnet: check mode: ' + failed[-1])
                    failed_ids.add(iid)
                    continue
                for line in res.messages:
                    say('jobnet: check mode: %s' % line)
                messages.extend(res.messages)
                say('jobnet: check mode: %s would be recovered (nothing was recorded)' % iid)
                done.append(iid)
                continue
            lease = _engine.lease_from_dict(_store, leases[iid])
            try:
                lease = store.renew_lease(lease, float(self.option('lease_ttl', task_vars))) or lease
            except _store.LeaseLost as exc:
                failed.append('%s not recovered: another controller took it over during the recovery (%s)'
                              % (iid, exc))
                say('jobnet: ' + failed[-1])
                failed_ids.add(iid)
                leases.pop(iid, None)
                continue
            leases[iid] = lease.to_dict()
            say('jobnet: ' + _day.recovery_start_message(store, iid))
            try:
                res = engine.recover(iid, lease, fetched=fetched, unreachable=unreachable, options=opts, now=now,
                                     manager_hosts=manager)
            except (_recovery.IncompleteRecord, _store.CorruptRecord, ValueError, KeyError, TypeError,
                    AttributeError) as exc:
                failed.append('%s not recovered: %s' % (iid, damaged(iid, exc)))
                failed_ids.add(iid)
                say('jobnet: %s' % failed[-1])
                store.release_lease(lease)
                leases.pop(iid, None)
                continue
            for line in res.messages:
                say('jobnet: %s' % line)
            messages.extend(res.messages)
            for host, aid in res.stop:
                stops.setdefault(host, {}).setdefault(iid, []).append(aid)
            say('jobnet: ' + _recovery.progress_message(k, total, iid))
            done.append(iid)
            if opts.recovery and opts.auto_rerun:
                resumed.append(iid)
        say('jobnet: ' + _recovery.all_done_message(total))
        # jobs that were running on the manager node (this controller) are stopped (table 5.431), and what the
        # host says of each stop (rc, signal, end) is recorded while the instance's lease is still held
        stopped_on_manager = {}
        for host, per_iid in stops.items():
            if host not in manager:
                continue
            ids = [aid for aids in per_iid.values() for aid in aids]
            stopped_on_manager[host] = ids
            out = self._execute_module(module_name='jobnet.scheduler.job',
                                       module_args=dict({'state': 'stopped', 'ids': ids},
                                                        **({'root': args['manager_root']}
                                                           if args.get('manager_root') else {})),
                                       task_vars=task_vars)
            if out.get('failed'):
                messages.append('could not stop %s on %s: %s' % (', '.join(ids), host, out.get('msg')))
                say('jobnet: ' + messages[-1])
            views = [v for v in out.get('jobs') or [] if isinstance(v, dict)]
            for iid in per_iid:
                if views and iid in leases:
                    engine.record_recovery_stops(iid, _engine.lease_from_dict(_store, leases[iid]), views)
        for iid in done:
            if iid not in resumed and not self._task.check_mode:
                store.release_lease(_engine.lease_from_dict(_store, leases.pop(iid)))
        # table 5.427: the day schedule whose base time passed during the failure is created now (B), its frames
        # per table 5.428 B-1 / B-2; the frames it submits join the automatic rerun
        days = []
        if args.get('frame') is None and args.get('operation_date') is None:
            problems = []
            catch_up = _recovery.RecoveryOptions.from_mapping({'catch_up': args.get('catch_up')},
                                                              base=self.base_options(args, task_vars)).catch_up
            made, lines = _day.recover_days(store, engine, now=now, catch_up=catch_up,
                                            problems=problems, preview=self._task.check_mode)
            for problem in problems:
                where = problem.get('key') or problem.get('record')
                say('jobnet: schedule record %s %s' % (where, problem.get('reason')))
            for line in lines:
                say('jobnet: %s%s' % ('check mode: ' if self._task.check_mode else '', line))
            messages.extend(lines)
            for created in made:
                days.append(created.as_dict())
                resumed.extend(i for i in created.instances if i not in resumed)
                leases.update(created.leases)
        all_events = engine.events
        hosts = set()
        for iid in resumed:
            inst = store.get_instance(iid)
            hosts.update((inst.get('definition') or {}).get('hosts', []))
        implicit_localhost = 'localhost' in hosts and 'localhost' not in (task_vars.get('groups') or {}).get('all', [])
        return {
            'changed': True,
            'instances': resumed,
            'leases': {iid: leases[iid] for iid in resumed},
            'hosts': sorted(hosts),
            'implicit_localhost': implicit_localhost,
            'recovered': [i for i in iids if i not in failed_ids],
            'report': [i for i in iids if i not in failed_ids],
            'messages': messages,
            'unreachable_hosts': sorted(unreachable),
            'stopped_on_manager': stopped_on_manager,
            'failed_instances': failed,
            'refused': plan.get('refused') or [],
            'events': all_events[-EVENTS_RETURNED:],
            'days': days,
        }
