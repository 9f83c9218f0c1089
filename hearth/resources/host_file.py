"""A file written on the Docker host for a container to bind-mount read-only.

Docker Engine without swarm has no secret or config store, and a read-only root
filesystem refuses `docker cp`, so secrets and configuration files live on the
host: read-only modes inside 0700 directories, owned by the uid that reads them.
Other host users cannot reach them (the directories), while the container can read
its bind-mounted copy (dockerd resolves the path as root). A secret's content is a
Pulumi secret input, so it stays encrypted in state and never shows in
`docker inspect` or the Compose document.
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


def write_file(path: Path, content: str, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Atomically (re)write `path` with `content`, `mode` and owner (-1: unchanged), its
    directory kept at 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, mode)
        if (uid, gid) != (-1, -1):
            os.chown(tmp, uid, gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(props: dict[str, Any]) -> None:
    owner = (int(props.get("uid", -1)), int(props.get("gid", -1)))
    write_file(Path(props["path"]), props["content"], int(props["mode"]), *owner)


def _live(path: Path) -> tuple[str, int, int, int] | None:
    """The file as it is: content digest, mode, owner; None when it is missing."""
    try:
        st = path.stat()
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    return hashlib.sha256(content).hexdigest(), st.st_mode & 0o7777, st.st_uid, st.st_gid


class _HostFileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(props)
        return CreateResult(props["path"], {**props, "sha256": _digest(props["content"])})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds.get("path") != news["path"]:
            return DiffResult(changes=True, replaces=["path"], delete_before_replace=False)
        wanted = (_digest(news["content"]), int(news["mode"]))
        owner = (int(news.get("uid", -1)), int(news.get("gid", -1)))
        declared = olds.get("sha256") != wanted[0] or [
            olds.get(k) for k in ("mode", "uid", "gid")
        ] != [
            news["mode"],
            news.get("uid", -1),
            news.get("gid", -1),
        ]
        # The file as it is on the host: deleted, edited, re-moded or re-owned by hand, it is
        # written again.
        live = _live(Path(news["path"]))
        drifted = live is None or live[:2] != wanted or (owner != (-1, -1) and live[2:] != owner)
        return DiffResult(changes=declared or drifted)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write(news)
        return UpdateResult({**news, "sha256": _digest(news["content"])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class HostFile(pulumi.dynamic.Resource, module="hearth", name="HostFile"):
    """`content` at `path` on this machine; `path` is what a container bind-mounts.

    `secret=True` keeps the content encrypted in state; `uid`/`gid` own it (-1: root).
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
        uid: int = -1,
        gid: int = -1,
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
                "uid": uid,
                "gid": gid,
                "sha256": None,
            },
            opts,
        )
