# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session fixtures for the system tests: the real test hosts of ``tests/env/testenv.sh``.

Fixtures
--------
``testenv``        the running test environment (started if it is not up; never stopped here: the test command
                   ``hack/test.sh`` stops what it started). Attributes: ``dir``, ``inventory``, ``ansible_config``,
                   ``collections_path``, ``redis_url``, ``ssh_port``, ``vars`` (the variables of ``env.sh``) and
                   ``env(**overrides)`` (a full environment for a subprocess).
``inventory``      path of the inventory (``localhost`` = manager node, ``agent1``..``agent3`` over ssh).
``ansible_env``    environment dict for ``ansible`` / ``ansible-playbook`` subprocesses.
``redis_url``      ``redis://127.0.0.1:<port>/0`` of the test redis-server.
``jobnet_store``   a private, empty SQLite store for one test: ``sqlite:////abs/path/state.db``, also exported as
                   ``JOBNET_STORE`` for the test (and so for every subprocess started through the helpers).
``run_playbook``   ``run_playbook(args, env=None, timeout=600, cwd=None)`` -> CompletedProcess; ``args`` are the
                   arguments of ``ansible-playbook`` (a list, or one playbook path).
``ansible_adhoc``  ``ansible_adhoc(pattern, module, module_args=None, extra=(), env=None, timeout=300, json=False)``
                   -> CompletedProcess; ``module_args`` a string or a dict (sent as JSON). With ``json=True`` the
                   module result of every host is in ``result.data`` (``{host: result dict}``, read through the
                   ``ansible.builtin.tree`` callback: ansible-core 2.19 has no JSON stdout callback).

Both helpers run the command in its own session with text output captured (``env`` is merged over the test
environment, see ``TestEnv.env``); on timeout the whole process group is killed and
``subprocess.TimeoutExpired`` raised.
"""

from __future__ import annotations

import configparser
import json as _json
import os
import signal
import subprocess
import sys
import typing as t

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTENV_SH = os.path.join(REPO, 'tests', 'env', 'testenv.sh')
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
START_TIMEOUT = 120


def _testenv_dir() -> str:
    return os.environ.get('JOBNET_TESTENV') or os.path.join(REPO, '.tmp', 'testenv')


def _read_env_sh(path: str) -> dict[str, str]:
    """Read the ``export NAME=value`` lines written by testenv.sh."""
    values = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            if not line.startswith('export ') or '=' not in line:
                raise ValueError('%s line %d: expected "export NAME=value", got %r' % (path, lineno, line))
            name, value = line[len('export '):].split('=', 1)
            values[name] = value
    return values


def _run(argv: list[str], env: dict[str, str], timeout: float, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` in its own session; on timeout kill its whole process group."""
    with subprocess.Popen(argv, env=env, cwd=cwd or REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            stdout, stderr = proc.communicate(timeout=30)
            raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr) from None
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


class TestEnv:
    """The started test environment (see tests/env/testenv.sh)."""

    def __init__(self, directory: str, variables: dict[str, str]) -> None:
        self.dir = directory
        self.vars = variables
        self.inventory = variables['JOBNET_TEST_INVENTORY']
        self.ansible_config = variables['ANSIBLE_CONFIG']
        self.collections_path = variables['ANSIBLE_COLLECTIONS_PATH']
        self.redis_url = variables['JOBNET_TEST_REDIS_URL']
        self.ssh_port = int(variables['JOBNET_TEST_SSH_PORT'])

    def env(self, **overrides: str) -> dict[str, str]:
        """A complete environment for an ansible subprocess: the current one, the testenv's, then overrides."""
        env = dict(os.environ)
        env.update(self.vars)
        env['PATH'] = VENV_BIN + os.pathsep + env.get('PATH', '')
        env.setdefault('ANSIBLE_NOCOLOR', '1')
        env.setdefault('ANSIBLE_FORCE_COLOR', '0')
        env['PYTHONUNBUFFERED'] = '1'
        env.update(overrides)
        return env


def _ensure_testenv() -> TestEnv:
    directory = _testenv_dir()
    env = dict(os.environ, JOBNET_TESTENV=directory)
    env['PATH'] = VENV_BIN + os.pathsep + env.get('PATH', '')
    status = _run(['bash', TESTENV_SH, 'status'], env, 30)
    if status.stdout.strip() != 'running':
        started = _run(['bash', TESTENV_SH, 'start'], env, START_TIMEOUT)
        if started.returncode != 0:
            pytest.exit('tests/env/testenv.sh start failed (rc %d):\n%s%s'
                        % (started.returncode, started.stdout, started.stderr), returncode=3)
    env_sh = os.path.join(directory, 'env.sh')
    if not os.path.exists(env_sh):
        pytest.exit('the test environment in %s has no env.sh; stop and start it again' % directory, returncode=3)
    return TestEnv(directory, _read_env_sh(env_sh))


@pytest.fixture(scope='session')
def testenv() -> TestEnv:
    return _ensure_testenv()


@pytest.fixture(scope='session')
def inventory(testenv: TestEnv) -> str:
    return testenv.inventory


@pytest.fixture(scope='session')
def redis_url(testenv: TestEnv) -> str:
    return testenv.redis_url


@pytest.fixture
def ansible_env(testenv: TestEnv) -> dict[str, str]:
    return testenv.env()


@pytest.fixture
def jobnet_store(tmp_path, monkeypatch) -> str:
    """A private empty SQLite store for this test, exported as JOBNET_STORE."""
    url = 'sqlite:///' + str(tmp_path / 'state.db')  # absolute path: sqlite:////abs/path/state.db
    monkeypatch.setenv('JOBNET_STORE', url)
    return url


def _callbacks_enabled(testenv: TestEnv) -> list[str]:
    """The callbacks the test ansible.cfg enables (an environment override must keep them)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(testenv.ansible_config)
    value = parser.get('defaults', 'callbacks_enabled', fallback='')
    return [name.strip() for name in value.split(',') if name.strip()]


def _tree_results(tree_dir: str) -> dict[str, dict]:
    results = {}
    for host in sorted(os.listdir(tree_dir)):
        path = os.path.join(tree_dir, host)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        try:
            results[host] = _json.loads(text)
        except ValueError as e:
            raise AssertionError('result of %s in %s is not JSON (%s): %r' % (host, path, e, text[:2000])) from e
    return results


@pytest.fixture
def run_playbook(testenv: TestEnv) -> t.Callable[..., subprocess.CompletedProcess]:
    def run(args: list[str] | str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: str | None = None) -> subprocess.CompletedProcess:
        argv = [os.path.join(VENV_BIN, 'ansible-playbook')] + ([args] if isinstance(args, str) else list(args))
        return _run(argv, testenv.env(**(env or {})), timeout, cwd)
    return run


@pytest.fixture
def ansible_adhoc(testenv: TestEnv, tmp_path_factory) -> t.Callable[..., subprocess.CompletedProcess]:
    def run(pattern: str, module: str, module_args: str | dict | None = None, extra: t.Sequence[str] = (),
            env: dict[str, str] | None = None, timeout: float = 300, json: bool = False) -> subprocess.CompletedProcess:
        argv = [os.path.join(VENV_BIN, 'ansible'), pattern, '-m', module]
        if module_args is not None:
            argv += ['-a', module_args if isinstance(module_args, str) else _json.dumps(module_args)]
        argv += list(extra)
        overrides = dict(env or {})
        tree_dir = None
        if json:
            tree_dir = str(tmp_path_factory.mktemp('adhoc-tree'))
            overrides.setdefault('ANSIBLE_LOAD_CALLBACK_PLUGINS', '1')
            overrides.setdefault('ANSIBLE_CALLBACKS_ENABLED', ','.join(_callbacks_enabled(testenv) + ['ansible.builtin.tree']))
            overrides['ANSIBLE_CALLBACK_TREE_DIR'] = tree_dir
        result = _run(argv, testenv.env(**overrides), timeout)
        if tree_dir is not None:
            result.data = _tree_results(tree_dir)
        return result
    return run
