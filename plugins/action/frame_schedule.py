# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_schedule (documented in plugins/modules/frame_schedule.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _engine, _schedule, _secrets, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    EVENTS_RETURNED,
    JobnetAction,
    documented_spec,
    say,
    write_json_file,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import utcnow


class ActionModule(JobnetAction):

    # under --check: the schedule is checked and the plan of the dates asked for is written; nothing is recorded
    _supports_check_mode = True

    _VALID_ARGS = frozenset(('schedule_file', 'schedule_name', 'operation_date', 'plan_days', 'plan_json',
                             'catch_up', 'submit', 'store', 'lease_ttl'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_schedule', {
            'schedule_file': {'type': 'path'},
            'schedule_name': {'type': 'str'},
            'operation_date': {'type': 'str'},
            'plan_days': {'type': 'int'},
            'plan_json': {'type': 'path'},
            'catch_up': {'type': 'bool'},
            'submit': {'type': 'list', 'elements': 'str'},
            'store': {'type': 'str', 'no_log': False},
            'lease_ttl': {'type': 'float'},
        }))
        # everything is checked before the store is opened: the schedule, every frame file, the hosts, the date
        path = args.get('schedule_file')
        if path is None or not str(path).strip():
            raise AnsibleActionFail('give the schedule file: ansible-playbook jobnet.scheduler.schedule '
                                    '-e schedule_file=PATH')
        try:
            name = _day.schedule_name(path, args.get('schedule_name'))
        except _day.DayError as exc:
            raise AnsibleActionFail(str(exc))
        hosts = self.inventory_hosts(task_vars)
        try:
            schedule = _schedule.load_schedule(path, hosts=hosts)
        except _schedule.ScheduleError as exc:
            raise AnsibleActionFail('invalid schedule: %s' % exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise AnsibleActionFail('invalid schedule: %s: it cannot be checked (%s: %s)'
                                    % (path, type(exc).__name__, exc))
        problems = []
        frame_hosts = set()
        for entry in schedule.frames:
            problems.extend(_secrets.missing(entry.definition, task_vars.get('hostvars') or {}))
            frame_hosts.update(entry.definition['hosts'])
        if problems:
            raise AnsibleActionFail('invalid schedule: %s: %s' % (path, '; '.join(problems)))
        now = utcnow()
        if args.get('operation_date') is None:
            date = _day.current_date(schedule, now)
        else:
            date = self.check_date(args['operation_date'])
        days = args['plan_days']
        if not 1 <= days <= _schedule.PLAN_DAYS_MAX:
            raise AnsibleActionFail('plan_days is %d: give a whole number from 1 to %d'
                                    % (days, _schedule.PLAN_DAYS_MAX))
        unknown = sorted(set(args.get('submit') or []) - set(schedule.entries))
        if unknown:
            raise AnsibleActionFail('submit: %s not in schedule %s (frames: %s)'
                                    % (', '.join(unknown), name, ', '.join(sorted(schedule.entries))))
        limits = self.max_running(task_vars, sorted(frame_hosts))
        self.option('lease_ttl', task_vars)   # a bad setting is refused before the store is opened
        # every frame's needs against the resources (the store's, else the inventory's): nothing is recorded for a
        # schedule with a frame that could never start
        problems = self.resource_problems(task_vars, [entry.definition for entry in schedule.frames])
        if problems:
            raise AnsibleActionFail('invalid schedule: %s: %s' % (path, '; '.join(problems)))
        plan = _schedule.plan(schedule, date, days)
        if self._task.check_mode or args.get('plan_json'):
            if args.get('plan_json'):
                write_json_file(args['plan_json'], plan)
        if self._task.check_mode:
            return self._check(result, task_vars, schedule, name, date, plan, limits)

        today = plan['days'][0]['frames']
        day_hosts = sorted({h for f in today for h in schedule.entry(f['frame']).definition['hosts']})
        self.check_forks(day_hosts)
        store = self.open_store(task_vars)
        self.warn_durability(store)
        engine = self.engine(store, task_vars, 'schedule')
        try:
            _day.save_schedule(store, schedule, name)
            created = _day.make_day(store, engine, schedule, name, date, now=now, catch_up=args['catch_up'],
                                    only=set(args['submit']) if args.get('submit') else None)
        except (_store.StoreError, _engine.EngineError, _day.DayError) as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        for line in created.messages:
            say('jobnet: ' + line)
        if not created.created:
            say('jobnet: the day schedule of %s (%s) exists since %s; %d frame(s) submitted now, %d there already'
                % (name, date, (created.record or {}).get('created'), len(created.instances), len(created.existing)))
        for iid, why in created.refused:
            say('jobnet: %s not driven by this run: %s' % (iid, why))
        driven_hosts = sorted({h for iid in created.instances
                               for h in schedule.entry(iid.split('@', 1)[0]).definition['hosts']})
        implicit_localhost = 'localhost' in driven_hosts and \
            'localhost' not in (task_vars.get('groups') or {}).get('all', [])
        refused = {iid for iid, _why in created.refused}
        day_instances = [f['instance'] for f in (created.record or {}).get('frames') or []
                         if f['instance'] not in refused]
        result.update({
            'changed': bool(created.created or created.instances),
            'schedule': name,
            'operation_date': date,
            'day': created.as_dict(),
            'instances': created.instances,
            'leases': created.leases,
            'report': day_instances,
            'hosts': driven_hosts,
            'implicit_localhost': implicit_localhost,
            'events': engine.events[-EVENTS_RETURNED:],
            'plan': plan,
        })
        return result

    def _check(self, result, task_vars, schedule, name, date, plan, limits):
        """Check mode: what the date would run; read the store (if there is one), write nothing."""
        exists = self.read_store_if_any(task_vars, lambda store: store.get_schedule_record(_day.day_key(name, date)))
        # the starts a real run would record: a day made ahead starts its frames without a start time at its base
        frames = _day.day_record(schedule, name, date, utcnow(), _day.BY_SCHEDULE)['frames']
        if exists is not None:
            msg = ('check mode: the day schedule of %s (%s) exists since %s; a run would submit only the frames '
                   'not there yet; nothing was recorded' % (name, date, exists.get('created')))
        else:
            msg = ('check mode: the day schedule of %s (%s) would be created with %d frame(s): %s; nothing was '
                   'recorded' % (name, date, len(frames), ', '.join(
                       '%s (%s)' % (f['frame'], f['start'] or 'at once') for f in frames) or 'none'))
        say('jobnet: ' + msg)
        result.update({
            'changed': exists is None and bool(frames),
            'schedule': name,
            'operation_date': date,
            'instances': [],
            'leases': {},
            'hosts': [],
            'implicit_localhost': False,
            'events': [],
            'plan': plan,
            'would_create': exists is None,
            'limits': {host: limit for host, limit in limits.items() if limit is not None},
            'msg': msg,
        })
        return result
