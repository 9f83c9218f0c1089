"""The S3 server (images/s3: the Versity S3 Gateway, posix backend), and `bootstrap-s3`:
the app's bucket and the app's own key, limited to that bucket, made by the image's own
`hearth-s3-bootstrap` through the gateway's admin API (why: docs/adr/0007)."""

from __future__ import annotations

from hearth.catalog.common import (
    DATA_HEALTH,
    DATA_LABELS,
    ETC,
    EXECUTABLE,
    TMP,
    bootstrap_one_shot,
    data_volume,
    go_memory_limit,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import MetricsEndpoint, ServiceSpec, VolumeMount
from hearth.settings import Settings

NAME = "s3"
USER = "996:996"
"""The image's uid:gid (images/s3/Dockerfile, USER)."""
S3_PORT = 7070
DATA = "/data"
"""Objects as files (metadata in extended attributes) and the gateway's accounts."""
ADMIN_PORT = 7071
"""The gateway's admin API (accounts, bucket owners): root-signed requests only; the edge
never routes to it."""
METRICS_PORT = 7072
"""The container's memory, served by the process running the gateway (hearth-s3-run): the
gateway exports statsd only (docs/monitoring.md#memory)."""

ROOT_ACCESS_KEY = "hearth-root"
"""The gateway's root account; its secret is `s3RootSecretKey`, read by the bootstrap alone."""
BUCKET = "hearth"
"""The app's S3 bucket. The edge routes `/<bucket>/…` to S3, so presigned URLs work there."""
APP_S3_ACCESS_KEY = "hearth-app"
"""The app's own key (secret `appS3SecretKey`): role `user`, rights in BUCKET by its policy."""

BOOTSTRAP_SCRIPT = f"{ETC}/bootstrap-s3.sh"


def data_mounts() -> tuple[VolumeMount, ...]:
    return data_volume(NAME, DATA)


def server(settings: Settings) -> ServiceSpec:
    # ~60 MB idle; uploads stream to disk in 1 MiB buffers. The soft limit makes the Go
    # GC work harder well before the OOM killer would.
    memory = 256
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        # `storage` lets the edge reach the S3 API without joining `backend`; `monitoring`
        # is where METRICS_PORT is scraped.
        networks=("backend", "storage", "monitoring"),
        env={
            "ROOT_ACCESS_KEY": ROOT_ACCESS_KEY,
            "ROOT_SECRET_KEY_FILE": secret_path("s3RootSecretKey"),
            "GOMEMLIMIT": go_memory_limit(memory, percent=50),
        },
        secrets=secrets("s3RootSecretKey"),
        mounts=data_mounts(),
        tmpfs={TMP: "size=16m"},
        healthcheck=DATA_HEALTH,
        memory_mb=memory,
        processes=256,
        metrics=MetricsEndpoint(port=METRICS_PORT),
        labels=DATA_LABELS,
    )


def bootstrap(settings: Settings) -> ServiceSpec:
    script = template_file(
        BOOTSTRAP_SCRIPT,
        "s3/bootstrap.sh.j2",
        mode=EXECUTABLE,
        endpoint=f"http://{NAME}:{S3_PORT}",
        admin_endpoint=f"http://{NAME}:{ADMIN_PORT}",
        root_access_key=ROOT_ACCESS_KEY,
        root_secret_key_file=secret_path("s3RootSecretKey"),
        bucket=BUCKET,
        access_key=APP_S3_ACCESS_KEY,
        secret_key_file=secret_path("appS3SecretKey"),
    )
    return bootstrap_one_shot(
        NAME,
        USER,
        script,
        secrets=secrets("s3RootSecretKey", "appS3SecretKey"),
        memory_mb=64,
        processes=32,
    )
