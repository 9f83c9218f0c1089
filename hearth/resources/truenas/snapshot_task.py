"""A periodic snapshot task on TrueNAS (`pool.snapshottask.*`): schedule and lifetime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from hearth.resources.truenas.base import TrueNASProvider, diff_result, failure, known, strip
from hearth.resources.truenas.rpc import TrueNASClient

LIFETIME_UNITS = ("HOUR", "DAY", "WEEK", "MONTH", "YEAR")
SCHEDULE_KEYS = ("minute", "hour", "dom", "month", "dow")
MANAGED = (
    "dataset", "recursive", "exclude", "lifetime_value", "lifetime_unit", "naming_schema",
    "schedule", "enabled", "allow_empty",
)  # fmt: skip
REPLACE_ON = ("dataset",)


@dataclass(frozen=True)
class Schedule:
    """Cron-style fields, as TrueNAS takes them (strings)."""

    minute: str = "0"
    hour: str = "*"
    dom: str = "*"
    month: str = "*"
    dow: str = "*"

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in SCHEDULE_KEYS}


@dataclass(frozen=True)
class SnapshotTaskArgs:
    dataset: pulumi.Input[str]
    """Full ZFS name of the dataset to snapshot."""
    lifetime_value: int = 2
    lifetime_unit: Literal["HOUR", "DAY", "WEEK", "MONTH", "YEAR"] = "WEEK"
    naming_schema: str = "hearth-%Y-%m-%d_%H-%M"
    """strftime pattern of snapshot names; needs %Y %m %d %H %M, no '/'."""
    schedule: Schedule = field(default_factory=Schedule)
    recursive: bool = False
    exclude: tuple[str, ...] = ()
    enabled: bool = True
    allow_empty: bool = False
    """Take a snapshot even when nothing changed since the last one."""


def _payload(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dataset": props["dataset"],
        "recursive": bool(props.get("recursive", False)),
        "exclude": list(props.get("exclude") or []),
        "lifetime_value": int(props["lifetime_value"]),
        "lifetime_unit": props["lifetime_unit"],
        "naming_schema": props["naming_schema"],
        "schedule": {k: str(v) for k, v in (props.get("schedule") or {}).items()},
        "enabled": bool(props.get("enabled", True)),
        "allow_empty": bool(props.get("allow_empty", False)),
    }


class SnapshotTaskProvider(TrueNASProvider):
    """CRUD of one task; its id is TrueNAS's numeric task id. A task for the same dataset
    and naming schema that already exists is adopted."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        unit = news.get("lifetime_unit")
        if unit not in LIFETIME_UNITS:
            failures.append(
                failure(
                    "lifetime_unit",
                    f"lifetime_unit must be one of {', '.join(LIFETIME_UNITS)}, got {unit!r}",
                )
            )
        value = news.get("lifetime_value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 1:
            failures.append(
                failure(
                    "lifetime_value", f"lifetime_value must be a whole number >= 1, got {value!r}"
                )
            )
        schema = news.get("naming_schema")
        if not isinstance(schema, str) or not all(f"%{c}" in schema for c in "YmdHM"):
            failures.append(
                failure(
                    "naming_schema",
                    f"naming_schema {schema!r} must contain %Y, %m, %d, %H and %M",
                )
            )
        elif "/" in schema:
            failures.append(failure("naming_schema", "naming_schema may not contain '/'"))
        schedule = news.get("schedule") or {}
        unknown_keys = sorted(set(schedule) - set(SCHEDULE_KEYS))
        if unknown_keys:
            failures.append(
                failure(
                    "schedule", f"schedule has unknown fields {unknown_keys}; use {SCHEDULE_KEYS}"
                )
            )
        dataset = news.get("dataset")
        if known(dataset) and (not isinstance(dataset, str) or "/" not in dataset):
            failures.append(failure("dataset", f"dataset must be <pool>/<path>, got {dataset!r}"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [
            k for k in MANAGED
            if _payload_value(olds, k) != _payload_value(news, k)
        ]  # fmt: skip
        return diff_result(changed, REPLACE_ON)

    @staticmethod
    def _get(c: TrueNASClient, task_id: int) -> dict[str, Any] | None:
        found = c.call("pool.snapshottask.query", [["id", "=", task_id]])
        return found[0] if found else None

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip(props)
        payload = _payload(props)
        what = f"create snapshot task for {payload['dataset']}"
        with self.session(what) as c:
            existing = c.call(
                "pool.snapshottask.query",
                [
                    ["dataset", "=", payload["dataset"]],
                    ["naming_schema", "=", payload["naming_schema"]],
                ],
            )
            if existing:
                task = c.call("pool.snapshottask.update", existing[0]["id"], payload)
            else:
                task = c.call("pool.snapshottask.create", payload)
        return CreateResult(str(task["id"]), {**payload, "task_id": task["id"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.session(f"read snapshot task {id_}") as c:
            task = self._get(c, int(id_))
        if task is None:
            return ReadResult("", {})
        observed = {k: task.get(k) for k in MANAGED}
        observed["schedule"] = {k: task["schedule"].get(k) for k in SCHEDULE_KEYS}
        return ReadResult(id_, {**observed, "task_id": task["id"]})

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        payload = _payload(strip(news))
        with self.session(f"update snapshot task {id_} ({payload['dataset']})") as c:
            task = c.call("pool.snapshottask.update", int(id_), payload)
        return UpdateResult({**payload, "task_id": task["id"]})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        # Deleting the task stops new snapshots; the snapshots taken so far stay.
        with self.session(f"delete snapshot task {id_}") as c:
            if self._get(c, int(id_)) is not None:
                c.call("pool.snapshottask.delete", int(id_))


def _payload_value(props: Mapping[str, Any], key: str) -> Any:
    value = props.get(key)
    if key == "lifetime_value" and isinstance(value, (int, float)):
        return int(value)
    if key == "exclude":
        return list(value or [])
    if key == "schedule":
        return {k: str(v) for k, v in (value or {}).items()}
    return value


class _SnapshotTask(Resource, module="truenas", name="SnapshotTask"):
    task_id: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(SnapshotTaskProvider(), name, {**props, "task_id": None}, opts)


class SnapshotTask(pulumi.ComponentResource):
    """Periodic snapshots of one dataset, kept for a lifetime."""

    task_id: pulumi.Output[int]

    def __init__(
        self, name: str, args: SnapshotTaskArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hearth:truenas:SnapshotTask", name, None, opts)
        props = {
            "dataset": args.dataset,
            "recursive": args.recursive,
            "exclude": list(args.exclude),
            "lifetime_value": args.lifetime_value,
            "lifetime_unit": args.lifetime_unit,
            "naming_schema": args.naming_schema,
            "schedule": args.schedule.as_dict(),
            "enabled": args.enabled,
            "allow_empty": args.allow_empty,
        }
        child = _SnapshotTask(name, props, pulumi.ResourceOptions(parent=self))
        self.task_id = child.task_id
        self.register_outputs({"task_id": child.task_id})
