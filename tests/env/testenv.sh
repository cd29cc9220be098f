#!/usr/bin/env bash
# Real test hosts for jobnet.scheduler, all on loopback:
#   - an sshd of our own (own config, host keys, port) listening on 127.0.0.2-4,
#     serving inventory hosts agent1..agent3, each logged in as its own user (jobnet-agentN)
#     so every agent has its own home and its own default job root;
#   - localhost with the local connection (the manager node);
#   - a redis-server on 127.0.0.1 (its own port and data folder).
# Usage: testenv.sh start|stop|status   (state kept in $JOBNET_TESTENV, default <repo>/.tmp/testenv)
# After start, "source $JOBNET_TESTENV/env.sh" sets ANSIBLE_CONFIG, ANSIBLE_COLLECTIONS_PATH, JOBNET_TEST_* .
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
TE=${JOBNET_TESTENV:-$repo/.tmp/testenv}
SSH_PORT=${JOBNET_TEST_SSH_PORT:-2222}
REDIS_PORT=${JOBNET_TEST_REDIS_PORT:-6390}
AGENTS="agent1:127.0.0.2 agent2:127.0.0.3 agent3:127.0.0.4"

log() { printf 'testenv: %s\n' "$*" >&2; }

collections_path() {
  # The repository root is the collection; Ansible finds it as ansible_collections/jobnet/scheduler.
  local cp=$repo/.tmp/collections
  mkdir -p "$cp/ansible_collections/jobnet"
  ln -sfn "$repo" "$cp/ansible_collections/jobnet/scheduler"
  echo "$cp"
}

start() {
  mkdir -p "$TE"
  chmod 0755 "$TE"
  for bin in sshd redis-server ssh-keygen setsid; do
    command -v "$bin" >/dev/null 2>&1 || { log "missing $bin: run hack/setup.sh first"; exit 1; }
  done
  [ -f "$TE/sshd.pid" ] && kill -0 "$(cat "$TE/sshd.pid")" 2>/dev/null && { log "already running in $TE"; return 0; }
  mkdir -p /run/sshd "$TE/keys" "$TE/authorized_keys" "$TE/cp" "$TE/roots/localhost" "$TE/redis"
  [ -f "$TE/keys/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$TE/keys/host_ed25519"
  [ -f "$TE/keys/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$TE/keys/client_ed25519"
  chmod 0600 "$TE/keys/"*_ed25519
  local listen=""
  for a in $AGENTS; do
    local addr=${a##*:} user="jobnet-${a%%:*}"
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    # a locked account ("!" in shadow) is refused by sshd without PAM; "*" means: no password, key only
    usermod -p "*" "$user"
    cp "$TE/keys/client_ed25519.pub" "$TE/authorized_keys/$user"
    chmod 0644 "$TE/authorized_keys/$user"
    listen="$listen
ListenAddress $addr:$SSH_PORT"
  done
  cat > "$TE/sshd_config" <<CFG
Port $SSH_PORT$listen
HostKey $TE/keys/host_ed25519
PidFile $TE/sshd.pid
AuthorizedKeysFile $TE/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
StrictModes no
UsePAM no
MaxStartups 200:30:400
MaxSessions 200
ClientAliveInterval 5
ClientAliveCountMax 3
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
  /usr/sbin/sshd -f "$TE/sshd_config" -E "$TE/sshd.log"
  # redis of our own
  cat > "$TE/redis.conf" <<CFG
bind 127.0.0.1
port $REDIS_PORT
dir $TE/redis
daemonize yes
pidfile $TE/redis.pid
logfile $TE/redis.log
save ""
appendonly yes
appendfsync always
protected-mode yes
CFG
  redis-server "$TE/redis.conf"
  # inventory and ansible.cfg
  {
    echo "[manager]"
    echo "localhost ansible_connection=local ansible_python_interpreter=$repo/.venv/bin/python jobnet_job_root=$TE/roots/localhost/jobs"
    echo
    echo "[agents]"
    for a in $AGENTS; do
      echo "${a%%:*} ansible_host=${a##*:} ansible_user=jobnet-${a%%:*}"
    done
    echo
    echo "[agents:vars]"
    echo "ansible_port=$SSH_PORT"
    echo "ansible_ssh_private_key_file=$TE/keys/client_ed25519"
    echo "ansible_python_interpreter=/usr/bin/python3"
  } > "$TE/inventory.ini"
  local cp; cp=$(collections_path)
  cat > "$TE/ansible.cfg" <<CFG
[defaults]
inventory = $TE/inventory.ini
collections_path = $cp
host_key_checking = False
forks = 20
timeout = 5
interpreter_python = auto_silent
retry_files_enabled = False
local_tmp = $TE/ansible-local-tmp
callbacks_enabled = jobnet.scheduler.recorder

[ssh_connection]
pipelining = True
control_path_dir = $TE/cp
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=2 -o ServerAliveCountMax=2 -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR
CFG
  cat > "$TE/env.sh" <<ENV
export ANSIBLE_CONFIG=$TE/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$cp
export JOBNET_TESTENV=$TE
export JOBNET_TEST_INVENTORY=$TE/inventory.ini
export JOBNET_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export JOBNET_TEST_SSH_PORT=$SSH_PORT
ENV
  # wait until every agent answers over ssh and redis answers
  local deadline=$((SECONDS + 30))
  for a in $AGENTS; do
    until ssh -q -p "$SSH_PORT" -i "$TE/keys/client_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=2 "jobnet-${a%%:*}@${a##*:}" true 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { log "agent ${a%%:*} does not answer on ${a##*:}:$SSH_PORT"; cat "$TE/sshd.log" >&2; exit 1; }
      sleep 0.3
    done
  done
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "redis does not answer on $REDIS_PORT"; exit 1; }
    sleep 0.2
  done
  log "up: sshd $SSH_PORT on 127.0.0.2-4, redis $REDIS_PORT; source $TE/env.sh"
}

stop() {
  # a network-namespace test host left by an interrupted test run (tests/env/netns.sh)
  if [ -f "$here/netns.sh" ]; then
    bash "$here/netns.sh" down jn-agent4 >/dev/null 2>&1 || true
  fi
  [ -d "$TE" ] || return 0
  if [ -f "$TE/redis.pid" ]; then kill "$(cat "$TE/redis.pid")" 2>/dev/null || true; fi
  if [ -f "$TE/sshd.pid" ]; then kill "$(cat "$TE/sshd.pid")" 2>/dev/null || true; fi
  # jobs and sessions still running as the agent users (tests start detached jobs on purpose)
  for a in $AGENTS; do
    local user="jobnet-${a%%:*}"
    if id "$user" >/dev/null 2>&1; then
      pkill -KILL -u "$user" 2>/dev/null || true
      sleep 0.2
      userdel -r "$user" >/dev/null 2>&1 || true
    fi
  done
  # detached jobs started on the manager node by the tests
  if [ -d "$TE/roots" ]; then
    pkill -KILL -f "$TE/roots" 2>/dev/null || true
  fi
  rm -f "$TE/sshd.pid" "$TE/redis.pid"
  rm -rf "$TE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) [ -f "$TE/sshd.pid" ] && kill -0 "$(cat "$TE/sshd.pid")" 2>/dev/null && echo running || echo stopped ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
