#!/bin/bash
# Rendered from hearth/catalog/templates/postgres/bootstrap.sh.j2.
# Bootstrap of PostgreSQL: roles and databases (/etc/hearth/bootstrap-postgres.sql). The superuser's
# password goes from its secret file to psql's environment, never to a command line.
set -euo pipefail
PGPASSWORD=$(</run/secrets/postgres_password)
export PGPASSWORD PGHOST=postgres PGPORT=5432 PGUSER=postgres PGDATABASE=postgres PGCONNECT_TIMEOUT=10
exec psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -f /etc/hearth/bootstrap-postgres.sql
