"""PostgreSQL 17 (images/postgres), and `bootstrap-postgres`: a role and a database per
consumer, the role owning only its database."""

from __future__ import annotations

from collections.abc import Mapping

from hearth.catalog.common import (
    BACKUP_REPOSITORY,
    BACKUP_SECRET,
    DATA_HEALTH,
    DATA_LABELS,
    ETC,
    EXECUTABLE,
    TMP,
    backup_store,
    bootstrap_one_shot,
    data_volume,
    render,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import ConfigFile, ServiceSpec, VolumeMount
from hearth.settings import Settings

NAME = "postgres"
USER = "999:999"
"""The image's uid:gid (images/postgres/Dockerfile, USER)."""
PORT = 5432
PGDATA = "/var/lib/postgresql/data"

STANZA = "hearth"
"""pgBackRest's name for this cluster."""
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
"""pgBackRest's default path: the archive-get it writes into a restored cluster finds it."""

APP_DB = "app"
"""The app's role and database (the role owns that database and nothing else)."""
CONSUMERS: Mapping[str, str] = {APP_DB: "appDbPassword"}
"""Role (and database of the same name) → the secret holding its password. Role names are
constants of this module, never input: the SQL template quotes nothing."""
MONITOR = "monitor"
"""The metrics exporter's role: `pg_monitor` (statistics, read-only) and MEMORY_FUNCTION; no
database of its own, CONNECT on `postgres` only."""
MONITOR_SECRET = "postgresMonitorPassword"  # noqa: S105 - its name, not its value
MEMORY_FUNCTION = "hearth.memory_working_set_bytes"
"""This container's memory as its cgroup counts it, less the file cache the kernel can drop
(what the memory limit holds against PostgreSQL); runs as the superuser, for MONITOR."""

BOOTSTRAP_SQL = f"{ETC}/bootstrap-postgres.sql"
BOOTSTRAP_SCRIPT = f"{ETC}/bootstrap-postgres.sh"


def data_mounts() -> tuple[VolumeMount, ...]:
    return data_volume(NAME, PGDATA)


def pgbackrest_conf(settings: Settings) -> ConfigFile:
    """pgBackRest's configuration, the same here (archive-push, archive-get) and in
    `backup-postgres` (backups, restores)."""
    return template_file(
        PGBACKREST_CONF,
        "postgres/pgbackrest.conf.j2",
        repository=f"{BACKUP_REPOSITORY}/pgbackrest",
        retention_days=settings.backup_retention_days,
        stanza=STANZA,
        pgdata=PGDATA,
    )


def server(settings: Settings) -> ServiceSpec:
    # Every WAL segment goes to the backup repository (docs/backups.md); a segment is
    # closed at least every wal_archive_timeout_s while anything is written.
    archiving = {
        "archive_mode": "on",
        "archive_command": f"pgbackrest --stanza={STANZA} archive-push %p",
        "archive_timeout": str(settings.wal_archive_timeout_s),
    }
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        networks=("backend",),
        command=("postgres", *(a for k, v in archiving.items() for a in ("-c", f"{k}={v}"))),
        env={
            "POSTGRES_PASSWORD_FILE": secret_path("postgresPassword"),
            # The entrypoint exports it for the archive commands, from the file.
            "PGBACKREST_REPO1_CIPHER_PASS_FILE": secret_path(BACKUP_SECRET),
        },
        secrets=secrets("postgresPassword", BACKUP_SECRET),
        files=(pgbackrest_conf(settings),),
        mounts=(
            *data_mounts(),
            VolumeMount(volume=backup_store(NAME), target=BACKUP_REPOSITORY),
        ),
        tmpfs={"/run/postgresql": "size=1m", TMP: "size=16m"},
        healthcheck=DATA_HEALTH,
        # Shared buffers (128 MB) and the connection processes live inside this limit;
        # every connection is a process, so the process limit sits above max_connections.
        memory_mb=512,
        processes=256,
        labels=DATA_LABELS,
    )


def bootstrap_sql() -> str:
    """Idempotent SQL, run by psql: each consumer's role and database, the exporter's role,
    grants reset."""
    return render(
        "postgres/bootstrap.sql.j2",
        consumers={role: secret_path(name) for role, name in CONSUMERS.items()},
        monitor=MONITOR,
        monitor_password_file=secret_path(MONITOR_SECRET),
        memory_function=MEMORY_FUNCTION,
    )


def bootstrap(settings: Settings) -> ServiceSpec:
    script = template_file(
        BOOTSTRAP_SCRIPT,
        "postgres/bootstrap.sh.j2",
        mode=EXECUTABLE,
        sql=BOOTSTRAP_SQL,
        password_file=secret_path("postgresPassword"),
        host=NAME,
        port=PORT,
    )
    return bootstrap_one_shot(
        NAME,
        USER,
        script,
        secrets=secrets("postgresPassword", *CONSUMERS.values(), MONITOR_SECRET),
        files=(ConfigFile(target=BOOTSTRAP_SQL, content=bootstrap_sql()),),
        memory_mb=64,
        processes=32,
    )
