"""A real deployment of the truenas stack: the Pulumi engine, the inline program, the
dynamic providers in their own process, and the TrueNAS API served by the test double on
127.0.0.1. No real TrueNAS is involved: the double models the documented API.

The main test follows one throwaway stack in the order a user lives it: `up`, a second run
that changes nothing, a refresh that finds no drift, a changed setting that is one app
update, `destroy` that keeps the data, an `up` that adopts the kept datasets, and a purge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from hearth import render, workspace
from hearth.catalog import services
from hearth.catalog.spec import data_stores
from hearth.resources.truenas import connection
from hearth.secrets import GENERATED
from hearth.settings import parse_settings
from hearth.targets import target_for
from tests.truenas.conftest import Running, start
from tests.truenas_double import DEFAULT_API_KEY, DoubleConfig

TUNED = {"postgres-data": ("16K", "LZ4"), "s3-data": ("1M", "ZSTD")}
DATA_CHANGES = ("pool.dataset.create", "pool.dataset.update", "pool.dataset.delete",
                "filesystem.setperm", "filesystem.chown")  # fmt: skip


def pulumi_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make` puts the CLI built by `make setup` on PATH; a bare `pytest` finds it here."""
    if shutil.which("pulumi"):
        return
    root = Path(__file__).resolve().parents[2]
    version = re.search(
        r"^PULUMI_VERSION=(\S+)", (root / "tools/pulumi/versions.env").read_text(), re.M
    )
    cache = Path(os.environ.get("HEARTH_CACHE") or Path.home() / ".cache/hearth")
    built = cache / f"pulumi-{version.group(1) if version else '?'}" / "bin"
    if not (built / "pulumi").is_file():
        pytest.fail(f"the Pulumi CLI is not on PATH nor in {built}: run `make setup`")
    monkeypatch.setenv("PATH", f"{built}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", os.environ.get("PULUMI_HOME") or str(cache / "pulumi-home"))


@pytest.fixture
def deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[auto.Stack, Running, str]]:
    pulumi_on_path(monkeypatch)
    # The stack's state and workspace live in tmp_path: nothing is left in the repository.
    monkeypatch.setattr(workspace, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(workspace, "WORKSPACE_DIR", tmp_path / "state" / "workspace")
    (tmp_path / "state").mkdir()
    nas = start(DoubleConfig(rate_limit_sleep=(0.0, 0.0), job_delay=0.01))
    name = f"truenas-e2e-{uuid.uuid4().hex[:6]}"
    stack = workspace.select_stack(name, config_from="truenas")
    stack.set_config("hearth:truenasUrl", auto.ConfigValue(nas.url))
    stack.set_config("hearth:truenasApiKey", auto.ConfigValue(DEFAULT_API_KEY, secret=True))
    try:
        yield stack, nas, name
    finally:
        try:
            stack.destroy()
            stack.workspace.remove_stack(name)
        finally:
            connection.close_all()
            nas.double.stop()


def new_calls(nas: Running, since: int) -> list[str]:
    return [c["method"] for c in nas.state.calls[since:] if not c["internal"]]


def secret_values(stack: auto.Stack) -> dict[str, str]:
    config = stack.get_all_config()
    keys = [f"hearth:{k}" for k in GENERATED] + ["hearth:truenasApiKey"]
    return {k: config[k].value for k in keys}


def assert_state_encrypted(values: dict[str, str]) -> None:
    """No secret (nor the API key) in plain text in any state file, backups included."""
    state_text = "".join(p.read_text() for p in workspace.STATE_DIR.rglob("*.json"))
    assert state_text
    for key, value in values.items():
        assert value not in state_text, f"{key} is in plain text in the state"


def assert_hardened(doc: dict[str, Any], specs: dict[str, Any]) -> None:
    for name, svc in doc["services"].items():
        spec = specs[name]
        assert not svc["user"].startswith("0:"), name
        assert svc["cap_drop"] == ["ALL"], name
        assert svc["security_opt"] == ["no-new-privileges:true"], name
        assert svc["read_only"] is spec.read_only, name
        assert svc["mem_limit"] == svc["memswap_limit"], name
        assert svc["pids_limit"] == spec.processes, name
        assert svc["logging"]["options"]["cache-max-size"], name
        assert svc["restart"] == spec.restart, name
        if not spec.one_shot:
            assert svc["healthcheck"]["test"][0] == "CMD", name
        for volume in svc.get("volumes", []):
            assert volume["type"] == "bind", name
            assert volume["bind"]["create_host_path"] is False, name
    publishers = [name for name, svc in doc["services"].items() if svc.get("ports")]
    # Besides the edge, the logs service's syslog intake: loopback UDP only.
    assert publishers == ["edge", "logs"]
    assert [(p["host_ip"], p["protocol"]) for p in doc["services"]["logs"]["ports"]] == [
        ("127.0.0.1", "udp")
    ]


def test_truenas_stack_deploys_updates_and_keeps_data(
    deployment: tuple[auto.Stack, Running, str],
) -> None:
    stack, nas, name = deployment
    settings = workspace.check_settings("truenas")
    specs = {s.name: s for s in services(settings)}
    root = f"tank/{name}"

    started = time.monotonic()
    first = stack.up()
    first_s = time.monotonic() - started
    assert first.summary.result == "succeeded"
    assert nas.logins() == 1, "the whole deployment logs in once (rate limit: 20 per minute)"

    # Datasets: the tree, tuned per store, owned by the service that writes it.
    owners = data_stores(list(specs.values()))
    assert set(nas.state.datasets) >= {root, f"{root}/secrets", f"{root}/config"}
    for store, owner in owners.items():
        ds = nas.state.datasets[f"{root}/{store}"]
        assert (ds.uid, ds.gid, ds.mode) == (owner.uid, owner.gid, 0o700), store
        entry = nas.state.dataset_entry(f"{root}/{store}")
        assert entry["user_properties"]["hearth:stack"]["value"] == name
        if store in TUNED:
            assert (entry["recordsize"]["value"], entry["compression"]["value"]) == TUNED[store]
    secrets_ds = nas.state.datasets[f"{root}/secrets"]
    assert (secrets_ds.uid, secrets_ds.mode) == (0, 0o700)

    # Snapshot tasks: one per data store, hourly, kept two weeks; none on the secrets.
    tasks = {t["dataset"]: t for t in nas.state.snapshot_tasks.values()}
    assert set(tasks) == {f"{root}/{store}" for store in owners}
    for task in tasks.values():
        assert (task["lifetime_value"], task["lifetime_unit"]) == (2, "WEEK")
        assert task["schedule"]["minute"] == "0"
        assert task["schedule"]["hour"] == "*"

    # Files: every secret at 0400 for its reader's uid, holding the stack's value.
    values = secret_values(stack)
    listed = render.host_files(
        list(specs.values()), secrets_dir=f"/mnt/{root}/secrets", config_dir=f"/mnt/{root}/config"
    )
    assert listed, "the catalog reads files"
    for f in listed:
        written = nas.files.files[f.path]
        assert (written.uid, written.gid, written.mode) == (f.uid, f.gid, f.mode), f.path
        expected = values[f"hearth:{f.secret}"] if f.secret else f.content
        assert written.content == (expected or "").encode(), f.path

    # The custom app: one per stack, its Compose document hardened and free of secrets.
    app_name = f"hearth-{name}"
    assert set(nas.state.apps) == {app_name}
    doc = nas.state.apps[app_name]["config"]
    assert set(doc["services"]) == set(specs)
    assert_hardened(doc, specs)
    text = yaml.safe_dump(doc)
    for key, value in values.items():
        assert value not in text, f"{key}'s value is in the Compose document"
    sources = {mount["source"] for mount in doc["services"]["postgres"]["volumes"]}
    assert sources == {f"/mnt/{root}/postgres-data", f"/mnt/{root}/postgres-backup"}

    assert_state_encrypted(values)

    # A second run changes nothing, and asks TrueNAS for nothing that changes anything.
    since = len(nas.state.calls)
    started = time.monotonic()
    stack.preview(expect_no_changes=True)
    preview_s = time.monotonic() - started
    started = time.monotonic()
    second = stack.up()
    second_s = time.monotonic() - started
    assert set(second.summary.resource_changes or {}) == {"same"}
    assert new_calls(nas, since) == [], "nothing to change: the NAS is not even asked"
    # A refresh reads every resource back from the NAS: all match, nothing drifted.
    refreshed = stack.refresh()
    assert set(refreshed.summary.resource_changes or {}) == {"same"}
    stack.preview(expect_no_changes=True)
    assert_state_encrypted(values)  # read() hands the content back: still secret

    # One changed setting: the app is updated (a redeploy), the data is not touched.
    since = len(nas.state.calls)
    stack.set_config("hearth:httpPort", auto.ConfigValue("9080"))
    third = stack.up()
    calls = new_calls(nas, since)
    assert "app.update" in calls
    assert calls.count("auth.login_ex") == 1
    assert not [m for m in calls if m in DATA_CHANGES], calls
    changes = {str(k): v for k, v in (third.summary.resource_changes or {}).items()}
    assert changes.get("update") == 1, changes  # the app, and nothing else
    assert set(changes) == {"update", "same"}, changes
    ports = nas.state.apps[app_name]["config"]["services"]["edge"]["ports"]
    assert {p["published"] for p in ports} == {"9080", "8443"}
    assert nas.state.apps[app_name]["deployments"] == 2

    # destroy: the app goes, the datasets (the data) stay; secrets are blanked.
    stack.destroy()
    assert app_name not in nas.state.apps
    assert all(f"{root}/{store}" in nas.state.datasets for store in owners)
    assert not nas.state.snapshot_tasks
    for f in listed:
        if f.secret:
            assert values[f"hearth:{f.secret}"].encode() not in nas.files.files[f.path].content

    # up again: the kept datasets are adopted, not recreated.
    since = len(nas.state.calls)
    stack.up()
    assert "pool.dataset.create" not in new_calls(nas, since)
    assert app_name in nas.state.apps

    # Purge: destroy, then the explicit step that deletes the data.
    stack.destroy()
    # The stack's own settings: this throwaway stack points at the double, not the file's NAS.
    own = parse_settings({k: v.value for k, v in stack.get_all_config().items()}, stack=name)
    deleted = target_for(own.platform).purge(stack, own)
    assert f"{root}/postgres-data" in deleted
    assert not [n for n in nas.state.datasets if n == root or n.startswith(f"{root}/")]

    report = {
        "resources": sum(first.summary.resource_changes.values())
        if first.summary.resource_changes
        else 0,
        "first_up_s": round(first_s, 1),
        "no_change_preview_s": round(preview_s, 1),
        "second_up_s": round(second_s, 1),
    }
    print(json.dumps(report))  # noqa: T201 - the figures for docs/truenas.md


def test_a_pool_that_does_not_exist_stops_the_run_naming_the_setting(
    deployment: tuple[auto.Stack, Running, str],
) -> None:
    stack, nas, _name = deployment
    stack.set_config("hearth:truenasPool", auto.ConfigValue("ocean"))
    before = set(nas.state.datasets)
    with pytest.raises(auto.CommandError) as err:
        stack.up()
    message = str(err.value)
    assert "pool 'ocean' does not exist" in message
    assert "set hearth:truenasPool to one of them" in message
    assert set(nas.state.datasets) == before, "nothing was created"
    assert not nas.state.apps
    assert DEFAULT_API_KEY not in message
