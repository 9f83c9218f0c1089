"""Files in the TrueNAS double: `filesystem.file_receive`, `filesystem.chown`, and
`filesystem.stat` of files, modelled on the middleware's own signatures.

- `filesystem.file_receive(path, content, options)`: private method of FilesystemService;
  `content` is base64 (LongNonEmptyString), `options` is {append=False, mode=None,
  uid=-1, gid=-1}. It creates missing directories, opens the file `wb+` (or `ab`), writes
  the decoded content, applies `mode` only when it is truthy and chowns with -1 meaning
  "leave as is"; it returns True. New files belong to root with mode 0644 (umask 022).
- `filesystem.chown({path, uid, gid, user, group, options: {recursive, traverse}})`: a job;
  at least one of uid, gid, user, group must be set.

These extend a running double without changing its files, so the double's owner can fold
them in as they are.
"""

from __future__ import annotations

import binascii
import errno
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from tests.truenas_double import CallError, TrueNASDouble, TrueNASState, ValidationErrors
from tests.truenas_double.server import Method

UNDEFINED_ID = -1
RECEIVE_OPTIONS = {"append", "mode", "uid", "gid"}
CHOWN_FIELDS = {"path", "uid", "gid", "user", "group", "options"}


@dataclass
class File:
    content: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


class Files:
    """The files written through the API, by absolute path."""

    def __init__(self, state: TrueNASState) -> None:
        self.state = state
        self.files: dict[str, File] = {}
        self.lock = threading.RLock()

    def _dataset_of(self, path: str) -> str | None:
        """The deepest dataset whose mountpoint holds `path`."""
        if not path.startswith("/mnt/"):
            return None
        parts = path[len("/mnt/") :].split("/")
        for i in range(len(parts) - 1, 0, -1):
            name = "/".join(parts[:i])
            if name in self.state.datasets:
                return name
        return None

    def file_receive(self, path: Any, content: Any, options: Any = None) -> bool:
        schema = "filesystem_file_receive"
        verrors = ValidationErrors()
        if not isinstance(path, str) or not path:
            verrors.add(f"{schema}.path", "String should have at least 1 character")
        if not isinstance(content, str) or not content:
            verrors.add(f"{schema}.content", "String should have at least 1 character")
        options = {} if options is None else options
        if not isinstance(options, dict):
            verrors.add(f"{schema}.options", "Input should be a valid dictionary")
            options = {}
        for key in sorted(set(options) - RECEIVE_OPTIONS):
            verrors.add(f"{schema}.options.{key}", "Extra inputs are not permitted")
        for key in ("mode", "uid", "gid"):
            value = options.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                verrors.add(f"{schema}.options.{key}", "Input should be a valid integer")
        verrors.check()
        assert isinstance(path, str)
        assert isinstance(content, str)
        with self.state.lock, self.lock:
            if self._dataset_of(path) is None:
                # Outside a pool's datasets the root filesystem is read-only.
                raise CallError(f"[Errno 30] Read-only file system: {path!r}", errno.EROFS)
            try:
                data = binascii.a2b_base64(content)
            except binascii.Error as exc:
                raise CallError(f"Invalid base64 content: {exc}", errno.EINVAL) from None
            existing = self.files.get(path)
            if existing is None:
                existing = self.files[path] = File(content=b"")
            existing.content = existing.content + data if options.get("append") else data
            if options.get("mode"):
                existing.mode = options["mode"] & 0o7777
            uid = options.get("uid", UNDEFINED_ID)
            gid = options.get("gid", UNDEFINED_ID)
            if uid is not None and uid != UNDEFINED_ID:
                existing.uid = uid
            if gid is not None and gid != UNDEFINED_ID:
                existing.gid = gid
            return True

    def stat(self, path: Any) -> dict[str, Any] | None:
        """A file's stat entry, or None when `path` is not a file written here."""
        with self.lock:
            f = self.files.get(path) if isinstance(path, str) else None
            if f is None:
                return None
            return {
                "realpath": path, "type": "FILE", "size": len(f.content),
                "allocation_size": 512, "mode": 0o100000 | f.mode, "uid": f.uid,
                "gid": f.gid, "atime": 0.0, "mtime": 0.0, "ctime": 0.0, "btime": 0.0,
                "dev": 1, "inode": 2, "nlink": 1, "acl": False, "is_mountpoint": False,
                "is_ctldir": False, "attributes": [], "user": None, "group": None,
            }  # fmt: skip

    def chown(self, data: Any) -> None:
        schema = "filesystem_chown"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        verrors = ValidationErrors()
        for key in sorted(set(data) - CHOWN_FIELDS):
            verrors.add(f"{schema}.{key}", "Extra inputs are not permitted")
        if "path" not in data:
            verrors.add(f"{schema}.path", "Field required")
        if all(data.get(k) in (None, UNDEFINED_ID) for k in ("uid", "gid", "user", "group")):
            verrors.add(
                schema, "At least one of uid, gid, user, and group must be set in chown payload"
            )
        verrors.check()
        with self.state.lock, self.lock:
            path = data["path"]
            f = self.files.get(path)
            if f is not None:
                f.uid = data["uid"] if data.get("uid") is not None else f.uid
                f.gid = data["gid"] if data.get("gid") is not None else f.gid
                return
            name = path[len("/mnt/") :].rstrip("/") if path.startswith("/mnt/") else None
            ds = self.state.datasets.get(name) if name else None
            if ds is None:
                raise CallError(f"Path {path} not found", errno.ENOENT)
            ds.uid = data["uid"] if data.get("uid") is not None else ds.uid
            ds.gid = data["gid"] if data.get("gid") is not None else ds.gid

    def forget_dataset(self, name: str) -> None:
        """A deleted dataset takes its files with it."""
        with self.lock:
            for path in [p for p in self.files if p.startswith(f"/mnt/{name}/")]:
                del self.files[path]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Files without their content: owner, mode, size and a hash."""
        with self.lock:
            return {
                p: {"uid": f.uid, "gid": f.gid, "mode": f"{f.mode:04o}", "size": len(f.content),
                    "sha256": hashlib.sha256(f.content).hexdigest()}
                for p, f in sorted(self.files.items())
            }  # fmt: skip


def install(double: TrueNASDouble) -> Files:
    """Add the file methods to a double (before or after it starts)."""
    middleware = double.middleware
    state = middleware.state
    files = Files(state)
    methods = middleware.methods
    plain_stat = methods["filesystem.stat"].func

    def stat(sess: Any, path: Any) -> Any:
        found = files.stat(path)
        return found if found is not None else plain_stat(sess, path)

    delete = methods["pool.dataset.delete"].func

    def dataset_delete(sess: Any, id_: Any, opts: Any = None) -> Any:
        result = delete(sess, id_, opts)
        files.forget_dataset(id_)
        return result

    methods["filesystem.stat"] = Method(stat)
    methods["pool.dataset.delete"] = Method(dataset_delete, mutates=True)
    methods["filesystem.file_receive"] = Method(
        lambda _s, path, content, options=None: files.file_receive(path, content, options),
        mutates=True,
    )
    methods["filesystem.chown"] = Method(lambda _s, data: files.chown(data), job=True, mutates=True)
    return files
