# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A store file written by an earlier version of the collection reads back the same with today's code.

``fixtures/store-v1.db`` was made by ``fixtures/make_store_v1.py`` with the store of schema 1 (the single-module
``_store.py``); ``fixtures/store-v1.json`` is what that code read back from it. Every test opens a copy.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
ENDED = 'nightly@2026-11-20'
RUNNING = 'nightly@2026-11-21'


@pytest.fixture
def expected():
    with open(os.path.join(FIXTURES, 'store-v1.json'), encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture
def v1_store(tmp_path):
    path = tmp_path / 'state.db'
    shutil.copyfile(os.path.join(FIXTURES, 'store-v1.db'), path)
    st = S.open_store('sqlite://%s' % path, create=False)
    yield st
    st.close()


def test_every_record_event_and_lease_of_a_schema_1_store_reads_back_the_same(v1_store, expected):
    st = v1_store
    assert sorted(expected['instances']) == [ENDED, RUNNING]
    assert st.list_instances() == [expected['instances'][iid]['listed'] for iid in (ENDED, RUNNING)]
    problems = []
    assert [i['id'] for i in st.list_instances(problems=problems)] == [ENDED, RUNNING] and problems == []
    for iid, want in expected['instances'].items():
        instance, items = st.load(iid)
        assert instance == want['instance'], iid
        assert items == want['items'], iid
        assert list(items) == want['order'], iid
        assert st.get_instance(iid) == want['instance']
        assert st.get_version(iid) == want['version']
        assert st.read_events(iid) == want['events'], iid
        lease = st.get_lease(iid)
        assert (None if lease is None else lease.to_dict()) == want['lease'], iid
        assert st.get_items(iid, want['order'][1:]) == {p: want['items'][p] for p in want['order'][1:]}
        assert st.items_since(iid, 0) == (want['version'], want['items'])
    assert st.get_host_states() == expected['hosts']
    assert st.fact_keys() == sorted(expected['facts'])
    for key, (value, stored) in expected['facts'].items():
        assert st.fact_get(key) == (value, stored)


def test_the_fixture_holds_what_it_says(expected):
    ended = expected['instances'][ENDED]
    running = expected['instances'][RUNNING]
    assert ended['instance']['state'] == 'normal_end' and ended['lease'] is None
    assert [e['to'] for e in ended['events']][-1] == 'normal_end'
    assert running['instance']['state'] == 'running' and running['lease']['epoch'] == 1
    assert running['items']['extract']['phase'] == 'launched' and running['items']['extract']['attempt'] == 1
    assert running['events'] and running['lease']['owner']['host'] == 'ctl1.example.com'


def test_a_schema_1_store_is_driven_on_by_todays_code(v1_store, expected):
    st = v1_store
    want = expected['instances'][RUNNING]
    last_seq = want['events'][-1]['seq']
    lease = st.acquire_lease(RUNNING, S.default_owner('recover'), 60)  # the old lease expired long ago
    assert lease.epoch == want['lease']['epoch'] + 1

    def fn(inst, items):
        return None, {'extract': dict(items['extract'], state='normal_end', phase=None, rc=0)}, 'ok', [
            {'path': 'extract', 'kind': 'job', 'from': 'running', 'to': 'normal_end', 'reason': ''}]

    assert st.update(RUNNING, fn, lease=lease) == 'ok'
    events = st.read_events(RUNNING)
    assert events[:-1] == want['events'] and events[-1]['seq'] == last_seq + 1
    instance, items = st.load(RUNNING)
    assert instance['version'] == want['version'] + 1 and items['extract']['state'] == 'normal_end'
    assert list(items) == want['order']
    assert st.load(ENDED) == (expected['instances'][ENDED]['instance'], expected['instances'][ENDED]['items'])
    conn = sqlite3.connect(st.path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == '1'
    finally:
        conn.close()


def test_a_schema_1_store_gets_the_schedule_table_on_its_first_write_open(tmp_path):
    path = tmp_path / 'state.db'
    shutil.copyfile(os.path.join(FIXTURES, 'store-v1.db'), path)
    st = S.open_store('sqlite://%s' % path, create=False)
    try:
        assert st.list_schedule_records() == {}
        assert st.put_schedule_record('schedule/x', {'a': 1}) is True
        assert st.get_schedule_record('schedule/x')['a'] == 1
        assert st.get_instance(ENDED) is not None
    finally:
        st.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('chattr') is None, reason='needs root and chattr')
def test_a_read_only_schema_1_store_without_the_schedule_table_still_reads(tmp_path):
    path = tmp_path / 'state.db'
    shutil.copyfile(os.path.join(FIXTURES, 'store-v1.db'), path)
    subprocess.run(['chattr', '+i', str(path)], check=True)
    try:
        st = S.open_store('sqlite://%s' % path, create=False)
        try:
            assert st.list_schedule_records() == {} and st.get_schedule_record('schedule/x') is None
            assert st.get_instance(ENDED) is not None
            with pytest.raises(S.StoreWriteError):
                st.put_schedule_record('schedule/x', {'a': 1})
        finally:
            st.close()
    finally:
        subprocess.run(['chattr', '-i', str(path)], check=True)
