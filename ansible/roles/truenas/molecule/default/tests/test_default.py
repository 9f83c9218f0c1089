"""Verify the truenas role through the state of the TrueNAS API test double.

The double (tests/truenas_double) writes its whole state as JSON after every change; these
tests read it, so they see what the API was asked to do, not what the role says it did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROLE_DIR = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
STATE_FILE = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "truenas-state.json"
PORT = os.environ.get("HEARTH_TRUENAS_DOUBLE_PORT", "28743")
URL = f"ws://127.0.0.1:{PORT}/api/current"
KEY = "1-" + "hearthtestdouble" * 4
LOCKOUT = float(os.environ.get("HEARTH_TRUENAS_DOUBLE_LOCKOUT", "12"))

sys.path.insert(0, str(ROLE_DIR / "module_utils"))
import truenas_rpc  # noqa: E402

SERVICES = {
    "postgres": ("16K", "LZ4", 999, "0700"),
    "redis": ("128K", "LZ4", 568, "0750"),
    "s3": ("1M", "ZSTD", 568, "0750"),
    "nats": ("128K", "LZ4", 568, "0750"),
    "caddy": ("128K", "LZ4", 568, "0750"),
    "backups": ("1M", "ZSTD", 568, "0750"),
}


def state() -> dict[str, Any]:
    return json.loads(STATE_FILE.read_text())


def bulk_items(s: dict[str, Any], method: str) -> list[Any]:
    """Every argument list sent for `method`, directly or inside core.bulk."""
    items = []
    for call in s["calls"]:
        if call["internal"]:
            continue  # core.bulk's own calls: counted from the bulk call's parameters
        if call["method"] == method:
            items.append(call["params"])
        elif call["method"] == "core.bulk" and call["params"][0] == method:
            items.extend(call["params"][1])
    return items


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_has_a_dataset_tuned_for_its_io(service: str) -> None:
    recordsize, compression, _, _ = SERVICES[service]
    ds = state()["datasets"][f"tank/hearth/{service}"]
    assert ds["type"] == "FILESYSTEM"
    assert ds["recordsize"]["value"] == recordsize
    assert ds["recordsize"]["source"] == "LOCAL"
    assert ds["compression"]["value"] == compression
    assert ds["mountpoint"] == f"/mnt/tank/hearth/{service}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_dataset_is_owned_by_the_service_user(service: str) -> None:
    _, _, uid, mode = SERVICES[service]
    owner = state()["ownership"][f"tank/hearth/{service}"]
    assert (owner["uid"], owner["gid"]) == (uid, uid)
    assert owner["mode"] == mode.lstrip("0")


def test_parent_dataset_drift_was_corrected() -> None:
    parent = state()["datasets"]["tank/hearth"]
    # prepare.yml created it with ZSTD; the role wants LZ4, atime off, POSIX ACLs.
    assert parent["compression"]["value"] == "LZ4"
    assert parent["atime"]["value"] == "OFF"
    assert parent["acltype"]["value"] == "POSIX"


def test_drifted_dataset_was_updated_in_place_and_user_property_kept() -> None:
    s = state()
    redis = s["datasets"]["tank/hearth/redis"]
    assert redis["recordsize"]["value"] == "128K"
    # A user property the role does not manage is left alone.
    assert redis["user_properties"]["hearth:owner"]["value"] == "someone-else"
    creates = [p[0]["name"] for p in bulk_items(s, "pool.dataset.create")]
    assert creates.count("tank/hearth/redis") == 1  # only prepare.yml's create


def test_ancestors_are_created_when_asked_and_properties_applied() -> None:
    s = state()
    assert "tank/shared" in s["datasets"]
    media = s["datasets"]["tank/shared/media"]
    assert media["compression"]["value"] == "OFF"
    assert media["quota"]["parsed"] == 10 * 1024**3
    assert media["user_properties"]["hearth:purpose"]["value"] == "media"


def test_snapshot_tasks_exist_once_each_with_their_schedule_and_lifetime() -> None:
    tasks = {t["naming_schema"]: t for t in state()["snapshot_tasks"]}
    assert len(state()["snapshot_tasks"]) == 2
    hourly = tasks["hearth-hourly-%Y-%m-%d_%H-%M"]
    assert hourly["dataset"] == "tank/hearth"
    assert hourly["recursive"] is True
    assert (hourly["lifetime_value"], hourly["lifetime_unit"]) == (2, "DAY")
    assert (hourly["schedule"]["minute"], hourly["schedule"]["hour"]) == ("0", "*")
    daily = tasks["hearth-daily-%Y-%m-%d_%H-%M"]
    assert (daily["lifetime_value"], daily["lifetime_unit"]) == (4, "WEEK")
    assert (daily["schedule"]["minute"], daily["schedule"]["hour"]) == ("15", "3")


def test_every_dataset_was_created_exactly_once_over_both_runs() -> None:
    creates = [p[0]["name"] for p in bulk_items(state(), "pool.dataset.create")]
    assert len(creates) == len(set(creates)), creates


def test_second_run_made_no_writes() -> None:
    s = state()
    logins = [i for i, c in enumerate(s["calls"]) if c["method"] == "auth.login_ex"]
    # prepare, converge, idempotence: the last session is the idempotence run.
    assert len(logins) >= 3
    last_run = s["calls"][logins[-1] :]
    writes = {
        "pool.dataset.create",
        "pool.dataset.update",
        "pool.snapshottask.create",
        "pool.snapshottask.update",
        "filesystem.setperm",
    }
    sent = [c["method"] if c["method"] != "core.bulk" else c["params"][0] for c in last_run]
    assert not writes & set(sent), sent


def test_each_run_used_one_connection_and_one_login() -> None:
    calls = state()["calls"]
    working = {c["session"] for c in calls if c["method"] == "pool.dataset.query"}
    assert len(working) >= 3  # prepare, converge, idempotence
    for session in working:
        logins = [c for c in calls if c["session"] == session and c["method"].startswith("auth.")]
        assert len(logins) == 1, logins


def test_nothing_was_written_on_the_host(host: Any) -> None:
    # The role works through the API only: no /mnt tree, no package installs on the "NAS".
    assert not host.file("/mnt/tank").exists
    assert not host.file("/etc/hearth").exists


def run_module(key: str) -> dict[str, Any]:
    args = json.dumps({"api_url": URL, "api_key": key, "datasets": [{"name": "tank/hearth"}]})
    proc = subprocess.run(  # noqa: S603
        [
            str(Path(sys.executable).parent / "ansible"),
            "localhost",
            "-m",
            "truenas_storage",
            "-a",
            args,
            "-o",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            **os.environ,
            "ANSIBLE_LIBRARY": str(ROLE_DIR / "library"),
            "ANSIBLE_MODULE_UTILS": str(ROLE_DIR / "module_utils"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        },
    )
    return {"rc": proc.returncode, "out": proc.stdout + proc.stderr}


def test_rate_limit_is_reported_clearly_and_clears_after_the_lockout() -> None:
    # TrueNAS counts unauthenticated calls per method and client address: 20 per 60 s.
    # The runs so far made some login_ex calls in the current window (the double's state
    # says how many and how old the window is); the rest are used up here.
    s = state()
    counter = next(r for r in s["rate_limit"] if r["method"] == "auth.login_ex")
    age = counter["window_age"] + time.time() - s["dumped_at"]
    earlier = counter["count"]
    if age > 50:  # too close to the window's end: wait for a fresh one
        time.sleep(60.5 - age)
        earlier = 0
    refused_at = None
    for attempt in range(1, 22):
        with truenas_rpc.TrueNASClient(URL) as c:
            try:
                c.login_api_key("1-wrong")
            except truenas_rpc.TrueNASRateLimited:
                refused_at = attempt
                refused_time = time.monotonic()
                break
            except truenas_rpc.TrueNASAuthError:
                continue
    assert refused_at == 21 - earlier
    locked = run_module(KEY)
    assert locked["rc"] != 0
    assert "Rate Limit Exceeded" in locked["out"]
    assert "TrueNASRateLimited" in locked["out"]
    assert KEY not in locked["out"]  # the key never shows in output
    # Wait out the double's lockout (shortened in this scenario; see molecule.yml).
    time.sleep(max(0.0, LOCKOUT + 0.5 - (time.monotonic() - refused_time)))
    ok = run_module(KEY)
    assert ok["rc"] == 0, ok["out"]
    assert '"changed": false' in ok["out"]
