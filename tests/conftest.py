# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by every pytest run of the collection's tests (plain pytest and ``ansible-test units``).

1. ``import ansible_collections.jobnet.scheduler...`` works under plain pytest: the repository root is the
   collection, found as ``ansible_collections/jobnet/scheduler`` through ``<repo>/.tmp/collections`` (the same
   link ``tests/env/testenv.sh`` makes). When the checkout already sits at
   ``.../ansible_collections/jobnet/scheduler`` (as under ``ansible-test``), nothing is changed.
2. The ``JOBNET_TEST_*`` variables of a running test environment reach the tests even where the environment
   is filtered (``ansible-test units`` passes only a few variables on): when ``JOBNET_TEST_REDIS_URL`` is not
   set, they are read from the first ``.tmp/testenv/env.sh`` found in the repository or above it (the copy
   ``hack/test.sh`` tests lies inside the checkout's ``.tmp``). Variables already set win.
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root() -> str:
    parts = REPO.split(os.sep)
    if parts[-3:-2] == ['ansible_collections']:
        # already laid out as ansible_collections/<namespace>/<name>
        return os.sep.join(parts[:-3])
    root = os.path.join(REPO, '.tmp', 'collections')
    link = os.path.join(root, 'ansible_collections', 'jobnet', 'scheduler')
    if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(REPO):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        tmp = '%s.%d.tmp' % (link, os.getpid())
        os.symlink(REPO, tmp)
        os.replace(tmp, link)
    return root


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)


def _testenv_variables() -> dict[str, str]:
    if os.environ.get('JOBNET_TEST_REDIS_URL'):
        return {}
    path = REPO
    while True:
        env_sh = os.path.join(path, '.tmp', 'testenv', 'env.sh')
        if os.path.isfile(env_sh):
            break
        parent = os.path.dirname(path)
        if parent == path:
            return {}
        path = parent
    values = {}
    with open(env_sh, encoding='utf-8') as f:
        for line in f:
            name, sep, value = line.strip().partition('=')
            name = name[len('export '):] if name.startswith('export ') else ''
            if sep and (name.startswith('JOBNET_TEST_') or name == 'JOBNET_TESTENV'):
                values[name] = value
    return values


for _name, _value in _testenv_variables().items():
    os.environ.setdefault(_name, _value)
