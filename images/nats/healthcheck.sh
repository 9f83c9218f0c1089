#!/bin/bash
# Healthy when the monitoring endpoint's /healthz answers 200: the server
# accepts clients and JetStream has recovered its streams. Plain HTTP through
# bash's /dev/tcp: no curl in the image.
# A server of a cluster passes its own path, /healthz?js-enabled-only=true:
# a swarm gives a task a DNS name only once healthy, and the servers find each
# other by name, so a check that waits for the cluster would wait forever.
set -euo pipefail
path=${1:-/healthz}
exec 3<>/dev/tcp/127.0.0.1/8222
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "healthz answered ${status:-nothing}"; exit 1; }
