"""The Pulumi program: settings in, the platform on the stack's target out."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from hearth.services import services
from hearth.settings import Settings, parse_settings


def load_settings() -> Settings:
    """Read and validate this stack's config; raises before anything is declared."""
    # Inline runs fill CONFIG; a language-host run may pass config in the environment.
    return parse_settings({**get_config_env(), **CONFIG.get()}, stack=pulumi.get_stack())


def main() -> None:
    settings = load_settings()
    prefix = f"hearth-{pulumi.get_stack()}"
    specs = services(settings)

    from components.docker.platform import deploy

    deployed = deploy(prefix, settings, specs)
    pulumi.export("endpoint", f"http://{settings.bind_address}:{settings.http_port}/")
    pulumi.export("containers", {name: svc.container_name for name, svc in deployed.items()})
