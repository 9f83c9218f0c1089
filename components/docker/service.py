"""One service of the platform as a hardened Docker container."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, NotRequired, TypedDict

import pulumi
import pulumi_docker as docker

from components.docker.host_file import HostFile
from hearth.specs import HealthCheck, ServiceSpec

LOG_OPTS = {"max-size": "10m", "max-file": "3"}
"""Rotation for the `local` log driver, set per container so it holds on any daemon."""


class DataStore(NamedTuple):
    """Where a data store lives: a Docker volume, or a host directory bind-mounted."""

    kind: Literal["volume", "bind"]
    source: pulumi.Output[str]
    resource: pulumi.Resource


class ServiceArgs(TypedDict):
    spec: ServiceSpec
    """What to run; see hearth.specs."""
    image: str
    """The image to run: the spec's image pinned to an id (components.docker.images)."""
    networks: Mapping[str, docker.Network]
    """Stack networks by logical name; the spec's networks must all be here."""
    stores: Mapping[str, DataStore]
    """The stack's data stores by name; the spec's mounts must all be here."""
    secrets: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Secret values by name; the spec's secrets must all be here."""
    files_dir: NotRequired[str]
    """Host directory for the stack's secret and config files (needed when the spec has any)."""
    after: NotRequired[Sequence[pulumi.Resource]]
    """Resources that must be complete first: the services this one depends on."""


def _seconds(value: int) -> str:
    return f"{value}s"


def _healthcheck(hc: HealthCheck | None) -> docker.ContainerHealthcheckArgs | None:
    if hc is None:
        return None
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", *hc.test],
        interval=_seconds(hc.interval_s),
        timeout=_seconds(hc.timeout_s),
        retries=hc.retries,
        start_period=_seconds(hc.start_period_s),
    )


def _wait_timeout(hc: HealthCheck | None) -> int:
    """Long enough for the healthcheck to have passed if it ever will, plus slack."""
    if hc is None:
        return 60
    return hc.start_period_s + hc.retries * (hc.interval_s + hc.timeout_s) + 30


class Service(pulumi.ComponentResource):
    """A container run as the spec says, with the security baseline always applied:
    non-root, every capability dropped but the spec's few, no-new-privileges,
    read-only root unless the spec opts out, memory and process limits, a
    healthcheck that `pulumi up` waits on, a restart policy and log rotation."""

    container: docker.Container
    """The running container."""
    container_name: pulumi.Output[str]
    """Its name in Docker: `<stack prefix>-<service>`."""

    def __init__(
        self,
        name: str,
        args: ServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("hearth:service:Service", name, None, opts)
        spec = args["spec"]
        secret_values = args.get("secrets", {})
        missing = {
            "networks": [n for n in spec.networks if n not in args["networks"]],
            "data stores": [v for v in spec.volumes if v not in args["stores"]],
            "secrets": [s.name for s in spec.secrets if s.name not in secret_values],
        }
        if any(missing.values()):
            raise ValueError(
                f"service {spec.name!r} needs what the stack does not declare: "
                + ", ".join(f"{kind} {names}" for kind, names in missing.items() if names)
            )
        if (spec.secrets or spec.files) and "files_dir" not in args:
            raise ValueError(f"service {spec.name!r} has files but no files_dir was given")

        files_dir = Path(args["files_dir"]) / spec.name
        secret_files = [
            HostFile(
                f"{name}-{secret.name}",
                path=str(files_dir / "secrets" / secret.name),
                content=secret_values[secret.name],
                secret=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for secret in spec.secrets
        ]
        config_files = [
            HostFile(
                f"{name}-file{index}",
                path=str(files_dir / "files" / str(index)),
                content=f.content,
                secret=False,
                mode=f.mode,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for index, f in enumerate(spec.files)
        ]
        hc = spec.healthcheck
        self.container = docker.Container(
            name,
            name=name,
            image=args["image"],
            command=list(spec.command) or None,
            envs=[f"{k}={v}" for k, v in sorted(spec.env.items())] or None,
            user=spec.user,
            read_only=spec.read_only,
            tmpfs=dict(spec.tmpfs) or None,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=list(spec.cap_add)),
            security_opts=["no-new-privileges:true"],
            memory=spec.memory_mb,
            # pulumi-docker has no pids limit; a per-uid process ulimit is the closest
            # bound it offers (each service runs as its own uid).
            ulimits=[
                docker.ContainerUlimitArgs(name="nproc", soft=spec.processes, hard=spec.processes)
            ],
            init=True,
            log_driver="local",
            log_opts=LOG_OPTS,
            healthcheck=None if spec.one_shot else _healthcheck(hc),
            # A long-running service counts as created once it is healthy, not merely
            # started; a one-shot once it has exited (non-zero fails the update). That
            # is what makes `after` mean "ready", not just "declared earlier".
            restart="no" if spec.one_shot else spec.restart,
            must_run=not spec.one_shot,
            attach=spec.one_shot,
            wait=not spec.one_shot,
            wait_timeout=_wait_timeout(hc),
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=args["networks"][n].name, aliases=[spec.name]
                )
                for n in spec.networks
            ],
            ports=[
                docker.ContainerPortArgs(
                    internal=p.container_port,
                    external=p.host_port,
                    ip=p.host_ip,
                    protocol=p.protocol,
                )
                for p in spec.ports
            ]
            or None,
            mounts=[
                docker.ContainerMountArgs(
                    type=args["stores"][m.volume].kind,
                    source=args["stores"][m.volume].source,
                    target=m.target,
                    read_only=m.read_only,
                )
                for m in spec.mounts
            ]
            + [
                docker.ContainerMountArgs(
                    type="bind", source=f.path, target=secret.target, read_only=True
                )
                for f, secret in zip(secret_files, spec.secrets, strict=True)
            ]
            + [
                docker.ContainerMountArgs(
                    type="bind", source=f.path, target=c.target, read_only=True
                )
                for f, c in zip(config_files, spec.files, strict=True)
            ]
            or None,
            labels=[
                docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())
            ]
            or None,
            # A published port cannot be held by two containers: delete the old one first.
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=bool(spec.ports),
                depends_on=[
                    *args.get("after", ()),
                    *secret_files,
                    *config_files,
                    *(args["stores"][v].resource for v in spec.volumes),
                ],
            ),
        )
        self.container_name = self.container.name
        self.register_outputs({"container_name": self.container_name})
