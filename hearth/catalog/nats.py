"""NATS with JetStream (images/nats). No bootstrap step: the users and their permissions
are its configuration file, and the app creates its JetStream streams in `migrate`."""

from __future__ import annotations

from hearth.catalog.common import (
    DATA_HEALTH,
    DATA_LABELS,
    ETC,
    EXECUTABLE,
    bash,
    data_volume,
    go_memory_limit,
    render,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import ConfigFile, ServiceSpec
from hearth.settings import Settings

NAME = "nats"
USER = "997:997"
"""The image's uid:gid (images/nats/Dockerfile, USER)."""
CLIENT_PORT = 4222
MONITOR_PORT = 8222
"""HTTP monitoring (/varz, /jsz; images/nats/base.conf), read by `nats-exporter`."""
DATA = "/data"

CONF = "/etc/nats/hearth.conf"
"""Beside the image's base.conf, which it includes."""
START = f"{ETC}/nats-start.sh"

APP_USER = "app"
BACKUP_USER = "backup"
"""`backup-nats` (backup.py): the JetStream snapshot and restore API, nothing else."""
BACKUP_SECRET = "natsBackupPassword"  # noqa: S105 - its name, not its value

# What the NATS CLI in images/backup sends for `nats stream ls|rm` and `nats backup`: stream
# listing, snapshot and restore requests, snapshot chunk acknowledgements and restore
# chunks; the answers come to its inbox.
BACKUP_NATS_PUBLISH = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.SNAPSHOT.*",
    "$JS.API.STREAM.RESTORE.*",
    "$JS.API.STREAM.DELETE.*",
    "$JS.API.CONSUMER.LIST.*",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.SNAPSHOT.>",
)
BACKUP_NATS_SUBSCRIBE = ("_INBOX.>",)

# What the app does on NATS (app/src/hearth_app/events, app/src/hearth_app/files): one
# line per use, so a new subject is a new line here.
APP_NATS_PUBLISH = (
    # Domain events (events/bus.py SUBJECTS: the stream's subjects).
    "user.>",
    "project.>",
    "file.>",
    # Dead letters (events/worker.py: dlq.<subject>).
    "dlq.>",
    # JetStream API: streams, the durable queue consumer, acks (no flow control is used).
    "$JS.API.>",
    "$JS.ACK.>",
    # Requests to the file inspector (files/router.py).
    "rpc.file.inspect",
    # Replies, to requests the app answers and to its own JetStream calls.
    "_INBOX.>",
)
APP_NATS_SUBSCRIBE = (
    # The file inspector answers requests (events/worker.py, in a queue group).
    "rpc.file.inspect",
    # Replies to the app's requests.
    "_INBOX.>",
)


def config() -> str:
    """nats-server's configuration: the users and what each may publish and subscribe."""
    return render(
        "nats/hearth.conf.j2",
        start_script=START,
        app_user=APP_USER,
        app_publish=list(APP_NATS_PUBLISH),
        app_subscribe=list(APP_NATS_SUBSCRIBE),
        backup_user=BACKUP_USER,
        backup_publish=list(BACKUP_NATS_PUBLISH),
        backup_subscribe=list(BACKUP_NATS_SUBSCRIBE),
    )


def start_script() -> ConfigFile:
    return template_file(
        START,
        "nats/nats-start.sh.j2",
        mode=EXECUTABLE,
        conf=CONF,
        app_password_file=secret_path("natsPassword"),
        backup_password_file=secret_path(BACKUP_SECRET),
        data=DATA,
    )


def server(settings: Settings) -> ServiceSpec:
    memory = 256
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        networks=("backend",),
        command=bash(START),
        env={"GOMEMLIMIT": go_memory_limit(memory)},
        secrets=secrets("natsPassword", BACKUP_SECRET),
        files=(ConfigFile(target=CONF, content=config()), start_script()),
        mounts=data_volume(NAME, DATA),
        healthcheck=DATA_HEALTH,
        memory_mb=memory,
        processes=128,
        labels=DATA_LABELS,
    )
