"""SnapshotTask provider against the double."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hearth.resources.truenas.snapshot_task import SnapshotTaskProvider
from tests.truenas.conftest import Running

Make = Callable[[type[SnapshotTaskProvider]], SnapshotTaskProvider]

HOURLY = {
    "dataset": "tank/prod/postgres",
    "recursive": False,
    "exclude": [],
    "lifetime_value": 2.0,  # numbers reach providers as floats
    "lifetime_unit": "WEEK",
    "naming_schema": "hearth-%Y-%m-%d_%H-%M",
    "schedule": {"minute": "0", "hour": "*", "dom": "*", "month": "*", "dow": "*"},
    "enabled": True,
    "allow_empty": False,
}


def with_dataset(nas: Running) -> None:
    nas.state.dataset_create({"name": "tank/prod/postgres", "create_ancestors": True})


def test_check_names_bad_lifetime_schema_and_schedule() -> None:
    bad: dict[str, Any] = {
        **HOURLY,
        "lifetime_unit": "FORTNIGHT",
        "lifetime_value": 0,
        "naming_schema": "snap-%Y",
        "schedule": {"minute": "0", "second": "5"},
    }
    found = {f.property: f.reason for f in SnapshotTaskProvider().check({}, bad).failures}
    assert set(found) == {"lifetime_unit", "lifetime_value", "naming_schema", "schedule"}
    assert "FORTNIGHT" in found["lifetime_unit"]
    assert "%H" in found["naming_schema"]
    assert "second" in found["schedule"]


def test_create_read_diff_update_delete(nas: Running, make: Make) -> None:
    with_dataset(nas)
    provider = make(SnapshotTaskProvider)
    created = provider.create(HOURLY)
    task_id = int(created.id)
    task = nas.state.snapshot_tasks[task_id]
    assert task["dataset"] == "tank/prod/postgres"
    assert (task["lifetime_value"], task["lifetime_unit"]) == (2, "WEEK")
    assert task["schedule"]["minute"] == "0"

    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert provider.diff(created.id, read.outs, HOURLY).changes is False

    longer = {**HOURLY, "lifetime_value": 4}
    diff = provider.diff(created.id, read.outs, longer)
    assert diff.changes is True
    assert diff.replaces == []
    provider.update(created.id, read.outs, longer)
    assert nas.state.snapshot_tasks[task_id]["lifetime_value"] == 4

    other = {**HOURLY, "dataset": "tank/prod/s3-data"}
    assert provider.diff(created.id, read.outs, other).replaces == ["dataset"]

    provider.delete(created.id, {})
    assert task_id not in nas.state.snapshot_tasks
    provider.delete(created.id, {})  # already gone: no error
    assert provider.read(created.id, {}).id == ""


def test_create_adopts_the_same_task(nas: Running, make: Make) -> None:
    with_dataset(nas)
    provider = make(SnapshotTaskProvider)
    first = provider.create(HOURLY)
    second = provider.create({**HOURLY, "lifetime_value": 3})
    assert first.id == second.id
    assert len(nas.state.snapshot_tasks) == 1
    assert nas.state.snapshot_tasks[int(first.id)]["lifetime_value"] == 3
