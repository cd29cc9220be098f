# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets of frame jobs: names in the frame and the store, values only in the launch call."""

from __future__ import annotations

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _secrets, _store
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State

SECRET = 's3cr3t-value-7f3a'

FRAME = {
    'frame': 'sec',
    'jobs': [
        {'name': 'load', 'host': 'h1', 'shell': 'test "$TOKEN" = x', 'env': {'MODE': 'full'},
         'secret_env': {'TOKEN': 'load_token'}},
        {'name': 'plain', 'host': 'h1', 'shell': 'true'},
    ],
}


class RecordingHost:
    """Starts every job and remembers the launch arguments it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, args):
        self.calls.append((name, args))
        if name == 'jobnet.scheduler.job':
            return {'changed': True, 'jobs': [{'id': s['id'], 'state': 'running', 'rc': None, 'signal': None,
                                               'started': '2026-11-21T00:00:00.000000Z', 'ended': None}
                                              for s in args['jobs']]}
        if name == 'jobnet.scheduler.job_info':
            return {'jobs': [{'id': aid, 'state': 'normal_end', 'rc': 0, 'signal': None,
                              'started': '2026-11-21T00:00:00.000000Z', 'ended': '2026-11-21T00:00:01.000000Z'}
                             for aid in args['ids']], 'missing': []}
        raise AssertionError(name)


@pytest.fixture
def store(tmp_path):
    s = _store.open_store('sqlite:///%s' % (tmp_path / 'state.db'))
    yield s
    s.close()


def _run(store, secrets):
    defn = _model.normalise(FRAME, hosts={'h1'})
    eng = _engine.Engine(store, _store, owner=_engine.controller_owner('test'))
    inst, lease = eng.submit(defn, '2026-11-21')
    host = RecordingHost()
    drv = _engine.HostDriver(store, _store, 'h1', {lease.iid: lease.to_dict()}, host, poll_interval=0,
                             sleep=lambda s: None, secrets=secrets)
    for _round in range(5):
        if drv.run(0)['done']:
            break
    return inst, host, drv


def test_a_frame_keeps_the_names_of_secrets_and_never_a_value():
    defn = _model.normalise(FRAME, hosts={'h1'})
    load = next(i for i in defn['items'] if i['name'] == 'load')
    plain = next(i for i in defn['items'] if i['name'] == 'plain')
    assert load['secret_env'] == {'TOKEN': 'load_token'}
    assert 'secret_env' not in plain   # definitions without secrets keep their shape


@pytest.mark.parametrize('secret_env, message', [
    ({'TOKEN': 'not a name'}, r'secret_env.*not the name of an Ansible variable'),
    ({'TOKEN': 12}, r'secret_env.*not the name of an Ansible variable'),
    ({'1BAD': 'x'}, r"'1BAD' is not a valid environment variable name"),
    ('x', r'secret_env.*expected a mapping'),
    ({'MODE': 'x'}, r'MODE given in both env and secret_env'),
])
def test_a_bad_secret_env_is_refused_naming_the_job_and_field(secret_env, message):
    frame = {'frame': 'sec', 'jobs': [{'name': 'load', 'host': 'h1', 'shell': 'true', 'env': {'MODE': 'a'},
                                       'secret_env': secret_env}]}
    with pytest.raises(_model.FrameError, match=message) as info:
        _model.normalise(frame, hosts={'h1'})
    assert 'load' in str(info.value)


def test_the_launch_call_gets_the_value_and_the_store_only_the_name(store, tmp_path):
    inst, host, drv = _run(store, lambda variable: {'load_token': SECRET}[variable])
    launch = [args for name, args in host.calls if name == 'jobnet.scheduler.job']
    sent = {spec['name']: spec for args in launch for spec in args['jobs']}
    assert sent['load']['secret_env'] == {'TOKEN': SECRET}
    assert 'secret_env' not in sent['plain']
    _i, items = store.load(inst['id'])
    assert items['load']['state'] == State.NORMAL_END.value
    store.close()
    raw = (tmp_path / 'state.db').read_bytes()
    assert SECRET.encode() not in raw and b'load_token' in raw
    assert SECRET not in repr(drv.events)


def test_a_secret_that_cannot_be_looked_up_refuses_only_its_job_naming_the_variable(store):
    def lookup(variable):
        raise _secrets.SecretError('the variable %s is not defined for host h1' % variable)
    inst, host, _drv = _run(store, lookup)
    _i, items = store.load(inst['id'])
    assert items['load']['state'] == State.ABNORMAL_END.value
    assert 'secret_env TOKEN: the variable load_token is not defined for host h1' in items['load']['message']
    assert items['plain']['state'] == State.NORMAL_END.value
    launched = [s['name'] for name, args in host.calls if name == 'jobnet.scheduler.job' for s in args['jobs']]
    assert launched == ['plain']


def test_submit_refuses_a_secret_not_defined_for_its_host():
    defn = _model.normalise(FRAME, hosts={'h1'})
    assert _secrets.missing(defn, {'h1': {'load_token': 'x'}}) == []
    problems = _secrets.missing(defn, {'h1': {}})
    assert problems == ['job load: secret_env TOKEN: the variable load_token is not defined for host h1 (define it '
                        'in the inventory, a vault-encrypted vars file, -e @FILE or an AWX credential)']


@pytest.mark.parametrize('value, expected', [('abc', 'abc'), (42, '42'), (1.5, '1.5')])
def test_a_secret_value_is_passed_as_text(value, expected):
    assert _secrets.Resolver('h1', {'v': value})('v') == expected


@pytest.mark.parametrize('value, message', [
    (None, 'is NoneType, not a string'), (True, 'is bool, not a string'), ({'a': 1}, 'is dict, not a string'),
    ('a\0b', 'holds a NUL byte'),
])
def test_a_secret_value_that_is_not_text_is_refused_without_showing_it(value, message):
    with pytest.raises(_secrets.SecretError, match=message) as info:
        _secrets.Resolver('h1', {'v': value})('v')
    assert 'a\0b' not in str(info.value)
