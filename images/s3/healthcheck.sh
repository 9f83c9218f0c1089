#!/bin/bash
# Healthy when the gateway answers GET /health on its S3 port with 200 (it
# has opened its IAM store and backend and serves S3 requests). Plain HTTP
# through bash's /dev/tcp: no curl in the image.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/7070
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "GET /health answered ${status:-nothing}"; exit 1; }
