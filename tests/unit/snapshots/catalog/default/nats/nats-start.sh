#!/bin/bash
# Rendered from hearth/catalog/templates/nats/nats-start.sh.j2.
# Starts nats-server with the platform's users (/etc/nats/hearth.conf). NATS reads a variable
# missing from the file from its environment: each password goes there from its secret
# file, as a NATS string of \xHH escapes (any byte is safe), and never into a file.
set -euo pipefail
quote() {
  printf '"%s"' "$(printf '%s' "$(<"$1")" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')"
}
HEARTH_NATS_APP_PASSWORD=$(quote /run/secrets/nats_password)
HEARTH_NATS_BACKUP_PASSWORD=$(quote /run/secrets/nats_backup_password)
export HEARTH_NATS_APP_PASSWORD HEARTH_NATS_BACKUP_PASSWORD
[ -w /data ] || { echo "nats: /data is not writable by uid $(id -u)" >&2; exit 1; }
exec nats-server --config /etc/nats/hearth.conf
