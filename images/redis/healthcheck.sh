#!/bin/bash
# Healthy when the server answers PING with PONG, authenticated with the same
# secret the entrypoint used (the healthcheck runs with the container's
# configured environment, so REDIS_PASSWORD_FILE is set here too).
set -euo pipefail
pass=${REDIS_PASSWORD:-}
if [ -z "$pass" ] && [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  pass=$(<"$REDIS_PASSWORD_FILE")
fi
# REDISCLI_AUTH keeps the password off the command line; unset when there is
# none (REDIS_ALLOW_EMPTY_PASSWORD), as AUTH with an empty password is an error.
if [ -n "$pass" ]; then
  export REDISCLI_AUTH=$pass
fi
reply=$(valkey-cli -h 127.0.0.1 -p 6379 PING 2>&1)
[ "$reply" = PONG ] || { echo "$reply"; exit 1; }
