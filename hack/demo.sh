#!/usr/bin/env bash
# Set everything up and run the demo frame on the embedded default store (SQLite).
#   hack/setup.sh, then the test hosts (tests/env/testenv.sh), then hack/demo-frame.sh with the test
#   environment loaded; the hosts are stopped again on exit unless they were already running.
# Usage: hack/demo.sh [arguments for hack/demo-frame.sh]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

bash hack/setup.sh
# shellcheck disable=SC1091  # created by hack/setup.sh
. .venv/bin/activate

testenv_started=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$testenv_started" = 1 ]; then
    bash tests/env/testenv.sh stop || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(bash tests/env/testenv.sh status)" != running ]; then
  testenv_started=1
  bash tests/env/testenv.sh start
fi
# shellcheck disable=SC1091  # written by tests/env/testenv.sh start
. "${JOBNET_TESTENV:-$repo/.tmp/testenv}/env.sh"

if [ ! -f hack/demo-frame.sh ]; then
  echo "demo: hack/demo-frame.sh is not there yet: no demo frame to run" >&2
  exit 1
fi
bash hack/demo-frame.sh "$@"
