"""Service specs: what runs, described without Pulumi or Docker calls.

A spec is plain data. Targets (the docker components, later a compose renderer)
translate it; tests check it directly. Secure choices are the defaults, so a
spec has to say so explicitly to loosen one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

NETWORKS = ("edge", "backend", "monitoring")
"""Logical networks. `backend` and `monitoring` are internal: no route out."""

INTERNAL_NETWORKS = frozenset({"backend", "monitoring"})


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
class ServiceSpec:
    """One service: image, how it runs, where it is reachable, how it is checked."""

    name: str
    image: str
    user: str
    healthcheck: HealthCheck
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
        # Freeze mappings given as plain dicts so a spec can never change after creation.
        for name in ("env", "tmpfs", "labels"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    @property
    def volumes(self) -> tuple[str, ...]:
        """Names of the stack volumes this service needs."""
        return tuple(m.volume for m in self.mounts)


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
