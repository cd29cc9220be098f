# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_records: one builder, reset, check and (de)serialiser per record, byte for byte what the store keeps."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _engine, _model, _planner, _recovery
from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import (
    INSTANCE_REQUIRED,
    ITEM_REQUIRED,
    PHASES,
    SCHEMA,
    Event,
    Flags,
    Instance,
    Item,
    Phase,
    RecordError,
    migrate_instance,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import Kind, State

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

FRAME = {'frame': 'nightly', 'jobs': [{'name': 'extract', 'host': 'h1', 'shell': 'true'}],
         'nets': [{'name': 'load', 'after': ['extract'], 'pause': True,
                   'jobs': [{'name': 'stage', 'host': 'h2', 'shell': 'true', 'skip': True}]}]}


def _defn():
    return _model.normalise(FRAME, hosts={'h1', 'h2'})


def _dumps(record):
    return json.dumps(record, separators=(',', ':'), allow_nan=False, ensure_ascii=False)


# the builders as they were written before _records (today's main), kept here to hold the new ones against
def _old_new_item(definition):
    item = {
        'path': definition['path'],
        'kind': definition['kind'],
        'parent': definition.get('parent', ''),
        'host': definition.get('host') if definition['kind'] == 'job' else None,
        'state': 'not_submitted',
        'flags': {
            'skip': bool(definition.get('skip')),
            'pause': bool(definition.get('pause')),
            'stopped': False,
            'force': False,
        },
        'attempt': 0,
        'attempt_id': None,
        'phase': None,
        'started': None,
        'ended': None,
        'rc': None,
        'signal': None,
        'message': '',
        'updated': None,
    }
    if definition['kind'] == 'net':
        item['opened'] = False
    return item


def _old_make_instance(defn, operation_date, options, uid, now):
    return {
        'id': '%s@%s' % (defn['frame'], operation_date), 'frame': defn['frame'], 'operation_date': operation_date,
        'uid': uid, 'state': 'not_submitted', 'definition': defn, 'options': dict(options or {}),
        'flags': {'stopped': False}, 'opened': False, 'submitted': None, 'started': None, 'ended': None,
        'updated': now, 'schema': 1,
    }


def _same(a, b):
    """Equal and in the same key order: the same JSON bytes."""
    return a == b and _dumps(a) == _dumps(b)


# ---------------------------------------------------------------------------------------------- builders

@pytest.mark.parametrize('path', ['extract', 'load', 'load/stage'])
def test_item_new_is_the_old_builder_for_a_job_and_a_net(path):
    d = {x['path']: x for x in _defn()['items']}[path]
    new = Item.new(d).to_dict()
    assert _same(new, _old_new_item(d))
    assert _same(_planner.new_item(d), new)
    assert ('opened' in new) == (d['kind'] == 'net')


def test_initial_items_are_item_new_of_every_definition_item():
    defn = _defn()
    items = _planner.initial_items(defn)
    assert list(items) == [d['path'] for d in defn['items']]
    assert all(_same(items[d['path']], _old_new_item(d)) for d in defn['items'])
    assert items['load']['flags']['pause'] is True and items['load/stage']['flags']['skip'] is True


def test_instance_new_is_make_instance_uid_included():
    defn = _defn()
    inst = Instance.new(defn, '2026-11-21', {'recovery': True}, now='2026-11-21T01:00:00.000000Z', uid='k3x9q2')
    assert _same(inst.to_dict(), _old_make_instance(defn, '2026-11-21', {'recovery': True}, 'k3x9q2',
                                                    '2026-11-21T01:00:00.000000Z'))
    made = _engine.make_instance(defn, '2026-11-21')
    assert len(made['uid']) == 6 and set(made['uid']) <= set('abcdefghijklmnopqrstuvwxyz0123456789')
    assert _same(made, _old_make_instance(defn, '2026-11-21', None, made['uid'], made['updated']))
    assert made['schema'] == SCHEMA == 1
    drawn = {Instance.new(defn, '2026-11-21').uid for _i in range(20)}
    assert len(drawn) > 1


def test_event_new_is_the_planners_event_dict():
    ev = Event.new('load/stage', 'job', 'h2', State.QUEUING, 'running', 'started on h2', 'a.1', 't')
    assert _same(ev.to_dict(), {'path': 'load/stage', 'kind': 'job', 'host': 'h2', 'from': 'queuing',
                                'to': 'running', 'reason': 'started on h2', 'attempt_id': 'a.1', 'time': 't'})
    assert ev.kind is Kind.JOB and ev.from_state is State.QUEUING and ev.to_state is State.RUNNING


def test_the_planners_events_have_the_events_shape():
    defn = _defn()
    inst = _engine.make_instance(defn, '2026-01-01')
    pl = _planner.Planner(defn, inst, _planner.initial_items(defn))
    pl.submit()
    assert pl.events
    for ev in pl.events:
        assert list(ev) == ['path', 'kind', 'host', 'from', 'to', 'reason', 'attempt_id', 'time']
        assert _same(Event.from_dict(ev).to_dict(), ev)
    assert pl.events[-1]['path'] == '' and pl.events[-1]['kind'] == 'frame'


# ---------------------------------------------------------------------------------------------- round trips

def test_round_trips_of_each_type():
    defn = _defn()
    for d in defn['items']:
        item = Item.new(d)
        assert Item.from_dict(item.to_dict()) == item
        assert _same(Item.from_dict(item.to_dict()).to_dict(), item.to_dict())
    inst = Instance.new(defn, '2026-11-21', uid='u', now='t')
    assert Instance.from_dict(inst.to_dict()) == inst
    ev = Event.new('', 'frame', None, 'not_submitted', 'waiting', 'submitted', None, 't')
    assert Event.from_dict(ev.to_dict()) == ev
    flags = Flags.new({'skip': True})
    assert Flags.from_dict(flags.to_dict()) == flags and flags.to_dict() == {
        'skip': True, 'pause': False, 'stopped': False, 'force': False}


def test_keys_the_layer_does_not_know_and_the_key_order_are_kept():
    rec = {'state': 'running', 'path': 'x', 'kind': 'job', 'flags': {'force': True, 'later': 1},
           'version': 7, 'phase': 'launched'}
    item = Item.from_dict(rec)
    assert item.phase is Phase.LAUNCHED and item.flags.force is True and item.extra == {'version': 7}
    assert _same(item.to_dict(), rec)
    changed = item.replace(message='m', state=State.NORMAL_END)
    assert changed.to_dict() == dict(rec, state='normal_end', message='m')
    assert list(changed.to_dict())[-1] == 'message'


def test_a_directly_built_record_has_todays_keys():
    job = Item(path='a', kind=Kind.JOB, state=State.WAITING, host='h1')
    assert list(job.to_dict()) == list(_old_new_item({'path': 'a', 'kind': 'job', 'host': 'h1'}))
    net = Item(path='n', kind=Kind.NET, state=State.WAITING, opened=True)
    assert net.to_dict()['opened'] is True and list(net.to_dict())[-1] == 'opened'


# ---------------------------------------------------------------------------------------------- checks

@pytest.mark.parametrize('key, value', [
    ('attempt', '1'), ('attempt', -1), ('attempt', True), ('phase', 'started'), ('state', 'done'),
    ('kind', 'frame'), ('flags', []), ('opened', 'yes'), ('host', 3), ('attempt_id', 1), ('path', ''),
])
def test_a_bad_type_is_refused_with_the_key_named(key, value):
    rec = dict(Item.new({'path': 'a', 'kind': 'job', 'host': 'h1'}).to_dict(), **{key: value})
    with pytest.raises(RecordError) as err:
        Item.from_dict(rec)
    assert err.value.key == key and repr(key) in str(err.value)


def test_a_missing_key_and_a_bad_instance_are_refused_with_the_key_named():
    with pytest.raises(RecordError) as err:
        Item.from_dict({'path': 'a', 'kind': 'job'})
    assert err.value.key == 'state' and "'state'" in str(err.value)
    inst = Instance.new(_defn(), '2026-11-21').to_dict()
    for key, value in (('opened', 1), ('flags', None), ('state', 'gone'), ('definition', [])):
        with pytest.raises(RecordError) as err:
            Instance.from_dict(dict(inst, **{key: value}))
        assert err.value.key == key
    with pytest.raises(RecordError) as err:
        Instance.from_dict(dict(inst, definition={'items': [{'path': 'a', 'kind': 'frame'}]}))
    assert err.value.key == 'definition.items'
    with pytest.raises(RecordError) as err:
        Event.from_dict({'path': '', 'kind': 'frame', 'from': 'x', 'to': 'waiting'})
    assert err.value.key == 'from'
    with pytest.raises(RecordError):
        Item.from_dict(['not', 'a', 'mapping'])


def test_the_store_refuses_the_same_bad_types_naming_the_key(tmp_path):
    st = S.open_store('sqlite://%s' % (tmp_path / 's.db'))
    try:
        defn = _defn()
        inst = _engine.make_instance(defn, '2026-11-21')
        st.create_instance(inst, _planner.initial_items(defn))
        conn = sqlite3.connect(st.path)
        with conn:
            raw = conn.execute("SELECT data FROM items WHERE path = 'extract'").fetchone()[0]
            conn.execute("UPDATE items SET data = ? WHERE path = 'extract'",
                         (_dumps(dict(json.loads(raw), phase='started')),))
        conn.close()
        with pytest.raises(S.CorruptRecord) as err:
            st.load(inst['id'])
        problems = err.value.problems
        assert [(p['path'], p['key']) for p in problems] == [('extract', 'phase')]
        with pytest.raises(RecordError) as mine:
            Item.from_dict(dict(json.loads(raw), phase='started'))
        assert mine.value.reason == problems[0]['reason']
    finally:
        st.close()


def test_phases_and_the_stores_names():
    assert PHASES == (None, 'launching', 'launched')
    assert _planner.LAUNCHING == _recovery.LAUNCHING == Phase.LAUNCHING.value == 'launching'
    assert _planner.LAUNCHED == _recovery.LAUNCHED == Phase.LAUNCHED.value == 'launched'
    assert isinstance(_planner.LAUNCHING, str) and not isinstance(_planner.LAUNCHING, Phase)  # plain strings
    assert 'write-ahead' in Phase.__doc__
    assert S.INSTANCE_REQUIRED == INSTANCE_REQUIRED and S.ITEM_REQUIRED == ITEM_REQUIRED  # the store's names agree


# ---------------------------------------------------------------------------------------------- store v1

def _fixture_rows(path):
    conn = sqlite3.connect(path)
    try:
        return {table: [row[0] for row in conn.execute('SELECT data FROM %s' % table)]
                for table in ('instances', 'items', 'events')}
    finally:
        conn.close()


def test_every_record_of_the_store_v1_fixture_reads_through_from_dict_unchanged(tmp_path):
    rows = _fixture_rows(os.path.join(FIXTURES, 'store-v1.db'))
    assert all(rows.values())
    for table, cls in (('instances', Instance), ('items', Item), ('events', Event)):
        for raw in rows[table]:
            rec = json.loads(raw)
            assert _dumps(cls.from_dict(rec).to_dict()) == raw, (table, rec)
    path = tmp_path / 'state.db'
    shutil.copyfile(os.path.join(FIXTURES, 'store-v1.db'), path)
    st = S.open_store('sqlite://%s' % path, create=False)
    try:
        for summary in st.list_instances():
            instance, items = st.load(summary['id'])
            assert _same(Instance.from_dict(instance).to_dict(), instance)
            assert migrate_instance(instance, items) == (instance, items)
            for item in items.values():
                assert _same(Item.from_dict(item).to_dict(), item)
            for ev in st.read_events(summary['id']):
                assert _same(Event.from_dict(ev).to_dict(), ev)
    finally:
        st.close()


def test_migration_takes_schema_1_as_it_is_and_refuses_a_newer_one():
    inst = Instance.new(_defn(), '2026-11-21').to_dict()
    assert migrate_instance(inst, {}) == (inst, {})
    old = {k: v for k, v in inst.items() if k != 'schema'}   # no schema: schema 1
    assert migrate_instance(old, {}) == (old, {})
    with pytest.raises(RecordError) as err:
        migrate_instance(dict(inst, schema=SCHEMA + 1), {})
    assert err.value.key == 'schema'


# ---------------------------------------------------------------------------------------------- resets

def test_the_fields_an_init_clears():
    fields, flags = Item.init_reset({'path': 'a', 'kind': 'job', 'skip': True})
    assert fields == {'attempt_id': None, 'phase': None, 'started': None, 'ended': None, 'rc': None,
                      'signal': None, 'message': ''}
    assert flags == {'stopped': False, 'force': False, 'skip': True, 'pause': False}
    fields, _flags = Item.init_reset({'path': 'n', 'kind': 'net'})
    assert fields['opened'] is False and fields['attempt_id'] is None and 'attempt' not in fields


def test_the_fields_a_recovery_reset_clears():
    assert Item.cleared_attempt('job', message='m') == {
        'attempt_id': None, 'phase': None, 'rc': None, 'signal': None, 'started': None, 'ended': None,
        'message': 'm'}
    assert Item.cleared_attempt(Kind.NET) == {'started': None, 'ended': None, 'message': ''}
    assert Instance.cleared_run() == {'started': None, 'ended': None, 'opened': False}


def test_planner_init_keeps_the_attempt_counter_and_clears_the_rest():
    defn = _defn()
    pl = _planner.Planner(defn, _engine.make_instance(defn, '2026-01-01'), _planner.initial_items(defn))
    pl.submit()
    assert pl.pick_launches('h1', None, lambda p, n: '%s.%d' % (p, n)) == ['extract']
    pl.apply_job('extract', {'state': 'abnormal_end', 'rc': 3, 'started': 's', 'ended': 'e'})
    pl.init()
    item = pl.items['extract']
    assert item['attempt'] == 1 and item['state'] == 'not_submitted'
    assert {k: item[k] for k in ('attempt_id', 'phase', 'started', 'ended', 'rc', 'signal', 'message')} == \
        Item.init_reset(defn['items'][0])[0]
    assert pl.items['load']['opened'] is False and pl.items['load']['flags']['pause'] is True
    assert pl.instance['opened'] is False and pl.instance['started'] is None
