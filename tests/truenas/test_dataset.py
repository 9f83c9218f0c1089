"""Dataset provider against the double: check, create, read/diff, update, adopt, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.dataset import DatasetProvider
from tests.truenas.conftest import Running

Make = Callable[[type[DatasetProvider]], DatasetProvider]

POSTGRES = {
    "name": "tank/prod/postgres",
    "share_type": "GENERIC",
    "recordsize": "16K",
    "compression": "LZ4",
    "atime": "OFF",
    "comments": "Hearth stack prod: postgres",
    "user_properties": {"hearth:stack": "prod"},
    "uid": 999,
    "gid": 999,
    "mode": "0700",
}


def checked(props: dict[str, Any]) -> dict[str, Any]:
    result = DatasetProvider().check({}, props)
    assert result.failures == []
    return result.inputs


def failures(props: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in DatasetProvider().check({}, props).failures}


def test_check_names_a_bad_recordsize_and_lists_the_valid_ones() -> None:
    found = failures({**POSTGRES, "recordsize": "3K"})
    assert set(found) == {"recordsize"}
    assert "'3K' is not a ZFS record size" in found["recordsize"]
    assert "16K" in found["recordsize"]


def test_check_names_each_bad_property() -> None:
    found = failures({
        **POSTGRES,
        "name": "tank",
        "compression": "BROTLI",
        "share_type": "SMB",
        "uid": -1,
        "mode": "rwx",
        "user_properties": {"stack": "x"},
    })  # fmt: skip
    assert set(found) == {"name", "compression", "share_type", "uid", "mode", "user_properties"}
    assert "<pool>/<path>" in found["name"]
    assert "hearth:stack" in found["user_properties"]


def test_check_refuses_a_mode_on_an_apps_dataset() -> None:
    found = failures({**POSTGRES, "share_type": "APPS"})
    assert "NFSv4 ACL" in found["mode"]


def test_check_normalises_the_mode() -> None:
    assert checked({**POSTGRES, "mode": "700"})["mode"] == "0700"


def test_create_sets_properties_owner_and_mode(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    result = provider.create(checked(POSTGRES))
    assert result.id == "tank/prod/postgres"
    assert result.outs is not None
    assert result.outs["mountpoint"] == "/mnt/tank/prod/postgres"
    entry = nas.state.dataset_entry("tank/prod/postgres")
    assert entry["recordsize"]["value"] == "16K"
    assert entry["recordsize"]["source"] == "LOCAL"
    assert entry["compression"]["value"] == "LZ4"
    assert entry["atime"]["value"] == "OFF"
    assert entry["user_properties"]["hearth:stack"]["value"] == "prod"
    ds = nas.state.datasets["tank/prod/postgres"]
    assert (ds.uid, ds.gid, ds.mode) == (999, 999, 0o700)
    assert "tank/prod" in nas.state.datasets, "ancestors are created"


def test_read_of_an_unchanged_dataset_diffs_as_no_change(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    props = checked(POSTGRES)
    created = provider.create(props)
    read = provider.read(created.id, created.outs or {})
    assert read.id == created.id
    assert read.outs is not None
    assert {k: read.outs[k] for k in POSTGRES} == {k: created.outs[k] for k in POSTGRES}  # type: ignore[index]
    diff = provider.diff(created.id, read.outs, props)
    assert diff.changes is False
    assert diff.replaces == []


def test_read_sees_drift_made_outside_pulumi(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    created = provider.create(checked(POSTGRES))
    nas.state.dataset_update("tank/prod/postgres", {"recordsize": "128K"})
    nas.state.datasets["tank/prod/postgres"].uid = 0
    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert read.outs["recordsize"] == "128K"
    assert read.outs["uid"] == 0
    diff = provider.diff(created.id, read.outs, checked(POSTGRES))
    assert diff.changes is True


def test_unset_properties_inherit_and_do_not_drift(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    props = checked({"name": "tank/prod/plain", "recordsize": None, "compression": None})
    created = provider.create(props)
    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert read.outs["recordsize"] is None
    assert provider.diff(created.id, read.outs, props).changes is False


def test_update_changes_properties_in_place(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    olds = checked(POSTGRES)
    provider.create(olds)
    news = checked({**POSTGRES, "recordsize": "8K", "uid": 70, "gid": 70})
    diff = provider.diff("tank/prod/postgres", olds, news)
    assert diff.changes is True
    assert diff.replaces == []
    provider.update("tank/prod/postgres", olds, news)
    entry = nas.state.dataset_entry("tank/prod/postgres")
    assert entry["recordsize"]["value"] == "8K"
    assert nas.state.datasets["tank/prod/postgres"].uid == 70


def test_a_new_name_or_share_type_replaces(make: Make) -> None:
    provider = DatasetProvider()
    olds = checked(POSTGRES)
    assert provider.diff("x", olds, {**olds, "name": "tank/other/pg"}).replaces == ["name"]
    apps = {**olds, "share_type": "APPS", "mode": None}
    assert provider.diff("x", olds, apps).replaces == ["share_type"]


def test_create_adopts_a_dataset_kept_from_an_earlier_stack(nas: Running, make: Make) -> None:
    nas.state.dataset_create({"name": "tank/prod/postgres", "create_ancestors": True})
    provider = make(DatasetProvider)
    provider.create(checked(POSTGRES))
    entry = nas.state.dataset_entry("tank/prod/postgres")
    assert entry["recordsize"]["value"] == "16K"
    assert nas.state.datasets["tank/prod/postgres"].uid == 999
    assert "pool.dataset.create" not in nas.methods()


def test_a_missing_pool_is_named_with_the_pools_that_exist(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    with pytest.raises(TrueNASOperationError) as err:
        provider.create(checked({**POSTGRES, "name": "ocean/prod/postgres"}))
    message = str(err.value)
    assert "pool 'ocean' does not exist" in message
    assert "tank" in message
    assert "hearth:truenasPool" in message


def test_an_apps_dataset_gets_its_owner_by_chown(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    props = checked({"name": "tank/prod/media", "share_type": "APPS", "uid": 1000, "gid": 1000})
    provider.create(props)
    ds = nas.state.datasets["tank/prod/media"]
    assert (ds.uid, ds.gid, ds.acl) == (1000, 1000, True)
    assert "filesystem.chown" in nas.methods()


def test_delete_removes_the_dataset_and_tolerates_it_gone(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    provider.create(checked(POSTGRES))
    provider.delete("tank/prod/postgres", {})
    assert "tank/prod/postgres" not in nas.state.datasets
    provider.delete("tank/prod/postgres", {})
    read = provider.read("tank/prod/postgres", checked(POSTGRES))
    assert read.id == ""
