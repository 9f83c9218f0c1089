"""Data stores on the Docker host, outside the Compose project's lifecycle.

- `HostDirectory` (linux, wsl2): data in host paths, backed up, inspected and moved with
  ordinary tools. Containers run with every capability dropped and cannot chown, so
  the directory must already belong to the service's uid.
- `DockerVolume` (local): a named volume, labelled with its stack.

Neither is ever deleted by Pulumi: data outlives `pulumi destroy` (`retain_on_delete`),
and the next `up` adopts what it finds. Only an explicit purge deletes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from hearth.resources.docker_cli import DockerError, docker


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


class HostDirectory(pulumi.dynamic.Resource, module="hearth", name="HostDirectory"):
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


def ensure_volume(name: str, labels: dict[str, str], uid: int, gid: int, image: str) -> None:
    """Create the volume unless it exists (a kept volume is adopted as it is), its root
    directory owned by `uid:gid`, mode 0700, as a host directory would be: the services run
    without CAP_CHOWN, and a mount point their image lacks would be root's. `image` (the
    owner's) does the chown, as root, once, with no network."""
    try:
        docker("volume", "inspect", name)
    except DockerError:
        docker("volume", "create", *(f"--label={k}={v}" for k, v in sorted(labels.items())), name)
        script = f"chown {uid}:{gid} /volume && chmod 0700 /volume"
        docker(
            "run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "sh",
            "-v", f"{name}:/volume", image, "-c", script,
        )  # fmt: skip


def _volume_args(props: dict[str, Any]) -> tuple[str, dict[str, str], int, int, str]:
    return props["name"], props["labels"], int(props["uid"]), int(props["gid"]), props["image"]


class _DockerVolumeProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        ensure_volume(*_volume_args(props))
        return CreateResult(props["name"], props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Labels are fixed at creation; a volume is never replaced under its data.
        return DiffResult(changes=olds["name"] != news["name"], replaces=["name"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ensure_volume(*_volume_args(news))
        return UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Leave the data in place; `make down PURGE=1` is the way to delete it."""


class DockerVolume(pulumi.dynamic.Resource, module="hearth", name="DockerVolume"):
    """A named Docker volume owned by its service's uid; kept when the stack goes."""

    def __init__(
        self,
        name: str,
        volume: str,
        labels: dict[str, str],
        owner: tuple[int, int, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        uid, gid, image = owner
        super().__init__(
            _DockerVolumeProvider(),
            name,
            {"name": volume, "labels": labels, "uid": uid, "gid": gid, "image": image},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
        )
