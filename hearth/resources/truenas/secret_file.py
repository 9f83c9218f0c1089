"""A secret written as a file on a dataset (`filesystem.file_receive`), for `*_FILE` mounts.

The content is a Pulumi secret: it is an input of this resource only as a secret, and the
resource marks `content` and `sha256` as secret outputs, so state keeps them encrypted.
No message of this module ever contains the content.

TrueNAS's API writes a small file with `filesystem.file_receive(path, base64 content,
{mode, uid, gid})` over the same WebSocket connection, and reads none back (reading a
file is an HTTP download), so drift is checked on owner, mode and size, and the content
is compared by its hash in state. The API has no call that deletes a file: deleting this
resource overwrites the file with one newline and mode 0000, so no secret stays behind;
the file itself goes when its dataset is purged.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from hearth.resources.truenas.base import (
    TrueNASProvider,
    check_owner,
    diff_result,
    failure,
    known,
    strip,
)
from hearth.resources.truenas.rpc import TrueNASClient, TrueNASError

PATH = re.compile(r"^/mnt/[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)+$")
SECRET_OUTPUTS = ["content", "sha256"]
REPLACE_ON = ("path",)
BLANK = base64.b64encode(b"\n").decode()


@dataclass(frozen=True)
class SecretFileArgs:
    path: pulumi.Input[str]
    """Absolute path under /mnt/<pool>/..., e.g. /mnt/tank/prod/secrets/postgres-password."""
    content: pulumi.Input[str]
    """The secret; pass a Pulumi secret (`config.require_secret`)."""
    uid: pulumi.Input[int]
    gid: pulumi.Input[int]
    mode: str = "0400"
    """Octal permissions: the service's uid reads it, nobody else."""


def _sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _mode_int(mode: Any) -> int:
    return int(str(mode), 8)


class SecretFileProvider(TrueNASProvider):
    """Writes, checks and blanks one file; `ConfigFile` uses it too, for plain content."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        path = news.get("path")
        if known(path) and not (isinstance(path, str) and PATH.match(path) and ".." not in path):
            failures.append(
                failure(
                    "path",
                    f"path {path!r} must be an absolute file path under /mnt/<pool>/ without '..'",
                )
            )
        content = news.get("content")
        if known(content) and not (isinstance(content, str) and content):
            # Never echo the value, not even a wrong one.
            failures.append(failure("content", "content must be a non-empty string"))
        check_owner(news, failures)
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("path", "uid", "gid", "mode") if olds.get(k) != news.get(k)]
        content = news.get("content")
        if not known(content) or olds.get("sha256") != _sha256(str(content)):
            changed.append("content")
        return diff_result(changed, REPLACE_ON, delete_before_replace=False)

    @staticmethod
    def _write(c: TrueNASClient, props: dict[str, Any]) -> None:
        c.call(
            "filesystem.file_receive",
            props["path"],
            base64.b64encode(str(props["content"]).encode()).decode(),
            {
                "mode": _mode_int(props.get("mode", "0400")),
                "uid": int(props["uid"]),
                "gid": int(props["gid"]),
            },
        )

    def _outs(self, props: dict[str, Any]) -> dict[str, Any]:
        content = str(props["content"])
        return {
            "path": props["path"],
            "uid": props["uid"],
            "gid": props["gid"],
            "mode": props.get("mode", "0400"),
            "content": content,
            "sha256": _sha256(content),
            "size": len(content.encode()),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip(props)
        with self.session(f"write secret file {props['path']}") as c:
            self._write(c, props)
        return CreateResult(props["path"], self._outs(props))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip(news)
        with self.session(f"rewrite secret file {id_}") as c:
            self._write(c, news)
        return UpdateResult(self._outs(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip(props)
        with self.session(f"read secret file {id_}") as c:
            found = self._stat(c, id_)
        if found is None:
            return ReadResult("", {})
        outs = dict(props)
        outs.update(uid=found["uid"], gid=found["gid"], mode=f"{found['mode'] & 0o7777:04o}")
        if found["size"] != props.get("size"):
            # Changed behind Pulumi's back: a hash that matches nothing forces a rewrite.
            outs["sha256"] = "changed-outside-pulumi"
        return ReadResult(id_, outs)

    @staticmethod
    def _stat(c: TrueNASClient, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = c.call("filesystem.stat", path)
        except TrueNASError as exc:
            if exc.errname == "ENOENT":
                return None
            raise
        return found

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self.session(f"blank secret file {id_}") as c:
            if self._stat(c, id_) is not None:
                c.call("filesystem.file_receive", id_, BLANK, {"mode": 0})


class _SecretFile(Resource, module="truenas", name="SecretFile"):
    path: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(SecretFileProvider(), name, {**props, "sha256": None, "size": None}, opts)


class SecretFile(pulumi.ComponentResource):
    """One secret as a 0400 file owned by the service that reads it."""

    path: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecretFileArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hearth:truenas:SecretFile", name, None, opts)
        props = {
            "path": args.path,
            "content": pulumi.Output.secret(args.content),
            "uid": args.uid,
            "gid": args.gid,
            "mode": args.mode,
        }
        child = _SecretFile(
            name,
            props,
            pulumi.ResourceOptions(parent=self, additional_secret_outputs=SECRET_OUTPUTS),
        )
        self.path = child.path
        self.register_outputs({"path": child.path})
