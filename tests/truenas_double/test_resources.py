"""Datasets, snapshot tasks, apps and ownership, with the documented arguments and errors."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from .conftest import Raw
from .server import TrueNASDouble


def verror(response: dict[str, Any]) -> list[list[Any]]:
    assert response["error"]["code"] == -32602, response
    extra: list[list[Any]] = response["error"]["data"]["extra"]
    return extra


def test_dataset_create_returns_the_query_entry_with_properties(admin: Raw) -> None:
    ds = admin.result(
        "pool.dataset.create",
        {
            "name": "tank/pg",
            "type": "FILESYSTEM",
            "recordsize": "16K",
            "compression": "LZ4",
            "atime": "OFF",
            "acltype": "POSIX",
            "quota": 5 * 1024**3,
            "user_properties": [{"key": "hearth:service", "value": "postgres"}],
        },
    )
    assert ds["id"] == ds["name"] == "tank/pg"
    assert ds["mountpoint"] == "/mnt/tank/pg"
    assert ds["recordsize"] == {
        "parsed": 16384,
        "rawvalue": "16384",
        "value": "16K",
        "source": "LOCAL",
        "source_info": None,
    }
    assert (ds["compression"]["value"], ds["compression"]["rawvalue"]) == ("LZ4", "lz4")
    assert (ds["atime"]["value"], ds["atime"]["parsed"]) == ("OFF", False)
    assert ds["quota"]["parsed"] == 5 * 1024**3
    assert ds["quota"]["value"] == "5G"
    assert ds["user_properties"]["hearth:service"]["value"] == "postgres"
    assert admin.result("pool.dataset.query", [["id", "=", "tank/pg"]]) == [ds]


def test_children_inherit_unset_properties(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/p", "compression": "ZSTD"})
    child = admin.result("pool.dataset.create", {"name": "tank/p/c"})
    assert (child["compression"]["value"], child["compression"]["source"]) == ("ZSTD", "INHERITED")
    assert (child["recordsize"]["value"], child["recordsize"]["source"]) == ("128K", "DEFAULT")


def test_parent_must_exist_unless_create_ancestors(admin: Raw) -> None:
    assert verror(admin.call("pool.dataset.create", {"name": "tank/a/b/c"})) == [
        [
            "pool_dataset_create.name",
            "Parent dataset 'tank/a/b' does not exist. Set create_ancestors to create it.",
            errno.ENOENT,
        ]
    ]
    admin.result("pool.dataset.create", {"name": "tank/a/b/c", "create_ancestors": True})
    names = [d["name"] for d in admin.result("pool.dataset.query")]
    assert {"tank/a", "tank/a/b", "tank/a/b/c"} <= set(names)


def test_pool_must_exist_and_names_must_be_new(admin: Raw) -> None:
    assert verror(admin.call("pool.dataset.create", {"name": "nopool/x"}))[0][1] == (
        "Pool 'nopool' does not exist."
    )
    admin.result("pool.dataset.create", {"name": "tank/x"})
    assert verror(admin.call("pool.dataset.create", {"name": "tank/x"}))[0][2] == errno.EEXIST


def test_dataset_create_validates_values_and_unknown_keys(admin: Raw) -> None:
    errors = verror(
        admin.call(
            "pool.dataset.create",
            {
                "name": "tank/v",
                "recordsize": "3K",
                "compression": "BROTLI",
                "atime": "MAYBE",
                "quota": 1024,
                "colour": "blue",
                "user_properties": [{"key": "nocolon", "value": "x"}],
            },
        )
    )
    attributes = {e[0] for e in errors}
    assert attributes == {
        "pool_dataset_create.recordsize",
        "pool_dataset_create.compression",
        "pool_dataset_create.atime",
        "pool_dataset_create.quota",
        "pool_dataset_create.colour",
        "pool_dataset_create.user_properties.0.key",
    }
    assert ["pool_dataset_create.colour", "Extra inputs are not permitted", errno.EINVAL] in errors


def test_dataset_update_changes_properties_and_user_properties(admin: Raw) -> None:
    admin.result(
        "pool.dataset.create",
        {"name": "tank/u", "recordsize": "1M", "user_properties": [{"key": "a:b", "value": "1"}]},
    )
    ds = admin.result(
        "pool.dataset.update",
        "tank/u",
        {
            "recordsize": "128K",
            "compression": "ZSTD",
            "user_properties_update": [
                {"key": "a:b", "remove": True},
                {"key": "c:d", "value": "2"},
            ],
        },
    )
    assert ds["recordsize"]["value"] == "128K"
    assert ds["compression"]["value"] == "ZSTD"
    assert set(ds["user_properties"]) == {"c:d"}
    inherited = admin.result("pool.dataset.update", "tank/u", {"compression": "INHERIT"})
    assert inherited["compression"]["source"] == "INHERITED"


def test_dataset_update_refuses_create_only_keys_and_unknown_datasets(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/u"})
    assert verror(admin.call("pool.dataset.update", "tank/u", {"name": "tank/v"}))[0][0] == (
        "pool_dataset_update.name"
    )
    error = admin.call("pool.dataset.update", "tank/none", {"atime": "ON"})["error"]
    assert error["data"]["errname"] == "ENOENT"


def test_dataset_delete_needs_recursive_for_children(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/d/e", "create_ancestors": True})
    error = admin.call("pool.dataset.delete", "tank/d")["error"]
    assert error["data"]["errname"] == "EBUSY"
    assert admin.result("pool.dataset.delete", "tank/d", {"recursive": True}) is True
    assert admin.result("pool.dataset.query", [["id", "^", "tank/d"]]) == []


def test_query_filters_and_options(admin: Raw) -> None:
    for name in ("tank/q1", "tank/q2", "tank/q3"):
        admin.result("pool.dataset.create", {"name": name})
    assert admin.result(
        "pool.dataset.query", [["id", "in", ["tank/q1", "tank/q3"]]], {"select": ["id"]}
    ) == [{"id": "tank/q1"}, {"id": "tank/q3"}]
    assert admin.result("pool.dataset.query", [["id", "^", "tank/q"]], {"count": True}) == 3
    assert (
        admin.result(
            "pool.dataset.query",
            [["recordsize.value", "=", "128K"], ["id", "$", "2"]],
            {"get": True},
        )["id"]
        == "tank/q2"
    )
    assert (
        admin.result("pool.dataset.query", [], {"order_by": ["-id"], "limit": 1})[0]["id"]
        == "tank/q3"
    )
    assert (
        admin.call("pool.dataset.get_instance", "tank/none")["error"]["data"]["errname"] == "ENOENT"
    )


def test_snapshot_task_create_fills_documented_defaults(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/s"})
    task = admin.result("pool.snapshottask.create", {"dataset": "tank/s"})
    assert task["id"] == 1
    assert {
        k: task[k]
        for k in (
            "recursive",
            "lifetime_value",
            "lifetime_unit",
            "enabled",
            "naming_schema",
            "allow_empty",
            "exclude",
        )
    } == {
        "recursive": False,
        "lifetime_value": 2,
        "lifetime_unit": "WEEK",
        "enabled": True,
        "naming_schema": "auto-%Y-%m-%d_%H-%M",
        "allow_empty": True,
        "exclude": [],
    }
    assert task["schedule"] == {
        "minute": "00",
        "hour": "*",
        "dom": "*",
        "month": "*",
        "dow": "*",
        "begin": "00:00",
        "end": "23:59",
    }


def test_snapshot_task_validation(admin: Raw) -> None:
    errors = verror(
        admin.call(
            "pool.snapshottask.create",
            {
                "dataset": "tank/none",
                "lifetime_unit": "FORTNIGHT",
                "lifetime_value": 0,
                "naming_schema": "snap-%Y",
                "schedule": {"minute": "0", "second": "1"},
            },
        )
    )
    assert {e[0] for e in errors} == {
        "periodic_snapshot_create.dataset",
        "periodic_snapshot_create.lifetime_unit",
        "periodic_snapshot_create.lifetime_value",
        "periodic_snapshot_create.naming_schema",
        "periodic_snapshot_create.schedule.second",
    }


def test_snapshot_task_update_merges_the_schedule_and_delete_removes(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/s"})
    task = admin.result(
        "pool.snapshottask.create",
        {
            "dataset": "tank/s",
            "recursive": True,
            "lifetime_value": 1,
            "lifetime_unit": "DAY",
            "naming_schema": "h-%Y-%m-%d_%H-%M",
            "schedule": {"minute": "0", "hour": "*"},
        },
    )
    updated = admin.result(
        "pool.snapshottask.update", task["id"], {"lifetime_value": 3, "schedule": {"hour": "4"}}
    )
    assert updated["lifetime_value"] == 3
    assert (updated["schedule"]["minute"], updated["schedule"]["hour"]) == ("0", "4")
    assert admin.result("pool.snapshottask.query", [["dataset", "=", "tank/s"]]) == [updated]
    assert admin.result("pool.snapshottask.delete", task["id"]) is True
    assert (
        admin.call("pool.snapshottask.delete", task["id"])["error"]["data"]["errname"] == "ENOENT"
    )


def test_deleting_a_dataset_deletes_its_snapshot_tasks(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/s"})
    admin.result("pool.snapshottask.create", {"dataset": "tank/s"})
    admin.result("pool.dataset.delete", "tank/s")
    assert admin.result("pool.snapshottask.query") == []


COMPOSE = "services:\n  web:\n    image: caddy:2\n  db:\n    image: postgres:17\n"


def test_custom_app_create_update_delete(admin: Raw, double: TrueNASDouble) -> None:
    created = admin.wait_job(
        admin.result(
            "app.create",
            {"app_name": "hearth", "custom_app": True, "custom_compose_config_string": COMPOSE},
        )
    )
    assert created["result"]["custom_app"] is True
    assert created["result"]["state"] == "RUNNING"
    assert "config" not in created["result"]
    assert admin.result("app.config", "hearth")["services"]["db"]["image"] == "postgres:17"
    updated = admin.wait_job(
        admin.result(
            "app.update",
            "hearth",
            {"custom_compose_config_string": "services:\n  web:\n    image: caddy:2.6\n"},
        )
    )
    assert updated["state"] == "SUCCESS"
    assert double.state.apps["hearth"]["deployments"] == 2  # update redeploys
    with_config = admin.result(
        "app.query", [["name", "=", "hearth"]], {"extra": {"retrieve_config": True}}
    )
    assert with_config[0]["config"] == {"services": {"web": {"image": "caddy:2.6"}}}
    assert admin.wait_job(admin.result("app.delete", "hearth"))["result"] is True
    assert admin.result("app.query") == []


def test_app_errors(admin: Raw) -> None:
    bad_yaml = admin.wait_job(
        admin.result(
            "app.create",
            {"app_name": "y", "custom_app": True, "custom_compose_config_string": "services: [a"},
        )
    )
    assert bad_yaml["state"] == "FAILED"
    assert bad_yaml["exc_info"]["extra"][0][0] == "app_create.custom_compose_config_string"
    no_services = admin.wait_job(
        admin.result(
            "app.create",
            {"app_name": "z", "custom_app": True, "custom_compose_config_string": "version: '3'"},
        )
    )
    assert no_services["state"] == "FAILED"
    missing = admin.wait_job(
        admin.result("app.update", "ghost", {"custom_compose_config_string": COMPOSE})
    )
    assert missing["state"] == "FAILED"
    assert missing["exc_info"]["type"] == "CallError"
    assert verror(admin.call("app.update", "ghost", {"colour": 1}))[0][0] == "app_update.colour"


def test_ownership_stat_and_setperm(admin: Raw) -> None:
    admin.result("pool.dataset.create", {"name": "tank/o"})
    stat = admin.result("filesystem.stat", "/mnt/tank/o")
    assert (stat["uid"], stat["gid"], stat["mode"] & 0o7777) == (0, 0, 0o755)
    job = admin.wait_job(
        admin.result(
            "filesystem.setperm", {"path": "/mnt/tank/o", "uid": 999, "gid": 999, "mode": "700"}
        )
    )
    assert job["state"] == "SUCCESS"
    stat = admin.result("filesystem.stat", "/mnt/tank/o")
    assert (stat["uid"], stat["gid"], stat["mode"] & 0o7777) == (999, 999, 0o700)


@pytest.mark.parametrize(
    ("share_type", "options", "outcome"),
    [
        ("APPS", {}, "Non-trivial ACL present"),
        ("APPS", {"stripacl": True}, None),
        ("SMB", {"stripacl": True}, "chmod is not permitted"),
    ],
)
def test_acl_presets_constrain_chmod(
    admin: Raw, share_type: str, options: dict[str, Any], outcome: str | None
) -> None:
    admin.result("pool.dataset.create", {"name": "tank/acl", "share_type": share_type})
    job = admin.wait_job(
        admin.result(
            "filesystem.setperm", {"path": "/mnt/tank/acl", "mode": "750", "options": options}
        )
    )
    if outcome is None:
        assert job["state"] == "SUCCESS"
    else:
        assert job["state"] == "FAILED"
        assert outcome in job["error"]


def test_paths_outside_pools_are_refused(admin: Raw) -> None:
    error = admin.call("filesystem.stat", "/etc")["error"]
    assert error["data"]["errname"] == "EINVAL"
    assert admin.call("filesystem.stat", "/mnt/tank/none")["error"]["data"]["errname"] == "ENOENT"
