"""A data directory on the Docker host, owned by the uid of the service using it.

On linux and wsl2 data lives in host paths (backed up, inspected and moved with
ordinary tools) instead of Docker volumes. Containers run with every capability
dropped and cannot chown, so the directory must already belong to the service's
uid. The directory is never deleted by Pulumi: data outlives `pulumi destroy`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult


def ensure_directory(path: Path, uid: int, gid: int) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        try:
            os.chown(path, uid, gid)
        except PermissionError:
            raise PermissionError(
                f"{path} must belong to uid {uid}:{gid} for its service; run `make up` as "
                f"root, or prepare it once with: sudo chown {uid}:{gid} {path}"
            ) from None
    os.chmod(path, 0o700)


class _HostDirectoryProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        ensure_directory(Path(props["path"]), int(props["uid"]), int(props["gid"]))
        return CreateResult(props["path"], props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds["path"] != news["path"]:
            return DiffResult(changes=True, replaces=["path"])
        return DiffResult(changes=(olds["uid"], olds["gid"]) != (news["uid"], news["gid"]))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ensure_directory(Path(news["path"]), int(news["uid"]), int(news["gid"]))
        return UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Leave the data in place; `make down PURGE=1` is the way to delete it."""


class HostDirectory(pulumi.dynamic.Resource):
    """`path` on this machine, mode 0700, owned by `uid:gid`; kept when the stack goes."""

    path: pulumi.Output[str]

    def __init__(
        self, name: str, path: str, uid: int, gid: int, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not Path(path).is_absolute():
            raise ValueError(f"host directory {path!r} must be an absolute path")
        super().__init__(
            _HostDirectoryProvider(),
            name,
            {"path": path, "uid": uid, "gid": gid},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
        )
