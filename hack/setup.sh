#!/usr/bin/env bash
# Prepare this machine to run jobnet.scheduler's demo and tests. Idempotent: a second run only checks.
#
#   - Debian packages: an sshd and a redis-server for the test hosts (tests/env/testenv.sh starts its own
#     instances; the packages' services are not used), git, rsync, procps, iproute2, shellcheck;
#   - a virtual environment .venv in the checkout with the one pinned requirements file;
#   - the offline pip bootstrap ansible-test looks for (its own downloads from ci-files.testing.ansible.com
#     are not reachable here; hack/get_pip_shim.py installs pip from the package registry instead);
#   - chromium, for the run chart test in a real headless browser.
#
# Environment: JOBNET_PYTHON  the interpreter for .venv (default: python3.11, else python3 if >= 3.11)
#              JOBNET_SETUP_QUIET=1  less output
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

log() { [ "${JOBNET_SETUP_QUIET:-0}" = 1 ] || printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# ---------------------------------------------------------------- Debian packages
apt_packages="openssh-server openssh-client redis-server redis-tools git rsync procps iproute2 util-linux
shellcheck passwd ca-certificates chromium"

missing_packages() {
  local p out=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"
  done
  echo "$out"
}

apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -n "${missing// /}" ] || return 0
  command -v apt-get >/dev/null 2>&1 || die "packages missing ($missing) and no apt-get on this machine"
  # one "apt-get update" unless the package lists are fresh (less than 6 hours old)
  local lists=/var/lib/apt/lists fresh
  fresh=$(find "$lists" -maxdepth 1 -name '*_InRelease' -mmin -360 2>/dev/null | head -n1 || true)
  if [ -z "$fresh" ]; then
    log "apt-get update"
    as_root apt-get update -qq
  fi
  log "apt-get install$missing"
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# shellcheck disable=SC2086  # word splitting of the package list is intended
apt_install $apt_packages

for bin in /usr/sbin/sshd redis-server redis-cli ssh-keygen setsid rsync git pkill shellcheck; do
  command -v "$bin" >/dev/null 2>&1 || die "$bin not found after installing packages"
done

# ---------------------------------------------------------------- Python and .venv
pick_python() {
  local c
  for c in ${JOBNET_PYTHON:-} python3.11 python3; do
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

venv_ok() { [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' 2>/dev/null && [ -x .venv/bin/pip ]; }

if ! venv_ok; then
  py=$(pick_python) || die "no Python >= 3.11 found (set JOBNET_PYTHON)"
  log "creating .venv with $py ($("$py" -V 2>&1))"
  rm -rf .venv
  if ! "$py" -m venv .venv 2>/dev/null; then
    # Debian's own python3 needs the venv/ensurepip package
    rm -rf .venv
    pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    apt_install "python${pyver}-venv"
    "$py" -m venv .venv || die "cannot create a virtual environment with $py"
  fi
fi

req_sum=$(cat requirements.txt meta/ee-requirements.txt | sha256sum | cut -d' ' -f1)
stamp=.venv/.jobnet-requirements.sha256
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$req_sum" ] || ! .venv/bin/python -m pip check >/dev/null 2>&1; then
  log "pip install -r requirements.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$req_sum" > "$stamp"
fi

# ---------------------------------------------------------------- ansible-test's pip bootstrap, offline
# ansible-test bootstraps pip in each of its virtual environments with get-pip-<version>.py, looked up first
# in ~/.ansible/test/cache/get_pip_<version with _>.py. Read the version from the installed ansible-test.
at_dir=$(.venv/bin/python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_ver=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$at_dir/_internal/python_requirements.py" | head -n1)
[ -n "$pip_ver" ] || die "cannot read the pip version ansible-test bootstraps from $at_dir/_internal/python_requirements.py"
grep -q "get_pip_%s.py" "$at_dir/_util/target/setup/requirements.py" \
  || die "ansible-test no longer caches get-pip as get_pip_<version>.py: update hack/setup.sh"
shim="$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
if ! cmp -s hack/get_pip_shim.py "$shim" 2>/dev/null; then
  log "installing the offline pip bootstrap as $shim"
  mkdir -p "$(dirname "$shim")"
  cp hack/get_pip_shim.py "$shim.tmp"
  mv -f "$shim.tmp" "$shim"
fi

version=$(.venv/bin/ansible --version)
log "ready: ${version%%$'\n'*}, $(.venv/bin/python -V)"
