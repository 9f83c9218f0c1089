#!/bin/bash
# Healthy when MinIO's readiness endpoint answers 200 (the server has loaded
# its metadata from /data and serves S3 requests). Plain HTTP through bash's
# /dev/tcp: no curl in the image.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/9000
printf 'GET /minio/health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ] || { echo "health/ready answered ${status:-nothing}"; exit 1; }
