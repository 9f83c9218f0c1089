"""A ZFS dataset on TrueNAS (`pool.dataset.*`), owned by the uid:gid of the service using it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from hearth.resources.truenas.base import (
    TrueNASProvider,
    check_owner,
    diff_keys,
    diff_result,
    failure,
    known,
    strip,
)
from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.rpc import TrueNASClient

RECORDSIZES = (
    "512", "1K", "2K", "4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K",
    "1M", "2M", "4M", "8M", "16M",
)  # fmt: skip
"""Record sizes the API accepts (powers of two from 512 bytes to 16 MiB)."""
COMPRESSION = ("OFF", "LZ4", "ZSTD", "GZIP", "ZLE", *(f"ZSTD-{i}" for i in range(1, 20)))
SHARE_TYPES = ("GENERIC", "APPS")
ATIME = ("ON", "OFF")
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9][A-Za-z0-9_.:-]*)+$")

PROPERTIES = ("recordsize", "compression", "atime")
"""ZFS properties Hearth sets; None means "inherit from the parent"."""
MANAGED = ("name", "share_type", *PROPERTIES, "comments", "user_properties", "uid", "gid", "mode")
DEFAULTS: dict[str, Any] = {
    "share_type": "GENERIC",
    **dict.fromkeys(PROPERTIES),
    "comments": "",
    "user_properties": {},
    **dict.fromkeys(("uid", "gid", "mode")),
}
"""What a missing input means, so diffs compare like with like."""
REPLACE_ON = ("name", "share_type")
"""A new name is a new dataset; the share type is fixed at creation."""


@dataclass(frozen=True)
class DatasetArgs:
    """What the dataset should be. Only the properties given are enforced."""

    name: pulumi.Input[str]
    """Full ZFS name, `<pool>/<path>`; missing ancestors are created."""
    share_type: Literal["GENERIC", "APPS"] = "GENERIC"
    """GENERIC keeps POSIX permissions (chmod works, which PostgreSQL needs); APPS applies
    TrueNAS's apps preset (an NFSv4 ACL for the apps user 568)."""
    recordsize: str | None = None
    """e.g. "16K" for PostgreSQL pages, "1M" for object storage; None inherits."""
    compression: str | None = None
    """e.g. "LZ4", "ZSTD"; None inherits."""
    atime: Literal["ON", "OFF"] | None = "OFF"
    comments: str = ""
    user_properties: Mapping[str, str] = field(default_factory=dict)
    """ZFS user properties (keys need a colon, e.g. "hearth:stack")."""
    uid: pulumi.Input[int] | None = None
    gid: pulumi.Input[int] | None = None
    mode: str | None = None
    """Octal permissions of the dataset's root directory, e.g. "0750" (GENERIC only)."""
    retain_on_delete: bool = True
    """Keep the dataset (and its data) when the resource is deleted: `pulumi destroy`
    forgets it and a later `up` adopts it again. Purging is a separate, explicit step."""


def _mode(value: Any) -> str | None:
    """Octal text as "0750" whatever the input's spelling ("750", "0750")."""
    return None if value is None else f"{int(str(value), 8):04o}"


def _stat_mode(st_mode: int) -> str:
    return f"{st_mode & 0o7777:04o}"


class DatasetProvider(TrueNASProvider):
    """CRUD of one dataset. An existing dataset of the same name is adopted, not refused:
    that is how data kept by an earlier `destroy` comes back."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        news = {**DEFAULTS, **{k: v for k, v in news.items() if v is not None}}
        name = news.get("name")
        if known(name) and not (isinstance(name, str) and DATASET_NAME.match(name)):
            failures.append(
                failure(
                    "name",
                    f"dataset name {name!r} must be <pool>/<path> of letters, digits and _.:- "
                    "(the pool comes from hearth:truenasPool)",
                )
            )
        if news.get("share_type", "GENERIC") not in SHARE_TYPES:
            failures.append(
                failure(
                    "share_type",
                    f"share_type must be one of {', '.join(SHARE_TYPES)}, "
                    f"got {news.get('share_type')!r}",
                )
            )
        rs = news.get("recordsize")
        if rs is not None and known(rs) and rs not in RECORDSIZES:
            failures.append(
                failure(
                    "recordsize",
                    f"recordsize {rs!r} is not a ZFS record size; "
                    f"use one of {', '.join(RECORDSIZES)}",
                )
            )
        comp = news.get("compression")
        if comp is not None and known(comp) and comp not in COMPRESSION:
            failures.append(
                failure(
                    "compression",
                    f"compression {comp!r} is not supported; "
                    "use one of OFF, LZ4, ZSTD, ZSTD-<1..19>, GZIP, ZLE",
                )
            )
        atime = news.get("atime")
        if atime is not None and atime not in ATIME:
            failures.append(failure("atime", f"atime must be ON or OFF, got {atime!r}"))
        props = news.get("user_properties") or {}
        for key in props:
            if ":" not in key:
                failures.append(
                    failure(
                        "user_properties",
                        f"user property {key!r} needs a namespace: 'hearth:{key}'",
                    )
                )
        check_owner(news, failures)
        if news.get("share_type") == "APPS" and news.get("mode") is not None:
            failures.append(
                failure(
                    "mode",
                    "mode cannot be set on an APPS dataset (its NFSv4 ACL governs access); "
                    "leave mode unset or use share_type GENERIC",
                )
            )
        if not failures and news.get("mode") is not None and known(news.get("mode")):
            news = {**news, "mode": _mode(news["mode"])}
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = diff_keys(olds, news, MANAGED)
        return diff_result(changed, REPLACE_ON, delete_before_replace=False)

    # -- API ----------------------------------------------------------------------------------
    @staticmethod
    def _query(c: TrueNASClient, name: str) -> dict[str, Any] | None:
        found = c.call("pool.dataset.query", [["id", "=", name]])
        return found[0] if found else None

    @staticmethod
    def _require_pool(c: TrueNASClient, name: str, url: str) -> None:
        pool = name.split("/", 1)[0]
        pools = [p["name"] for p in c.call("pool.query", [], {"select": ["name"]})]
        if pool not in pools:
            raise TrueNASOperationError(
                f"pool {pool!r} does not exist on the TrueNAS at {url} (pools there: "
                f"{', '.join(pools) or 'none'}); set hearth:truenasPool to one of them"
            )

    @staticmethod
    def _zfs_props(props: Mapping[str, Any], inherit: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in PROPERTIES:
            value = props.get(key)
            if value is not None:
                out[key] = value
            elif inherit:
                out[key] = "INHERIT"
        return out

    @staticmethod
    def _set_owner(
        c: TrueNASClient, props: Mapping[str, Any], stat: Mapping[str, Any] | None
    ) -> None:
        path = f"/mnt/{props['name']}"
        uid, gid, mode = props.get("uid"), props.get("gid"), props.get("mode")
        if stat is not None:
            same_owner = (uid is None or stat["uid"] == uid) and (gid is None or stat["gid"] == gid)
            same_mode = mode is None or _stat_mode(stat["mode"]) == _mode(mode)
            if same_owner and same_mode:
                return
        payload: dict[str, Any] = {"path": path}
        if uid is not None:
            payload["uid"] = int(uid)
        if gid is not None:
            payload["gid"] = int(gid)
        if mode is not None:
            payload["mode"] = str(mode).lstrip("0").rjust(3, "0")
            c.call("filesystem.setperm", payload, job=True)
        elif len(payload) > 1:
            c.call("filesystem.chown", payload, job=True)

    def _observed(
        self, c: TrueNASClient, name: str, wanted: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The dataset as TrueNAS has it, in the shape of the inputs (for read and outputs)."""
        entry = self._query(c, name)
        if entry is None:
            return None
        stat = c.call("filesystem.stat", f"/mnt/{name}")
        out: dict[str, Any] = {"name": name, "share_type": wanted.get("share_type", "GENERIC")}
        for key in PROPERTIES:
            prop = entry.get(key) or {}
            # Unset in the inputs and not set locally: still "inherit", no drift.
            if wanted.get(key) is None and prop.get("source") != "LOCAL":
                out[key] = None
            else:
                out[key] = prop.get("value")
        comments = (entry.get("comments") or {}).get("value") or ""
        out["comments"] = comments
        out["user_properties"] = {
            k: v.get("value")
            for k, v in (entry.get("user_properties") or {}).items()
            if k in (wanted.get("user_properties") or {})
        }
        out["uid"] = stat["uid"] if wanted.get("uid") is not None else None
        out["gid"] = stat["gid"] if wanted.get("gid") is not None else None
        out["mode"] = _stat_mode(stat["mode"]) if wanted.get("mode") is not None else None
        out["mountpoint"] = entry.get("mountpoint") or f"/mnt/{name}"
        return out

    def _outs(self, props: Mapping[str, Any]) -> dict[str, Any]:
        outs = {k: props.get(k) for k in MANAGED}
        outs["mountpoint"] = f"/mnt/{props['name']}"
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip(props)
        name = props["name"]
        with self.session(f"create dataset {name}") as c:
            existing = self._query(c, name)
            if existing is None:
                self._require_pool(c, name, self.endpoint.url if self.endpoint else "?")
                payload: dict[str, Any] = {
                    "name": name,
                    "type": "FILESYSTEM",
                    "share_type": props.get("share_type", "GENERIC"),
                    "create_ancestors": True,
                    "comments": props.get("comments") or "",
                    "user_properties": [
                        {"key": k, "value": v}
                        for k, v in sorted((props.get("user_properties") or {}).items())
                    ],
                    **self._zfs_props(props, inherit=False),
                }
                c.call("pool.dataset.create", payload)
                self._set_owner(c, props, None)
            else:
                # Kept from an earlier stack: adopt it, make its properties match, data untouched.
                self._apply(c, props, {})
        return CreateResult(name, self._outs(props))

    def _apply(self, c: TrueNASClient, news: Mapping[str, Any], olds: Mapping[str, Any]) -> None:
        name = news["name"]
        update: dict[str, Any] = self._zfs_props(news, inherit=True)
        update["comments"] = news.get("comments") or ""
        user_props = dict(news.get("user_properties") or {})
        updates: list[dict[str, Any]] = [
            {"key": k, "value": v} for k, v in sorted(user_props.items())
        ]
        updates += [
            {"key": k, "remove": True}
            for k in sorted(olds.get("user_properties") or {})
            if k not in user_props
        ]
        if updates:
            update["user_properties_update"] = updates
        c.call("pool.dataset.update", name, update)
        self._set_owner(c, news, c.call("filesystem.stat", f"/mnt/{name}"))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip(props)
        with self.session(f"read dataset {id_}") as c:
            observed = self._observed(c, id_, props)
        if observed is None:
            return ReadResult("", {})
        return ReadResult(id_, observed)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip(news)
        with self.session(f"update dataset {id_}") as c:
            self._apply(c, news, olds)
        return UpdateResult(self._outs(news))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self.session(f"delete dataset {id_}") as c:
            if self._query(c, id_) is not None:
                c.call("pool.dataset.delete", id_, {"recursive": False})


class _Dataset(Resource, module="truenas", name="Dataset"):
    name: pulumi.Output[str]
    mountpoint: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(DatasetProvider(), name, {**props, "mountpoint": None}, opts)


class Dataset(pulumi.ComponentResource):
    """A dataset under `/mnt/<pool>/...`, its ZFS properties, owner and mode."""

    dataset_name: pulumi.Output[str]
    """The full ZFS name."""
    mountpoint: pulumi.Output[str]
    """Where it is mounted on the NAS: the host path containers bind-mount."""

    def __init__(
        self, name: str, args: DatasetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hearth:truenas:Dataset", name, None, opts)
        props = {
            "name": args.name,
            "share_type": args.share_type,
            "recordsize": args.recordsize,
            "compression": args.compression,
            "atime": args.atime,
            "comments": args.comments,
            "user_properties": dict(args.user_properties),
            "uid": args.uid,
            "gid": args.gid,
            "mode": args.mode,
        }
        child = _Dataset(
            name,
            props,
            pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        self.dataset_name = child.name
        self.mountpoint = child.mountpoint
        self.register_outputs({"dataset_name": child.name, "mountpoint": child.mountpoint})
