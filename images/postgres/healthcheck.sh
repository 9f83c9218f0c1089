#!/bin/bash
# Healthy once the real server accepts TCP connections. TCP, not the socket:
# during first-start initialisation the temporary server listens on the socket
# only, and the container must not look ready before that is done.
set -euo pipefail
exec pg_isready --quiet --host=127.0.0.1 --port="${PGPORT:-5432}" --timeout=2
