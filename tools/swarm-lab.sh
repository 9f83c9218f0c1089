#!/usr/bin/env bash
# A Docker Swarm lab of N managers (default 3) on this one machine, for the Swarm platform's tests.
#
#   up                 build the lab (a running lab is left as is); prints node 1's socket
#   down [--purge]     stop and remove everything; --purge also drops the kept image stores
#   status             one line per node, then `docker node ls`; non-zero when a node is down
#   docker N ARGS...   the docker CLI against node N
#   socket N | addr N  node N's unix socket path | IPv4 address
#   stop-node N        graceful dockerd stop (its containers stop; Swarm marks the node Down)
#   start-node N       start node N's dockerd again and wait until it is Ready
#   load IMAGE...      give every node these images under the same tags
#
# Each node is one dockerd (with its own managed containerd) in network namespace hlswN
# (eth0 10.250.0.1N), a private mount namespace and its own UTS namespace (hostname
# hearth-lab-N). The nodes' bridge hlswbr0 lives in namespace hlswhub, not in the root one:
# the host has br_netfilter and Docker's FORWARD policy DROP, so a root-netns bridge would push
# node-to-node frames through the host's Docker rules. The root netns reaches the nodes through
# one veth, hlswhost (10.250.0.254), whose peer is a port of that bridge: the tests' traffic is
# then locally originated (OUTPUT) and its replies arrive on INPUT, both ACCEPT, so the host's
# iptables are neither crossed by forwarding nor changed.
#
# Environment: HEARTH_SWARM_LAB (state, default $HEARTH_CACHE/swarm-lab), HEARTH_SWARM_NODES (3).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STATE=${HEARTH_SWARM_LAB:-$HEARTH_CACHE/swarm-lab}
NODES=${HEARTH_SWARM_NODES:-3}
HUB=hlswhub BR=hlswbr0 NET=10.250.0 HOST_IF=hlswhost HOST_ADDR=10.250.0.254
POOL=10.251.0.0/16  # overlay subnets, away from the lab's /24 and the host's Docker pools
KEPT=.hearth-kept   # in a data-root: `down` left only images there, so `up` may reuse it

addr() { echo "$NET.$((10 + $1))"; }
node_dir() { echo "$STATE/node$1"; }
sock() { echo "$STATE/node$1/docker.sock"; }
# -H decides, whatever context or DOCKER_HOST the caller has.
dk() { local n=$1; shift; DOCKER_CONTEXT='' DOCKER_HOST='' docker -H "unix://$(sock "$n")" "$@"; }
alive() { dk "$1" version >/dev/null 2>&1; }
dpid() { local p; p=$(cat "$(node_dir "$1")/docker.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

check_n() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$NODES" ] \
    || die "node number must be 1..$NODES (got '${1:-}')"
}

preflight() {
  local missing=() b m
  [ "$(id -u)" -eq 0 ] || missing+=("root (run with sudo)")
  for b in docker dockerd containerd nsenter unshare ip iptables flock; do
    command -v "$b" >/dev/null 2>&1 || missing+=("command $b")
  done
  # overlay: overlay2 storage; vxlan: overlay networks; bridge: the hub. Built-in ones show in
  # /sys/module too; veth (CONFIG_VETH=y) does not, so it is tried when the hub is built.
  for m in overlay vxlan bridge; do
    [ -d /sys/module/$m ] || modprobe -q $m 2>/dev/null || missing+=("kernel module $m")
  done
  [ -d /sys/fs/cgroup ] || missing+=("cgroups at /sys/fs/cgroup")
  [ ${#missing[@]} -eq 0 ] || die "the Swarm lab needs: $(IFS=,; echo "${missing[*]}" | sed 's/,/, /g')"
  # unix sockets have a 108-byte limit; the longest is containerd's under the exec-root.
  local longest="$STATE/node$NODES/exec/containerd/containerd.sock.ttrpc"
  [ ${#longest} -lt 100 ] || die "state path too long for unix sockets ($longest); set HEARTH_SWARM_LAB to a shorter directory"
}

net_up() {
  ip netns add $HUB
  ip -n $HUB link set lo up
  ip -n $HUB link add $BR type bridge
  ip -n $HUB addr add $NET.1/24 dev $BR
  ip -n $HUB link set $BR up
  # The root netns end: created in the hub, then moved out, so a failure leaves nothing in root.
  ip -n $HUB link add hlvhost type veth peer name $HOST_IF
  ip -n $HUB link set hlvhost master $BR up
  ip -n $HUB link set $HOST_IF netns 1
  ip addr add $HOST_ADDR/24 dev $HOST_IF
  ip link set $HOST_IF up
  local i
  for i in $(seq 1 "$NODES"); do
    ip netns add hlsw$i
    ip -n $HUB link add hlv$i type veth peer name eth0 netns hlsw$i
    ip -n $HUB link set hlv$i master $BR up
    ip -n hlsw$i link set lo up
    ip -n hlsw$i addr add "$(addr "$i")/24" dev eth0
    ip -n hlsw$i link set eth0 up
    ip -n hlsw$i route add default via $NET.1
  done
}

write_conf() {
  local d; d=$(node_dir "$1")
  mkdir -p "$d/data" "$d/exec"
  # Swarm refuses live-restore, and the host's daemon.json sets it: each node gets its own
  # config file. no-new-privileges here because Swarm services cannot set security_opt.
  cat >"$d/daemon.json" <<EOF
{
  "hosts": ["unix://$d/docker.sock"],
  "data-root": "$d/data",
  "exec-root": "$d/exec",
  "pidfile": "$d/docker.pid",
  "storage-driver": "overlay2",
  "log-driver": "local",
  "log-opts": {"max-size": "10m", "max-file": "3"},
  "live-restore": false,
  "no-new-privileges": true
}
EOF
  # The agent pulls every task's image by tag even with --resolve-image never; with the host's
  # resolver that lookup times out (~10 s per task start). Nothing listens on 127.0.0.1:53 in
  # the netns, so it fails at once and the agent uses the loaded image.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$d/resolv.conf"
}

start_node() {
  local i=$1 d t0; d=$(node_dir "$1")
  alive "$i" && return 0
  [ -e /run/netns/hlsw$i ] || die "node $i has no network namespace; run: $0 up"
  rm -f "$d/docker.sock" "$d/docker.pid"
  mkdir -p "$STATE/logs"
  t0=$(now)
  # `ip netns exec` remounts /sys and hides /sys/fs/cgroup ("Devices cgroup isn't mounted"):
  # enter the netns, unshare mount+uts, mount a sysfs of this netns and move the host's
  # cgroup tree back on top. tmpfs over /run/docker and /run/containerd hides the host
  # daemon's sockets and keeps the node's runtime files out of the host's /run. 9>&- so the
  # daemon does not hold our lock.
  setsid nsenter --net=/run/netns/hlsw$i -- unshare --mount --uts --propagation private -- \
    /bin/sh -ec "
      hostname hearth-lab-$i
      mkdir -p '$d/.cg'
      mount --rbind /sys/fs/cgroup '$d/.cg'
      mount -t sysfs sysfs /sys
      mount --move '$d/.cg' /sys/fs/cgroup
      mount -t tmpfs -o mode=0711 tmpfs /run/docker
      mount -t tmpfs -o mode=0711 tmpfs /run/containerd
      mount --bind '$d/resolv.conf' /etc/resolv.conf
      exec dockerd --config-file '$d/daemon.json'
    " >"$STATE/logs/node$i.log" 2>&1 </dev/null 9>&- &
  local end=$((SECONDS + 60))
  until alive "$i"; do
    if [ $SECONDS -ge $end ]; then
      tail -20 "$STATE/logs/node$i.log" >&2
      die "node $i: dockerd did not answer within 60 s (log: $STATE/logs/node$i.log)"
    fi
    sleep 0.2
  done
  ok "node $i: dockerd up in $(since "$t0")"
}

# Graceful: dockerd stops its containers and its containerd. Anything still in the netns after
# that (a hung shim) is ended by pid, so nothing outlives the node.
stop_node() {
  local i=$1 pid left
  pid=$(dpid "$i" || true)
  if [ -n "$pid" ]; then
    kill -TERM "$pid"
    local end=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { warn "node $i: dockerd $pid ignored TERM for 30 s, killing"; kill -KILL "$pid" || true; }
  fi
  [ -e /run/netns/hlsw$i ] || return 0
  left=$(ip netns pids hlsw$i 2>/dev/null || true)
  if [ -n "$left" ]; then
    warn "node $i: processes left in the netns: $(echo $left), ending them"
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    local end=$((SECONDS + 5))
    while [ -n "$(ip netns pids hlsw$i 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 0.2; done
    left=$(ip netns pids hlsw$i 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
  fi
}

# Ready as the node itself sees it (the node list needs a raft leader).
wait_ready() {
  local i=$1 limit=${2:-90} end
  end=$((SECONDS + limit))
  until [ "$(dk "$i" node inspect self --format '{{.Status.State}}' 2>/dev/null)" = ready ]; do
    [ $SECONDS -lt $end ] || die "node $i: not Ready within $limit s; see $0 status"
    sleep 0.5
  done
}

ready_count() {
  local i out
  for i in $(seq 1 "$NODES"); do
    out=$(dk "$i" node ls --format '{{.Status}}' 2>/dev/null) || continue
    grep -c '^Ready$' <<<"$out" || true
    return
  done
  echo 0
}

# A kept data-root is reused only when `down` marked it clean; otherwise it starts empty.
prepare_data() {
  local d; d=$(node_dir "$1")
  if [ -d "$d/data" ] && [ ! -e "$d/data/$KEPT" ]; then rm -rf "$d/data"; fi
  rm -f "$d/data/$KEPT"
}

cmd_up() {
  preflight
  local t0 t i
  t0=$(now)
  if [ -e /run/netns/$HUB ]; then
    # Running (or with nodes stopped by stop-node): start what is stopped, leave the rest.
    for i in $(seq 1 "$NODES"); do alive "$i" || start_node "$i"; done
    for i in $(seq 1 "$NODES"); do wait_ready "$i"; done
    [ "$(ready_count)" -eq "$NODES" ] || die "the lab is up but not $NODES Ready nodes; run: $0 down && $0 up"
    ok "lab already up: $NODES managers Ready"
    sock 1
    return
  fi
  mkdir -p "$STATE"
  [ -d /run/netns ] || touch "$STATE/.created-run-netns"
  t=$(now); net_up; ok "namespaces, hub bridge and $HOST_IF ($HOST_ADDR): $(since "$t")"
  t=$(now)
  for i in $(seq 1 "$NODES"); do prepare_data "$i"; write_conf "$i"; done
  local pids=()
  for i in $(seq 1 "$NODES"); do start_node "$i" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || die "a node did not start; run: $0 down"; done
  ok "$NODES dockerd up: $(since "$t")"
  t=$(now)
  dk 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" \
    --default-addr-pool $POOL --default-addr-pool-mask-length 24 >/dev/null
  local token; token=$(dk 1 swarm join-token -q manager)
  for i in $(seq 2 "$NODES"); do
    dk "$i" swarm join --advertise-addr "$(addr "$i")" --listen-addr "$(addr "$i"):2377" \
      --token "$token" "$(addr 1):2377" >/dev/null
  done
  for i in $(seq 1 "$NODES"); do wait_ready "$i" 60; done
  ok "swarm of $NODES managers Ready: $(since "$t")"
  ok "lab up in $(since "$t0")"
  sock 1
}

# Leave only images behind: out of the swarm, no containers, volumes or networks. True only
# when the daemon confirms it; the caller then marks the data-root as reusable.
scrub_node() {
  local i=$1 ids
  # A node left stopped (stop-node) starts again first: its image store is worth keeping.
  alive "$i" || { [ -d "$(node_dir "$i")/data" ] && (start_node "$i") >/dev/null 2>&1; } \
    || return 1
  dk "$i" swarm leave --force >/dev/null 2>&1 || true
  ids=$(dk "$i" ps -aq) && { [ -z "$ids" ] || dk "$i" rm -f -v $ids >/dev/null; } || return 1
  ids=$(dk "$i" volume ls -q) && { [ -z "$ids" ] || dk "$i" volume rm -f $ids >/dev/null; } || return 1
  dk "$i" network prune -f >/dev/null || return 1
  [ "$(dk "$i" info --format '{{.Swarm.LocalNodeState}}')" = inactive ] \
    && [ -z "$(dk "$i" ps -aq)" ] && [ -z "$(dk "$i" volume ls -q)" ] \
    && [ "$(dk "$i" network ls -q | wc -l)" -le 3 ]
}

down_node() {
  local i=$1 keep=$2 d clean=0; d=$(node_dir "$1")
  # Down already, its store kept: scrubbing would need the lab's network to start it again.
  [ "$keep" = 1 ] && [ -e "$d/data/$KEPT" ] && ! dpid "$i" >/dev/null && return 0
  [ "$keep" = 1 ] && scrub_node "$i" && clean=1
  stop_node "$i"
  [ -d "$d" ] || return 0
  if [ $clean = 1 ] && [ ! -e "$d/data/swarm/raft" ] && [ -z "$(ls -A "$d/data/containers" 2>/dev/null)" ]; then
    find "$d" -mindepth 1 -maxdepth 1 ! -name data -exec rm -rf {} +
    touch "$d/data/$KEPT"
  else
    rm -rf "$d"
  fi
}

cmd_down() {
  local keep=1 i t0 pids=()
  [ "${1:-}" = --purge ] && keep=0
  t0=$(now)
  for i in $(seq 1 "$NODES"); do down_node "$i" "$keep" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || true; done
  # Deleting the namespaces deletes their veths and the hub bridge, hlswhost with its peer.
  for i in $(seq 1 "$NODES"); do [ ! -e /run/netns/hlsw$i ] || ip netns del hlsw$i; done
  [ ! -e /run/netns/$HUB ] || ip netns del $HUB
  ! ip link show $HOST_IF >/dev/null 2>&1 || ip link del $HOST_IF
  # `ip netns add` bind-mounted /run/netns onto itself when it created it: undo only ours.
  if [ -f "$STATE/.created-run-netns" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns
  fi
  rm -f "$STATE/.created-run-netns" "$STATE/images.tar"
  [ $keep = 1 ] || rm -rf "$STATE"
  leftovers
  ok "lab down in $(since "$t0")$([ $keep = 1 ] && [ -d "$STATE" ] && echo " (image stores kept: $(du -sm "$STATE" | cut -f1) MiB; --purge drops them)")"
}

# What `down` promises is gone, checked rather than assumed.
leftovers() {
  local found=()
  [ -z "$(ip netns list 2>/dev/null | grep -E '^hlsw')" ] || found+=("namespaces: $(ip netns list | grep -E '^hlsw' | tr '\n' ' ')")
  [ -z "$(ip -o link show | grep -E ': (hlsw|hlv)')" ] || found+=("links: $(ip -o link show | grep -oE ': (hlsw|hlv)[^:@]*' | tr '\n' ' ')")
  ! grep -qF "$STATE" /proc/mounts || found+=("mounts under $STATE")
  [ -z "$(pgrep -f "$STATE/node" || true)" ] || found+=("processes: $(pgrep -f "$STATE/node" | tr '\n' ' ')")
  [ -z "$({ iptables -S; iptables -t nat -S; } 2>/dev/null | grep -E '10\.25[01]\.|hlsw')" ] || found+=("host iptables rules naming 10.250/10.251 or hlsw")
  [ ${#found[@]} -eq 0 ] || die "left behind: ${found[*]}"
}

cmd_status() {
  local i pid up=0
  for i in $(seq 1 "$NODES"); do
    if pid=$(dpid "$i") && alive "$i"; then
      up=$((up + 1))
      echo "node $i: $(addr "$i") dockerd $pid swarm $(dk "$i" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)," \
        "$(dk "$i" images -q 2>/dev/null | sort -u | wc -l) images, $(dk "$i" ps -q 2>/dev/null | wc -l) containers running"
    else
      echo "node $i: $(addr "$i") down"
    fi
  done
  for i in $(seq 1 "$NODES"); do
    ! alive "$i" || ! dk "$i" node ls 2>/dev/null || break
  done
  [ $up -eq "$NODES" ]
}

cmd_load() {
  [ $# -gt 0 ] || die "usage: $0 load IMAGE..."
  local ref id i t0 t want=() need=() pids=()
  t0=$(now)
  for ref in "$@"; do
    id=$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null) \
      || die "image $ref is not on this host; build it first (tools/build-images.sh)"
    want+=("$id")
  done
  for i in $(seq 1 "$NODES"); do
    alive "$i" || die "node $i is not running; run: $0 up (or start-node $i)"
    [ "$(dk "$i" image inspect --format '{{.Id}}' "$@" 2>/dev/null)" = "$(printf '%s\n' "${want[@]}")" ] || need+=("$i")
  done
  if [ ${#need[@]} -eq 0 ]; then
    ok "every node holds $# image(s) already: $(since "$t0")"
    return
  fi
  # One save of all refs (shared layers once), loaded into the nodes in parallel.
  tar=$STATE/images.tar
  trap 'rm -f "$tar"' EXIT
  t=$(now); docker save -o "$tar" "$@"
  ok "saved $# image(s), $(du -m "$tar" | cut -f1) MiB: $(since "$t")"
  t=$(now)
  for i in "${need[@]}"; do
    (s=$(now); dk "$i" load -q -i "$tar" >/dev/null; ok "node $i: loaded in $(since "$s")") & pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || die "a load failed"; done
  rm -f "$tar"
  ok "loaded into node(s) ${need[*]}: $(since "$t"); total $(since "$t0")"
}

[ $# -gt 0 ] || { sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2; }
cmd=$1; shift
case $cmd in
  docker) check_n "${1:-}"; n=$1; shift; dk "$n" "$@"; exit ;;
  socket) check_n "${1:-}"; sock "$1"; exit ;;
  addr) check_n "${1:-}"; addr "$1"; exit ;;
  status) cmd_status; exit ;;
esac
# Commands that change the lab run one at a time (parallel test workers may all call up).
mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9
case $cmd in
  up) cmd_up ;;
  down) cmd_down "$@" ;;
  stop-node) check_n "${1:-}"; stop_node "$1"; ok "node $1 stopped" ;;
  start-node) check_n "${1:-}"; start_node "$1"; wait_ready "$1"; ok "node $1 Ready" ;;
  load) cmd_load "$@" ;;
  *) die "unknown command '$cmd'; run $0 without arguments for usage" ;;
esac
