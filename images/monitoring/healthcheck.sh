#!/bin/bash
# healthcheck.sh PORT PATH: healthy when GET PATH on 127.0.0.1:PORT answers 200.
# Every monitoring service of this image has such an endpoint on its own port
# (the catalog passes it). Plain HTTP through bash's /dev/tcp: no curl here.
set -euo pipefail
port=${1:?usage: healthcheck.sh PORT PATH}
path=${2:?usage: healthcheck.sh PORT PATH}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "GET $path on :$port answered ${status:-nothing}"; exit 1; }
