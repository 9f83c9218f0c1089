#!/usr/bin/env bash
# Make sure a Docker Engine answers on this machine: install Debian's package when
# dockerd is missing, write our daemon.json once, start dockerd when it is not running.
# Idempotent: every step checks first and says what it skips.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DAEMON_JSON=/etc/docker/daemon.json
# Present when daemon.json is ours to rewrite; a hand-written one is never replaced silently.
MARKER=/etc/docker/.hearth-managed

if ! command -v dockerd >/dev/null 2>&1; then
  step "installing Docker Engine from the distribution's packages (docker.io)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io iptables >/dev/null || die "apt-get could not install docker.io; install Docker Engine by hand and re-run"
fi

# Log rotation, live-restore and address pools clear of TrueNAS's 172.30/16 and 172.31/16.
want_json=$(cat "$(dirname "$0")/daemon.json")
if [ ! -f "$DAEMON_JSON" ] || ! diff -q <(echo "$want_json") "$DAEMON_JSON" >/dev/null; then
  if [ -f "$DAEMON_JSON" ] && [ ! -f "$MARKER" ] && [ -z "${HEARTH_OVERWRITE_DAEMON_JSON:-}" ]; then
    warn "$DAEMON_JSON exists and is not ours: left as it is (set HEARTH_OVERWRITE_DAEMON_JSON=1 to replace it)"
  else
    step "writing $DAEMON_JSON"
    as_root mkdir -p /etc/docker
    echo "$want_json" | as_root tee "$DAEMON_JSON" >/dev/null
    as_root touch "$MARKER"
    RESTART=1
  fi
fi

if docker info >/dev/null 2>&1 && [ -z "${RESTART:-}" ]; then
  ok "Docker Engine is running ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

if command -v systemctl >/dev/null 2>&1 && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  step "starting docker.service"
  as_root systemctl enable --now docker >/dev/null
  [ -n "${RESTART:-}" ] && as_root systemctl restart docker
else
  # No systemd as PID 1 (containers, CI sandboxes): run dockerd in the background.
  if pgrep -x dockerd >/dev/null; then
    step "restarting dockerd to apply $DAEMON_JSON"
    as_root pkill -x dockerd || true
    for _ in $(seq 1 50); do pgrep -x dockerd >/dev/null || break; sleep 0.2; done
  fi
  step "starting dockerd (log: /var/log/hearth-dockerd.log)"
  as_root sh -c 'nohup dockerd --storage-driver=overlay2 >>/var/log/hearth-dockerd.log 2>&1 &'
fi

for _ in $(seq 1 150); do
  if docker info >/dev/null 2>&1; then
    ok "Docker Engine is running ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.2
done
die "dockerd did not answer within 30 s; see /var/log/hearth-dockerd.log"
