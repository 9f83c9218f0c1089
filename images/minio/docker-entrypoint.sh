#!/bin/bash
# Entrypoint of hearth/minio. Reads the root credentials from
# MINIO_ROOT_USER_FILE and MINIO_ROOT_PASSWORD_FILE (or the plain variables),
# checks them and /data, then execs the server as PID 1.
set -Eeuo pipefail

die() { echo "hearth/minio: error: $*" >&2; exit 1; }

# (The same helper is in each image's entrypoint: every build context stands
# alone, so `docker build images/<service>` works by hand.)
# file_env VAR: VAR_FILE may name a file (a mounted secret) holding VAR's value.
# MinIO reads *_FILE itself too, but only relative to /run/secrets and
# silently: here a bad path fails loudly, and the variable is unset after use.
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

[ "$#" -gt 0 ] || die "no command: the image's default is: minio server /data ..."
if [ "$1" = minio ] && [ "${2:-}" = server ]; then
  file_env MINIO_ROOT_USER
  file_env MINIO_ROOT_PASSWORD
  [ -n "$MINIO_ROOT_USER" ] || die "set MINIO_ROOT_USER_FILE (or MINIO_ROOT_USER)"
  [ "${#MINIO_ROOT_USER}" -ge 3 ] || die "the root user must have at least 3 characters"
  [ "${#MINIO_ROOT_PASSWORD}" -ge 8 ] || die "set MINIO_ROOT_PASSWORD_FILE (or MINIO_ROOT_PASSWORD) to at least 8 characters"
  [ -w /data ] || die "/data is not writable by uid $(id -u): mount a volume there owned by 996:996"
fi

exec "$@"
