#!/usr/bin/env bash
# The demo frame, on the embedded default store (SQLite at ~/.ansible/jobnet/state.db):
#   1. run a small nightly frame over localhost (the manager node) and agent1..agent3;
#   2. kill -9 ansible-playbook while jobs run on the agents;
#   3. show that those jobs kept running on their hosts (ad-hoc job_info);
#   4. recover: the running jobs are adopted (never started twice), the frame is carried to its end.
# Called by hack/demo.sh with the test environment loaded (ANSIBLE_CONFIG, ANSIBLE_COLLECTIONS_PATH).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
unset JOBNET_STORE   # the embedded default store
demo=$repo/.tmp/demo
mkdir -p "$demo"
date=$(date +%F)
status_json=$demo/status.json

say() { printf '\n== %s\n' "$*"; }

cat > "$demo/nightly.yml" <<'EOF'
frame: demo
description: A small nightly flow over the manager node and three agents
jobs:
  - name: extract
    host: localhost
    shell: "echo extracting; sleep 1"
nets:
  - name: load
    after: [extract]
    jobs:
      - {name: stage_a, host: agent1, shell: "echo staging a; sleep 12; echo staged a"}
      - {name: stage_b, host: agent2, shell: "echo staging b; sleep 15; echo staged b"}
      - {name: stage_c, host: agent3, shell: "echo staging c; sleep 10; echo staged c"}
      - {name: merge, host: agent3, shell: "echo merging; sleep 1", after: [stage_a, stage_b, stage_c]}
  - name: report
    after: [load]
    jobs:
      - {name: publish, host: localhost, shell: "echo published"}
EOF

frame_state() {
  ansible-playbook jobnet.scheduler.status -e frame=demo -e "operation_date=$date" -e "status_json=$status_json" \
    >/dev/null 2>&1 || true
  python3 - "$status_json" "$@" <<'EOF'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
items = {it['path']: it['state'] for fr in doc['frames'] for it in fr['items']}
items[''] = doc['frames'][0]['state'] if doc['frames'] else None
want = dict(arg.split('=', 1) for arg in sys.argv[2:])
sys.exit(0 if all(items.get(k) == v for k, v in want.items()) else 1)
EOF
}

say "a fresh demo instance for $date (force_init of an earlier one, if any)"
ansible-playbook jobnet.scheduler.force_init -e frame=demo -e "operation_date=$date" >/dev/null 2>&1 || true

ansible-playbook jobnet.scheduler.status -e frame=demo -e "operation_date=$date" -e "status_json=$demo/base.json" \
  >/dev/null 2>&1 || echo '{"frames": []}' > "$demo/base.json"

say "run the frame in the background"
ansible-playbook jobnet.scheduler.run -e "frame_file=$demo/nightly.yml" -e "operation_date=$date" \
  >"$demo/run.log" 2>&1 &
run_pid=$!

say "wait until the stage jobs run on their agents"
for _ in $(seq 1 120); do
  if frame_state load/stage_b=running; then break; fi
  sleep 0.5
done
frame_state load/stage_b=running || {
  echo "demo: the stage jobs did not start; see $demo/run.log" >&2; kill -9 "$run_pid" 2>/dev/null; exit 1; }

say "kill -9 the controller (ansible-playbook pid $run_pid) while the jobs run"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null || true

say "the jobs keep running on their hosts (ad-hoc job_info, no controller)"
rm -rf "$demo/tree"
ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.tree ANSIBLE_CALLBACK_TREE_DIR="$demo/tree" \
  ansible agents -m jobnet.scheduler.job_info \
  -a '{"labels": {"frame": "demo", "operation_date": "'"$date"'"}, "state": ["running"], "output": false}' >/dev/null 2>&1 || true
python3 - "$demo/tree" <<'EOF'
import json, os, sys
for host in sorted(os.listdir(sys.argv[1])):
    res = json.load(open(os.path.join(sys.argv[1], host)))
    for job in res.get('jobs', []):
        print('  %-8s %-45s %s (pid %s, started %s)' % (host, job['id'], job['state'], job['pid'], job['started']))
EOF

say "recover: adopt the running jobs, then the automatic rerun carries the frame to its end"
ansible-playbook jobnet.scheduler.recover -e "operation_date=$date" -e frame=demo | tee "$demo/recover.log" \
  | grep -E 'jobnet: |^frame |^demo|^ +(load|report|extract)|^ {2,}[a-z_]+ +[a-z_]+' || true

say "final state"
ansible-playbook jobnet.scheduler.status -e frame=demo -e "operation_date=$date" | sed -n '/^frame /,/^$/p'
ended=no
if frame_state '=normal_end'; then ended=yes; fi
# every job ran exactly once: its attempt number grew by one over this demo (init keeps the counters)
once=$(python3 - "$demo/base.json" "$status_json" <<'EOF'
import json, sys
def attempts(path):
    doc = json.load(open(path))
    return {i['path']: i['attempt'] for f in doc['frames'] for i in f['items'] if i['kind'] == 'job'}
base, now = attempts(sys.argv[1]), attempts(sys.argv[2])
print(all(n == base.get(p, 0) + 1 for p, n in now.items()))
EOF
)
if [ "$ended" = yes ] && [ "$once" = True ]; then
  say "demo frame ended normal_end: every job ran exactly once, across a controller kill"
else
  echo "demo: the frame did not end normally; see $demo/*.log" >&2
  exit 1
fi
