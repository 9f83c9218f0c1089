"""NATS with JetStream (images/nats). No bootstrap step: the users and their permissions
are its configuration file, and the app creates its JetStream streams in `migrate`."""

from __future__ import annotations

import dataclasses

from hearth.catalog.common import (
    DATA_HEALTH,
    DATA_LABELS,
    ETC,
    EXECUTABLE,
    IMAGE_HEALTHCHECK,
    bash,
    data_volume,
    go_memory_limit,
    on_swarm,
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
CLUSTER_PORT = 6222
"""Routes between the servers of a cluster (swarm), on `backend` only."""
CLUSTER_SIZE = 3
"""Servers of the JetStream cluster on a swarm: a majority survives the loss of one, and
every stream keeps a copy on each (the app's HEARTH_NATS_STREAM_REPLICAS)."""
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


CLUSTER_HEALTH = dataclasses.replace(
    DATA_HEALTH, test=(*IMAGE_HEALTHCHECK, "/healthz?js-enabled-only=true")
)
"""A cluster's server is healthy once it serves clients with JetStream on: it gets a DNS
name only then, and its peers need that name to form the cluster (images/nats)."""


def server_names(settings: Settings) -> tuple[str, ...]:
    """`nats` on one box; `nats-1` … `nats-3` on a swarm, all also answering to `nats`."""
    if not on_swarm(settings):
        return (NAME,)
    return tuple(f"{NAME}-{i}" for i in range(1, CLUSTER_SIZE + 1))


def config(settings: Settings, name: str = NAME) -> str:
    """nats-server's configuration: the users and what each may publish and subscribe,
    and on a swarm this server's name and its routes to the others."""
    peers = server_names(settings)
    return render(
        "nats/hearth.conf.j2",
        server_name=name if len(peers) > 1 else None,
        routes=[f"nats-route://{p}:{CLUSTER_PORT}" for p in peers if len(peers) > 1],
        cluster_port=CLUSTER_PORT,
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


def servers(settings: Settings) -> tuple[ServiceSpec, ...]:
    names = server_names(settings)
    return tuple(_server(settings, name, i) for i, name in enumerate(names, start=1))


def _server(settings: Settings, name: str, index: int) -> ServiceSpec:
    memory = 256
    clustered = name != NAME
    return ServiceSpec(
        name=name,
        image=image_ref(NAME),
        user=USER,
        networks=("backend",),
        command=bash(START),
        env={"GOMEMLIMIT": go_memory_limit(memory)},
        secrets=secrets("natsPassword", BACKUP_SECRET),
        files=(ConfigFile(target=CONF, content=config(settings, name)), start_script()),
        mounts=data_volume(name, DATA),
        # Each server of a cluster keeps its store on its own node.
        placement=(f"hearth.nats={index}",) if clustered else (),
        aliases=(NAME,) if clustered else (),
        healthcheck=CLUSTER_HEALTH if clustered else DATA_HEALTH,
        memory_mb=memory,
        processes=128,
        labels=DATA_LABELS,
    )
