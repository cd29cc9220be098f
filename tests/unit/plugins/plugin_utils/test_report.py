# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Golden output of the lines a run prints and of the status table (times given, so nothing to normalise)."""

from __future__ import annotations

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _report

IID = 'nightly@2026-11-21'


def item(**kw):
    base = {'path': 'load/merge', 'kind': 'job', 'host': 'agent3', 'attempt': 1, 'attempt_id': 'x.1',
            'state': 'running', 'rc': None, 'signal': None, 'started': '2026-11-21T04:46:49.000000Z', 'ended': None,
            'message': ''}
    base.update(kw)
    return base


@pytest.mark.parametrize('record, tail, expected', [
    pytest.param(item(state='normal_end', rc=0, ended='2026-11-21T04:46:50.250000Z'), None,
                 ['jobnet: END nightly@2026-11-21 load/merge on agent3: normal_end rc 0 after 1.2 s (attempt 1)'],
                 id='normal-end'),
    pytest.param(item(state='abnormal_end', rc=3, ended='2026-11-21T04:48:00.000000Z',
                      message='ended with rc 3 (stderr: disk full)'), 'copying\nwrite error\ndisk full\n',
                 ['jobnet: END nightly@2026-11-21 load/merge on agent3: abnormal_end rc 3 after 1m11s (attempt 1): '
                  'ended with rc 3 (stderr: disk full)',
                  'jobnet:   stderr| copying', 'jobnet:   stderr| write error', 'jobnet:   stderr| disk full'],
                 id='exit-3-with-stderr'),
    pytest.param(item(state='abnormal_end', signal=9, ended='2026-11-21T06:00:00.000000Z', message='timed out'),
                 None, ['jobnet: END nightly@2026-11-21 load/merge on agent3: abnormal_end signal 9 after 1h13m11s '
                        '(attempt 1): timed out'], id='timeout'),
    pytest.param(item(state='abnormal_end', started=None, ended='2026-11-21T04:46:49.100000Z',
                      message='launch refused by agent3: Module result deserialization failed: No start of json char '
                              'found'), None,
                 ['jobnet: END nightly@2026-11-21 load/merge on agent3: abnormal_end, not started (attempt 1): launch '
                  'refused by agent3: Module result deserialization failed: No start of json char found'],
                 id='broken-interpreter'),
])
def test_end_line(record, tail, expected):
    assert _report.end_line(IID, record, tail) == expected


def test_end_line_prints_at_most_the_last_five_lines_of_stderr():
    lines = _report.end_line(IID, item(state='abnormal_end', rc=1, ended='2026-11-21T04:46:50.000000Z'),
                             ''.join('line %d\n' % i for i in range(20)))
    assert [x.rsplit('| ', 1)[1] for x in lines[1:]] == ['line 15', 'line 16', 'line 17', 'line 18', 'line 19']


def test_start_and_progress_lines():
    assert _report.start_line(IID, item()) == 'jobnet: START nightly@2026-11-21 load/merge on agent3 (attempt 1)'
    summary = {'state': 'running', 'counts': {'normal_end': 2, 'running': 1, 'queuing': 1, 'waiting': 3,
                                              'abnormal_end': 1}}
    assert _report.progress_line(IID, summary) == \
        'jobnet: nightly@2026-11-21 running: 3/8 ended, 1 running, 1 queued, 3 waiting, 1 errors'


def test_failure_summary_names_each_failed_job_on_its_host():
    doc = {'frames': [{'id': IID, 'items': [
        item(state='abnormal_end', rc=3, message='ended with rc 3 (stderr: disk full)'),
        item(path='extract', host='agent1', state='normal_end', rc=0),
        item(path='report', host='localhost', state='abnormal_end', signal=15, message='JNR101 ...'),
        {'path': 'load', 'kind': 'net', 'host': None, 'state': 'abnormal_end', 'rc': None, 'signal': None,
         'message': ''}]}]}
    assert _report.failure_summary(doc) == {
        'agent3': ['nightly@2026-11-21 load/merge: abnormal_end rc 3: ended with rc 3 (stderr: disk full)'],
        'localhost': ['nightly@2026-11-21 report: abnormal_end signal 15: JNR101 ...'],
    }


def test_status_table_has_a_reason_column_cut_to_its_width():
    doc = {'frames': [{'frame': 'nightly', 'id': IID, 'state': 'abnormal_end', 'started': 's', 'ended': 'e',
                       'items': [item(state='abnormal_end', rc=3, started='s', ended='e', message='x' * 200)]}]}
    lines = _report.table(doc).splitlines()
    assert lines[0].split() == ['frame', 'net', 'job', 'host', 'state', 'started', 'ended', 'rc', 'reason']
    assert lines[2].endswith('x' * 77 + '...') and len(lines[2].split()[-1]) == 80


def test_the_status_names_the_controller_that_drives_an_instance_and_since_when(store):
    from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _store
    defn = _model.normalise({'frame': 'shown', 'jobs': [{'name': 'a', 'host': 'h1', 'shell': 'true'}]})
    engine = _engine.Engine(store, _store, owner=_engine.controller_owner('run', pid=1))
    inst, lease = engine.submit(defn, '2026-12-02')
    doc = _report.status_document(store, [inst['id']])
    driver = doc['frames'][0]['driver']
    assert driver['live'] and driver['owner']['what'] == 'run' and driver['since'] and driver['expires']
    assert 'driven by ansible-playbook pid 1 on host' in _report.table(doc)
    assert 'driven by' not in _report.table(doc, drivers=False)
    store.release_lease(lease)
    assert _report.status_document(store, [inst['id']])['frames'][0]['driver'] is None
