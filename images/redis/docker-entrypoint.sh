#!/bin/bash
# Entrypoint of hearth/redis (Valkey). Reads the password from
# REDIS_PASSWORD_FILE (or REDIS_PASSWORD) and hands it to the server as a
# config line on stdin: never on its command line (visible in ps) and never in
# a file (the root filesystem is read-only). Then execs the server as PID 1.
set -Eeuo pipefail

die() { echo "hearth/redis: error: $*" >&2; exit 1; }

# (The same helper is in each image's entrypoint: every build context stands
# alone, so `docker build images/<service>` works by hand.)
# file_env VAR: VAR_FILE may name a file (a mounted secret) holding VAR's value.
file_env() {
  local var=$1 file_var="${1}_FILE" val=""
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "both $var and $file_var are set; set only one"
  fi
  if [ -n "${!var:-}" ]; then
    val=${!var}
  elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var=${!file_var} is not a readable file (uid $(id -u))"
    val=$(<"${!file_var}") # $(<) drops the trailing newline secret files usually end with
  fi
  export "$var=$val"
  unset "$file_var"
}

# `docker run IMAGE --maxmemory 256mb` adds server options to the default command.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
  set -- valkey-server /etc/valkey/valkey.conf "$@"
fi

if [ "$1" = valkey-server ] || [ "$1" = redis-server ]; then
  file_env REDIS_PASSWORD
  if [ -n "$REDIS_PASSWORD" ]; then
    # Every byte as \xHH inside a quoted config string: any character the
    # password holds (quotes, spaces, backslashes) reaches the server intact.
    hex=$(printf '%s' "$REDIS_PASSWORD" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')
    config="requirepass \"$hex\""
  elif [ "${REDIS_ALLOW_EMPTY_PASSWORD:-no}" = yes ]; then
    echo "hearth/redis: warning: running without a password (REDIS_ALLOW_EMPTY_PASSWORD=yes)" >&2
    config="protected-mode no"
  else
    die "no password: set REDIS_PASSWORD_FILE (or REDIS_PASSWORD), or REDIS_ALLOW_EMPTY_PASSWORD=yes"
  fi
  unset REDIS_PASSWORD hex
  # A trailing "-" makes the server read more config from stdin, after its
  # config file and before command-line options.
  exec "$@" - < <(printf '%s\n' "$config")
fi

exec "$@"
