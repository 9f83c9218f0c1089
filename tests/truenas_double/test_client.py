"""The client (hearth/resources/truenas/rpc.py, which the role ships as
module_utils/truenas_rpc.py) and the role's module against the double."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CLIENT_DIR, fast_config, rpc
from .server import DEFAULT_API_KEY, TrueNASDouble

ROLE_DIR = CLIENT_DIR.parent


def test_the_role_ships_the_file_the_resources_import() -> None:
    shipped = CLIENT_DIR / "truenas_rpc.py"
    assert shipped.is_symlink(), f"{shipped} must be a symlink to rpc.py: one copy of the client"
    assert shipped.resolve() == Path(rpc.__file__).resolve()


def test_the_client_needs_only_the_standard_library() -> None:
    """Ansible copies it to hosts that have nothing else (a NAS has no pip)."""
    tree = ast.parse(Path(rpc.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m.split(".")[0] for m in imported} <= sys.stdlib_module_names


@pytest.fixture
def client(double: TrueNASDouble) -> Any:
    with rpc.TrueNASClient(double.url, timeout=5) as c:
        c.login_api_key(DEFAULT_API_KEY)
        yield c


def test_login_and_plain_calls(client: Any) -> None:
    assert client.call("core.ping") == "pong"
    assert client.call("pool.dataset.query", [["id", "=", "tank"]])[0]["name"] == "tank"


def test_wrong_key_is_an_auth_error(double: TrueNASDouble) -> None:
    with rpc.TrueNASClient(double.url) as c, pytest.raises(rpc.TrueNASAuthError, match="refused"):
        c.login_api_key("1-wrong")


def test_falls_back_to_login_with_api_key_on_older_servers() -> None:
    with TrueNASDouble(fast_config(legacy_auth=True)) as double, rpc.TrueNASClient(double.url) as c:
        c.login_api_key(DEFAULT_API_KEY)
        assert c.call("auth.me")["pw_name"] == "root"
        methods = [x["method"] for x in double.state.calls]
        assert methods[:2] == ["auth.login_ex", "auth.login_with_api_key"]


def test_job_result_through_events(client: rpc.TrueNASClient, double: TrueNASDouble) -> None:
    app = client.call(
        "app.create",
        {"app_name": "a", "custom_app": True, "custom_compose_config_string": "services: {a: {}}"},
        job=True,
    )
    assert app["name"] == "a"
    # No polling was needed: the subscription delivered the job's end.
    assert "core.get_jobs" not in [x["method"] for x in double.state.calls]


def test_job_result_by_polling_without_subscription(double: TrueNASDouble) -> None:
    with rpc.TrueNASClient(double.url) as c:
        c.call(
            "auth.login_ex",
            {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": DEFAULT_API_KEY},
        )
        assert c.call("core.bulk", "core.ping", [[], []], job=True)[0]["result"] == "pong"
    assert "core.get_jobs" in [x["method"] for x in double.state.calls]


def test_failed_job_raises_validation_error_with_attributes(client: Any) -> None:
    spec = {
        "app_name": "dup",
        "custom_app": True,
        "custom_compose_config_string": "services: {a: {}}",
    }
    client.call("app.create", spec, job=True)
    with pytest.raises(rpc.TrueNASValidationError) as caught:
        client.call("app.create", spec, job=True)
    assert caught.value.errors[0][0] == "app_create.app_name"
    assert "app.create" in str(caught.value)


def test_invalid_params_raise_validation_error(client: Any) -> None:
    with pytest.raises(rpc.TrueNASValidationError, match="create_ancestors") as caught:
        client.call("pool.dataset.create", {"name": "tank/a/b"})
    assert caught.value.code == -32602


def test_unknown_method(client: Any) -> None:
    with pytest.raises(rpc.TrueNASMethodNotFound):
        client.call("no.such.method")


def test_bulk_returns_results_in_order_and_raises_on_errors(client: Any) -> None:
    names = [
        r["name"]
        for r in client.bulk("pool.dataset.create", [[{"name": "tank/a"}], [{"name": "tank/a/b"}]])
    ]
    assert names == ["tank/a", "tank/a/b"]
    assert client.bulk("pool.dataset.create", []) == []
    with pytest.raises(rpc.TrueNASError, match="does not exist"):
        client.bulk("pool.dataset.create", [[{"name": "tank/x/y"}]])


def test_large_messages_cross_both_ways(client: Any) -> None:
    big = "x" * 200_000  # over 65535 bytes: the 64-bit frame length on both sides
    compose = f"services:\n  a:\n    image: busybox\n    labels: {{blob: {big}}}\n"
    client.call(
        "app.create",
        {"app_name": "big", "custom_app": True, "custom_compose_config_string": compose},
        job=True,
    )
    assert client.call("app.config", "big")["services"]["a"]["labels"]["blob"] == big


def test_rate_limit_raises_a_distinct_error() -> None:
    with TrueNASDouble(fast_config(rate_limit_calls=1)) as double:
        with rpc.TrueNASClient(double.url) as c:
            c.login_api_key(DEFAULT_API_KEY)
        with rpc.TrueNASClient(double.url) as c, pytest.raises(rpc.TrueNASRateLimited) as caught:
            c.login_api_key(DEFAULT_API_KEY)
    assert "Rate Limit Exceeded" in str(caught.value)
    assert caught.value.errname == "EBUSY"


def test_connection_errors_are_clear(double: TrueNASDouble) -> None:
    with pytest.raises(rpc.TrueNASConnectionError, match="ws:// or wss://"):
        rpc.TrueNASClient("http://127.0.0.1/api/current")
    with pytest.raises(rpc.TrueNASConnectionError, match="handshake refused"):
        rpc.TrueNASClient(double.url.replace("/api/current", "/websocket"))
    with pytest.raises(rpc.TrueNASConnectionError, match="cannot connect"):
        rpc.TrueNASClient("ws://127.0.0.1:1/api/current", timeout=2)


def test_server_closing_the_connection_is_reported(double: TrueNASDouble) -> None:
    c = rpc.TrueNASClient(double.url, timeout=5)
    c.login_api_key(DEFAULT_API_KEY)
    double.stop()
    with pytest.raises(rpc.TrueNASConnectionError):
        c.call("core.ping")
    c.close()


def run_module(double: TrueNASDouble, args: dict[str, Any], *flags: str) -> dict[str, Any]:
    ansible = shutil.which("ansible", path=str(Path(sys.executable).parent)) or "ansible"
    proc = subprocess.run(  # noqa: S603
        [
            ansible,
            "localhost",
            "-m",
            "truenas_storage",
            "-a",
            json.dumps({"api_url": double.url, "api_key": DEFAULT_API_KEY, **args}),
            *flags,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            **os.environ,
            "ANSIBLE_LIBRARY": str(ROLE_DIR / "library"),
            "ANSIBLE_MODULE_UTILS": str(CLIENT_DIR),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        },
    )
    result: dict[str, Any] = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result


WRITES = {
    "pool.dataset.create",
    "pool.dataset.update",
    "pool.snapshottask.create",
    "pool.snapshottask.update",
    "filesystem.setperm",
}


def test_module_check_mode_reports_changes_and_writes_nothing(double: TrueNASDouble) -> None:
    args = {
        "datasets": [
            {"name": "tank/h"},
            {"name": "tank/h/pg", "recordsize": "16K", "uid": 999, "gid": 999, "mode": "0700"},
        ],
        "snapshot_tasks": [
            {
                "dataset": "tank/h",
                "lifetime_value": 1,
                "lifetime_unit": "DAY",
                "naming_schema": "h-%Y-%m-%d_%H-%M",
            }
        ],
    }
    checked = run_module(double, args, "--check")
    assert checked["changed"] is True
    assert "create dataset tank/h/pg" in checked["actions"]
    sent = {
        c["method"] if c["method"] != "core.bulk" else c["params"][0] for c in double.state.calls
    }
    assert not sent & WRITES
    applied = run_module(double, args)
    assert applied["changed"] is True
    pg = next(d for d in applied["datasets"] if d["name"] == "tank/h/pg")
    assert (pg["recordsize"], pg["uid"], pg["mode"]) == ("16K", 999, "0700")
    assert run_module(double, args)["changed"] is False


def test_client_answers_pings_and_joins_fragmented_messages() -> None:
    """Frames a real server may send that the double does not: ping, fragments."""
    import asyncio
    import threading

    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        request = json.loads(str(await ws.recv()))
        pong = await ws.ping(b"hello")
        await asyncio.wait_for(pong, 5)  # only completes if the client answered the ping
        answer = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "x" * 70_000})
        await ws.send([answer[:10], answer[10:40_000], answer[40_000:]])  # three fragments

    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        with rpc.TrueNASClient(f"ws://127.0.0.1:{port[0]}/api/current", timeout=5) as c:
            assert c.call("core.ping") == "x" * 70_000
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(5)
        loop.close()
