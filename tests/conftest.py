# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``import ansible_collections.jobnet.scheduler...`` work under plain pytest.

The repository root is the collection. Python finds it as ``ansible_collections/jobnet/scheduler`` through
``<repo>/.tmp/collections`` (the same link ``tests/env/testenv.sh`` makes). When the checkout already sits at
``.../ansible_collections/jobnet/scheduler`` (as under ``ansible-test``), nothing is changed.
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
