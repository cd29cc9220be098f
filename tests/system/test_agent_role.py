# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent role on the real test hosts: job root 0700, idempotent, clear failures."""

from __future__ import annotations

import re
import uuid

import pytest

PLAY = """
- name: Prepare hosts
  hosts: {hosts}
  gather_facts: false
  roles:
    - role: jobnet.scheduler.agent
{role_vars}
  post_tasks:
    - name: Show the job root
      ansible.builtin.stat:
        path: "{{{{ agent_job_root_path }}}}"
      register: root
    - name: Report it
      ansible.builtin.debug:
        msg: "ROOT {{{{ inventory_hostname }}}} {{{{ root.stat.path }}}} {{{{ root.stat.mode }}}} {{{{ root.stat.pw_name }}}}"
"""

ROOT_LINE = re.compile(r'"msg": "ROOT (\S+) (\S+) (\S+) (\S+)"')


def write_play(tmp_path, hosts='all', role_vars=''):
    path = tmp_path / 'play.yml'
    path.write_text(PLAY.format(hosts=hosts, role_vars=role_vars))
    return str(path)


def roots_from(stdout):
    """{host: (path, mode, owner)} from the "ROOT ..." debug lines."""
    return {m.group(1): m.groups()[1:] for m in ROOT_LINE.finditer(stdout)}


def test_agent_role_creates_private_job_root_on_every_host_and_is_idempotent(tmp_path, run_playbook, ansible_adhoc):
    sub = 'jobs-%s' % uuid.uuid4().hex[:8]
    role_vars = '      agent_job_root: "/tmp/jobnet-test-%s-{{ inventory_hostname }}"' % sub
    play = write_play(tmp_path, role_vars=role_vars)
    try:
        first = run_playbook([play, '-v'])
        assert first.returncode == 0, first.stdout + first.stderr
        roots = roots_from(first.stdout)
        assert set(roots) == {'localhost', 'agent1', 'agent2', 'agent3'}, first.stdout
        for host, (path, mode, owner) in roots.items():
            assert path == '/tmp/jobnet-test-%s-%s' % (sub, host), (host, path)
            assert mode == '0700', (host, mode)
            if host.startswith('agent'):
                assert owner == 'jobnet-' + host, (host, owner)
        assert 'changed=1' in first.stdout
        second = run_playbook([play, '-v'])
        assert second.returncode == 0, second.stdout + second.stderr
        assert 'changed=0' in second.stdout and 'changed=1' not in second.stdout, second.stdout
    finally:
        for host in ('localhost', 'agent1', 'agent2', 'agent3'):
            ansible_adhoc(host, 'ansible.builtin.file', 'path=/tmp/jobnet-test-%s-%s state=absent' % (sub, host))


def test_agent_role_defaults_to_jobnet_job_root_then_to_home(tmp_path, run_playbook, testenv):
    play = write_play(tmp_path, hosts='localhost,agent3')
    result = run_playbook([play, '-v'])
    assert result.returncode == 0, result.stdout + result.stderr
    roots = roots_from(result.stdout)
    with open(testenv.inventory, encoding='utf-8') as f:
        configured = re.search(r'^localhost .*jobnet_job_root=(\S+)', f.read(), re.M).group(1)
    assert roots['localhost'][:2] == (configured, '0700')
    # agent3 has no jobnet_job_root: the default ~/.jobnet/jobs of the remote user
    assert roots['agent3'] == ('/home/jobnet-agent3/.jobnet/jobs', '0700', 'jobnet-agent3')


@pytest.mark.parametrize('bad_var, message', [
    ('agent_min_python: "3.99"', 'is too old; jobs need Python >= 3.99'),
])
def test_agent_role_fails_with_a_message_naming_host_and_cause(tmp_path, run_playbook, bad_var, message):
    play = write_play(tmp_path, hosts='agent2', role_vars='      ' + bad_var)
    result = run_playbook([play])
    assert result.returncode != 0
    assert 'agent2: Python 3.' in result.stdout and message in result.stdout, result.stdout


def test_agent_role_refuses_a_relative_job_root_and_creates_nothing(tmp_path, run_playbook, ansible_adhoc):
    name = 'relative-%s' % uuid.uuid4().hex[:8]
    play = write_play(tmp_path, hosts='agent1', role_vars='      agent_job_root: %s/jobs' % name)
    result = run_playbook([play])
    assert result.returncode != 0
    assert 'agent1: agent_job_root must be an absolute path' in result.stdout, result.stdout
    check = ansible_adhoc('agent1', 'ansible.builtin.stat', 'path=%s' % name, json=True)
    assert check.data['agent1']['stat']['exists'] is False, check.data
