#!/usr/bin/env bash
# Set everything up and run every test of jobnet.scheduler, in order:
#   sanity  ansible-test sanity --local --python 3.11   (on a clean copy laid out as ansible_collections/jobnet/scheduler)
#   units   ansible-test units --local --python 3.11 --requirements   (same copy)
#   lint    ansible-lint --offline   (on the checkout; configuration in .ansible-lint)
#   system  pytest tests/system -q [extra arguments]   (real hosts of tests/env/testenv.sh)
#
# Usage: hack/test.sh [pytest arguments for the system stage, e.g. -k agent_role -x]
# Environment: JOBNET_TEST_STAGES=sanity,units,lint,system   run only these stages (in the order above)
#              JOBNET_TEST_SSH_PORT / JOBNET_TEST_REDIS_PORT   ports of the test sshd / redis (2222 / 6390)
# Every stage runs even when an earlier one failed; the exit status is non-zero when any stage failed.
# The test environment is started for the system stage and stopped on exit, unless it was already running
# (then it belongs to someone else and is left alone).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

all_stages="sanity units lint system"
stages=${JOBNET_TEST_STAGES:-sanity,units,lint,system}
stages=${stages//,/ }
for s in $stages; do
  case " $all_stages " in *" $s "*) ;; *) echo "test: unknown stage '$s' in JOBNET_TEST_STAGES (known: $all_stages)" >&2; exit 2 ;; esac
done
want() { case " $stages " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

say() { printf '\n=== %s\n' "$*"; }

t0=$SECONDS
say "setup"
bash hack/setup.sh
# shellcheck disable=SC1091  # created by hack/setup.sh
. .venv/bin/activate
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PYTHONDONTWRITEBYTECODE=1
setup_secs=$((SECONDS - t0))

summary=()
failed=0
testenv_started=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$testenv_started" = 1 ]; then
    say "stopping the test environment"
    bash tests/env/testenv.sh stop || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

declare -A stage_cmd=(
  [sanity]="ansible-test sanity --local --python 3.11 (in .tmp/ansible-test/ansible_collections/jobnet/scheduler)"
  [units]="ansible-test units --local --python 3.11 --requirements (same copy)"
  [lint]="ansible-lint --offline"
  [system]="pytest tests/system -q"
)

run_stage() {
  local name=$1; shift
  local start=$SECONDS rc=0
  say "stage $name: ${stage_cmd[$name]}"
  "$@" || rc=$?
  local secs=$((SECONDS - start)) verdict=PASS
  [ "$rc" = 0 ] || { verdict="FAIL (exit $rc)"; failed=1; }
  summary+=("$(printf '%-7s %-16s %5d s' "$name" "$verdict" "$secs")")
  printf '=== stage %s: %s in %d s\n' "$name" "$verdict" "$secs"
}

# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>. It lists the files to test
# with git (tracked and untracked, minus what .gitignore excludes) from the nearest .git upwards; the copy
# lies inside this checkout's ignored .tmp, so it gets an empty repository of its own. The copy holds the
# working tree as it is (no .git of the checkout, nothing .gitignore excludes).
copy=$repo/.tmp/ansible-test/ansible_collections/jobnet/scheduler
make_copy() {
  mkdir -p "$copy"
  rsync -a --delete --delete-excluded --filter='P /.git/' --exclude=/.git/ --exclude=/.tmp/ --exclude=/.venv/ \
    --filter=':- .gitignore' "$repo/" "$copy/" || return
  [ -d "$copy/.git" ] || git -C "$copy" init -q
}

stage_sanity() {
  make_copy || return
  (cd "$copy" && ansible-test sanity --local --python 3.11 --color no)
}

stage_units() {
  make_copy || return
  if [ -z "$(find "$copy/tests/unit" -name 'test_*.py' -print -quit 2>/dev/null)" ]; then
    echo "no unit tests under tests/unit: nothing to run is a failure" >&2
    return 5
  fi
  ensure_testenv || return
  (cd "$copy" && ansible-test units --local --python 3.11 --requirements --color no)
}

stage_lint() {
  # --offline also skips installing this collection for ansible-lint: offer it as
  # ansible_collections/jobnet/scheduler through .tmp/collections (the link tests/env/testenv.sh makes too)
  local cp=$repo/.tmp/collections
  mkdir -p "$cp/ansible_collections/jobnet" || return
  ln -sfn "$repo" "$cp/ansible_collections/jobnet/scheduler" || return
  ANSIBLE_COLLECTIONS_PATH=$cp ansible-lint --offline --nocolor
}

# The real test hosts and redis, for the units (store tests against redis) and system stages. The units
# stage finds them through tests/conftest.py (ansible-test passes no JOBNET_TEST_* variables on).
ensure_testenv() {
  [ "$testenv_checked" = 0 ] || return 0
  testenv_checked=1
  if [ "$(bash tests/env/testenv.sh status)" != running ]; then
    testenv_started=1
    say "starting the test environment"
    bash tests/env/testenv.sh start
  else
    echo "test environment already running in ${JOBNET_TESTENV:-$repo/.tmp/testenv}: using it, leaving it running"
  fi
}
testenv_checked=0

stage_system() {
  local rc=0
  ensure_testenv || return
  pytest tests/system -q -p no:cacheprovider "$@" || rc=$?
  [ "$rc" != 5 ] || echo "pytest collected no tests: a failure" >&2
  return "$rc"
}

for s in $all_stages; do
  want "$s" || continue
  if [ "$s" = system ]; then run_stage "$s" stage_system "$@"; else run_stage "$s" "stage_$s"; fi
done

say "summary (setup $setup_secs s, total $((SECONDS - t0)) s)"
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ] || { echo "test: FAILED"; exit 1; }
echo "test: all stages passed"
