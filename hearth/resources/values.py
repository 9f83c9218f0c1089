"""Property values as Pulumi hands them to dynamic providers."""

from __future__ import annotations

from typing import Any


def whole(value: Any) -> Any:
    """Pulumi sends every number as a float; Compose and Swarm want integers where they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole(v) for v in value]
    return value
