"""One authenticated connection to the TrueNAS API per provider process.

Pulumi runs every dynamic resource of a deployment in one provider process, calling it
from a few threads. TrueNAS allows 20 unauthenticated calls (and a login is one) per 60 s
per client address, then refuses that address for 10 minutes. So the process logs in once,
keeps that connection for every later operation and serialises calls over it; a refused
login is remembered and never retried, and a fresh login after a dropped connection is
allowed only a few times a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hearth.resources.truenas.rpc import (
    TrueNASAuthError,
    TrueNASClient,
    TrueNASConnectionError,
    TrueNASError,
    TrueNASRateLimited,
)

URL_KEY = "hearth:truenasUrl"
API_KEY_KEY = "hearth:truenasApiKey"
USER_KEY = "hearth:truenasUser"
"""Optional: the user the API key belongs to (auth.login_ex checks it); default root."""
USERNAME = "root"
LOGIN_BUDGET = 5
"""Logins one process may make per minute: well under TrueNAS's 20, so Hearth can never
be what locks its own address out."""
LOCKOUT_HELP = (
    "TrueNAS refused the login with 'Rate Limit Exceeded': it allows 20 logins (and other "
    "unauthenticated calls) per 60 s from one address, then refuses that address for about "
    "10 minutes. Hearth logs in once per run and does not retry. Wait 10 minutes, make sure "
    "no other script is logging in from this machine in a loop, then run again."
)


class TrueNASOperationError(Exception):
    """An operation on TrueNAS failed; the message says what, where, and what to do."""


@dataclass(frozen=True)
class Endpoint:
    """Where the API is and how to log in. The key never appears in repr or messages."""

    url: str
    api_key: str = field(repr=False)
    username: str = USERNAME
    verify_ssl: bool = True

    @classmethod
    def from_config(cls, config: Any) -> Endpoint | None:
        """From the stack config a dynamic provider's `configure` receives."""
        url = config.get(URL_KEY)
        key = config.get(API_KEY_KEY)
        if not url or not key:
            return None
        return cls(url=str(url), api_key=str(key), username=str(config.get(USER_KEY) or USERNAME))


JOB_TIMEOUT_S = 1800.0
"""How long a job may run: an app (re)deploy starts every container and waits for it."""
IDLE_CHECK_S = 20.0
"""A connection idle this long is pinged (free once authenticated) before it is reused."""

_lock = threading.RLock()
_clients: dict[Endpoint, TrueNASClient] = {}
_last_used: dict[Endpoint, float] = {}
_refused: dict[Endpoint, str] = {}
_logins: list[float] = []


def _login(endpoint: Endpoint) -> TrueNASClient:
    if endpoint in _refused:
        raise TrueNASOperationError(_refused[endpoint])
    now = time.monotonic()
    _logins[:] = [t for t in _logins if now - t < 60]
    if len(_logins) >= LOGIN_BUDGET:
        raise TrueNASOperationError(
            f"not logging in to {endpoint.url} again: {LOGIN_BUDGET} logins in the last minute "
            "already (connections keep dropping?). Check the network and the NAS, then retry."
        )
    _logins.append(now)
    try:
        client = TrueNASClient(
            endpoint.url, verify_ssl=endpoint.verify_ssl, job_timeout=JOB_TIMEOUT_S
        )
    except TrueNASConnectionError as exc:
        raise TrueNASOperationError(
            f"cannot reach the TrueNAS API at {endpoint.url} ({exc}); check hearth:truenasUrl "
            "(wss://<nas>/api/current) and that the NAS is up"
        ) from None
    try:
        client.login_api_key(endpoint.api_key, endpoint.username)
    except TrueNASRateLimited:
        client.close()
        _refused[endpoint] = LOCKOUT_HELP
        raise TrueNASOperationError(LOCKOUT_HELP) from None
    except TrueNASAuthError:
        client.close()
        _refused[endpoint] = (
            f"TrueNAS at {endpoint.url} refused the API key for user {endpoint.username!r}. "
            "Create a key in the TrueNAS UI (user menu > API Keys) and store it with: "
            "pulumi config set --secret hearth:truenasApiKey <key>"
        )
        raise TrueNASOperationError(_refused[endpoint]) from None
    except Exception:
        client.close()
        raise
    return client


@contextmanager
def session(endpoint: Endpoint | None, what: str) -> Iterator[TrueNASClient]:
    """The process's connection to `endpoint`, held exclusively for one operation.

    `what` names the operation ("create dataset tank/x") for error messages.
    """
    if endpoint is None:
        raise TrueNASOperationError(
            f"{what}: no TrueNAS endpoint configured; set hearth:truenasUrl and "
            "`pulumi config set --secret hearth:truenasApiKey <key>`"
        )
    with _lock:
        client = _alive(endpoint)
        if client is None:
            try:
                client = _login(endpoint)
            except TrueNASOperationError as exc:
                raise TrueNASOperationError(f"{what}: {exc}") from None
            _clients[endpoint] = client
            _last_used[endpoint] = time.monotonic()
        try:
            yield client
            _last_used[endpoint] = time.monotonic()
        except (TrueNASConnectionError, OSError) as exc:
            # The connection is gone; the next operation opens (and logs in) anew.
            _clients.pop(endpoint, None)
            client.close()
            raise TrueNASOperationError(f"{what}: {exc}") from None
        except TrueNASError as exc:
            raise TrueNASOperationError(f"{what}: {exc}") from exc


def _alive(endpoint: Endpoint) -> TrueNASClient | None:
    """The cached connection if it still answers; a dead one is closed and forgotten."""
    client = _clients.get(endpoint)
    if client is None or time.monotonic() - _last_used.get(endpoint, 0.0) < IDLE_CHECK_S:
        return client
    try:
        client.call("core.ping", timeout=10)
    except (TrueNASError, OSError):
        _clients.pop(endpoint, None)
        client.close()
        return None
    return client


def close_all() -> None:
    """Close every cached connection (tests; a provider process just exits)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _last_used.clear()
        _refused.clear()
        _logins.clear()
