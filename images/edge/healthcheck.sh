#!/bin/bash
# Healthy when Caddy answers on its loopback-only health listener (8081): the
# configuration loaded and the HTTP servers run. Plain HTTP through bash's
# /dev/tcp: no curl in the image.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/8081
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "healthz answered ${status:-nothing}"; exit 1; }
