# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delay monitoring, delay actions, end commands and notifications (``_monitor``, pure): their validation in the
frame file (``_model.normalise``), when a deadline falls, the planner's delays, actions and notices (recovery
notes 3, 4, 10 and 12), the retries of a notice and the names an operator reads."""

from __future__ import annotations

import base64
import datetime
import socket
import time

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _monitor as M
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._planner import initial_items
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import Op

HOSTS = ['h1', 'h2', 'h3']
DAY = '2026-01-01'
IID = 'f@2026-01-01'
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
STAMP = '2026-01-01T12:00:00.000000Z'
ALERT = {'host': 'h2', 'shell': 'alert'}
PAGE = {'host': 'h3', 'command': ['page', 'ops']}
URL = 'https://hook.example/in'
UTC = datetime.timezone.utc


def at(minutes=0, seconds=0):
    return NOW + datetime.timedelta(minutes=minutes, seconds=seconds)


def stamp(moment):
    return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def job(name, **extra):
    return dict({'name': name, 'host': 'h1', 'shell': 'true'}, **extra)


def frame(jobs=None, **extra):
    return dict({'frame': 'f', 'jobs': jobs or [job('a')]}, **extra)


def defn(raw):
    return _model.normalise(raw, hosts=HOSTS)


def problems(raw):
    with pytest.raises(_model.FrameError) as info:
        _model.normalise(raw, hosts=HOSTS)
    return [(p.item, p.problem) for p in info.value.problems]


def planner(raw, now=NOW):
    d = defn(raw)
    pl = _engine.planner_for(_engine.make_instance(d, DAY), initial_items(d), now=now)
    pl.submit()
    return pl


def rebuilt(pl, now):
    """A planner over the records ``pl`` wrote (a driver's next transaction, or one after a failure)."""
    return _engine.planner_for(pl.instance, pl.items, now=now)


def start(pl, path, started=STAMP):
    assert path in pl.pick_launches(pl.items[path]['host'], None, pl.attempt_id_for)
    pl.apply_job(path, {'state': 'running', 'started': started})


def end(pl, path, state='normal_end'):
    pl.apply_job(path, {'state': state, 'rc': 0 if state == 'normal_end' else 1})
    pl.advance()


def late(pl, path=''):
    return (pl.instance if path == '' else pl.items[path]).get('late') or {}


def actions(pl):
    return pl.instance.get('actions') or {}


def aid(pl, ref, number=1):
    return _model.attempt_id('f', DAY, pl.instance['uid'], ref, number)


# ---------------------------------------------------------------------------------------------------- validation

MONITORED = frame([job('a', start_by='9:00', end_by='+1:30', max_duration=60, notify={'url': URL},
                       on_delay={'host': 'h2', 'command': ['alert', 'a'], 'chdir': '/srv', 'env': {'X': '1'},
                                 'timeout': 30},
                       on_end={'event': 'a.done', 'abnormal_end': ALERT}),
                   job('b')],
                  nets=[{'name': 'n', 'end_by': '+2:00', 'on_end': {'normal_end': ALERT}, 'jobs': [job('c')]}],
                  max_duration=M.DURATION_MAX, on_delay=PAGE, on_end={'normal_end': PAGE, 'abnormal_end': ALERT})


def test_monitoring_settings_are_normalised_where_given_a_mixed_pair_of_deadlines_included():
    d = defn(MONITORED)
    items = {i['path']: i for i in d['items']}
    assert {k: items['a'][k] for k in ('start_by', 'end_by', 'max_duration', 'notify', 'on_delay', 'on_end')} == {
        'start_by': '09:00:00', 'end_by': '+01:30:00', 'max_duration': 60, 'notify': {'url': URL},
        'on_delay': {'host': 'h2', 'command': ['alert', 'a'], 'chdir': '/srv', 'env': {'X': '1'}, 'timeout': 30},
        'on_end': {'event': 'a.done', 'abnormal_end': ALERT}}
    assert items['n']['end_by'] == '+02:00:00' and items['n']['on_end'] == {'normal_end': ALERT}
    assert (d['max_duration'], d['on_delay'], d['on_end']) == (M.DURATION_MAX, PAGE, {'normal_end': PAGE,
                                                                                      'abnormal_end': ALERT})


def test_an_item_or_frame_without_monitoring_has_none_of_its_keys_and_action_hosts_join_the_hosts():
    d = defn(MONITORED)
    items = {i['path']: i for i in d['items']}
    keys = {'start_by', 'end_by', 'max_duration', 'on_delay', 'notify', 'on_end', 'late'}
    assert not keys & set(items['b']) and not keys & set(items['n/c'])
    assert set(defn(frame())) == {'frame', 'start_at', 'options', 'description', 'items', 'hosts'}
    assert d['hosts'] == ['h1', 'h2', 'h3'] and _model.frame_hosts(d) == ['h1', 'h2', 'h3']   # jobs: h1 only


@pytest.mark.parametrize('given,canonical', [
    ('9:00', '09:00:00'), ('23:59:59', '23:59:59'), (' 7:05 ', '07:05:00'), ('+1:30', '+01:30:00'),
    ('+0:00:05', '+00:00:05'), ('+100:00', '+100:00:00'), (datetime.time(6, 5), '06:05:00'),
] + [(bad, None) for bad in ('24:00', '9', '+1:60', '+1000:00', '-1:00', '9:00:60', '', 9, True, None)])
def test_a_deadline_is_written_hh_mm_ss_or_plus_hh_mm_ss_and_any_other_form_refused(given, canonical):
    if canonical is None:
        with pytest.raises(M.MonitorError):
            M.deadline_text(given)
    else:
        assert M.deadline_text(given) == canonical


@pytest.mark.parametrize('raw,item,problem', [
    (frame([job('a', start_by='10:00', end_by='9:30')]), 'a', 'end_by 09:30:00 is before start_by 10:00:00'),
    (frame([job('a', start_by='+1:00', end_by='+0:30')]), 'a', 'end_by +00:30:00 is before start_by +01:00:00'),
    (frame(start_at='10:00', end_by='9:00'), None, "end_by 09:00:00 is before the frame's start_at 10:00:00"),
    (frame([job('a', start_by='9:59')], start_at='10:00'), 'a', "start_by 09:59:00 is before the frame's start_at"),
    (frame([job('a', max_duration=5, on_delay={'host': 'nowhere', 'shell': 'x'})]), 'a',
     "on_delay: unknown host 'nowhere' (not in the inventory)"),
    (frame([job('a', on_end={'normal_end': {'host': 'h9', 'shell': 'x'}})]), 'a',
     "on_end.normal_end: unknown host 'h9'"),
    (frame([job('a', skip=True, on_end={'normal_end': ALERT})]), 'a',
     'on_end.normal_end: an end command on an item marked skip never runs (it ends skip_end)'),
    (frame(nets=[{'name': 'n', 'skip': True, 'on_end': {'abnormal_end': ALERT}, 'jobs': [job('c')]}]), 'n',
     'on_end.abnormal_end: an end command on an item marked skip never runs'),
    (frame([job('a', on_delay=ALERT)]), 'a', 'on_delay runs when start_by, end_by or max_duration is passed'),
    (frame(on_delay=ALERT), None, 'on_delay runs when start_by, end_by or max_duration is passed'),
    (frame([job('a', notify={'url': 'ftp://hook.example/x'})]), 'a',
     'notify: the notify URL must be http:// or https:// with a host, not ftp://hook.example'),
    (frame([job('a', notify={'url': 'http:///x'})]), 'a', 'must be http:// or https:// with a host'),
    (frame([job('a', notify={'url': URL, 'secret': 1})]), 'a', "notify: unknown key 'secret' (known: url)"),
    (frame([job('a', max_duration=5, on_delay={'host': 'h2'})]), 'a', 'give "command" (an argv list) or "shell"'),
    (frame([job('a', max_duration=5, on_delay=dict(ALERT, command=['x']))]), 'a', 'give either "command"'),
    (frame([job('a', max_duration=0)]), 'a', 'max_duration: expected a whole number of seconds from 1 to 2678400'),
    (frame([job('a', max_duration=M.DURATION_MAX + 1)]), 'a', 'from 1 to 2678400 (31 days), got 2678401'),
    (frame([job('a', max_duration=True)]), 'a', 'max_duration: expected a whole number of seconds greater than 0'),
    (frame([job('a', end_by='25:00')]), 'a', "end_by: '25:00' is neither \"HH:MM\""),
])
def test_a_monitoring_setting_that_cannot_be_used_is_refused(raw, item, problem):
    found = problems(raw)
    assert len(found) == 1 and found[0][0] == item and problem in found[0][1], found


def test_a_relative_end_by_of_three_digit_hours_after_its_start_by_is_accepted():
    items = {i['path']: i for i in defn(frame([job('a', start_by='+20:00', end_by='+100:00')]))['items']}
    assert items['a']['end_by'] == '+100:00:00'


def test_an_action_without_a_command_is_refused_naming_the_action():
    [(item, problem)] = problems(frame([job('a', max_duration=5, on_delay={'host': 'h2'})]))
    assert item == 'a' and problem.startswith('on_delay'), problem


def test_a_notify_url_with_a_port_out_of_range_is_refused():
    with pytest.raises(M.MonitorError):
        M.check_url('https://hook.example:99999/in')


# ---------------------------------------------------------------------------------------------------- instants

@pytest.fixture
def tokyo(monkeypatch):
    monkeypatch.setenv('TZ', 'JST-9')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_an_instant_falls_on_the_operation_date_in_the_controllers_zone_or_after_the_frames_start(tokyo):
    assert M.instant('06:00:00', DAY, None) == datetime.datetime(2025, 12, 31, 21, 0, 0, tzinfo=UTC)
    assert M.instant('06:00:00', DAY, STAMP) == _model.start_datetime({'start_at': '06:00:00'}, DAY)
    assert M.instant('06:00:00', '2026-01-02', None) - M.instant('06:00:00', DAY, None) == datetime.timedelta(1)
    # a relative time counts from the frame's start, unknown before it
    assert M.instant('+01:30:00', DAY, STAMP) == at(90) and M.instant('+01:30:00', DAY, None) is None
    assert M.instant('+00:00:05', DAY, '2026-01-01T12:00:00+00:00') == at(seconds=5)


def test_deadlines_lists_those_known_now_and_not_recorded():
    d = {'start_by': '+00:10:00', 'end_by': '+01:30:00', 'max_duration': 60}
    assert M.deadlines(d, {}, {'operation_date': DAY}) == []
    found = M.deadlines(d, {'started': stamp(at(5))}, {'operation_date': DAY, 'started': STAMP})
    assert found == [('start', at(10), 'start_by +00:10:00'), ('end', at(90), 'end_by +01:30:00'),
                     ('duration', at(6), 'max_duration 60 s')]
    rec = {'started': STAMP, 'late': {'start': {}, 'duration': {}}}
    assert [k for k, _at, _s in M.deadlines(d, rec, {'operation_date': DAY, 'started': STAMP})] == ['end']
    assert M.monitors(dict(d, on_delay=ALERT, start_by=None)) == {'end_by': '+01:30:00', 'max_duration': 60}


# ---------------------------------------------------------------------------------------------------- delays

DURATION = frame([job('a', max_duration=60, on_delay=ALERT, notify={'url': URL})])


def test_a_job_running_past_its_max_duration_is_late_once_with_its_action_decided():
    pl = planner(DURATION)
    start(pl, 'a')
    assert pl.check_deadlines() == [] and pl.next_deadline() == at(1)
    pl.now = at(1, 1)
    assert pl.check_deadlines() == [('a', 'duration', 'max_duration 60 s', stamp(at(1)))]
    key = M.action_key(M.DELAY, 'a', 'duration')
    assert late(pl, 'a') == {'duration': {'deadline': stamp(at(1)), 'detected': stamp(at(1, 1)),
                                          'setting': 'max_duration 60 s', 'action': key}}
    event = pl.events[-1]
    assert (event['path'], event['from'], event['to']) == ('a', 'running', 'running')
    assert event['reason'] == 'delay: max_duration 60 s passed (late duration, deadline %s)' % stamp(at(1))
    act = actions(pl)[key]
    assert (act['state'], act['phase'], act['host'], act['attempt_id']) == (
        'launching', 'launching', 'h2', aid(pl, 'a._delay-duration'))
    assert pl.actions_decided == [key] and 'a' in pl.changed_items and pl.instance_changed
    before = (len(pl.events), dict(actions(pl)), len(pl.pending_notices()))
    pl.now = at(5)
    assert pl.check_deadlines() == [] and (len(pl.events), actions(pl), len(pl.pending_notices())) == before
    assert rebuilt(pl, at(10)).check_deadlines() == []


def test_a_start_by_passed_while_waiting_is_a_late_start_but_a_started_or_ended_job_is_never_late():
    pl = planner(frame([job('a', start_by='+0:10', on_delay=ALERT), job('b', after='a', start_by='+0:10'),
                        job('c', end_by='+0:10', max_duration=60)]))
    start(pl, 'a', stamp(at(2)))
    start(pl, 'c')
    end(pl, 'c')
    pl.now = at(30)
    assert pl.check_deadlines() == [('b', 'start', 'start_by +00:10:00', stamp(at(10)))]
    assert late(pl, 'a') == late(pl, 'c') == {} and actions(pl) == {}


def test_a_frame_running_past_its_end_by_is_late():
    pl = planner(frame([job('a')], end_by='+0:30', on_delay=PAGE))
    start(pl, 'a')
    pl.now = at(31)
    assert pl.check_deadlines() == [('', 'end', 'end_by +00:30:00', stamp(at(30)))]
    assert late(pl)['end']['action'] == M.action_key(M.DELAY, '', 'end') and pl.instance_changed
    assert actions(pl)['delay||end|1']['attempt_id'] == aid(pl, '_frame._delay-end')
    assert pl.events[-1]['path'] == '' and pl.events[-1]['kind'] == 'frame'


def test_a_frame_waiting_for_its_trigger_past_its_start_by_is_a_late_start():
    six = M.instant('06:00:00', DAY, None)
    pl = planner(frame(triggers=[{'name': 'go', 'event': 'go'}], wait_for='go', start_by='6:00'),
                 six + datetime.timedelta(minutes=1))
    assert pl.instance['state'] == 'waiting' and not pl.instance.get('started')
    assert pl.check_deadlines() == [('', 'start', 'start_by 06:00:00', stamp(six))]


def test_a_relative_end_by_keeps_counting_from_the_frames_original_start():   # note 3
    pl = planner(frame([job('a', end_by='+1:30')]))
    start(pl, 'a')
    later = rebuilt(pl, at(120))
    assert later.check_deadlines() == [('a', 'end', 'end_by +01:30:00', stamp(at(90)))]


def test_a_duration_keeps_counting_from_the_jobs_original_start():   # note 4
    pl = planner(DURATION)
    start(pl, 'a', stamp(at(-5)))
    assert rebuilt(pl, at(0, 30)).check_deadlines() == [('a', 'duration', 'max_duration 60 s', stamp(at(-4)))]


def test_a_deadline_passed_during_a_failure_is_recorded_not_executed_with_pex174():   # note 12
    pl = planner(DURATION)
    start(pl, 'a')
    after = rebuilt(pl, at(10))
    messages = []
    assert len(after.check_deadlines(run_actions=False, messages=messages)) == 1
    text = ('PEX174 delay action not executed: %s a was late (duration: max_duration 60 s, %s) during the failure'
            % (IID, stamp(at(1))))
    key = M.action_key(M.DELAY, 'a', 'duration')
    assert messages == [text] and late(after, 'a')['duration']['message'] == text
    act = actions(after)[key]
    assert (act['state'], act['phase'], act['message']) == ('not_executed', None, text)
    assert after.actions_decided == [] and after.action_launches('h2') == [] and after.live_actions() == []


def test_a_job_that_ended_after_its_end_by_during_a_failure_is_recorded_late():   # note 12
    pl = planner(frame([job('a', end_by='+0:10', on_delay=ALERT)]))
    start(pl, 'a')
    pl.take_recovered(None, {'a': dict(pl.items['a'], state='normal_end', phase='launched', ended=stamp(at(20)))})
    messages = []
    pl.now = at(30)
    assert pl.check_deadlines(run_actions=False, messages=messages) and messages


# ---------------------------------------------------------------------------------------------------- end commands

ENDS = frame([job('a', on_end={'abnormal_end': ALERT, 'normal_end': ALERT})],
             nets=[{'name': 'n', 'on_end': {'normal_end': ALERT, 'abnormal_end': PAGE}, 'jobs': [job('b')]}],
             on_end={'normal_end': PAGE, 'abnormal_end': PAGE})


def test_a_net_and_the_frame_decide_their_end_command_when_they_end():
    pl = planner(ENDS)
    start(pl, 'n/b')
    end(pl, 'n/b', 'abnormal_end')
    assert set(actions(pl)) == {'end|n|abnormal_end|1'}
    start(pl, 'a')
    end(pl, 'a')
    assert set(actions(pl)) == {'end|n|abnormal_end|1', 'end|a|normal_end|1', 'end||abnormal_end|1'}
    assert actions(pl)['end||abnormal_end|1']['host'] == 'h3'
    assert actions(pl)['end|n|abnormal_end|1']['attempt_id'] == aid(pl, 'n._end-abnormal-end')


def test_a_recovery_decides_the_end_commands_of_the_nets_and_the_frame_it_derives():   # note 10
    pl = planner(ENDS)
    start(pl, 'a')
    pl.take_recovered(None, {p: dict(pl.items[p], state='normal_end', phase='launched', rc=0) for p in ('a', 'n/b')})
    pl.derive()
    assert (pl.items['n']['state'], pl.instance['state']) == ('normal_end', 'normal_end')
    assert set(actions(pl)) == {'end|n|normal_end|1', 'end||normal_end|1'}


@pytest.mark.parametrize('op,decided', [(Op.RECOVERY, []), (None, ['end|a|normal_end|1'])], ids=['recovery', 'step'])
def test_a_jobs_end_command_is_decided_in_a_drivers_step_never_within_a_recovery(op, decided):   # note 10
    pl = planner(ENDS)
    start(pl, 'a')
    with pl.running(op):
        pl.apply_job('a', {'state': 'normal_end', 'rc': 0})
    assert list(actions(pl)) == decided and pl.actions_decided == decided


def test_a_second_end_after_a_rerun_runs_the_end_command_again_as_number_2():
    pl = planner(frame([job('a', on_end={'abnormal_end': ALERT})], on_end={'abnormal_end': PAGE}))
    start(pl, 'a')
    end(pl, 'a', 'abnormal_end')
    pl.rerun()
    start(pl, 'a')
    end(pl, 'a', 'abnormal_end')
    assert sorted(actions(pl)) == ['end|a|abnormal_end|1', 'end|a|abnormal_end|2', 'end||abnormal_end|1',
                                   'end||abnormal_end|2']
    assert actions(pl)['end|a|abnormal_end|2']['attempt_id'] == aid(pl, 'a._end-abnormal-end', 2)
    assert M.describe('end|a|abnormal_end|2') == 'end command of a (abnormal_end) #2'


def test_an_actions_attempt_id_is_never_that_of_a_job():
    pl = planner(frame(nets=[{'name': 'n', 'max_duration': 60, 'on_delay': {'host': 'h1', 'shell': 'x'},
                              'jobs': [job('delay-duration')]}]))
    start(pl, 'n/delay-duration')
    pl.now = at(2)
    pl.check_deadlines()
    assert actions(pl)['delay|n|duration|1']['attempt_id'] != pl.items['n/delay-duration']['attempt_id']


# ---------------------------------------------------------------------------------------------------- notices

def test_delays_and_ends_of_an_item_with_notify_queue_a_notice_and_others_none():
    pl = planner(frame([DURATION['jobs'][0], job('b', max_duration=60)]))
    start(pl, 'a')
    start(pl, 'b')
    pl.now = at(2)
    pl.check_deadlines()
    end(pl, 'a')
    end(pl, 'b')
    notices = pl.pending_notices()
    assert [n['id'] for n in notices] == ['%s|a|delay|duration|1' % IID, '%s|a|end|normal_end|2' % IID]
    assert all(n['url'] == URL and n['tries'] == 0 and n['next_at'] == stamp(at(2)) for n in notices)
    assert notices[0]['document'] == {
        'id': notices[0]['id'], 'instance': IID, 'frame': 'f', 'operation_date': DAY, 'path': 'a', 'event': 'delay',
        'what': 'duration', 'state': 'running', 'time': stamp(at(2)), 'deadline': stamp(at(1)),
        'setting': 'max_duration 60 s'}
    assert (notices[1]['document']['event'], notices[1]['document']['state']) == ('end', 'normal_end')
    assert pl.instance['state'] == 'normal_end' and not pl.quiescent()   # b and the frame have no notify


def test_a_notice_is_retried_with_a_growing_wait_then_fails():
    notice = M.new_notice('n1', URL, {'id': 'n1'}, NOW)
    assert M.due(notice, NOW) and not M.due(notice, at(seconds=-1))
    waits = []
    for _try in range(M.NOTICE_TRIES - 1):
        notice = M.after_try(notice, False, 'HTTP 500', NOW)
        assert notice['state'] == 'pending' and notice['error'] == 'HTTP 500'
        waits.append((M.parse_time(notice['next_at']) - NOW).total_seconds())
    assert waits == list(M.NOTICE_BACKOFF) and not M.due(notice, at(seconds=8))
    failed = M.after_try(notice, False, 'x' * 500, NOW)
    assert (failed['state'], failed['tries'], len(failed['error'])) == ('failed', M.NOTICE_TRIES, 300)
    assert not M.due(failed, at(60))
    sent = M.after_try(M.after_try(M.new_notice('n1', URL, {}, NOW), False, 'x', NOW), True, 'HTTP 204', at(1))
    assert (sent['state'], sent['tries'], sent['sent'], sent['error']) == ('sent', 2, stamp(at(1)), None)


def test_the_driver_records_one_try_of_a_pending_notice_only():
    pending, sent = M.new_notice('n1', URL, {}, NOW), dict(M.new_notice('n2', URL, {}, NOW), state='sent')
    inst, items, _rest = _engine.HostDriver._noticed({'notices': [pending, sent]}, {}, 'n1', False, 'HTTP 503')
    assert items == {} and inst['notices'][1] == sent
    assert (inst['notices'][0]['tries'], inst['notices'][0]['error']) == (1, 'HTTP 503')
    again, _items, _rest = _engine.HostDriver._noticed(inst, {}, 'n2', True, 'HTTP 200')
    assert again['notices'] == inst['notices']


def test_a_post_to_a_closed_port_is_a_failed_try():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    ok, error = _engine.HostDriver._post('http://127.0.0.1:%d/hook' % port, {'id': 'n1'})
    assert not ok and error.startswith('URLError: '), error


@pytest.mark.parametrize('url,shown', [
    ('https://user:secret@hook.example:8443/path/token?key=abc#frag', 'https://hook.example:8443'),
    ('http://HOOK.example/p', 'http://hook.example'), ('http://hook.example:99999/x', '(an invalid URL)'),
])
def test_the_target_of_a_url_hides_its_credentials_path_and_query(url, shown):
    assert M.target(url) == shown


def test_the_user_and_password_of_a_url_are_sent_as_basic_authentication_not_in_the_url():
    assert M.request_of('https://us%40er:p%3Ass@hook.example:8443/in?x=1') == (
        'https://hook.example:8443/in?x=1', {'Authorization': 'Basic ' + base64.b64encode(b'us@er:p:ss').decode()})
    assert M.request_of(URL) == (URL, {})


def test_a_post_to_a_url_with_credentials_and_a_port_out_of_range_is_a_failed_try():
    ok, _error = _engine.HostDriver._post('http://u:p@127.0.0.1:99999/hook', {'id': 'n1'})
    assert not ok


# ---------------------------------------------------------------------------------------------------- actions

def launched(kind, path, what, host, state='running', **job_view):
    rec = M.new_action(kind, path, what, {'host': host}, 'id-%s-%s' % (path, what), NOW)
    return M.apply_result(rec, dict(job_view, state=state)) if state else rec


def test_the_actions_of_a_host_to_launch_go_with_their_definition_and_job_spec():
    pl = planner(DURATION)
    start(pl, 'a')
    pl.now = at(2)
    pl.check_deadlines()
    [(key, act, spec)] = pl.action_launches('h2')
    assert key == 'delay|a|duration|1' and spec == ALERT and pl.action_launches('h1') == []
    out = M.action_spec(pl.instance, key, act, spec)
    assert out['id'] == act['attempt_id'] and out['shell'] == 'alert' and 'command' not in out
    assert out['labels'] == {'frame': 'f', 'operation_date': DAY, 'instance': IID, 'path': 'a', 'action': 'delay',
                             'host': 'h2'}
    assert out['env'] == {'JOBNET_INSTANCE': IID, 'JOBNET_PATH': 'a', 'JOBNET_ACTION': 'delay',
                          'JOBNET_WHAT': 'duration'}
    assert pl.apply_action(key, {'state': 'running', 'started': stamp(at(2))})['phase'] == 'launched'
    assert pl.action_launches('h2') == [] and pl.live_actions('h2') == [key]
    assert pl.apply_action(key, {'state': 'abnormal_end', 'rc': 3, 'reason': 'timeout'})['message'] == 'timed out'
    assert pl.live_actions() == [] and pl.apply_action('delay|zz|end|1', {'state': 'running'}) is None
    assert M.apply_result(act, {'state': 'weird'})['state'] == 'abnormal_end'


def test_a_live_action_keeps_the_driver_going_unless_its_host_is_down_and_a_refused_one_is_over():
    pl = planner(frame([job('a', on_end={'normal_end': ALERT})]))
    start(pl, 'a')
    end(pl, 'a')
    key = 'end|a|normal_end|1'
    assert pl.instance['state'] == 'normal_end' and pl.live_actions() == [key]
    assert not pl.quiescent() and pl.quiescent(down_hosts=('h2',))
    pl.action_refused(key, 'no such host')
    assert {k: actions(pl)[key][k] for k in ('state', 'phase', 'message')} == {
        'state': 'refused', 'phase': None, 'message': 'no such host'}
    assert pl.live_actions() == [] and pl.quiescent()


def test_recovery_adopts_what_the_hosts_say_of_the_actions():
    pl = planner(frame())
    before = {'adopted': launched(M.DELAY, 'a', 'end', 'h2'), 'lost': launched(M.DELAY, 'b', 'end', 'h2'),
              'unsent': launched(M.DELAY, 'c', 'end', 'h2', state=None),
              'started': launched(M.DELAY, 'd', 'end', 'h2', state=None), 'away': launched(M.DELAY, 'e', 'end', 'h3'),
              'over': launched(M.END_COMMAND, 'f', 'normal_end', 'h2', state='normal_end', rc=0)}
    pl.instance['actions'] = dict(before)
    fetched = {'id-a-end': {'state': 'normal_end', 'rc': 0, 'ended': stamp(at(3))},
               'id-d-end': {'state': 'running', 'started': stamp(at(1))}}
    pl.recover_actions(None, ['h3'])
    assert actions(pl) == before   # a recovery skip: nothing is known
    pl.recover_actions(fetched, ['h3'])
    after = actions(pl)
    assert [after['adopted'][k] for k in ('state', 'rc', 'ended')] == ['normal_end', 0, stamp(at(3))]
    assert after['lost']['state'] == 'lost' and after['lost']['message'] == 'attempt id-b-end not found on h2'
    assert after['unsent'] == before['unsent'] and after['unsent']['state'] == 'launching'
    assert (after['started']['state'], after['started']['phase']) == ('running', 'launched')
    assert after['away'] == before['away'] and after['over'] == before['over']


# ---------------------------------------------------------------------------------------------------- names

def test_an_action_is_described_and_found_by_its_public_name_the_last_run_unless_numbered():
    assert M.describe('delay|n/x|duration|1') == 'delay action of n/x (late duration)'
    assert M.describe('end||normal_end|1') == 'end command of the frame (normal_end)'
    assert M.public_name('delay|a|start|1') == ('a', 'delay:start')
    assert M.public_name('end||abnormal_end|3') == ('', 'end:abnormal_end:3')
    acts = {k: dict(zip(('kind', 'path', 'what'), k.split('|')))
            for k in ('end|a|abnormal_end|1', 'end|a|abnormal_end|2', 'end|a|abnormal_end|10', 'delay||end|1')}
    assert M.find_action(acts, 'a', 'end:abnormal_end') == 'end|a|abnormal_end|10'
    assert M.find_action(acts, 'a', 'end:abnormal_end:2') == 'end|a|abnormal_end|2'
    assert M.find_action(acts, '', 'delay:end') == 'delay||end|1'


@pytest.mark.parametrize('path,name,message', [
    ('a', 'delay:start', 'a has no action delay:start \\(actions run: \\(the frame\\) delay:end, a end:normal_end\\)'),
    ('', 'end:normal_end:2', 'the frame has no action end:normal_end:2'),
    ('a', 'stop:now', 'an action is named delay:start, delay:end, delay:duration'),
    ('a', 'delay', "not 'delay'"),
    ('a', 'delay:duration', None),
])
def test_find_action_names_the_known_actions_when_it_finds_none(path, name, message):
    acts = {'end|a|normal_end|1': {'kind': 'end', 'path': 'a', 'what': 'normal_end'},
            'delay||end|1': {'kind': 'delay', 'path': '', 'what': 'end'}} if message else None
    with pytest.raises(M.MonitorError, match=message or r'a has no action delay:duration \(actions run: none\)'):
        M.find_action(acts, path, name)


# ---------------------------------------------------------------------------------------------------- init

def test_an_init_clears_the_delays_and_keeps_the_actions_run():
    pl = planner(frame([job('a', max_duration=60, on_delay=ALERT)], max_duration=60))
    start(pl, 'a')
    pl.now = at(2)
    pl.check_deadlines()
    assert set(late(pl)) == {'duration'} and set(late(pl, 'a')) == {'duration'}
    pl.init(force=True)
    assert 'late' not in pl.instance and 'late' not in pl.items['a'] and list(actions(pl)) == ['delay|a|duration|1']


def test_a_delay_found_again_after_an_init_runs_its_action_again():
    pl = planner(frame([job('a', max_duration=60, on_delay=ALERT)]))
    start(pl, 'a')
    pl.now = at(2)
    pl.check_deadlines()
    pl.init(force=True)
    pl.submit()
    start(pl, 'a', stamp(at(2)))
    pl.now = at(4)
    assert pl.check_deadlines() and late(pl, 'a')['duration']['action'] is not None
