#!/bin/bash
# Healthy when the monitoring endpoint's /healthz answers 200: the server
# accepts clients and JetStream has recovered its streams. Plain HTTP through
# bash's /dev/tcp: no curl in the image.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/8222
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "healthz answered ${status:-nothing}"; exit 1; }
