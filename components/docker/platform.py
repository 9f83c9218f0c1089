"""The whole platform on one Docker Engine: networks, data stores and services."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from components.docker.service import Service, ServiceArgs
from hearth.settings import Settings
from hearth.specs import INTERNAL_NETWORKS, NETWORKS, ServiceSpec


def deploy(prefix: str, settings: Settings, specs: Sequence[ServiceSpec]) -> dict[str, Service]:
    """Declare every resource of the stack; returns the services by name."""
    stack = pulumi.get_stack()
    networks = {
        net: docker.Network(
            f"{prefix}-{net}",
            name=f"{prefix}-{net}",
            internal=net in INTERNAL_NETWORKS,
            labels=[docker.NetworkLabelArgs(label="hearth.stack", value=stack)],
        )
        for net in NETWORKS
    }
    volumes = {
        vol: docker.Volume(
            f"{prefix}-{vol}",
            name=f"{prefix}-{vol}",
            labels=[docker.VolumeLabelArgs(label="hearth.stack", value=stack)],
            # Data outlives `pulumi destroy`; deleting it is an explicit, separate step.
            opts=pulumi.ResourceOptions(retain_on_delete=True),
        )
        for vol in sorted({v for spec in specs for v in spec.volumes})
    }
    return {
        spec.name: Service(
            f"{prefix}-{spec.name}",
            ServiceArgs(spec=spec, networks=networks, volumes=volumes),
        )
        for spec in specs
    }
