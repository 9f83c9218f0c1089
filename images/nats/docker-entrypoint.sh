#!/bin/bash
# Entrypoint of hearth/nats. Picks the configuration: NATS_CONFIG_FILE when
# set (a mounted file with users, permissions, accounts); else one user from
# NATS_USER and NATS_PASSWORD(_FILE); else, only with NATS_ALLOW_NO_AUTH=yes,
# no authentication. Then execs nats-server as PID 1.
set -Eeuo pipefail

die() { echo "hearth/nats: error: $*" >&2; exit 1; }

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

# A NATS config string literal holding any bytes: every byte as \xHH.
nats_quote() {
  printf '"%s"' "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')"
}

# `docker run IMAGE -DV` adds server flags to the default command.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
  set -- nats-server "$@"
fi

if [ "$1" = nats-server ]; then
  config=""
  for arg in "$@"; do
    case "$arg" in -c | --config | -c=* | --config=*) config=given ;; esac
  done
  if [ -z "$config" ]; then
    file_env NATS_USER nats
    file_env NATS_PASSWORD
    if [ -n "${NATS_CONFIG_FILE:-}" ]; then
      [ -r "$NATS_CONFIG_FILE" ] || die "NATS_CONFIG_FILE=$NATS_CONFIG_FILE is not a readable file (uid $(id -u))"
      config=$NATS_CONFIG_FILE
    elif [ -n "$NATS_PASSWORD" ]; then
      HEARTH_NATS_USER=$(nats_quote "$NATS_USER")
      HEARTH_NATS_PASSWORD=$(nats_quote "$NATS_PASSWORD")
      export HEARTH_NATS_USER HEARTH_NATS_PASSWORD
      config=/etc/nats/nats.conf
    elif [ "${NATS_ALLOW_NO_AUTH:-no}" = yes ]; then
      echo "hearth/nats: warning: running without authentication (NATS_ALLOW_NO_AUTH=yes)" >&2
      config=/etc/nats/base.conf
    else
      die "no authentication: set NATS_PASSWORD_FILE (or NATS_PASSWORD), NATS_CONFIG_FILE, or NATS_ALLOW_NO_AUTH=yes"
    fi
    unset NATS_PASSWORD
    set -- "$@" --config "$config"
  fi
  [ -w /data ] || die "/data is not writable by uid $(id -u): mount a volume there owned by 997:997"
fi

exec "$@"
