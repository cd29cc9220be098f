# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the state store tests: one store per backend.

``store_url`` / ``store`` run a test once against a fresh SQLite file and once against Redis at
``JOBNET_TEST_REDIS_URL`` under a key prefix of its own (removed afterwards); the Redis case is skipped only
when that variable is unset. A test module that defines a fixture of the same name uses its own.
"""

from __future__ import annotations

import os
import uuid

import pytest

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _store as S

REDIS_URL = os.environ.get('JOBNET_TEST_REDIS_URL')


def _redis_cleanup(url: str, prefix: str) -> None:
    import redis
    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=prefix + '*', count=1000))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture(params=['sqlite', 'redis'])
def store_url(request, tmp_path):
    if request.param == 'sqlite':
        yield 'sqlite://%s' % (tmp_path / 'state.db')
        return
    if not REDIS_URL:
        pytest.skip('JOBNET_TEST_REDIS_URL is not set (source .tmp/testenv/env.sh)')
    prefix = 'jobnet-test-%s:' % uuid.uuid4().hex[:12]
    yield '%s?prefix=%s' % (REDIS_URL, prefix)
    _redis_cleanup(REDIS_URL, prefix)


@pytest.fixture
def store(store_url):
    st = S.open_store(store_url)
    yield st
    st.close()
