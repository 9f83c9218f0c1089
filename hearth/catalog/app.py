"""The app (app/, images/app): `migrate`, its one-shot (schema, catalogue, signing key,
bucket check, streams, the first admin), then `app-1` … `app-N`, the API replicas."""

from __future__ import annotations

import json

from hearth.catalog import nats, postgres, redis, s3
from hearth.catalog.common import (
    ONE_SHOT_HEALTH,
    TMP,
    bootstrap_name,
    on_swarm,
    public_url,
    secret_path,
    secrets,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import HealthCheck, MetricsEndpoint, ServiceSpec
from hearth.settings import Settings

IMAGE = "app"
USER = "10001:10001"
"""The image's uid:gid (images/app/Dockerfile, USER)."""
PORT = 8000

SECRETS = (
    "appDbPassword",
    "redisPassword",
    "natsPassword",
    "appS3SecretKey",
    "authKeyEncryptionSecret",
)
MIGRATE_SECRETS = (*SECRETS, "adminPassword")
"""`migrate` alone also reads the first admin's password: it sets that account up."""

HEALTH = HealthCheck(
    test=(
        "python3",
        "-c",
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz', timeout=2)",
    ),
    interval_s=5,
    timeout_s=3,
    retries=3,
    start_period_s=30,
)


def env(settings: Settings) -> dict[str, str]:
    """The app's environment (app/src/hearth_app/core/settings.py); secrets as *_FILE."""
    from hearth.catalog import edge  # the edge routes to the app: its module imports this one

    return {
        "HEARTH_ENV": "production",
        # Forwarding headers are believed from the edge alone, known by its name (core/net.py).
        "HEARTH_TRUSTED_PROXIES": json.dumps([edge.NAME]),
        "HEARTH_DB_HOST": postgres.NAME,
        "HEARTH_DB_NAME": postgres.APP_DB,
        "HEARTH_DB_USER": postgres.APP_DB,
        "HEARTH_DB_PASSWORD_FILE": secret_path(postgres.CONSUMERS[postgres.APP_DB]),
        "HEARTH_REDIS_HOST": redis.NAME,
        "HEARTH_REDIS_PASSWORD_FILE": secret_path("redisPassword"),
        "HEARTH_NATS_URL": f"nats://{nats.NAME}:{nats.CLIENT_PORT}",
        "HEARTH_NATS_USER": nats.APP_USER,
        "HEARTH_NATS_PASSWORD_FILE": secret_path("natsPassword"),
        "HEARTH_S3_ENDPOINT": f"http://{s3.NAME}:{s3.S3_PORT}",
        # Presigned URLs name the edge, which routes /<bucket>/… to S3 unchanged.
        "HEARTH_S3_PUBLIC_ENDPOINT": public_url(settings),
        "HEARTH_S3_BUCKET": s3.BUCKET,
        "HEARTH_S3_ACCESS_KEY": s3.APP_S3_ACCESS_KEY,
        "HEARTH_S3_SECRET_KEY_FILE": secret_path("appS3SecretKey"),
        "HEARTH_AUTH_ISSUER": public_url(settings),
        "HEARTH_AUTH_REGISTRATION_ENABLED": str(settings.registration_open).lower(),
        "HEARTH_AUTH_KEY_ENCRYPTION_SECRET_FILE": secret_path("authKeyEncryptionSecret"),
        "HEARTH_PORT": str(PORT),
        # One copy per server of the NATS cluster (swarm), one on a single server.
        "HEARTH_NATS_STREAM_REPLICAS": str(len(nats.server_names(settings))),
    }


def migrate(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name="migrate",
        image=image_ref(IMAGE),
        user=USER,
        networks=("backend",),
        command=("migrate",),
        env={
            **env(settings),
            # The first admin account, set up by the app (`migrate`); no replica gets the password.
            "HEARTH_BOOTSTRAP_ADMIN_EMAIL": settings.admin_email,
            "HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE": secret_path("adminPassword"),
        },
        secrets=secrets(*MIGRATE_SECRETS),
        tmpfs={TMP: "size=16m"},
        depends_on=(
            bootstrap_name(postgres.NAME),
            bootstrap_name(s3.NAME),
            redis.NAME,
            *nats.server_names(settings),
        ),
        one_shot=True,
        restart="no",
        healthcheck=ONE_SHOT_HEALTH,
        memory_mb=256,
        processes=64,
        labels={"hearth.role": "bootstrap"},
    )


def replica_names(settings: Settings) -> tuple[str, ...]:
    """`app-1` … `app-N` on one host; one service `app` of N tasks on a swarm."""
    if on_swarm(settings):
        return (IMAGE,)
    return tuple(f"app-{i}" for i in range(1, settings.app_replicas + 1))


def replica(settings: Settings, name: str) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        replicas=settings.app_replicas if on_swarm(settings) else 1,
        image=image_ref(IMAGE),
        user=USER,
        networks=("edge", "backend", "monitoring"),
        command=("serve",),
        env=env(settings),
        secrets=secrets(*SECRETS),
        tmpfs={TMP: "size=16m"},
        depends_on=("migrate",),
        healthcheck=HEALTH,
        # argon2id takes 19 MiB per hash in flight; the rest is the interpreter and pools.
        memory_mb=384,
        processes=128,
        labels={"hearth.role": "app"},
        metrics=MetricsEndpoint(PORT),
    )


def replicas(settings: Settings) -> tuple[ServiceSpec, ...]:
    """The API's replicas, N = the appReplicas setting (replica_names)."""
    return tuple(replica(settings, name) for name in replica_names(settings))
