#!/bin/bash
# Entrypoint of hearth/s3. For the server (versitygw): reads the root account
# from ROOT_ACCESS_KEY_FILE and ROOT_SECRET_KEY_FILE (or the plain variables),
# checks them and /data, then execs hearth-s3-run, which runs the server as its
# child (passing signals on, exiting with its status) and serves the container's
# memory on :7072/metrics. Other commands (hearth-s3-bootstrap, bash) run as given.
set -Eeuo pipefail

die() { echo "hearth/s3: error: $*" >&2; exit 1; }

# (The same helper is in each image's entrypoint: every build context stands
# alone, so `docker build images/<service>` works by hand.)
# file_env VAR: VAR_FILE may name a file (a mounted secret) holding VAR's value.
# versitygw reads only the plain variables: the value reaches the server's
# environment (not `docker inspect`), and VAR_FILE is unset after use.
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

[ "$#" -gt 0 ] || die "no command: the image's default is: versitygw ... posix /data/buckets"
if [ "$1" = versitygw ]; then
  file_env ROOT_ACCESS_KEY
  file_env ROOT_SECRET_KEY
  [ "${#ROOT_ACCESS_KEY}" -ge 3 ] || die "set ROOT_ACCESS_KEY_FILE (or ROOT_ACCESS_KEY) to at least 3 characters"
  [ "${#ROOT_SECRET_KEY}" -ge 16 ] || die "set ROOT_SECRET_KEY_FILE (or ROOT_SECRET_KEY) to at least 16 characters"
  [ -w /data ] || die "/data is not writable by uid $(id -u): mount a volume there owned by 996:996"
  # A fresh host directory (linux, wsl2, TrueNAS) is empty: make the layout.
  mkdir -p /data/buckets /data/iam
  exec hearth-s3-run "$@"
fi

exec "$@"
