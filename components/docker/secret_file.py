"""A secret written to a file on the Docker host, for a container to bind-mount.

Docker Engine without swarm has no secret store, and a read-only root filesystem
refuses `docker cp`, so the file lives on the host: mode 0444 inside a 0700
directory. Host users other than the owner cannot reach it (the directory), while
the container, whatever its uid, can read its bind-mounted copy (dockerd resolves
the path as root). The value is a Pulumi secret input, so it stays encrypted in
state and never shows in `docker inspect`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult


def _digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def write_secret(path: Path, content: str) -> None:
    """Atomically (re)write `path` with `content`, its directory kept at 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _SecretFileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        write_secret(Path(props["path"]), props["content"])
        return CreateResult(props["path"], {**props, "sha256": _digest(props["content"])})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("sha256") != _digest(news["content"])
        if olds.get("path") != news["path"]:
            return DiffResult(changes=True, replaces=["path"], delete_before_replace=False)
        return DiffResult(changes=changed or not Path(news["path"]).is_file())

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        write_secret(Path(news["path"]), news["content"])
        return UpdateResult({**news, "sha256": _digest(news["content"])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class SecretFile(pulumi.dynamic.Resource):
    """`content` at `path` on this machine; `path` is what a container bind-mounts."""

    path: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        path: str,
        content: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _SecretFileProvider(),
            name,
            {"path": path, "content": pulumi.Output.secret(content), "sha256": None},
            opts,
        )
