"""One service of the platform as a hardened Docker container."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_docker as docker

from hearth.specs import ServiceSpec

LOG_OPTS = {"max-size": "10m", "max-file": "3"}
"""Rotation for the `local` log driver, set per container so it holds on any daemon."""


class ServiceArgs(TypedDict):
    spec: ServiceSpec
    """What to run; see hearth.specs."""
    networks: Mapping[str, docker.Network]
    """Stack networks by logical name; the spec's networks must all be here."""
    volumes: Mapping[str, docker.Volume]
    """Stack volumes by logical name; the spec's mounts must all be here."""


def _seconds(value: int) -> str:
    return f"{value}s"


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
        missing_nets = [n for n in spec.networks if n not in args["networks"]]
        missing_vols = [v for v in spec.volumes if v not in args["volumes"]]
        if missing_nets or missing_vols:
            raise ValueError(
                f"service {spec.name!r} needs networks {missing_nets} and volumes {missing_vols} "
                "that the stack does not declare"
            )

        hc = spec.healthcheck
        self.container = docker.Container(
            name,
            name=name,
            image=spec.image,
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
            restart=spec.restart,
            log_driver="local",
            log_opts=LOG_OPTS,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", *hc.test],
                interval=_seconds(hc.interval_s),
                timeout=_seconds(hc.timeout_s),
                retries=hc.retries,
                start_period=_seconds(hc.start_period_s),
            ),
            # `pulumi up` returns only once the container is healthy, not merely started.
            wait=True,
            wait_timeout=hc.start_period_s + hc.retries * hc.interval_s + 30,
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
                    type="volume",
                    source=args["volumes"][m.volume].name,
                    target=m.target,
                    read_only=m.read_only,
                )
                for m in spec.mounts
            ]
            or None,
            labels=[
                docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())
            ]
            or None,
            # A published port cannot be held by two containers: delete the old one first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=bool(spec.ports)),
        )
        self.container_name = self.container.name
        self.register_outputs({"container_name": self.container_name})
