#!/bin/bash
# Entrypoint of hearth/monitoring: secrets given as *_FILE are read into the
# variable the program reads (redis_exporter reads REDIS_PASSWORD; the postgres
# exporter reads DATA_SOURCE_PASS_FILE itself), then the command runs as PID 1.
set -Eeuo pipefail

die() { echo "hearth/monitoring: error: $*" >&2; exit 1; }

# (The same helper is in each image's entrypoint: every build context stands
# alone, so `docker build images/<service>` works by hand.)
# file_env VAR [DEFAULT]: VAR_FILE may name a file (a mounted secret) holding VAR's value.
file_env() {
  local var=$1 file_var="${1}_FILE" val=${2:-}
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

if [ -n "${REDIS_PASSWORD_FILE:-}" ] || [ -n "${REDIS_PASSWORD:-}" ]; then
  file_env REDIS_PASSWORD
fi

exec "$@"
