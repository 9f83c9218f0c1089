"""The Pulumi program: settings in, the platform on the stack's target out."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from hearth.secrets import GENERATED
from hearth.services import services
from hearth.settings import PROJECT, Settings, parse_settings

STATE_DIR = Path(__file__).resolve().parent.parent / ".state"


def load_settings() -> Settings:
    """Read and validate this stack's config; raises before anything is declared."""
    # Inline runs fill CONFIG; a language-host run may pass config in the environment.
    return parse_settings({**get_config_env(), **CONFIG.get()}, stack=pulumi.get_stack())


def secrets_dir(settings: Settings, stack: str) -> str:
    """Host directory of the stack's secret files: beside the data, or in .state/."""
    base = Path(settings.host_data_root) if settings.host_data_root else STATE_DIR
    return str(base / "secrets" / stack)


def main() -> None:
    settings = load_settings()
    stack = pulumi.get_stack()
    prefix = f"{PROJECT}-{stack}"
    specs = services(settings)
    config = pulumi.Config(PROJECT)
    secrets = {key: config.require_secret(key) for key in GENERATED}

    from components.docker.platform import deploy

    deployed = deploy(prefix, specs, secrets, secrets_dir(settings, stack))
    pulumi.export("endpoint", f"http://{settings.bind_address}:{settings.http_port}/")
    pulumi.export("containers", {name: svc.container_name for name, svc in deployed.items()})
