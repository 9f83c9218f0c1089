"""The registry of targets: which module deploys a platform, and how its data is purged.

Every target takes the same `Deployment` (settings, the catalog's specs, the stack's
secrets) and declares its resources; the program picks one by `settings.platform`.
A target is imported only when chosen, so a stack never loads another's dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
from pulumi import automation as auto

from hearth.catalog.spec import ServiceSpec
from hearth.settings import PROJECT, Platform, Settings


def prefix_for(stack: str) -> str:
    """`hearth-<stack>`: resource names, the Compose project, networks and volumes."""
    return f"{PROJECT}-{stack}"


@dataclass(frozen=True)
class Deployment:
    """What every target is given."""

    stack: str
    settings: Settings
    specs: tuple[ServiceSpec, ...]
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret values by name (hearth.secrets.GENERATED), as Pulumi secrets."""

    @property
    def prefix(self) -> str:
        return prefix_for(self.stack)


class Target(Protocol):
    def deploy(self, deployment: Deployment) -> Mapping[str, Any]:
        """Declare the platform's resources; returns the stack outputs to export."""
        ...

    def purge(self, stack: auto.Stack, settings: Settings) -> list[str]:
        """Delete the data a destroyed stack kept; returns what was deleted."""
        ...


TARGETS: Mapping[Platform, str] = {
    "local": "hearth.targets.docker",
    "linux": "hearth.targets.docker",
    "wsl2": "hearth.targets.docker",
    "truenas": "hearth.targets.truenas",
    "swarm": "hearth.targets.swarm",
}


def target_for(platform: Platform) -> Target:
    module: Any = importlib.import_module(TARGETS[platform])
    return module  # type: ignore[no-any-return]
