"""The S3 server (images/minio), and `bootstrap-minio`: the app's bucket, a policy limited
to it and the app's access key, through the admin API of the image's own `mc`."""

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
    public_url,
    render,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import ConfigFile, ServiceSpec
from hearth.settings import Settings

NAME = "minio"
USER = "996:996"
"""The image's uid:gid (images/minio/Dockerfile, USER)."""
S3_PORT = 9000
CONSOLE_PORT = 9001

ROOT_USER = "hearth-root"
BUCKET = "hearth"
"""The app's S3 bucket. The edge routes `/<bucket>/…` to S3, so presigned URLs work there."""
APP_S3_ACCESS_KEY = "hearth-app"
CONSOLE_PATH = "/minio/ui"
"""Where the edge serves the console, behind forward auth."""

POLICY = f"{ETC}/app-s3-policy.json"
BOOTSTRAP_SCRIPT = f"{ETC}/bootstrap-minio.sh"


def server(settings: Settings) -> ServiceSpec:
    # MinIO sizes its buffers from the memory it sees, and its heap grows to GOMEMLIMIT and
    # stays there once idle: 384 MB with a soft limit at half of it serves one box's
    # uploads (the GC works harder under load) and keeps the idle platform small.
    memory = 384
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        # `storage` lets the edge reach the S3 API and the console without joining `backend`.
        networks=("backend", "storage"),
        env={
            "MINIO_ROOT_USER": ROOT_USER,
            "MINIO_ROOT_PASSWORD_FILE": secret_path("minioRootPassword"),
            # The console is served by the edge under this path (and its base URL follows).
            "MINIO_BROWSER_REDIRECT_URL": public_url(settings) + CONSOLE_PATH,
            "GOMEMLIMIT": go_memory_limit(memory, percent=50),
        },
        secrets=secrets("minioRootPassword"),
        mounts=data_volume(NAME, "/data"),
        tmpfs={TMP: "size=16m"},
        healthcheck=DATA_HEALTH,
        memory_mb=memory,
        processes=256,
        labels=DATA_LABELS,
    )


def app_s3_policy() -> str:
    """The app's key may use objects in its bucket, and nothing else."""
    return render("minio/app-s3-policy.json.j2", bucket=BUCKET)


def bootstrap(settings: Settings) -> ServiceSpec:
    script = template_file(
        BOOTSTRAP_SCRIPT,
        "minio/bootstrap.sh.j2",
        mode=EXECUTABLE,
        host=NAME,
        s3_port=S3_PORT,
        bucket=BUCKET,
        access_key=APP_S3_ACCESS_KEY,
        policy=POLICY,
        root_password_file=secret_path("minioRootPassword"),
        secret_key_file=secret_path("appS3SecretKey"),
    )
    return bootstrap_one_shot(
        NAME,
        USER,
        script,
        env={"MINIO_ROOT_USER": ROOT_USER, "MC_CONFIG_DIR": f"{TMP}/.mc"},
        secrets=secrets("minioRootPassword", "appS3SecretKey"),
        files=(ConfigFile(target=POLICY, content=app_s3_policy()),),
        # mc is a large Go binary; its admin commands peak near 150 MB.
        memory_mb=256,
        processes=64,
    )
