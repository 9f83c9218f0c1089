"""The Pulumi program: settings in, the platform on the stack's target out."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from hearth.secrets import GENERATED
from hearth.services import services
from hearth.settings import PROJECT, Settings, parse_settings
from hearth.specs import ServiceSpec

STATE_DIR = Path(__file__).resolve().parent.parent / ".state"


def load_settings() -> Settings:
    """Read and validate this stack's config; raises before anything is declared."""
    # Inline runs fill CONFIG; a language-host run may pass config in the environment.
    return parse_settings({**get_config_env(), **CONFIG.get()}, stack=pulumi.get_stack())


def files_dir(settings: Settings, stack: str) -> str:
    """Host directory of the stack's secret and config files: beside the data, or in .state/."""
    base = Path(settings.host_data_root) if settings.host_data_root else STATE_DIR
    return str(base / "files" / stack)


def endpoint(settings: Settings) -> str:
    """The platform's URL: the edge serves HTTPS and redirects plain HTTP there."""
    host = settings.domain or str(settings.bind_address)
    return f"https://{host}:{settings.https_port}/"


def main() -> None:
    settings = load_settings()
    stack = pulumi.get_stack()
    prefix = f"{PROJECT}-{stack}"
    specs = services(settings)
    config = pulumi.Config(PROJECT)
    secrets = {key: config.require_secret(key) for key in GENERATED}

    pulumi.export("endpoint", endpoint(settings))
    if settings.platform == "truenas":
        deploy_truenas(prefix, settings, specs, secrets, config)
        return

    from components.docker.platform import deploy

    deployed = deploy(
        prefix, specs, secrets, files_dir(settings, stack), data_root=settings.host_data_root
    )
    pulumi.export("containers", {name: svc.container_name for name, svc in deployed.items()})


def deploy_truenas(
    prefix: str,
    settings: Settings,
    specs: tuple[ServiceSpec, ...],
    secrets: dict[str, pulumi.Output[str]],
    config: pulumi.Config,
) -> None:
    """The truenas target: datasets, snapshot tasks, files and one custom app via its API."""
    # The providers read the key from the stack config themselves (never a resource input);
    # requiring it here stops a run without one before anything is touched.
    config.require_secret("truenasApiKey")
    from components.truenas.platform import deploy

    outputs = deploy(prefix, settings, specs, secrets)
    for key, value in outputs.items():
        pulumi.export(key, value)
