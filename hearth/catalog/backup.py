"""The backup agents (images/backup, docs/backups.md): one per data store, each running
as the uid that owns its store, with the store's repository beside it:

- `backup-postgres`: pgBackRest full and incremental backups; PostgreSQL itself archives
  its WAL into the same repository (postgres.py), so a restore reaches any moment;
- `backup-s3`: restic snapshots of the S3 server's files;
- `backup-nats`: restic snapshots of every JetStream stream, as the server snapshots it.

Each agent schedules its own backups (`hearth-backup schedule`): one mechanism on every
platform, with nothing on the host. Repositories are data stores (`<store>-backup`), kept
like the data: a volume on `local`, a host directory on linux and wsl2, a dataset on
truenas. All are encrypted with the one generated secret `backupPassword`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hearth.catalog import nats, postgres, s3
from hearth.catalog.common import (
    BACKUP_REPOSITORY,
    BACKUP_SECRET,
    FAST_DNS,
    IMAGE_HEALTHCHECK,
    TMP,
    backup_store,
    secret_path,
    secrets,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import (
    ConfigFile,
    HealthCheck,
    MetricsEndpoint,
    ServiceSpec,
    VolumeMount,
)
from hearth.settings import BACKUP_S3_KEYS, Settings

IMAGE = "backup"
STORES = (postgres.NAME, s3.NAME, nats.NAME)
"""What is backed up. Valkey is not: it holds caches (rebuilt from PostgreSQL) and
short-lived counters and markers (docs/backups.md)."""
RESTIC_REPOSITORY = f"{BACKUP_REPOSITORY}/restic"
METRICS_PORT = 9500

HEALTH = HealthCheck(
    test=IMAGE_HEALTHCHECK, interval_s=10, timeout_s=5, retries=3, start_period_s=30
)


def agent_name(store: str) -> str:
    return f"backup-{store}"


def copier_name(store: str) -> str:
    return f"offbox-{store}"


def _service(
    settings: Settings,
    store: str,
    user: str,
    *,
    name: str,
    networks: tuple[str, ...],
    env: Mapping[str, str],
    mounts: tuple[VolumeMount, ...],
    secret_names: tuple[str, ...] = (),
    files: tuple[ConfigFile, ...] = (),
) -> ServiceSpec:
    """What an agent and an off-box copier share: the image, the schedule's settings, the
    repository's key, metrics. Neither waits for another service to start: each waits in
    its own loop, so none lengthens the platform's start."""
    return ServiceSpec(
        name=name,
        image=image_ref(IMAGE),
        user=user,
        networks=(*networks, "monitoring"),
        command=("schedule",),
        env={
            "HEARTH_BACKUP_STORE": store,
            "HEARTH_BACKUP_INTERVAL_S": str(settings.backup_interval_minutes * 60),
            "HEARTH_BACKUP_RETENTION_DAYS": str(settings.backup_retention_days),
            "HEARTH_BACKUP_METRICS_PORT": str(METRICS_PORT),
            "HEARTH_BACKUP_PASSWORD_FILE": secret_path(BACKUP_SECRET),
            "HEARTH_BACKUP_REPOSITORY": BACKUP_REPOSITORY,
            **env,
        },
        mounts=mounts,
        secrets=secrets(BACKUP_SECRET, *secret_names),
        files=files,
        # pgBackRest's locks, restic's pack files before they are written out.
        tmpfs={TMP: "size=64m"},
        healthcheck=HEALTH,
        # restic's index and a pack in flight; pgBackRest streams files.
        memory_mb=256,
        processes=64,
        metrics=MetricsEndpoint(port=METRICS_PORT),
        labels={"hearth.role": "backup"},
        # A restore checks that the store's server is down: at once, not after ten seconds.
        dns_options=FAST_DNS,
    )


def _agent(
    settings: Settings,
    store: str,
    user: str,
    *,
    env: Mapping[str, str],
    mounts: tuple[VolumeMount, ...] = (),
    secret_names: tuple[str, ...] = (),
    files: tuple[ConfigFile, ...] = (),
) -> ServiceSpec:
    return _service(
        settings,
        store,
        user,
        name=agent_name(store),
        networks=("backend",),
        env={"RESTIC_REPOSITORY": RESTIC_REPOSITORY, **env},
        mounts=(*mounts, VolumeMount(volume=backup_store(store), target=BACKUP_REPOSITORY)),
        secret_names=secret_names,
        files=files,
    )


def _copier(settings: Settings, store: str, user: str) -> ServiceSpec:
    """`offbox-<store>`: the store's repository, read-only, copied to the off-box bucket.
    Apart from the agent because it needs a route out, which nothing that can write data
    may have (the security baseline): it holds no data and no password but the
    repository's key and the bucket's."""
    url = settings.backup_s3_url
    path = f"{settings.backup_s3_bucket}/{settings.backup_s3_prefix}/{store}"
    return _service(
        settings,
        store,
        user,
        name=copier_name(store),
        networks=("offbox",),
        env={
            "HEARTH_BACKUP_OFFBOX": "1",
            "HEARTH_BACKUP_SOURCE": BACKUP_REPOSITORY,
            "RESTIC_REPOSITORY": f"s3:{url}/{path}",
            "AWS_DEFAULT_REGION": settings.backup_s3_region,
            "HEARTH_BACKUP_S3_ACCESS_KEY_FILE": secret_path(BACKUP_S3_KEYS[0]),
            "HEARTH_BACKUP_S3_SECRET_KEY_FILE": secret_path(BACKUP_S3_KEYS[1]),
        },
        mounts=(VolumeMount(volume=backup_store(store), target=BACKUP_REPOSITORY, read_only=True),),
        secret_names=BACKUP_S3_KEYS,
    )


def agents(settings: Settings) -> tuple[ServiceSpec, ...]:
    """An agent per store, and an off-box copier per store when the stack names a bucket."""
    found = (
        _agent(
            settings,
            postgres.NAME,
            postgres.USER,
            env={
                "HEARTH_BACKUP_STANZA": postgres.STANZA,
                "HEARTH_BACKUP_FULL_INTERVAL_S": str(settings.backup_full_interval_hours * 3600),
                "PGDATA": postgres.PGDATA,
                "PGHOST": postgres.NAME,
                "PGPORT": str(postgres.PORT),
                "PGUSER": "postgres",
                "PGPASSWORD_FILE": secret_path("postgresPassword"),
            },
            # Writable: a restore puts the cluster back here (with PostgreSQL stopped).
            mounts=postgres.data_mounts(),
            secret_names=("postgresPassword",),
            files=(postgres.pgbackrest_conf(settings),),
        ),
        _agent(
            settings,
            s3.NAME,
            s3.USER,
            env={
                "HEARTH_BACKUP_SOURCE": s3.DATA,
                "HEARTH_BACKUP_S3_ADDRESS": f"{s3.NAME}:{s3.S3_PORT}",
            },
            mounts=s3.data_mounts(),
        ),
        _agent(
            settings,
            nats.NAME,
            nats.USER,
            env={
                "HEARTH_BACKUP_STAGING": f"{BACKUP_REPOSITORY}/staging",
                "NATS_URL": f"nats://{nats.NAME}:{nats.CLIENT_PORT}",
                "NATS_USER": nats.BACKUP_USER,
                "NATS_PASSWORD_FILE": secret_path(nats.BACKUP_SECRET),
            },
            secret_names=(nats.BACKUP_SECRET,),
        ),
    )
    if settings.backup_s3_url is None:
        return found
    return (
        *found,
        *(_copier(settings, agent.env["HEARTH_BACKUP_STORE"], agent.user) for agent in found),
    )
