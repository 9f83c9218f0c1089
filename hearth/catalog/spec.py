"""Service specs: what runs, described without Pulumi or Docker calls.

A spec is plain data. hearth.render turns specs into a Compose document, host files and
data stores, which the targets deploy; tests check specs directly. Secure choices are the
defaults, so a spec has to say so explicitly to loosen one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

NETWORKS = ("edge", "backend", "storage", "monitoring", "intake", "offbox")
"""Logical networks. All but `edge` and `offbox` are internal: no route out.

- `edge`: the edge proxy and the app replicas.
- `backend`: the app, the data services and the bootstrap one-shots.
- `storage`: the edge and the S3 server only, so the edge can serve presigned URLs
  without joining `backend` (where PostgreSQL, Redis and NATS listen).
- `monitoring`: the monitoring services (hearth/catalog/monitoring.py) and every service
  with a metrics endpoint, which they scrape.
- `intake`: the logs service alone. Docker publishes no port of a container that is only on
  internal networks, and the logs service takes Docker's syslog lines on a loopback UDP
  port of the host. It has no route out either: no NAT (NO_NAT_NETWORKS).
- `offbox`: the off-box copiers alone (hearth/catalog/backup.py), when the stack names a
  bucket: their route out to it. They mount nothing writable.
"""

INTERNAL_NETWORKS = frozenset({"backend", "storage", "monitoring"})
NO_NAT_NETWORKS = frozenset({"intake"})
"""Not internal (a port can be published), but never masqueraded: what leaves such a network
keeps its private source address, so nothing on the internet can answer it."""

RESTART_POLICIES = ("no", "on-failure", "unless-stopped", "always")

_CAPABILITY = re.compile(r"[A-Z][A-Z_]*[A-Z]")
_NODE_LABEL = re.compile(r"[a-z0-9][a-z0-9._-]*=[A-Za-z0-9._-]+")


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class HealthCheck:
    """A command run inside the container; exit 0 means healthy."""

    test: tuple[str, ...]
    interval_s: int = 5
    timeout_s: int = 3
    retries: int = 5
    # Engine 20.10 has no start_interval: a short interval plus a grace period instead.
    start_period_s: int = 10


@dataclass(frozen=True)
class PublishedPort:
    """A container port published on the host. Only the edge may have these."""

    container_port: int
    host_port: int
    host_ip: str = "127.0.0.1"
    protocol: str = "tcp"


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where a service serves Prometheus metrics: `http://<name>:<port><path>` on the
    `monitoring` network. VictoriaMetrics scrapes every endpoint of the catalog (its
    scrape configuration is generated from these), as job `<name>`."""

    port: int
    path: str = "/metrics"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536 or not self.path.startswith("/"):
            raise ValueError(
                f"metrics endpoint :{self.port}{self.path}: a port and an absolute path"
            )


@dataclass(frozen=True)
class VolumeMount:
    """A named volume mounted into the container; `volume` names a stack volume."""

    volume: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class SecretFile:
    """A secret the service reads from a file; its `*_FILE` variable points at `target`.

    `name` is the stack-wide secret (see hearth.secrets); targets decide how the file
    gets there (a read-only bind mount of a 0400 file owned by the service's uid).
    """

    name: str
    target: str


@dataclass(frozen=True)
class ConfigFile:
    """A non-secret file the service reads (a configuration, a script, SQL), placed at
    `target` read-only. Its content is plain text and may appear in documents and state.

    Targets place it as a read-only bind mount of a host file: Docker's copy-into-container
    API (pulumi-docker `uploads`, Compose inline `configs`) is refused on a read-only root.
    """

    target: str
    content: str
    mode: int = 0o444

    def __post_init__(self) -> None:
        if not self.target.startswith("/") or ".." in self.target.split("/"):
            raise ValueError(f"config file target {self.target!r} must be absolute, without '..'")
        if self.mode & 0o222:
            raise ValueError(
                f"config file {self.target!r}: mode {self.mode:o} must not be writable"
            )


@dataclass(frozen=True)
class ServiceSpec:
    """One service: image, how it runs, where it is reachable, how it is checked."""

    name: str
    image: str
    user: str
    healthcheck: HealthCheck
    """Run by the engine for long-running services; targets disable it on one-shots."""
    networks: tuple[str, ...]
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_frozen)
    ports: tuple[PublishedPort, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    secrets: tuple[SecretFile, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=_frozen)
    depends_on: tuple[str, ...] = ()
    """Services that must be healthy before this one starts."""
    one_shot: bool = False
    """Runs to completion (migrations, bootstrap) instead of staying up."""
    read_only: bool = True
    cap_add: tuple[str, ...] = ()
    memory_mb: int = 256
    processes: int = 256
    restart: str = "unless-stopped"
    labels: Mapping[str, str] = field(default_factory=_frozen)
    files: tuple[ConfigFile, ...] = ()
    """Non-secret files mounted read-only (configurations, scripts)."""
    metrics: MetricsEndpoint | None = None
    """Its Prometheus metrics, scraped by VictoriaMetrics; the service must be on
    `monitoring`. None: nothing to scrape (an exporter service may speak for it)."""
    replicas: int = 1
    """Tasks of it on a swarm, spread across nodes. A Compose target runs one container
    per spec (the catalog names each replica there)."""
    placement: tuple[str, ...] = ()
    """On a swarm, the node labels (`key=value`) a node must carry to run it: where its
    data lives. Compose targets run everything on their one host."""
    aliases: tuple[str, ...] = ()
    """More names it answers to on its networks, e.g. one name for a cluster's servers."""
    dns_options: tuple[str, ...] = ()
    """resolv.conf options (Compose `dns_opt`), e.g. `timeout:1`: on an internal network
    the name of a stopped service is forwarded to resolvers nobody reaches, and the lookup
    takes the resolver's full timeout (5 s, twice) unless told otherwise."""

    def __post_init__(self) -> None:
        if not self.name.replace("-", "").isalnum() or not self.name.islower():
            raise ValueError(f"service name {self.name!r}: use lowercase letters, digits and '-'")
        if not re.fullmatch(r"[1-9][0-9]*:[0-9]+", self.user):
            raise ValueError(
                f"service {self.name!r}: user {self.user!r} must be a non-root numeric uid:gid"
            )
        unknown = set(self.networks) - set(NETWORKS)
        if unknown or not self.networks:
            raise ValueError(
                f"service {self.name!r}: networks {sorted(unknown) or '[]'} "
                f"are not among {NETWORKS}"
            )
        if self.restart not in RESTART_POLICIES:
            raise ValueError(
                f"service {self.name!r}: restart {self.restart!r} is not among {RESTART_POLICIES}"
            )
        if self.one_shot and self.restart != "no":
            raise ValueError(f"service {self.name!r}: a one-shot must have restart 'no'")
        if self.replicas < 1 or (self.one_shot and self.replicas != 1):
            raise ValueError(f"service {self.name!r}: replicas {self.replicas} (one-shots: 1)")
        bad_labels = [p for p in self.placement if not _NODE_LABEL.fullmatch(p)]
        if bad_labels:
            raise ValueError(
                f"service {self.name!r}: placement {bad_labels} must be node labels key=value"
            )
        if self.memory_mb <= 0 or self.processes <= 0:
            raise ValueError(f"service {self.name!r}: memory_mb and processes must be positive")
        bad_caps = [c for c in self.cap_add if not _CAPABILITY.fullmatch(c) or c.startswith("CAP_")]
        if bad_caps:
            raise ValueError(
                f"service {self.name!r}: capabilities {bad_caps} "
                "must be names like NET_BIND_SERVICE"
            )
        paths = [m.target for m in self.mounts] + [s.target for s in self.secrets]
        paths += [f.target for f in self.files] + list(self.tmpfs)
        relative = [p for p in paths if not p.startswith("/")]
        if relative:
            raise ValueError(f"service {self.name!r}: paths {relative} must be absolute")
        clashes = sorted({p for p in paths if paths.count(p) > 1})
        if clashes:
            raise ValueError(f"service {self.name!r}: several mounts at {clashes}")
        if self.name in self.depends_on:
            raise ValueError(f"service {self.name!r} depends on itself")
        if self.metrics is not None and "monitoring" not in self.networks:
            raise ValueError(
                f"service {self.name!r} has a metrics endpoint: it must be on the "
                "`monitoring` network, where it is scraped"
            )
        # Freeze mappings given as plain dicts so a spec can never change after creation.
        for name in ("env", "tmpfs", "labels"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    @property
    def gid(self) -> int:
        return int(self.user.split(":")[1])

    @property
    def volumes(self) -> tuple[str, ...]:
        """Names of the stack volumes this service needs."""
        return tuple(m.volume for m in self.mounts)


@dataclass(frozen=True)
class DataStore:
    """A data store and its one owner: the service that writes it, whose uid:gid must own
    its directory or dataset (containers run without CAP_CHOWN and cannot fix it)."""

    name: str
    service: str
    uid: int
    gid: int


def data_stores(specs: Sequence[ServiceSpec]) -> dict[str, DataStore]:
    """Every data store once, by name, with its owner: the service mounting it writable
    (or, when every mount is read-only, the first that mounts it).

    Raises ValueError when two uids write one store: one of them could not write it.
    """
    found: dict[str, DataStore] = {}
    for writable in (True, False):
        for spec in specs:
            for mount in spec.mounts:
                if mount.read_only == writable:
                    continue
                prev = found.get(mount.volume)
                if prev is None:
                    found[mount.volume] = DataStore(mount.volume, spec.name, spec.uid, spec.gid)
                elif writable and (prev.uid, prev.gid) != (spec.uid, spec.gid):
                    raise ValueError(
                        f"data store {mount.volume!r} is written by {prev.service} "
                        f"({prev.uid}:{prev.gid}) and {spec.name} ({spec.user}); one owner only"
                    )
    return dict(sorted(found.items()))


def check_catalog(specs: Sequence[ServiceSpec]) -> None:
    """Rules that span services: unique names, known dependencies, one owner per data store,
    one-shots that end, and ports on one service only (the edge; others a loopback UDP
    port at most)."""
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"service names {dupes} are used more than once")
    for spec in specs:
        unknown = [d for d in spec.depends_on if d not in names]
        if unknown:
            raise ValueError(f"service {spec.name!r} depends on unknown services {unknown}")
    data_stores(specs)
    # Besides the edge, only a loopback UDP port may be published: the logs service's
    # intake from Docker's syslog log driver, which runs on the host.
    publishers = [
        s.name
        for s in specs
        if any(p.host_ip != "127.0.0.1" or p.protocol != "udp" for p in s.ports)
    ]
    if len(publishers) > 1:
        raise ValueError(
            f"only the edge may publish ports (others loopback UDP only); these do: {publishers}"
        )


def in_start_order(specs: Sequence[ServiceSpec]) -> list[ServiceSpec]:
    """Specs sorted so each comes after everything it depends on.

    Raises ValueError naming an unknown dependency or the services in a cycle.
    """
    by_name = {s.name: s for s in specs}
    for s in specs:
        unknown = [d for d in s.depends_on if d not in by_name]
        if unknown:
            raise ValueError(f"service {s.name!r} depends on unknown services {unknown}")
    ordered: list[ServiceSpec] = []
    placed: set[str] = set()
    pending = list(specs)
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= placed]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(s.name for s in pending)}")
        for s in ready:
            ordered.append(s)
            placed.add(s.name)
        pending = [s for s in pending if s.name not in placed]
    return ordered
