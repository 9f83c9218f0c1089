"""PostgreSQL 17 (images/postgres), and `bootstrap-postgres`: a role and a database per
consumer, the role owning only its database."""

from __future__ import annotations

from collections.abc import Mapping

from hearth.catalog.common import (
    DATA_HEALTH,
    DATA_LABELS,
    ETC,
    EXECUTABLE,
    TMP,
    bootstrap_one_shot,
    data_volume,
    render,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import ConfigFile, ServiceSpec
from hearth.settings import Settings

NAME = "postgres"
USER = "999:999"
"""The image's uid:gid (images/postgres/Dockerfile, USER)."""
PORT = 5432

APP_DB = "app"
"""The app's role and database (the role owns that database and nothing else)."""
CONSUMERS: Mapping[str, str] = {APP_DB: "appDbPassword"}
"""Role (and database of the same name) → the secret holding its password. Role names are
constants of this module, never input: the SQL template quotes nothing."""

BOOTSTRAP_SQL = f"{ETC}/bootstrap-postgres.sql"
BOOTSTRAP_SCRIPT = f"{ETC}/bootstrap-postgres.sh"


def server(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        networks=("backend",),
        env={"POSTGRES_PASSWORD_FILE": secret_path("postgresPassword")},
        secrets=secrets("postgresPassword"),
        mounts=data_volume(NAME, "/var/lib/postgresql/data"),
        tmpfs={"/run/postgresql": "size=1m", TMP: "size=16m"},
        healthcheck=DATA_HEALTH,
        # Shared buffers (128 MB) and the connection processes live inside this limit;
        # every connection is a process, so the process limit sits above max_connections.
        memory_mb=512,
        processes=256,
        labels=DATA_LABELS,
    )


def bootstrap_sql() -> str:
    """Idempotent SQL, run by psql: each consumer's role and database, grants reset."""
    return render(
        "postgres/bootstrap.sql.j2",
        consumers={role: secret_path(name) for role, name in CONSUMERS.items()},
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
        secrets=secrets("postgresPassword", *CONSUMERS.values()),
        files=(ConfigFile(target=BOOTSTRAP_SQL, content=bootstrap_sql()),),
        memory_mb=64,
        processes=32,
    )
