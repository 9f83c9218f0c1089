"""The wire protocol: JSON-RPC 2.0 framing, errors, authentication, jobs, the rate limit."""

from __future__ import annotations

import errno
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.sync.client import connect

from .conftest import Raw, fast_config
from .server import DEFAULT_API_KEY, TrueNASDouble


def test_ping_answers_pong_without_login(raw: Raw) -> None:
    assert raw.call("core.ping") == {"jsonrpc": "2.0", "result": "pong", "id": 1}


def test_only_the_api_path_upgrades(double: TrueNASDouble) -> None:
    with (
        pytest.raises(Exception, match="404"),
        connect(double.url.replace("/api/current", "/websocket")),
    ):
        pass


def test_state_is_readable_over_http(double: TrueNASDouble) -> None:
    url = double.url.replace("ws://", "http://").replace("/api/current", "/_double/state")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        state = json.load(response)
    assert "tank" in state["datasets"]


def test_unknown_method_is_method_not_found(admin: Raw) -> None:
    error = admin.call("pool.dataset.frobnicate")["error"]
    assert error == {"code": -32601, "message": "Method does not exist"}


def test_invalid_json_and_invalid_requests_answer_with_null_id(raw: Raw) -> None:
    raw.send("{not json")
    assert raw.receive()["error"]["code"] == -32700
    raw.send({"jsonrpc": "1.0", "id": 5, "method": "core.ping"})
    answer = raw.receive()
    assert answer["error"]["code"] == -32600
    assert answer["id"] is None
    raw.send({"jsonrpc": "2.0", "id": 6, "method": "core.ping", "params": {"a": 1}})
    assert raw.receive()["error"]["code"] == -32600


def test_methods_need_authentication(raw: Raw) -> None:
    data = raw.call("pool.dataset.query")["error"]["data"]
    assert raw.call("pool.dataset.query")["error"]["code"] == -32001
    assert (data["error"], data["errname"], data["reason"]) == (
        207,
        "ENOTAUTHENTICATED",
        "Not authenticated",
    )


def test_login_ex_with_an_api_key(raw: Raw) -> None:
    answer = raw.result(
        "auth.login_ex",
        {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": DEFAULT_API_KEY},
    )
    assert answer["response_type"] == "SUCCESS"
    assert answer["user_info"]["pw_name"] == "root"
    assert raw.result("auth.me")["pw_name"] == "root"


def test_login_ex_refuses_a_wrong_key_or_user(raw: Raw) -> None:
    for user, key in (("root", "1-wrong"), ("admin", DEFAULT_API_KEY)):
        answer = raw.result(
            "auth.login_ex", {"mechanism": "API_KEY_PLAIN", "username": user, "api_key": key}
        )
        assert answer == {"response_type": "AUTH_ERR"}
    assert raw.call("pool.dataset.query")["error"]["data"]["errname"] == "ENOTAUTHENTICATED"


def test_login_ex_validates_its_argument(raw: Raw) -> None:
    error = raw.call(
        "auth.login_ex",
        {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": DEFAULT_API_KEY, "extra": 1},
    )["error"]
    assert error["code"] == -32602
    assert error["data"]["extra"] == [
        ["auth_login_ex.extra", "Extra inputs are not permitted", errno.EINVAL]
    ]


def test_legacy_server_has_only_login_with_api_key() -> None:
    with TrueNASDouble(fast_config(legacy_auth=True)) as double, connect(double.url) as ws:
        raw = Raw(ws)
        assert raw.call("auth.login_ex", {})["error"]["code"] == -32601
        assert raw.result("auth.login_with_api_key", "1-wrong") is False
        assert raw.result("auth.login_with_api_key", DEFAULT_API_KEY) is True
        assert raw.result("pool.dataset.query", [["id", "=", "tank"]])[0]["id"] == "tank"


def test_logout_ends_the_session(admin: Raw) -> None:
    assert admin.result("auth.logout") is True
    assert admin.call("auth.me")["error"]["data"]["errname"] == "ENOTAUTHENTICATED"


def test_job_method_returns_a_job_id_after_the_added_event(admin: Raw) -> None:
    response = admin.call(
        "app.create",
        {
            "app_name": "web",
            "custom_app": True,
            "custom_compose_config_string": "services:\n  web:\n    image: caddy\n",
        },
    )
    job_id = response["result"]
    assert isinstance(job_id, int)
    added = [n["params"] for n in admin.notifications if n["params"]["msg"] == "added"]
    assert added[0]["collection"] == "core.get_jobs"
    assert added[0]["fields"]["message_ids"] == [response["id"]]
    assert added[0]["fields"]["state"] == "WAITING"
    done = admin.wait_job(job_id)
    assert done["state"] == "SUCCESS"
    assert done["result"]["name"] == "web"
    assert done["progress"]["percent"] == 100
    jobs = admin.result("core.get_jobs", [["id", "=", job_id]])
    assert jobs[0]["state"] == "SUCCESS"
    assert jobs[0]["method"] == "app.create"


def test_job_events_go_only_to_subscribers(raw: Raw, double: TrueNASDouble) -> None:
    raw.login()
    job_id = raw.result(
        "app.create",
        {
            "app_name": "quiet",
            "custom_app": True,
            "custom_compose_config_string": "services: {a: {}}",
        },
    )
    time.sleep(0.1)
    assert raw.notifications == []
    assert double.state.jobs[job_id].state == "SUCCESS"


def test_a_failed_job_carries_validation_errors(admin: Raw) -> None:
    spec = {
        "app_name": "dup",
        "custom_app": True,
        "custom_compose_config_string": "services: {a: {image: x}}",
    }
    admin.wait_job(admin.result("app.create", spec))
    failed = admin.wait_job(admin.result("app.create", spec))
    assert failed["state"] == "FAILED"
    assert failed["exc_info"]["type"] == "VALIDATION"
    assert failed["exc_info"]["extra"] == [
        ["app_create.app_name", "Application with name dup already exists", errno.EEXIST]
    ]
    assert "already exists" in failed["error"]


def test_job_argument_errors_come_back_at_once(admin: Raw) -> None:
    error = admin.call("app.create", {"app_name": "Bad_Name", "custom_app": True})["error"]
    assert error["code"] == -32602
    assert error["data"]["extra"][0][0] == "app_create.app_name"
    assert admin.result("core.get_jobs") == []


def test_core_job_wait_returns_the_waited_jobs_result(admin: Raw) -> None:
    job_id = admin.result(
        "app.create",
        {"app_name": "w", "custom_app": True, "custom_compose_config_string": "services: {a: {}}"},
    )
    waiter = admin.result("core.job_wait", job_id)
    assert admin.wait_job(waiter)["result"]["name"] == "w"


def test_core_bulk_runs_calls_in_order_and_reports_each(admin: Raw) -> None:
    job_id = admin.result(
        "core.bulk",
        "pool.dataset.create",
        [[{"name": "tank/a"}], [{"name": "tank/a/b"}], [{"name": "tank/x/y"}]],
    )
    statuses = admin.wait_job(job_id)["result"]
    assert [s["result"]["name"] if s["result"] else None for s in statuses] == [
        "tank/a",
        "tank/a/b",
        None,
    ]
    assert "Parent dataset 'tank/x' does not exist" in statuses[2]["error"]
    assert all(s["job_id"] is None for s in statuses)


def test_core_bulk_of_a_job_method_waits_for_each_job(admin: Raw) -> None:
    job_id = admin.result(
        "core.bulk",
        "app.create",
        [
            [
                {
                    "app_name": n,
                    "custom_app": True,
                    "custom_compose_config_string": "services: {a: {}}",
                }
            ]
            for n in ("one", "two")
        ],
    )
    statuses = admin.wait_job(job_id)["result"]
    assert [s["result"]["name"] for s in statuses] == ["one", "two"]
    assert all(isinstance(s["job_id"], int) for s in statuses)


def test_wrong_number_of_arguments_is_invalid_params(admin: Raw) -> None:
    error = admin.call("pool.dataset.update", "tank")["error"]
    assert error["code"] == -32602


def test_calls_are_logged_without_secrets(admin: Raw, double: TrueNASDouble) -> None:
    admin.result("pool.dataset.query")
    calls = double.state.calls
    assert calls[0]["method"] == "auth.login_ex"
    assert calls[0]["params"] == "<redacted>"
    assert DEFAULT_API_KEY not in json.dumps(calls)
    assert calls[-1]["method"] == "pool.dataset.query"
    assert calls[-1]["authenticated"] is True


def test_rate_limit_refuses_the_21st_unauthenticated_call_in_the_window() -> None:
    with TrueNASDouble(fast_config(rate_limit_lockout=600)) as double, connect(double.url) as ws:
        raw = Raw(ws)
        for _ in range(20):
            assert raw.result(
                "auth.login_ex",
                {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": "1-x"},
            )
        error = raw.call(
            "auth.login_ex",
            {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": DEFAULT_API_KEY},
        )["error"]
        assert error["code"] == -32001
        assert (error["data"]["errname"], error["data"]["reason"]) == (
            "EBUSY",
            "Rate Limit Exceeded",
        )
        # A new connection from the same address is refused too: the count is per address.
        with connect(double.url) as ws2:
            again = Raw(ws2).call(
                "auth.login_ex",
                {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": DEFAULT_API_KEY},
            )
            assert again["error"]["data"]["reason"] == "Rate Limit Exceeded"


def test_rate_limit_counts_each_method_separately_and_spares_authenticated_calls() -> None:
    with TrueNASDouble(fast_config(rate_limit_calls=2)) as double, connect(double.url) as ws:
        raw = Raw(ws)
        raw.result("core.ping")
        raw.result("core.ping")
        assert raw.call("core.ping")["error"]["data"]["errname"] == "EBUSY"
        raw.login()  # login_ex has its own count
        for _ in range(5):
            assert raw.result("core.ping") == "pong"


def test_lockout_ends_after_its_time() -> None:
    config = fast_config(rate_limit_calls=1, rate_limit_lockout=0.3)
    with TrueNASDouble(config) as double, connect(double.url) as ws:
        raw = Raw(ws)
        raw.result("core.ping")
        assert "error" in raw.call("core.ping")
        assert "error" in raw.call("core.ping")  # still locked out
        time.sleep(0.35)
        assert raw.result("core.ping") == "pong"


def test_without_lockout_the_window_decides() -> None:
    config = fast_config(rate_limit_calls=1, rate_limit_period=0.3, rate_limit_lockout=0)
    with TrueNASDouble(config) as double, connect(double.url) as ws:
        raw = Raw(ws)
        raw.result("core.ping")
        assert "error" in raw.call("core.ping")
        time.sleep(0.35)
        assert raw.result("core.ping") == "pong"


def test_rate_limited_calls_sleep_before_answering() -> None:
    config = fast_config(rate_limit_calls=0, rate_limit_sleep=(0.2, 0.2))
    with TrueNASDouble(config) as double, connect(double.url) as ws:
        started = time.monotonic()
        assert "error" in Raw(ws).call("core.ping")
        assert time.monotonic() - started >= 0.2


def test_state_file_is_written_after_each_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    with TrueNASDouble(fast_config(state_file=str(path))) as double, connect(double.url) as ws:
        raw = Raw(ws)
        raw.login()
        raw.result("pool.dataset.create", {"name": "tank/x"})
        state = json.loads(path.read_text())
        assert "tank/x" in state["datasets"]
        assert [c["method"] for c in state["calls"]] == ["auth.login_ex", "pool.dataset.create"]


def test_unreachable_path_is_http_404(double: TrueNASDouble) -> None:
    url = double.url.replace("ws://", "http://").replace("/api/current", "/nothing")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(url, timeout=5)  # noqa: S310


def test_state_file_shows_the_rate_limit_counters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    with TrueNASDouble(fast_config(state_file=str(path))) as double, connect(double.url) as ws:
        raw = Raw(ws)
        raw.result("core.ping")
        raw.result("core.ping")
        counters = json.loads(path.read_text())["rate_limit"]
    assert [(c["method"], c["count"]) for c in counters] == [("core.ping", 2)]
    assert 0 <= counters[0]["window_age"] < 5
    assert counters[0]["locked_for"] == 0
