"""Delete a stack's data volumes: the one step that loses data, asked for explicitly."""

from __future__ import annotations

import docker


def purge_volumes(stack: str) -> list[str]:
    client = docker.from_env()
    removed = []
    for volume in client.volumes.list(filters={"label": f"hearth.stack={stack}"}):
        volume.remove()
        removed.append(volume.name)
    return removed
