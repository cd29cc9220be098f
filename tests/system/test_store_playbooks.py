# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store seen from real ansible-playbook runs: the frame_state lookup, the store settings from
variables / environment / ansible.cfg, and the sqlite / redis fact cache plugins as the fact cache of a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

IID = 'nightly@2026-11-21'


def _seed(url):
    st = S.open_store(url)
    st.create_instance({'id': IID, 'state': 'running', 'definition': {'frame': 'nightly'}, 'uid': 'abc123'},
                       [{'path': 'load', 'kind': 'net', 'parent': None, 'host': None, 'state': 'running'},
                        {'path': 'load/stage', 'kind': 'job', 'parent': 'load', 'host': 'agent2',
                         'state': 'abnormal_end', 'rc': 3},
                        {'path': 'extract', 'kind': 'job', 'parent': None, 'host': 'agent1', 'state': 'normal_end',
                         'rc': 0}])
    st.create_instance({'id': 'weekly@2026-11-20', 'state': 'normal_end', 'definition': {'frame': 'weekly'}}, [])
    st.acquire_lease(IID, {'host': 'ctl', 'pid': 4242, 'what': 'run', 'program': 'ansible-playbook'}, 600)
    st.close()


LOOKUP_PLAYBOOK = r"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read one instance, the listing, and a missing instance
      ansible.builtin.set_fact:
        one: "{{ lookup('jobnet.scheduler.frame_state', 'nightly@2026-11-21') }}"
        listing: "{{ query('jobnet.scheduler.frame_state') }}"
        of_date: "{{ query('jobnet.scheduler.frame_state', operation_date='2026-11-20') }}"
        with_items: "{{ query('jobnet.scheduler.frame_state', frame='nightly', items=true) }}"
        missing: "{{ lookup('jobnet.scheduler.frame_state', 'monthly@2026-11-21', errors='ignore') }}"
    - name: Failed jobs of the instance
      ansible.builtin.set_fact:
        failed: "{{ one['items'] | selectattr('state', '==', 'abnormal_end') | map(attribute='path') | list }}"
    - name: Save what was read
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'one': one, 'listing': listing, 'of_date': of_date, 'with_items': with_items,
                      'missing': missing, 'failed': failed} | to_json }}"
        mode: '0600'
"""


def _run_lookup(run_playbook, tmp_path, env=None, extra=()):
    pb = tmp_path / 'lookup.yml'
    pb.write_text(LOOKUP_PLAYBOOK)
    out = tmp_path / 'out.json'
    res = run_playbook([str(pb), '-e', 'out=%s' % out] + list(extra), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(out.read_text())


def _check_lookup_data(data):
    one = data['one']
    assert one['id'] == IID and one['state'] == 'running' and one['definition'] == {'frame': 'nightly'}
    assert [i['path'] for i in one['items']] == ['load', 'load/stage', 'extract']
    assert one['counts'] == {'running': 1, 'abnormal_end': 1, 'normal_end': 1}
    assert one['lease']['owner']['pid'] == 4242 and one['lease']['epoch'] == 1 and not one['lease']['expired']
    assert data['failed'] == ['load/stage']
    assert [i['id'] for i in data['listing']] == ['weekly@2026-11-20', IID]
    assert all('definition' not in i and 'items' not in i for i in data['listing'])
    assert [i['id'] for i in data['of_date']] == ['weekly@2026-11-20']
    assert [len(i['items']) for i in data['with_items']] == [3]
    assert data['missing'] is None


def test_lookup_reads_sqlite_store_from_environment(run_playbook, tmp_path, jobnet_store):
    _seed(jobnet_store)
    _check_lookup_data(_run_lookup(run_playbook, tmp_path, env={'JOBNET_STORE': jobnet_store}))


def test_lookup_reads_redis_store_named_by_templated_variable(run_playbook, tmp_path, redis_url):
    prefix = 'jobnet-systest-%s:' % uuid.uuid4().hex[:10]
    url = '%s?prefix=%s' % (redis_url, prefix)
    _seed(url)
    try:
        # the variable wins over the environment, and it is templated like any variable
        data = _run_lookup(run_playbook, tmp_path, env={'JOBNET_STORE': 'sqlite:///nonexistent/x.db'},
                           extra=['-e', 'pfx=%s' % prefix, '-e', 'jobnet_store=%s?prefix={{ pfx }}' % redis_url])
        _check_lookup_data(data)
    finally:
        import redis
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=prefix + '*'))
        if keys:
            r.delete(*keys)


def test_lookup_reads_store_from_ansible_cfg_section(run_playbook, tmp_path, testenv, monkeypatch):
    monkeypatch.delenv('JOBNET_STORE', raising=False)  # an environment variable, even empty, wins over the ini
    url = 'sqlite://%s' % (tmp_path / 'from-ini.db')
    _seed(url)
    cfg = tmp_path / 'ansible.cfg'
    with open(testenv.ansible_config) as f:
        cfg.write_text(f.read() + '\n[jobnet]\nstore = %s\n' % url)
    env = {'ANSIBLE_CONFIG': str(cfg)}
    _check_lookup_data(_run_lookup(run_playbook, tmp_path, env=env))


def test_lookup_of_missing_instance_fails_naming_it(run_playbook, tmp_path, jobnet_store):
    _seed(jobnet_store)
    pb = tmp_path / 'missing.yml'
    pb.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                  "    - ansible.builtin.debug:\n        msg: \"{{ lookup('jobnet.scheduler.frame_state', "
                  "'monthly@2026-11-21') }}\"\n")
    res = run_playbook([str(pb)], env={'JOBNET_STORE': jobnet_store})
    assert res.returncode != 0
    assert 'frame instance monthly@2026-11-21 is not in state store %s' % jobnet_store in res.stdout + res.stderr


def test_lookup_listing_of_a_store_never_written_is_empty_and_creates_nothing(run_playbook, tmp_path):
    pb = tmp_path / 'empty.yml'
    out = tmp_path / 'n.json'
    pb.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                  "    - ansible.builtin.copy:\n        dest: %s\n        mode: '0600'\n"
                  "        content: \"{{ query('jobnet.scheduler.frame_state') | to_json }}\"\n" % out)
    absent = tmp_path / 'absent.db'
    res = run_playbook([str(pb)], env={'JOBNET_STORE': 'sqlite://%s' % absent})
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(out.read_text()) == [] and not absent.exists()


WRITE_FACTS = r"""
- hosts: localhost,agent1
  gather_facts: true
  gather_subset: [min]
  tasks:
    - ansible.builtin.set_fact:
        jobnet_marker: "{{ inventory_hostname }}-{{ token }}"
        cacheable: true
"""

READ_FACTS = r"""
- hosts: localhost,agent1
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}-{{ inventory_hostname }}.json"
        content: "{{ {'marker': jobnet_marker, 'user': ansible_facts.user_id} | to_json }}"
        mode: '0600'
      delegate_to: localhost
"""


def _fact_cache_round_trip(run_playbook, tmp_path, env):
    token = uuid.uuid4().hex[:8]
    (tmp_path / 'w.yml').write_text(WRITE_FACTS)
    (tmp_path / 'r.yml').write_text(READ_FACTS)
    res = run_playbook([str(tmp_path / 'w.yml'), '-e', 'token=%s' % token], env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'WARNING' not in res.stderr.upper().replace('[WARNING]: HOST', ''), res.stderr
    out = tmp_path / 'facts'
    res = run_playbook([str(tmp_path / 'r.yml'), '-e', 'out=%s' % out], env=env)  # a new process reads them back
    assert res.returncode == 0, res.stdout + res.stderr
    for host, user in (('localhost', 'root'), ('agent1', 'jobnet-agent1')):
        got = json.loads((tmp_path / ('facts-%s.json' % host)).read_text())
        assert got == {'marker': '%s-%s' % (host, token), 'user': user}


def test_sqlite_cache_plugin_is_the_fact_cache_of_real_runs(run_playbook, tmp_path):
    db = tmp_path / 'facts.db'
    env = {'ANSIBLE_CACHE_PLUGIN': 'jobnet.scheduler.sqlite', 'ANSIBLE_CACHE_PLUGIN_CONNECTION': 'sqlite://%s' % db,
           'ANSIBLE_CACHE_PLUGIN_PREFIX': 'run_'}
    _fact_cache_round_trip(run_playbook, tmp_path, env)
    st = S.open_store('sqlite://%s' % db)
    assert st.fact_keys() == ['run_s1_agent1', 'run_s1_localhost']
    value = st.fact_get('run_s1_agent1')[0]
    assert 'jobnet_marker' in json.loads(value['__payload__'])
    assert st.list_instances() == []  # facts live apart from frame instances


def test_redis_cache_plugin_is_the_fact_cache_of_real_runs(run_playbook, tmp_path, redis_url, testenv):
    prefix = 'jobnet-facttest-%s:' % uuid.uuid4().hex[:10]
    url = '%s?prefix=%s' % (redis_url, prefix)
    cfg = tmp_path / 'ansible.cfg'
    with open(testenv.ansible_config) as f:
        base = f.read()
    # the connection (which may carry a password) from ansible.cfg rather than the environment
    cfg.write_text(base.replace('[defaults]', '[defaults]\nfact_caching = jobnet.scheduler.redis\n'
                                'fact_caching_connection = %s\nfact_caching_timeout = 0\n' % url, 1))
    try:
        _fact_cache_round_trip(run_playbook, tmp_path, {'ANSIBLE_CONFIG': str(cfg)})
        st = S.open_store(url)
        assert st.fact_keys() == ['s1_agent1', 's1_localhost']
    finally:
        import redis
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=prefix + '*'))
        if keys:
            r.delete(*keys)


def test_redis_cache_plugin_refuses_an_sqlite_connection(run_playbook, tmp_path):
    (tmp_path / 'w.yml').write_text(WRITE_FACTS.replace('localhost,agent1', 'localhost'))
    res = run_playbook([str(tmp_path / 'w.yml'), '-e', 'token=x'],
                       env={'ANSIBLE_CACHE_PLUGIN': 'jobnet.scheduler.redis',
                            'ANSIBLE_CACHE_PLUGIN_CONNECTION': 'sqlite:///tmp/x.db'})
    assert 'names an SQLite file, not a Redis server' in res.stdout + res.stderr


@pytest.mark.parametrize('plugin', ['lookup jobnet.scheduler.frame_state', 'cache jobnet.scheduler.sqlite',
                                    'cache jobnet.scheduler.redis'])
def test_plugin_documentation_renders(testenv, plugin):
    kind, name = plugin.split()
    res = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(sys.executable)), 'ansible-doc'),
                          '-t', kind, name], env=testenv.env(), capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0 and 'JOBNET_STORE' in res.stdout, res.stderr
