# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host label that the job / job_info action plugins add."""

from __future__ import annotations

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._host_label import with_host_filter, with_host_labels


def test_every_job_without_a_host_label_gets_the_inventory_host_and_the_arguments_are_not_changed():
    args = {'jobs': [{'id': 'a', 'command': ['true']}, {'id': 'b', 'command': ['true'], 'labels': {'k': 'v'}},
                     {'id': 'c', 'command': ['true'], 'labels': {'host': 'other'}}], 'root': '/r'}
    out = with_host_labels(args, 'h1')
    assert [j.get('labels') for j in out['jobs']] == [{'host': 'h1'}, {'k': 'v', 'host': 'h1'}, {'host': 'other'}]
    assert 'labels' not in args['jobs'][0] and args['jobs'][1]['labels'] == {'k': 'v'}
    assert out['root'] == '/r'


@pytest.mark.parametrize('args', [{'jobs': 'bad'}, {'jobs': ['bad']}, {'state': 'stopped', 'ids': ['a']},
                                  {'jobs': [{'id': 'a', 'labels': 'bad'}]}])
def test_arguments_of_other_shapes_pass_unchanged_for_the_module_to_report(args):
    assert with_host_labels(args, 'h1') == args


@pytest.mark.parametrize('args, host', [({}, 'h1'), ({'ids': ['x']}, None), ({'host': '*'}, '*'),
                                        ({'ids': None}, 'h1'), ({'ids': []}, None)])
def test_a_listing_without_ids_is_limited_to_the_inventory_host(args, host):
    assert with_host_filter(args, 'h1').get('host') == host
