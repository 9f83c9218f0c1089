#!/bin/bash
# Entrypoint of hearth/postgres. On the first start with an empty data directory
# it runs initdb with the configured superuser and password, creates the
# database, runs /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh once, and then
# execs the server as PID 1. Never chowns: it runs without capabilities.
set -Eeuo pipefail

die() { echo "hearth/postgres: error: $*" >&2; exit 1; }
log() { echo "hearth/postgres: $*" >&2; }

# (The same helper is in each image's entrypoint: every build context stands
# alone, so `docker build images/<service>` works by hand.)
# file_env VAR [DEFAULT]: VAR_FILE may name a file (a mounted secret) holding
# VAR's value, so the secret never shows in `docker inspect`. Setting both is
# an error rather than a silent choice.
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

# Run one SQL file or shell script against the temporary server.
run_init_file() {
  local f=$1
  case "$f" in
    *.sh) log "running $f"; bash "$f" ;;
    *.sql) log "running $f"; psql -v ON_ERROR_STOP=1 --no-psqlrc -f "$f" ;;
    *.sql.gz) log "running $f"; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc ;;
    *) log "ignoring $f (not .sh, .sql or .sql.gz)" ;;
  esac
}

init_cluster() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  : "${POSTGRES_INITDB_ARGS:=}"

  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    die "the database is not initialised and no superuser password is set: set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD)"
  fi
  if [ ! -w "$PGDATA" ]; then
    die "$PGDATA is not writable by uid $(id -u): mount a volume there owned by 999:999 (chown -R 999:999 on a host path)"
  fi
  if [ ! -w /run/postgresql ]; then
    die "/run/postgresql is not writable: with --read-only add --tmpfs /run/postgresql"
  fi

  log "initialising a new cluster in $PGDATA"
  # The builtin C.UTF-8 provider (PostgreSQL 17) sorts the same on every glibc,
  # so indexes survive base-image upgrades. $POSTGRES_INITDB_ARGS is split on
  # purpose: it holds several flags.
  run_initdb() {
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --encoding=UTF8 --locale-provider=builtin \
      --builtin-locale=C.UTF-8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS "$@"
  }
  if [ -n "$POSTGRES_PASSWORD" ]; then
    # The password goes through a pipe (process substitution), never a file or argv.
    run_initdb --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
  else
    run_initdb # only with POSTGRES_HOST_AUTH_METHOD=trust (checked above)
  fi

  # Inside the container the socket is reachable only by `docker exec`, which
  # already has the data directory: trust there. Over TCP: a password always.
  cat >"$PGDATA/pg_hba.conf" <<EOF
# Written once by hearth/postgres' entrypoint at initdb.
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all            trust
host    all       all   all      $POSTGRES_HOST_AUTH_METHOD
EOF

  # A server on the socket only: clients cannot connect (and the TCP
  # healthcheck stays red) until the initialisation below is complete.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  export PGUSER=$POSTGRES_USER PGDATABASE=postgres PGHOST=/run/postgresql
  if [ "$POSTGRES_DB" != postgres ]; then
    log "creating database $POSTGRES_DB"
    psql -v ON_ERROR_STOP=1 --no-psqlrc -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  export PGDATABASE=$POSTGRES_DB
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    run_init_file "$f"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGUSER PGDATABASE PGHOST
  log "initialisation complete"
}

# `docker run IMAGE -c work_mem=64MB` passes server options straight through.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
fi
# The secrets are not needed by the server itself: keep them out of its environment.
unset POSTGRES_PASSWORD POSTGRES_PASSWORD_FILE

# The pgBackRest repository's cipher pass from a mounted secret, on every start:
# archive_command/restore_command (pgbackrest archive-push/archive-get) inherit
# it from the server's environment, and it never shows in `docker inspect`.
if [ -n "${PGBACKREST_REPO1_CIPHER_PASS_FILE:-}" ]; then
  file_env PGBACKREST_REPO1_CIPHER_PASS
fi

exec "$@"
