"""A non-secret file on a dataset (a service's configuration, a script, SQL), written like a
secret file (`filesystem.file_receive`) but with plain content, owned by root, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from hearth.resources.truenas.secret_file import SecretFileProvider


@dataclass(frozen=True)
class ConfigFileArgs:
    path: str
    """Absolute path under /mnt/<pool>/..."""
    content: str
    uid: int = 0
    gid: int = 0
    mode: str = "0444"


class _ConfigFile(Resource, module="truenas", name="ConfigFile"):
    path: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(SecretFileProvider(), name, {**props, "sha256": None, "size": None}, opts)


class ConfigFile(pulumi.ComponentResource):
    """One read-only configuration file a service bind-mounts."""

    path: pulumi.Output[str]

    def __init__(
        self, name: str, args: ConfigFileArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hearth:truenas:ConfigFile", name, None, opts)
        child = _ConfigFile(
            name,
            {
                "path": args.path,
                "content": args.content,
                "uid": args.uid,
                "gid": args.gid,
                "mode": args.mode,
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.path = child.path
        self.register_outputs({"path": child.path})
