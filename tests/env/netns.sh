#!/usr/bin/env bash
# A test host in a network namespace of its own, whose link can be cut and mended: an agent that really cannot
# be reached, for the recovery tests.
#
#   netns.sh up NAME     create namespace NAME (e.g. jn-agent4) with a veth pair
#                        (host side NAME-h 10.231.0.1/30, namespace side NAME-n 10.231.0.2/30), an sshd of its
#                        own inside it on 10.231.0.2:2222 (own config and host key under the test env dir, key
#                        auth with the test environment's client key) and the user jobnet-<agent> (NAME without
#                        its "jn-" prefix: jn-agent4 -> jobnet-agent4) with its own home. Idempotent.
#   netns.sh cut NAME    ip link set NAME-h down: the namespace is gone from the network (silent drop: the
#                        packets go to a veth NAME-d whose peer NAME-s is down, and vanish; nothing leaves
#                        this machine)
#   netns.sh mend NAME   ip link set NAME-h up, and wait until its sshd answers again
#   netns.sh down NAME   kill the namespace's sshd, its sessions and the user's processes, delete the veth pair,
#                        the sink pair NAME-d/NAME-s and the namespace, remove the user and the state folder
#   netns.sh status NAME prints up, cut or down
#
# Needs root, iproute2 (ip netns), sshd, and a started test environment (tests/env/testenv.sh start) for the
# client key. State lives in $JOBNET_TESTENV/netns/NAME. Addresses: JOBNET_NETNS_HOST_ADDR (10.231.0.1),
# JOBNET_NETNS_ADDR (10.231.0.2), prefix /30, JOBNET_NETNS_SSH_PORT (2222): they exist only between the host
# side of the veth pair and the namespace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
TE=${JOBNET_TESTENV:-$repo/.tmp/testenv}
HOST_ADDR=${JOBNET_NETNS_HOST_ADDR:-10.231.0.1}
NS_ADDR=${JOBNET_NETNS_ADDR:-10.231.0.2}
PREFIX=30
SSH_PORT=${JOBNET_NETNS_SSH_PORT:-2222}

log() { printf 'netns: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() { echo "usage: $0 up|down|cut|mend|status NAME   (NAME like jn-agent4: [a-z0-9-], at most 13 characters)" >&2; exit 2; }

[ $# -eq 2 ] || usage
cmd=$1
NAME=$2
# interface names are at most 15 characters: NAME-h / NAME-n / NAME-d
[[ $NAME =~ ^[a-z][a-z0-9-]{0,12}$ ]] || usage
AGENT=${NAME#jn-}
USER_NAME="jobnet-$AGENT"
VETH_HOST="$NAME-h"
VETH_NS="$NAME-n"
SINK="$NAME-d"
SINK_PEER="$NAME-s"
DIR="$TE/netns/$NAME"
SUBNET="${NS_ADDR%.*}.$(( ${NS_ADDR##*.} & ~3 ))/$PREFIX"

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, users)"
  command -v ip >/dev/null 2>&1 || die "missing ip (apt package iproute2): run hack/setup.sh"
  ip netns list >/dev/null 2>&1 || die "ip netns does not work here"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NAME"; }

sshd_alive() { [ -f "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; }

ssh_login() {
  ssh -q -p "$SSH_PORT" -i "$TE/keys/client_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o ControlMaster=no -o ControlPath=none -o ConnectTimeout=2 \
    "$USER_NAME@$NS_ADDR" true 2>/dev/null
}

wait_login() {
  local deadline=$((SECONDS + ${1:-30}))
  until ssh_login; do
    [ $SECONDS -lt $deadline ] || { log "$NAME: $USER_NAME@$NS_ADDR:$SSH_PORT does not answer"; cat "$DIR/sshd.log" >&2 || true; exit 1; }
    sleep 0.3
  done
}

up() {
  need_root
  [ -f "$TE/keys/client_ed25519.pub" ] || die "no client key in $TE/keys: run tests/env/testenv.sh start first"
  for bin in /usr/sbin/sshd ssh-keygen ssh useradd; do
    command -v "$bin" >/dev/null 2>&1 || die "missing $bin: run hack/setup.sh first"
  done
  if ns_exists && sshd_alive; then
    ip link set "$VETH_HOST" up
    wait_login 30
    log "$NAME already up: $USER_NAME@$NS_ADDR:$SSH_PORT"
    return 0
  fi
  mkdir -p "$DIR/keys" "$DIR/authorized_keys" /run/sshd
  chmod 0755 "$TE/netns" "$DIR"
  # the user, as testenv.sh makes agent1..agent3
  id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USER_NAME"
  usermod -p "*" "$USER_NAME"
  [ -f "$DIR/keys/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/keys/host_ed25519"
  chmod 0600 "$DIR/keys/host_ed25519"
  cp "$TE/keys/client_ed25519.pub" "$DIR/authorized_keys/$USER_NAME"
  chmod 0644 "$DIR/authorized_keys/$USER_NAME"
  # the namespace and its link
  ns_exists || ip netns add "$NAME"
  if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NAME"
  fi
  ip addr replace "$HOST_ADDR/$PREFIX" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip netns exec "$NAME" ip link set lo up
  ip netns exec "$NAME" ip addr replace "$NS_ADDR/$PREFIX" dev "$VETH_NS"
  ip netns exec "$NAME" ip link set "$VETH_NS" up
  # while the link is cut, the connected route is gone: a fallback route with a worse metric sends the packets
  # into a second veth pair whose other end (NAME-s) stays down, where they are dropped without an answer, so
  # they never follow the default route off this machine and the peer just goes silent (no dummy module here)
  if ! ip link show "$SINK" >/dev/null 2>&1; then
    ip link add "$SINK" type veth peer name "$SINK_PEER"
  fi
  ip link set "$SINK_PEER" down
  ip link set "$SINK" arp off
  ip link set "$SINK" up
  ip route replace "$SUBNET" dev "$SINK" metric 4242
  cat > "$DIR/sshd_config" <<CFG
Port $SSH_PORT
ListenAddress $NS_ADDR:$SSH_PORT
HostKey $DIR/keys/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys/%u
AllowUsers $USER_NAME
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
  if ! sshd_alive; then
    rm -f "$DIR/sshd.pid"
    ip netns exec "$NAME" /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
  fi
  wait_login 30
  log "up: $NAME, $USER_NAME@$NS_ADDR:$SSH_PORT (host side $VETH_HOST $HOST_ADDR/$PREFIX)"
}

user_pids() {
  # the test user's live processes (zombies are only waiting for their parent to reap them)
  id "$USER_NAME" >/dev/null 2>&1 || return 0
  { ps -o pid=,stat= -u "$USER_NAME" 2>/dev/null || true; } | awk '$2 !~ /^Z/ {print $1}'
}

ns_pids() {
  ns_exists || return 0
  ip netns pids "$NAME" 2>/dev/null || true
}

kill_pids() {
  # kill -9 each pid given on stdin (ours: the namespace's processes, the test user's processes)
  local pid
  while read -r pid; do
    if [ -n "$pid" ] && [ "$pid" != "$$" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

down() {
  need_root
  local _try
  if sshd_alive; then kill -KILL "$(cat "$DIR/sshd.pid")" 2>/dev/null || true; fi
  # sessions and jobs: every process inside the namespace, then whatever still runs as the test user
  # (a namespace whose processes live on outlives "ip netns del")
  for _try in 1 2 3 4 5; do
    ns_pids | kill_pids
    user_pids | kill_pids
    sleep 0.2
    [ -z "$(ns_pids)$(user_pids)" ] && break
  done
  ip link del "$VETH_HOST" 2>/dev/null || true
  ip link del "$SINK" 2>/dev/null || true
  if ns_exists; then ip netns del "$NAME"; fi
  if id "$USER_NAME" >/dev/null 2>&1; then userdel -r "$USER_NAME" >/dev/null 2>&1 || userdel "$USER_NAME" || true; fi
  rm -rf "$DIR"
  log "down: $NAME"
}

cut() {
  need_root
  ns_exists || die "$NAME is not up"
  ip link set "$VETH_HOST" down
  log "cut: $NAME ($VETH_HOST down)"
}

mend() {
  need_root
  ns_exists || die "$NAME is not up"
  ip link set "$VETH_HOST" up
  wait_login 30
  log "mended: $NAME"
}

status() {
  if ! ns_exists; then echo down; return 0; fi
  if ip link show "$VETH_HOST" 2>/dev/null | grep -q '[<,]UP[,>]'; then echo up; else echo cut; fi
}

case "$cmd" in
  up) up ;;
  down) down ;;
  cut) cut ;;
  mend) mend ;;
  status) status ;;
  *) usage ;;
esac
