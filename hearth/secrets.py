"""The secrets a stack needs, generated once per machine and kept as Pulumi secrets.

`make up` fills in any that are missing (hearth.workspace.ensure_secrets) before the
program runs; the program reads them with `require_secret`, so they stay encrypted
in state and reach containers only as files.
"""

from __future__ import annotations

import secrets

GENERATED = {
    "postgresPassword": "PostgreSQL superuser (postgres)",
    "appDbPassword": "PostgreSQL role `app`, owner of the app's database only",
    "postgresMonitorPassword": "PostgreSQL role `monitor` of the metrics exporter, pg_monitor only",
    "redisPassword": "Redis/Valkey `default` user",
    "natsPassword": "NATS user `app`",
    "s3RootSecretKey": (
        "S3 gateway root account `hearth-root` (bootstrap only; the app gets its own key)"
    ),
    "adminPassword": "the platform's first admin account",
    "appS3SecretKey": "S3 access key `hearth-app`, limited to the app's bucket",
    "authKeyEncryptionSecret": "encrypts the app's token signing keys at rest in PostgreSQL",
    "backupPassword": "encrypts every backup repository (pgBackRest and restic)",
    "natsBackupPassword": "NATS user `backup`: the JetStream snapshot and restore API",
    "digestKey": "keys the HMAC of secret values in container labels (a label reveals nothing)",
}
"""Config key (under `hearth:`) → what it protects."""


def new_secret() -> str:
    """32 random bytes, URL-safe: valid in every service's config and connection strings.

    Never starting with `-`: a client given it as an argument would take it for an
    option.
    """
    while (value := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return value
