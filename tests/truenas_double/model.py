"""In-memory state of the double: pools, datasets, snapshot tasks, apps, ownership.

Each public method is one API operation with the documented argument names, defaults and
validation messages; the server maps JSON-RPC method names onto them. Nothing here knows the
wire protocol, so tests can drive and inspect the model directly.
"""

from __future__ import annotations

import copy
import errno
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import CallError, ValidationErrors
from .filters import filter_list

COMPRESSION = {
    "ON",
    "OFF",
    "LZ4",
    "GZIP",
    "ZSTD",
    "ZSTD-FAST",
    "ZLE",
    "LZJB",
    *(f"GZIP-{i}" for i in range(1, 10)),
    *(f"ZSTD-{i}" for i in range(1, 20)),
    *(
        f"ZSTD-FAST-{i}"
        for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000)
    ),
}
RECORDSIZES = {
    "512": 512,
    "512B": 512,
    "1K": 1 << 10,
    "2K": 2 << 10,
    "4K": 4 << 10,
    "8K": 8 << 10,
    "16K": 16 << 10,
    "32K": 32 << 10,
    "64K": 64 << 10,
    "128K": 128 << 10,
    "256K": 256 << 10,
    "512K": 512 << 10,
    "1M": 1 << 20,
    "2M": 2 << 20,
    "4M": 4 << 20,
    "8M": 8 << 20,
    "16M": 16 << 20,
}
SHARE_TYPES = {"GENERIC", "MULTIPROTOCOL", "NFS", "SMB", "APPS"}
ACLTYPES = {"OFF", "NFSV4", "POSIX"}
LIFETIME_UNITS = {"HOUR", "DAY", "WEEK", "MONTH", "YEAR"}
APP_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
GIB = 1 << 30

DATASET_CREATE_FIELDS = {
    "name",
    "type",
    "share_type",
    "compression",
    "recordsize",
    "acltype",
    "aclmode",
    "atime",
    "quota",
    "refquota",
    "reservation",
    "refreservation",
    "create_ancestors",
    "user_properties",
    "comments",
    "sync",
    "snapdir",
    "copies",
    "readonly",
    "exec",
    "deduplication",
    "checksum",
    "casesensitivity",
    "special_small_block_size",
    "encryption",
    "inherit_encryption",
    "encryption_options",
    "xattr",
    "managedby",
    "snapdev",
}
DATASET_UPDATE_FIELDS = (
    DATASET_CREATE_FIELDS
    - {
        "name",
        "type",
        "share_type",
        "create_ancestors",
        "user_properties",
        "casesensitivity",
        "encryption",
        "inherit_encryption",
        "encryption_options",
    }
) | {"user_properties_update", "force_size"}
SNAPSHOT_TASK_FIELDS = {
    "dataset",
    "recursive",
    "exclude",
    "lifetime_value",
    "lifetime_unit",
    "enabled",
    "naming_schema",
    "allow_empty",
    "schedule",
}
SCHEDULE_FIELDS = {"minute", "hour", "dom", "month", "dow", "begin", "end"}
APP_CREATE_FIELDS = {
    "app_name",
    "custom_app",
    "custom_compose_config",
    "custom_compose_config_string",
    "values",
    "catalog_app",
    "train",
    "version",
}
APP_UPDATE_FIELDS = {"custom_compose_config", "custom_compose_config_string", "values"}
# Properties a child inherits from its parent when it does not set them itself.
INHERITABLE = ("compression", "recordsize", "atime", "acltype", "aclmode")


def _extra_inputs(schema: str, data: dict[str, Any], allowed: set[str]) -> ValidationErrors:
    verrors = ValidationErrors()
    for key in sorted(set(data) - allowed):
        verrors.add(f"{schema}.{key}", "Extra inputs are not permitted")
    return verrors


def _human_size(n: int) -> str:
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _human_bytes(n: int) -> str:
    for unit, size in (("T", 1 << 40), ("G", GIB), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


@dataclass
class Dataset:
    name: str
    share_type: str = "GENERIC"
    local: dict[str, Any] = field(default_factory=dict)  # properties set on this dataset
    quota: int | None = None
    user_properties: dict[str, str] = field(default_factory=dict)
    comments: str = ""
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    acl: bool = False


@dataclass
class Job:
    id: int
    method: str
    arguments: list[Any]
    message_ids: list[Any]
    state: str = "WAITING"
    result: Any = None
    error: str | None = None
    exception: str | None = None
    exc_info: dict[str, Any] | None = None
    progress: dict[str, Any] = field(
        default_factory=lambda: {"percent": 0, "description": "", "extra": None}
    )
    time_started: float | None = None
    time_finished: float | None = None

    def entry(self) -> dict[str, Any]:
        def date(t: float | None) -> Any:
            return {"$date": int(t * 1000)} if t is not None else None

        return {
            "id": self.id,
            "message_ids": list(self.message_ids),
            "method": self.method,
            "arguments": copy.deepcopy(self.arguments),
            "transient": False,
            "description": None,
            "abortable": False,
            "logs_path": None,
            "logs_excerpt": None,
            "progress": dict(self.progress),
            "result": copy.deepcopy(self.result),
            "result_encoding_error": None,
            "error": self.error,
            "exception": self.exception,
            "exc_info": copy.deepcopy(self.exc_info),
            "state": self.state,
            "time_started": date(self.time_started),
            "time_finished": date(self.time_finished),
            "credentials": None,
        }


class TrueNASState:
    """Everything the double remembers. Tests read it through the helpers at the bottom."""

    def __init__(self, pools: list[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.pools: list[str] = list(pools or ["tank"])
        self.datasets: dict[str, Dataset] = {}
        for pool in self.pools:
            # A new pool's root dataset as TrueNAS creates it: lz4, POSIX ACLs, atime off.
            self.datasets[pool] = Dataset(
                name=pool,
                local={
                    "compression": "LZ4",
                    "acltype": "POSIX",
                    "aclmode": "DISCARD",
                    "atime": "OFF",
                },
            )
        self.snapshot_tasks: dict[int, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, Any]] = {}
        self.jobs: dict[int, Job] = {}
        self.calls: list[dict[str, Any]] = []  # every method call: method, params, session
        self._next_task_id = 1
        self._next_job_id = 1

    # -- datasets ------------------------------------------------------------------------
    def _resolved(self, name: str, prop: str) -> tuple[Any, str]:
        """The property value and its source (LOCAL, INHERITED, DEFAULT)."""
        ds = self.datasets[name]
        if prop in ds.local:
            return ds.local[prop], "LOCAL"
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        while parent:
            if prop in self.datasets[parent].local:
                return self.datasets[parent].local[prop], "INHERITED"
            parent = parent.rsplit("/", 1)[0] if "/" in parent else None
        defaults = {
            "compression": "LZ4",
            "recordsize": "128K",
            "atime": "ON",
            "acltype": "POSIX",
            "aclmode": "DISCARD",
        }
        return defaults[prop], "DEFAULT"

    def dataset_entry(self, name: str) -> dict[str, Any]:
        ds = self.datasets[name]

        def prop(value: str | None, raw: str, parsed: Any, source: str) -> dict[str, Any]:
            return {
                "parsed": parsed,
                "rawvalue": raw,
                "value": value,
                "source": source,
                "source_info": None,
            }

        entry: dict[str, Any] = {
            "id": name,
            "name": name,
            "type": "FILESYSTEM",
            "pool": name.split("/", 1)[0],
            "encrypted": False,
            "encryption_root": None,
            "key_loaded": False,
            "mountpoint": f"/mnt/{name}",
            "locked": False,
            "comments": prop(
                ds.comments or None,
                ds.comments,
                ds.comments or None,
                "LOCAL" if ds.comments else "DEFAULT",
            ),
            "children": [],
        }
        comp, src = self._resolved(name, "compression")
        entry["compression"] = prop(comp, comp.lower(), comp.lower(), src)
        rec, src = self._resolved(name, "recordsize")
        entry["recordsize"] = prop(rec, str(RECORDSIZES[rec]), RECORDSIZES[rec], src)
        atime, src = self._resolved(name, "atime")
        entry["atime"] = prop(atime, atime.lower(), atime == "ON", src)
        acl, src = self._resolved(name, "acltype")
        entry["acltype"] = prop(acl, acl.lower(), acl.lower(), src)
        aclmode, src = self._resolved(name, "aclmode")
        entry["aclmode"] = prop(aclmode, aclmode.lower(), aclmode.lower(), src)
        quota = ds.quota
        entry["quota"] = prop(
            _human_bytes(quota) if quota else None,
            str(quota or 0),
            quota,
            "LOCAL" if quota else "DEFAULT",
        )
        entry["user_properties"] = {
            k: {"parsed": v, "rawvalue": v, "value": v, "source": "LOCAL"}
            for k, v in sorted(ds.user_properties.items())
        }
        return entry

    def dataset_query(self, filters: Any = None, options: Any = None) -> Any:
        with self.lock:
            items = [self.dataset_entry(n) for n in sorted(self.datasets)]
        return filter_list(items, filters, options)

    def _check_props(self, schema: str, data: dict[str, Any], verrors: ValidationErrors) -> None:
        if "compression" in data and data["compression"] not in COMPRESSION | {"INHERIT"}:
            verrors.add(
                f"{schema}.compression",
                f"Input should be one of {', '.join(sorted(COMPRESSION))} or 'INHERIT'",
            )
        if "recordsize" in data and data["recordsize"] not in set(RECORDSIZES) | {"INHERIT"}:
            verrors.add(
                f"{schema}.recordsize", f"Should be one of {', '.join(RECORDSIZES)} or 'INHERIT'"
            )
        if "atime" in data and data["atime"] not in ("ON", "OFF", "INHERIT"):
            verrors.add(f"{schema}.atime", "Input should be 'ON', 'OFF' or 'INHERIT'")
        if "acltype" in data and data["acltype"] not in ACLTYPES | {"INHERIT"}:
            verrors.add(f"{schema}.acltype", "Input should be 'OFF', 'NFSV4', 'POSIX' or 'INHERIT'")
        if "aclmode" in data and data["aclmode"] not in (
            "PASSTHROUGH",
            "RESTRICTED",
            "DISCARD",
            "INHERIT",
        ):
            verrors.add(
                f"{schema}.aclmode",
                "Input should be 'PASSTHROUGH', 'RESTRICTED', 'DISCARD' or 'INHERIT'",
            )
        if "quota" in data:
            quota = data["quota"]
            if quota is not None and (not isinstance(quota, int) or isinstance(quota, bool)):
                verrors.add(f"{schema}.quota", "Input should be a valid integer")
            elif quota and quota < GIB:
                verrors.add(f"{schema}.quota", "Quota must be at least 1 GiB (1073741824 bytes).")

    def _apply_props(self, ds: Dataset, data: dict[str, Any]) -> None:
        for key in INHERITABLE:
            if key in data:
                if data[key] == "INHERIT":
                    ds.local.pop(key, None)
                else:
                    ds.local[key] = data[key]
        if "quota" in data:
            ds.quota = data["quota"] or None
        if "comments" in data:
            ds.comments = data["comments"] or ""

    def dataset_create(self, data: Any) -> dict[str, Any]:
        schema = "pool_dataset_create"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        verrors = _extra_inputs(schema, data, DATASET_CREATE_FIELDS)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            verrors.add(f"{schema}.name", "Field required")
        if data.get("type", "FILESYSTEM") not in ("FILESYSTEM", "VOLUME"):
            verrors.add(f"{schema}.type", "Input should be 'FILESYSTEM' or 'VOLUME'")
        if data.get("type") == "VOLUME":
            verrors.add(f"{schema}.type", "VOLUME is not modelled by this test double")
        if data.get("share_type", "GENERIC") not in SHARE_TYPES:
            verrors.add(
                f"{schema}.share_type", f"Input should be one of {', '.join(sorted(SHARE_TYPES))}"
            )
        self._check_props(schema, data, verrors)
        user_props = data.get("user_properties", [])
        if not isinstance(user_props, list):
            verrors.add(f"{schema}.user_properties", "Input should be a valid list")
            user_props = []
        for i, up in enumerate(user_props):
            if not isinstance(up, dict) or set(up) != {"key", "value"}:
                verrors.add(f"{schema}.user_properties.{i}", "Expected {key, value}")
            elif ":" not in up["key"]:
                verrors.add(
                    f"{schema}.user_properties.{i}.key",
                    "User property key must contain a colon (namespace:property)",
                )
        verrors.check()

        assert isinstance(name, str)
        with self.lock:
            pool = name.split("/", 1)[0]
            if pool not in self.pools:
                raise ValidationErrors(
                    [(f"{schema}.name", f"Pool '{pool}' does not exist.", errno.ENOENT)]
                )
            if "/" not in name:
                raise ValidationErrors(
                    [(f"{schema}.name", "You need a full name, e.g. pool/newdataset", errno.EINVAL)]
                )
            if name in self.datasets:
                raise ValidationErrors(
                    [(f"{schema}.name", f"Path {name} already exists", errno.EEXIST)]
                )
            parent = name.rsplit("/", 1)[0]
            missing: list[str] = []
            while parent not in self.datasets:
                missing.insert(0, parent)
                parent = parent.rsplit("/", 1)[0]
            if missing and not data.get("create_ancestors", False):
                raise ValidationErrors(
                    [
                        (
                            f"{schema}.name",
                            f"Parent dataset '{missing[-1]}' does not exist. "
                            "Set create_ancestors to create it.",
                            errno.ENOENT,
                        )
                    ]
                )
            for ancestor in missing:
                self.datasets[ancestor] = Dataset(name=ancestor)
            ds = Dataset(name=name, share_type=data.get("share_type", "GENERIC"))
            # Presets, as the UI and the API apply them for SMB and APPS datasets.
            if ds.share_type in ("SMB", "MULTIPROTOCOL"):
                ds.local.update({"acltype": "NFSV4", "aclmode": "RESTRICTED"})
                ds.acl = True
            elif ds.share_type == "APPS":
                ds.local.update({"acltype": "NFSV4", "aclmode": "PASSTHROUGH"})
                ds.acl = True
                ds.uid = ds.gid = 568
            self._apply_props(ds, data)
            ds.user_properties = {up["key"]: up["value"] for up in user_props}
            self.datasets[name] = ds
            return self.dataset_entry(name)

    def _get_dataset(self, schema: str, id_: Any) -> Dataset:
        if id_ not in self.datasets:
            raise CallError(f"{id_} does not exist", errno.ENOENT)
        return self.datasets[id_]

    def dataset_update(self, id_: Any, data: Any) -> dict[str, Any]:
        schema = "pool_dataset_update"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        verrors = _extra_inputs(schema, data, DATASET_UPDATE_FIELDS)
        self._check_props(schema, data, verrors)
        updates = data.get("user_properties_update", [])
        for i, up in enumerate(updates):
            if not isinstance(up, dict) or "key" not in up:
                verrors.add(f"{schema}.user_properties_update.{i}", "Expected {key, value|remove}")
            elif ":" not in up["key"]:
                verrors.add(
                    f"{schema}.user_properties_update.{i}.key",
                    "User property key must contain a colon (namespace:property)",
                )
        verrors.check()
        with self.lock:
            ds = self._get_dataset(schema, id_)
            self._apply_props(ds, data)
            for up in updates:
                if up.get("remove"):
                    ds.user_properties.pop(up["key"], None)
                else:
                    ds.user_properties[up["key"]] = str(up.get("value", ""))
            return self.dataset_entry(id_)

    def dataset_delete(self, id_: Any, options: Any = None) -> bool:
        options = options or {}
        with self.lock:
            self._get_dataset("pool_dataset_delete", id_)
            if "/" not in id_:
                raise CallError("The root dataset of a pool cannot be deleted", errno.EINVAL)
            children = [n for n in self.datasets if n.startswith(f"{id_}/")]
            if children and not options.get("recursive"):
                raise CallError(
                    f"Failed to delete dataset: cannot destroy '{id_}': filesystem has children\n"
                    "use '-r' to destroy the following datasets:\n" + "\n".join(children),
                    errno.EBUSY,
                )
            for name in [id_, *children]:
                del self.datasets[name]
            for tid, task in list(self.snapshot_tasks.items()):
                if task["dataset"] == id_ or task["dataset"].startswith(f"{id_}/"):
                    del self.snapshot_tasks[tid]
            return True

    # -- ownership (filesystem.stat / filesystem.setperm) ------------------------------
    def _dataset_for_path(self, path: Any) -> Dataset:
        if not isinstance(path, str) or not path.startswith("/mnt/"):
            raise CallError(f"{path}: path must be within a pool mount (/mnt/...)", errno.EINVAL)
        name = path[len("/mnt/") :].rstrip("/")
        if name not in self.datasets:
            raise CallError(f"Path {path} not found", errno.ENOENT)
        return self.datasets[name]

    def filesystem_stat(self, path: Any) -> dict[str, Any]:
        with self.lock:
            ds = self._dataset_for_path(path)
            return {
                "realpath": path.rstrip("/"),
                "type": "DIRECTORY",
                "size": 2,
                "allocation_size": 512,
                "mode": 0o40000 | ds.mode,
                "uid": ds.uid,
                "gid": ds.gid,
                "atime": 0.0,
                "mtime": 0.0,
                "ctime": 0.0,
                "btime": 0.0,
                "dev": 1,
                "inode": 1,
                "nlink": 2,
                "acl": ds.acl,
                "is_mountpoint": True,
                "is_ctldir": False,
                "attributes": [],
                "user": None,
                "group": None,
            }

    def filesystem_setperm(self, data: Any) -> None:
        schema = "filesystem_setperm"
        allowed = {"path", "mode", "uid", "gid", "user", "group", "options"}
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        verrors = _extra_inputs(schema, data, allowed)
        if "path" not in data:
            verrors.add(f"{schema}.path", "Field required")
        mode = data.get("mode")
        if mode is not None and (
            not isinstance(mode, str) or not re.fullmatch(r"[0-7]{3,4}", mode)
        ):
            verrors.add(f"{schema}.mode", 'Must be a string of octal digits, e.g. "755"')
        for key in ("uid", "gid"):
            if key in data and data[key] is not None and not isinstance(data[key], int):
                verrors.add(f"{schema}.{key}", "Input should be a valid integer")
        verrors.check()
        with self.lock:
            ds = self._dataset_for_path(data["path"])
            options = data.get("options") or {}
            if mode is not None:
                if ds.acl and not options.get("stripacl"):
                    raise ValidationErrors(
                        [
                            (
                                f"{schema}.mode",
                                "Non-trivial ACL present on path; "
                                "stripacl must be set to change mode",
                                errno.EINVAL,
                            )
                        ]
                    )
                if self._resolved(ds.name, "aclmode")[0] == "RESTRICTED":
                    raise CallError(
                        f"{data['path']}: chmod is not permitted: dataset aclmode is RESTRICTED",
                        errno.EPERM,
                    )
                ds.mode = int(mode, 8)
                if options.get("stripacl"):
                    ds.acl = False
            if data.get("uid") is not None:
                ds.uid = data["uid"]
            if data.get("gid") is not None:
                ds.gid = data["gid"]

    # -- periodic snapshot tasks ---------------------------------------------------------
    def _snapshot_task_validate(self, schema: str, data: dict[str, Any]) -> ValidationErrors:
        verrors = _extra_inputs(schema, data, SNAPSHOT_TASK_FIELDS)
        if "dataset" in data and data["dataset"] not in self.datasets:
            verrors.add(f"{schema}.dataset", "Dataset not found")
        if data.get("lifetime_unit") not in LIFETIME_UNITS:
            verrors.add(
                f"{schema}.lifetime_unit",
                "Input should be 'HOUR', 'DAY', 'WEEK', 'MONTH' or 'YEAR'",
            )
        lv = data.get("lifetime_value")
        if not isinstance(lv, int) or isinstance(lv, bool) or lv < 1:
            verrors.add(f"{schema}.lifetime_value", "Input should be greater than or equal to 1")
        schema_str = data.get("naming_schema", "")
        if not isinstance(schema_str, str) or not all(f"%{c}" in schema_str for c in "YmdHM"):
            verrors.add(
                f"{schema}.naming_schema", "Naming schema must contain %Y, %m, %d, %H and %M"
            )
        elif "/" in schema_str:
            verrors.add(f"{schema}.naming_schema", "Naming schema may not contain '/'")
        sched = data.get("schedule", {})
        if not isinstance(sched, dict):
            verrors.add(f"{schema}.schedule", "Input should be a valid dictionary")
        else:
            for key in sorted(set(sched) - SCHEDULE_FIELDS):
                verrors.add(f"{schema}.schedule.{key}", "Extra inputs are not permitted")
            for key in ("begin", "end"):
                if key in sched and not re.fullmatch(r"\d{2}:\d{2}", str(sched[key])):
                    verrors.add(f"{schema}.schedule.{key}", "Time must be in HH:MM format")
        return verrors

    def snapshottask_create(self, data: Any) -> dict[str, Any]:
        schema = "periodic_snapshot_create"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        task: dict[str, Any] = {
            "recursive": False,
            "exclude": [],
            "lifetime_value": 2,
            "lifetime_unit": "WEEK",
            "enabled": True,
            "naming_schema": "auto-%Y-%m-%d_%H-%M",
            "allow_empty": True,
        }
        task.update(copy.deepcopy(data))
        task["schedule"] = {
            "minute": "00",
            "hour": "*",
            "dom": "*",
            "month": "*",
            "dow": "*",
            "begin": "00:00",
            "end": "23:59",
            **(data.get("schedule") or {}),
        }
        with self.lock:
            verrors = self._snapshot_task_validate(schema, task)
            if "dataset" not in data:
                verrors.add(f"{schema}.dataset", "Field required")
            verrors.check()
            task["id"] = self._next_task_id
            self._next_task_id += 1
            task["vmware_sync"] = False
            task["state"] = {"state": "PENDING"}
            self.snapshot_tasks[task["id"]] = task
            return copy.deepcopy(task)

    def snapshottask_query(self, filters: Any = None, options: Any = None) -> Any:
        with self.lock:
            items = [copy.deepcopy(t) for _, t in sorted(self.snapshot_tasks.items())]
        return filter_list(items, filters, options)

    def snapshottask_update(self, id_: Any, data: Any) -> dict[str, Any]:
        schema = "periodic_snapshot_update"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        with self.lock:
            if id_ not in self.snapshot_tasks:
                raise CallError(f"PeriodicSnapshotTask {id_} does not exist", errno.ENOENT)
            task = copy.deepcopy(self.snapshot_tasks[id_])
            new = {k: v for k, v in task.items() if k not in ("id", "vmware_sync", "state")}
            new.update(copy.deepcopy({k: v for k, v in data.items() if k != "schedule"}))
            if "schedule" in data:
                new["schedule"] = {**task["schedule"], **(data["schedule"] or {})}
            self._snapshot_task_validate(schema, new).check()
            task.update(new)
            self.snapshot_tasks[id_] = task
            return copy.deepcopy(task)

    def snapshottask_delete(self, id_: Any) -> bool:
        with self.lock:
            if id_ not in self.snapshot_tasks:
                raise CallError(f"PeriodicSnapshotTask {id_} does not exist", errno.ENOENT)
            del self.snapshot_tasks[id_]
            return True

    # -- apps (custom apps only) ------------------------------------------------------------
    @staticmethod
    def _compose(schema: str, data: dict[str, Any], verrors: ValidationErrors) -> Any:
        if "custom_compose_config_string" in data and data.get("custom_compose_config"):
            verrors.add(
                f"{schema}.custom_compose_config_string",
                "Only one of custom_compose_config and custom_compose_config_string may be set",
            )
            return None
        if "custom_compose_config_string" in data:
            try:
                compose = yaml.safe_load(data["custom_compose_config_string"])
            except yaml.YAMLError as exc:
                verrors.add(
                    f"{schema}.custom_compose_config_string", f"Failed to parse YAML: {exc}"
                )
                return None
        else:
            compose = data.get("custom_compose_config")
        if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
            verrors.add(
                f"{schema}.custom_compose_config",
                "Compose configuration must be a mapping with a 'services' key",
            )
            return None
        return compose

    def app_create_validate(self, data: Any) -> None:
        """Schema checks made before the job starts (an immediate error response)."""
        schema = "app_create"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        verrors = _extra_inputs(schema, data, APP_CREATE_FIELDS)
        name = data.get("app_name")
        if not isinstance(name, str) or not APP_NAME.match(name) or len(name) > 40:
            verrors.add(
                f"{schema}.app_name",
                "Name must be lowercase alphanumerics and '-', start with a letter, end "
                "with a letter or digit, at most 40 characters",
            )
        if not data.get("custom_app"):
            verrors.add(
                f"{schema}.catalog_app",
                "Catalog apps are not modelled by this test double; set custom_app",
            )
        verrors.check()

    def app_create(self, data: dict[str, Any]) -> dict[str, Any]:
        schema = "app_create"
        verrors = ValidationErrors()
        with self.lock:
            if data["app_name"] in self.apps:
                verrors.add(
                    f"{schema}.app_name",
                    f"Application with name {data['app_name']} already exists",
                    errno.EEXIST,
                )
            compose = self._compose(schema, data, verrors)
            verrors.check()
            self.apps[data["app_name"]] = {
                "name": data["app_name"],
                "id": data["app_name"],
                "state": "RUNNING",
                "upgrade_available": False,
                "latest_version": "1.0.0",
                "image_updates_available": False,
                "custom_app": True,
                "migrated": False,
                "human_version": "1.0.0",
                "version": "1.0.0",
                "metadata": {"name": data["app_name"], "train": "stable", "app_version": "1.0.0"},
                "active_workloads": {
                    "containers": len(compose["services"]),
                    "used_ports": [],
                    "container_details": [
                        {"service_name": s, "state": "running", "image": (c or {}).get("image")}
                        for s, c in compose["services"].items()
                    ],
                    "volumes": [],
                    "images": sorted(
                        {(c or {}).get("image", "") for c in compose["services"].values()} - {""}
                    ),
                    "networks": [],
                },
                "notes": None,
                "portals": {},
                "config": compose,
                "deployments": 1,
            }
            return self.app_entry(data["app_name"])

    def app_entry(self, name: str, retrieve_config: bool = False) -> dict[str, Any]:
        app = copy.deepcopy(self.apps[name])
        if not retrieve_config:
            app.pop("config")
        app.pop("deployments")
        return app

    def app_query(self, filters: Any = None, options: Any = None) -> Any:
        options = dict(options or {})
        retrieve = bool((options.get("extra") or {}).get("retrieve_config"))
        with self.lock:
            items = [self.app_entry(n, retrieve) for n in sorted(self.apps)]
        return filter_list(items, filters, options)

    def app_update_validate(self, name: Any, data: Any) -> None:
        schema = "app_update"
        if not isinstance(data, dict):
            raise ValidationErrors([(schema, "Input should be a valid dictionary", errno.EINVAL)])
        _extra_inputs(schema, data, APP_UPDATE_FIELDS).check()

    def app_update(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        schema = "app_update"
        with self.lock:
            if name not in self.apps:
                raise CallError(f"App {name!r} does not exist", errno.ENOENT)
            if "custom_compose_config_string" in data or "custom_compose_config" in data:
                verrors = ValidationErrors()
                compose = self._compose(schema, data, verrors)
                verrors.check()
                app = self.apps[name]
                app["config"] = compose
                app["deployments"] += 1  # update redeploys the app
                app["active_workloads"]["containers"] = len(compose["services"])
            return self.app_entry(name)

    def app_config(self, name: Any) -> Any:
        with self.lock:
            if name not in self.apps:
                raise CallError(f"App {name!r} does not exist", errno.ENOENT)
            return copy.deepcopy(self.apps[name]["config"])

    def app_delete(self, name: str, options: Any = None) -> bool:
        with self.lock:
            if name not in self.apps:
                raise CallError(f"App {name!r} does not exist", errno.ENOENT)
            del self.apps[name]
            return True

    # -- inspection for tests ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable picture of the whole state (what `--state-file` writes)."""
        with self.lock:
            return {
                "datasets": {n: self.dataset_entry(n) for n in sorted(self.datasets)},
                "ownership": {
                    n: {"uid": d.uid, "gid": d.gid, "mode": f"{d.mode:o}", "acl": d.acl}
                    for n, d in sorted(self.datasets.items())
                },
                "snapshot_tasks": [
                    copy.deepcopy(t) for _, t in sorted(self.snapshot_tasks.items())
                ],
                "apps": {n: copy.deepcopy(a) for n, a in sorted(self.apps.items())},
                "jobs": [j.entry() for _, j in sorted(self.jobs.items())],
                "calls": copy.deepcopy(self.calls),
            }

    def new_job(self, method: str, arguments: list[Any], message_id: Any) -> Job:
        with self.lock:
            job = Job(
                id=self._next_job_id,
                method=method,
                arguments=copy.deepcopy(arguments),
                message_ids=[message_id] if message_id is not None else [],
            )
            self._next_job_id += 1
            self.jobs[job.id] = job
            return job
