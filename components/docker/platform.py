"""The whole platform on one Docker Engine: networks, data stores and services."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_docker as docker

from components.docker import images
from components.docker.service import Service, ServiceArgs
from hearth.specs import INTERNAL_NETWORKS, NETWORKS, ServiceSpec, in_start_order


def deploy(
    prefix: str,
    specs: Sequence[ServiceSpec],
    secrets: Mapping[str, pulumi.Input[str]],
    files_dir: str,
    resolve_image: Callable[[str], str] | None = None,
) -> dict[str, Service]:
    """Declare every resource of the stack; returns the services by name.

    `resolve_image` pins each spec's image tag to an id (default: ask the engine).
    """
    resolve = resolve_image or images.local_image_id
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
    deployed: dict[str, Service] = {}
    for spec in in_start_order(specs):
        deployed[spec.name] = Service(
            f"{prefix}-{spec.name}",
            ServiceArgs(
                spec=spec,
                image=resolve(spec.image),
                networks=networks,
                volumes=volumes,
                secrets=secrets,
                files_dir=files_dir,
                after=[deployed[d].container for d in spec.depends_on],
            ),
        )
    return deployed
