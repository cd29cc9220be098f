# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for get-pip.py, used by ansible-test to bootstrap pip in its virtual environments.

ansible-test downloads get-pip-<version>.py from ci-files.testing.ansible.com unless
~/.ansible/test/cache/get_pip_<version>.py exists; hack/setup.sh installs this file there. It is run with the
arguments get-pip.py takes (pip install arguments such as ``pip==24.2`` plus ``--no-setuptools`` and
``--no-wheel``) by the interpreter of the environment to bootstrap. It installs the bundled pip with
``ensurepip`` and then the requested packages from the configured package registry.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY = {'--no-setuptools': 'setuptools', '--no-wheel': 'wheel'}


def run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True)


def main() -> None:
    args = sys.argv[1:]
    unwanted = [name for flag, name in GET_PIP_ONLY.items() if flag in args]
    pip_args = [a for a in args if a not in GET_PIP_ONLY]

    before = subprocess.run([sys.executable, '-m', 'pip', '--version'], capture_output=True, check=False)
    run('-m', 'ensurepip', '--default-pip')
    run('-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', *pip_args)
    if before.returncode != 0 and unwanted:
        # ensurepip may bring setuptools along; get-pip.py with --no-setuptools would not have.
        installed = subprocess.run([sys.executable, '-m', 'pip', 'list', '--format=freeze'],
                                   capture_output=True, text=True, check=True).stdout
        present = [n for n in unwanted if any(line.lower().startswith(n + '==') for line in installed.splitlines())]
        if present:
            run('-m', 'pip', 'uninstall', '--disable-pip-version-check', '--quiet', '--yes', *present)


if __name__ == '__main__':
    main()
