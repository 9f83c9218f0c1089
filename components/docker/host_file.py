"""A file written on the Docker host for a container to bind-mount read-only.

Docker Engine without swarm has no secret or config store, and a read-only root
filesystem refuses `docker cp`, so secrets and configuration files live on the
host: read-only modes inside a 0700 directory. Host users other than the owner
cannot reach them (the directory), while the container, whatever its uid, can read
its bind-mounted copy (dockerd resolves the path as root). A secret's content is a
Pulumi secret input, so it stays encrypted in state and never shows in
`docker inspect`.
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


def write_file(path: Path, content: str, mode: int) -> None:
    """Atomically (re)write `path` with `content` and `mode`, its directory kept at 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _HostFileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        write_file(Path(props["path"]), props["content"], int(props["mode"]))
        return CreateResult(props["path"], {**props, "sha256": _digest(props["content"])})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("sha256") != _digest(news["content"]) or olds.get("mode") != news["mode"]
        if olds.get("path") != news["path"]:
            return DiffResult(changes=True, replaces=["path"], delete_before_replace=False)
        return DiffResult(changes=changed or not Path(news["path"]).is_file())

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        write_file(Path(news["path"]), news["content"], int(news["mode"]))
        return UpdateResult({**news, "sha256": _digest(news["content"])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class HostFile(pulumi.dynamic.Resource):
    """`content` at `path` on this machine; `path` is what a container bind-mounts.

    `secret=True` keeps the content encrypted in state.
    """

    path: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        path: str,
        content: pulumi.Input[str],
        *,
        secret: bool,
        mode: int = 0o444,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if mode & 0o222:
            raise ValueError(f"host file {path}: mode {mode:o} must not be writable")
        super().__init__(
            _HostFileProvider(),
            name,
            {
                "path": path,
                "content": pulumi.Output.secret(content) if secret else content,
                "mode": mode,
                "sha256": None,
            },
            opts,
        )
