"""Stack settings: the one place Pulumi config is read and validated.

Everything a stack can set is a field here. Validation runs before any resource
is declared, so a bad value stops the run with a message that names the config
key and says how to fix it, and nothing is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

PROJECT = "hearth"

Platform = Literal["local", "linux", "wsl2", "truenas"]
Port = Annotated[int, Field(ge=1, le=65535)]


class SettingsError(ValueError):
    """Invalid stack configuration; the message lists every bad key and its fix."""


class Settings(BaseModel):
    """Validated settings of one stack. Field names map to camelCase config keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    platform: Platform = "local"
    """Which kind of host the stack runs on; selects the platform defaults."""
    bind_address: IPv4Address = IPv4Address("127.0.0.1")
    """Host address the edge publishes on: loopback on `local`, a LAN address elsewhere."""
    http_port: Port = 8080
    """Host port of the edge's HTTP endpoint."""


def _config_key(loc: tuple[int | str, ...]) -> str:
    return f"{PROJECT}:{loc[0]}" if loc else PROJECT


def parse_settings(config: Mapping[str, Any], stack: str = "<stack>") -> Settings:
    """Build Settings from a `{"hearth:key": value}` mapping, as Pulumi holds config.

    Keys of other namespaces (providers' own config) are left alone.
    """
    prefix = f"{PROJECT}:"
    ours = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
    try:
        return Settings.model_validate(ours)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = _config_key(err["loc"])
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(f.alias or n for n, f in Settings.model_fields.items()))
                problems.append(
                    f"{key}: unknown setting. Known settings: {known}. "
                    f"Remove it with: pulumi config rm {key} --stack {stack}"
                )
            else:
                got = err.get("input")
                problems.append(
                    f"{key}: {err['msg']} (got {got!r}). "
                    f"Fix it with: pulumi config set {key} <value> --stack {stack}"
                )
        raise SettingsError(
            f"invalid configuration of stack {stack!r}:\n  " + "\n  ".join(problems)
        ) from None
