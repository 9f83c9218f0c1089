"""The Pulumi program: settings in, networks, volumes and services out."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
from pulumi.runtime.config import CONFIG, get_config_env

from components.service import Service, ServiceArgs
from hearth.services import services
from hearth.settings import Settings, parse_settings
from hearth.specs import INTERNAL_NETWORKS, NETWORKS


def load_settings() -> Settings:
    """Read and validate this stack's config; raises before anything is declared."""
    # Inline runs fill CONFIG; a language-host run may pass config in the environment.
    return parse_settings({**get_config_env(), **CONFIG.get()}, stack=pulumi.get_stack())


def main() -> None:
    settings = load_settings()
    prefix = f"hearth-{pulumi.get_stack()}"
    specs = services(settings)

    networks = {
        net: docker.Network(
            f"{prefix}-{net}",
            name=f"{prefix}-{net}",
            internal=net in INTERNAL_NETWORKS,
            labels=[docker.NetworkLabelArgs(label="hearth.stack", value=pulumi.get_stack())],
        )
        for net in NETWORKS
    }
    volumes = {
        vol: docker.Volume(
            f"{prefix}-{vol}",
            name=f"{prefix}-{vol}",
            labels=[docker.VolumeLabelArgs(label="hearth.stack", value=pulumi.get_stack())],
            # Data outlives `pulumi destroy`; deleting it is an explicit, separate step.
            opts=pulumi.ResourceOptions(retain_on_delete=True),
        )
        for vol in sorted({v for spec in specs for v in spec.volumes})
    }
    deployed = {
        spec.name: Service(
            f"{prefix}-{spec.name}",
            ServiceArgs(spec=spec, networks=networks, volumes=volumes),
        )
        for spec in specs
    }

    pulumi.export("endpoint", f"http://{settings.bind_address}:{settings.http_port}/")
    pulumi.export("containers", {name: svc.container_name for name, svc in deployed.items()})
