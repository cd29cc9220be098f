# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of jobnet.scheduler.frame_report (documented in plugins/modules/frame_report.py)."""

from __future__ import annotations


from ansible.errors import AnsibleActionFail

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _day, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._action import (
    JobnetAction,
    documented_spec,
    say,
    write_json_file,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._engine import chart_path, lease_from_dict
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._report import (
    chart_folder, failure_summary, resource_document, resource_table, schedule_table, status_document, table,
    write_chart)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State


class ActionModule(JobnetAction):

    _supports_check_mode = True   # it reads the store; under --check it writes no status_json and releases nothing

    _VALID_ARGS = frozenset(('instances', 'frame', 'operation_date', 'leases', 'status_json', 'fail_on_abnormal',
                             'store', 'steps', 'quiet', 'check_instances', 'problems', 'blame_hosts', 'chart_html',
                             'charts'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=documented_spec('frame_report', {
            'instances': {'type': 'list', 'elements': 'str'},
            'frame': {'type': 'str'},
            'operation_date': {'type': 'str'},
            'leases': {'type': 'dict'},
            'status_json': {'type': 'path'},
            'fail_on_abnormal': {'type': 'bool'},
            'store': {'type': 'str'},
            'steps': {'type': 'list', 'elements': 'raw'},
            'quiet': {'type': 'bool'},
            'check_instances': {'type': 'list', 'elements': 'str'},
            'problems': {'type': 'list', 'elements': 'str'},
            'blame_hosts': {'type': 'bool'},
            'chart_html': {'type': 'path'},
            'charts': {'type': 'bool'},
        }))
        store = self.open_store(task_vars)
        try:
            if args.get('instances') is not None:
                iids = list(args['instances'])
            else:
                date = self.check_date(args['operation_date']) if args.get('operation_date') else None
                problems = []   # a corrupt instance record is shown as corrupt; the others as usual
                iids = [i['id'] for i in store.list_instances(date, problems=problems)
                        if not args.get('frame') or i['frame'] == args['frame']]
                iids.extend(sorted({p['instance'] for p in problems if p.get('instance')
                                    and (not args.get('frame') or p['instance'].partition('@')[0] == args['frame'])}))
            if args.get('chart_html') and args.get('instances') is None and len(iids) > 1:
                frames = sorted({iid.partition('@')[0] for iid in iids})
                if len(frames) > 1:
                    raise AnsibleActionFail('chart_html is the chart of one instance: give frame (instances of %s)'
                                            % ', '.join(frames[:10]))
                iids = sorted(iids, key=lambda i: i.partition('@')[2])[-1:]   # the newest instance of the frame
            doc = status_document(store, iids)
            if args.get('instances') is None:
                # the status listing: the day schedules of the live operation dates too
                problems = []
                live_days = self.option('live_days', task_vars)
                doc['schedules'] = [d for d in _day.status_days(store, problems=problems, days=live_days)
                                    if (not args.get('operation_date') or d['operation_date'] == args['operation_date'])
                                    and (not args.get('frame') or any(f['frame'] == args['frame']
                                                                      for f in d['frames']))]
                for problem in problems:
                    where = problem.get('key') or problem.get('record')
                    say('jobnet: schedule record %s %s' % (where, problem.get('reason')))
                doc.update(resource_document(store))
            charts = self.write_charts(store, iids, args, task_vars)
            for data in ((args.get('leases') or {}) if not self._task.check_mode else {}).values():
                try:
                    store.release_lease(lease_from_dict(_store, data))
                except _store.StoreError:
                    pass
        except _store.StoreError as exc:
            raise AnsibleActionFail(str(exc))
        finally:
            store.close()
        if args.get('status_json') and self._task.check_mode:
            say('jobnet: check mode: %s is not written' % args['status_json'])
        elif args.get('status_json'):
            write_json_file(args['status_json'], doc)
        if not args['quiet']:
            if doc.get('schedules'):
                say(schedule_table(doc['schedules']))
            if doc.get('resources') or any(s['waiters'] for s in (doc.get('host_slots') or {}).values()):
                say(resource_table(doc))
            say(table(doc, drivers=args.get('instances') is None) if doc['frames'] else 'jobnet: no frame instances')
        steps = args.get('steps')
        if steps is None:
            steps = []
            hostvars = task_vars.get('hostvars') or {}
            for host in (task_vars.get('groups') or {}).get('jobnet_drive', []):
                try:
                    step = hostvars[host].get('jobnet_step')
                except (KeyError, AttributeError):
                    step = None
                if isinstance(step, dict):
                    steps.append(dict(step, host=step.get('host', host)))
        errors = list(args['problems'])   # the controller's own: refused or unreadable instances
        host_errors = {}                    # a host driver's: the host is blamed
        root_cause = any(isinstance(step, dict) and step.get('driver_failed') for step in steps)
        for step in steps:
            if not isinstance(step, dict) or (root_cause and step.get('stopped_with_run')):
                continue  # stopped because another host's driver failed: that failure is the error
            if step.get('error') or step.get('unreachable'):
                host = step.get('host', '?')
                host_errors.setdefault(host, []).append('host driver %s: %s'
                                                        % (host, step.get('error') or step.get('msg')))
        check = args.get('check_instances')
        abnormal = [f['id'] for f in doc['frames'] if f['state'] == State.ABNORMAL_END.value
                    and (check is None or f['id'] in check)]
        errors.extend('frame instance %s cannot be read: %s' % (f['id'], f['problem']) for f in doc['frames']
                      if f.get('problem') and check is not None and f['id'] in check)
        failed_jobs = failure_summary(doc, set(abnormal))
        failed_hosts = {}
        for host, texts in list(failed_jobs.items()) + list(host_errors.items()):
            failed_hosts.setdefault(host, []).extend(texts)
        all_errors = errors + [t for texts in host_errors.values() for t in texts]
        result.update({'changed': False, 'status': doc, 'errors': all_errors, 'failed_hosts': failed_hosts,
                       'abnormal': abnormal, 'charts': charts})
        if not args['fail_on_abnormal'] or not (abnormal or all_errors):
            return result
        for host in sorted(failed_hosts):
            for text in failed_hosts[host]:
                say('jobnet: FAILED on %s: %s' % (host, text))
        if args['blame_hosts']:
            # the hosts of the failed jobs and drivers fail (the play after this one): this task fails only for
            # the controller's own problems, or an abnormal end no host accounts for
            unexplained = [iid for iid in abnormal if not any(t.startswith(iid + ' ') for ts in failed_jobs.values()
                                                              for t in ts)]
            if unexplained and not host_errors:
                errors.append('frame instance(s) ended abnormal_end: %s' % ', '.join(unexplained))
            if not errors:
                return result
            result.update(failed=True, msg='; '.join(errors))
            result.pop('status', None)
            return result
        parts = []
        if abnormal:
            parts.append('frame instance(s) ended abnormal_end: %s' % ', '.join(abnormal))
            parts.extend(t for ts in failed_jobs.values() for t in ts)
        if all_errors:
            parts.append('; '.join(all_errors))
        result.update(failed=True, msg='; '.join(parts))
        result.pop('status', None)  # printed as the table above; status_json has it
        return result

    def write_charts(self, store, iids, args, task_vars):
        """{iid: path} of the run charts written (O(chart_html) for one instance, or one per instance in the
        chart_dir setting with O(charts)); a chart that cannot be written is said, and fails nothing else."""
        targets = {}
        if args.get('chart_html'):
            if len(iids) != 1:
                raise AnsibleActionFail('chart_html is the chart of one instance; %d are reported (%s)'
                                        % (len(iids), ', '.join(iids[:10]) or 'none'))
            targets[iids[0]] = args['chart_html']
        elif args.get('charts'):
            folder = chart_folder(self.option('chart_dir', task_vars, None))
            if folder:
                targets = {iid: chart_path(folder, iid) for iid in iids}
        if self._task.check_mode:
            for iid, path in targets.items():
                say('jobnet: check mode: the run chart of %s is not written to %s' % (iid, path))
            return {}
        written = {}
        for iid, path in targets.items():
            try:
                write_chart(store, iid, path)
            except (OSError, _store.StoreError) as exc:
                if args.get('chart_html'):
                    raise AnsibleActionFail('cannot write the run chart of %s to %s: %s' % (iid, path, exc))
                say('jobnet: the run chart of %s cannot be written to %s: %s' % (iid, path, exc))
                continue
            written[iid] = path
            if args.get('chart_html') or not args['quiet']:
                say('jobnet: run chart of %s: %s' % (iid, path))
        return written
