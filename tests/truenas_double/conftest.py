"""Fixtures: a running double per test, a raw JSON-RPC connection, and the role's client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from hearth.resources.truenas import rpc

from .server import DEFAULT_API_KEY, DoubleConfig, TrueNASDouble

__all__ = ["CLIENT_DIR", "rpc"]

# The client under test: the Pulumi resources import it as hearth.resources.truenas.rpc, and
# the Ansible role ships the same file as module_utils/truenas_rpc.py (a symlink to it).
CLIENT_DIR = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "truenas" / "module_utils"


def fast_config(**overrides: Any) -> DoubleConfig:
    """TrueNAS's limits, without the random sleep, and with quick jobs."""
    settings: dict[str, Any] = {"rate_limit_sleep": (0.0, 0.0), "job_delay": 0.005}
    settings.update(overrides)
    return DoubleConfig(**settings)


@pytest.fixture
def double() -> Iterator[TrueNASDouble]:
    with TrueNASDouble(fast_config()) as running:
        yield running


class Raw:
    """A bare JSON-RPC connection: what goes over the wire, notifications included."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.notifications: list[dict[str, Any]] = []

    def send(self, message: Any) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def receive(self, timeout: float = 5) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return message

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        """The full response to one call (notifications that come first are kept)."""
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)})
        while True:
            message = self.receive()
            if message.get("id") == self.next_id and "method" not in message:
                return message
            self.notifications.append(message)

    def result(self, method: str, *params: Any) -> Any:
        response = self.call(method, *params)
        assert "error" not in response, response
        return response["result"]

    def login(self, key: str = DEFAULT_API_KEY) -> None:
        answer = self.result(
            "auth.login_ex", {"mechanism": "API_KEY_PLAIN", "username": "root", "api_key": key}
        )
        assert answer["response_type"] == "SUCCESS"

    def wait_job(self, job_id: int, timeout: float = 5) -> dict[str, Any]:
        """The job's fields from its final collection_update event."""
        while True:
            for note in self.notifications:
                params = note.get("params", {})
                if (
                    note.get("method") == "collection_update"
                    and params.get("id") == job_id
                    and params["fields"]["state"] in ("SUCCESS", "FAILED", "ABORTED")
                ):
                    fields: dict[str, Any] = params["fields"]
                    return fields
            self.notifications.append(self.receive(timeout))


@pytest.fixture
def raw(double: TrueNASDouble) -> Iterator[Raw]:
    with connect(double.url) as ws:
        yield Raw(ws)


@pytest.fixture
def admin(raw: Raw) -> Raw:
    """A raw connection logged in and subscribed to job events."""
    raw.login()
    raw.result("core.subscribe", "core.get_jobs")
    return raw
