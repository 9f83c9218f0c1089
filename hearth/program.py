"""The Pulumi program, the composition root: settings in, the catalog's services on the
stack's target out, and the outputs an operator needs (endpoint, how to sign in)."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from hearth.catalog import public_url, services
from hearth.secrets import GENERATED
from hearth.settings import BACKUP_S3_KEYS, PROJECT, Settings, parse_settings
from hearth.targets import Deployment, target_for


def load_settings() -> Settings:
    """Read and validate this stack's config; raises before anything is declared."""
    # Inline runs fill CONFIG; a language-host run may pass config in the environment.
    return parse_settings({**get_config_env(), **CONFIG.get()}, stack=pulumi.get_stack())


def main() -> None:
    settings = load_settings()
    config = pulumi.Config(PROJECT)
    secrets = {key: config.require_secret(key) for key in GENERATED}
    if settings.backup_s3_url is not None:
        # The operator's key for the off-box bucket (docs/backups.md); required with it.
        secrets |= {key: config.require_secret(key) for key in BACKUP_S3_KEYS}
    deployment = Deployment(pulumi.get_stack(), settings, services(settings), secrets)
    outputs = target_for(settings.platform).deploy(deployment)

    pulumi.export("endpoint", public_url(settings) + "/")
    pulumi.export("adminEmail", settings.admin_email)
    pulumi.export("adminPassword", secrets["adminPassword"])
    # The key of every backup repository, for the operator to keep a copy off the machine.
    pulumi.export("backupPassword", secrets["backupPassword"])
    for key, value in outputs.items():
        pulumi.export(key, value)
