"""Valkey 8 (images/redis), under the service name `redis`: container, volume and host
names derive from it, and the app speaks the Redis protocol."""

from __future__ import annotations

from hearth.catalog.common import DATA_HEALTH, DATA_LABELS, data_volume, secret_path, secrets
from hearth.catalog.images import image_ref
from hearth.catalog.spec import ServiceSpec
from hearth.settings import Settings

NAME = "redis"
USER = "998:998"
"""The image's uid:gid (images/redis/Dockerfile, USER)."""
PORT = 6379


def server(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        networks=("backend",),
        env={"REDIS_PASSWORD_FILE": secret_path("redisPassword")},
        secrets=secrets("redisPassword"),
        mounts=data_volume(NAME, "/data"),
        healthcheck=DATA_HEALTH,
        memory_mb=256,
        processes=64,
        labels=DATA_LABELS,
    )
