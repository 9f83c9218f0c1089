"""GET /api/v1/me on its fast path (auth/deps.py): remembered token verifications, one Redis
round trip, a pre-serialised profile; each check still made on every request."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from hearth_app.auth.deps import VerifiedTokens, verified_tokens
from hearth_app.core.redisline import RedisLine
from hearth_app.core.settings import Settings
from tests.conftest import Harness

ME = "/api/v1/me"


def _bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_me_answers_with_the_rate_limit_headers(h: Harness) -> None:
    """A returned Response gets no headers from FastAPI's dependencies: /me adds them itself."""
    _, auth = await h.user("headers@example.com")
    first = await h.client.get(ME, headers=auth)  # the profile is loaded and cached
    second = await h.client.get(ME, headers=auth)  # served from the cache
    for r in (first, second):
        assert r.status_code == 200
        assert r.headers["ratelimit-policy"].endswith(";w=10")
        assert ";r=" in r.headers["ratelimit"]
    assert first.json() == second.json()
    assert second.json()["email"] == "headers@example.com"


async def test_a_remembered_token_is_still_checked_for_revocation_and_tampering(h: Harness) -> None:
    _, auth = await h.user("remembered@example.com")
    token = _bearer(auth)
    assert (await h.client.get(ME, headers=auth)).status_code == 200
    assert verified_tokens.get(h.res.keys, token) is not None
    # Another signature on the same header and claims is not the remembered token.
    head, _, sig = token.rpartition(".")
    forged = f"{head}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    r = await h.client.get(ME, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    # Logging out ends the session at once, remembered or not.
    assert (await h.client.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    assert (await h.client.get(ME, headers=auth)).status_code == 401


async def test_a_remembered_token_expires_and_follows_the_key_ring(h: Harness) -> None:
    _, auth = await h.user("expiry@example.com")
    token = _bearer(auth)
    assert (await h.client.get(ME, headers=auth)).status_code == 200
    claims = verified_tokens.get(h.res.keys, token)
    assert claims is not None

    memo = VerifiedTokens(max_entries=2)
    memo.put(h.res.keys, token, dataclasses.replace(claims, exp=int(time.time()) - 60))
    assert memo.get(h.res.keys, token) is None, "an expired token was reused"
    memo.put(h.res.keys, token, claims)
    assert memo.get(h.res.keys, token) == claims
    # The ring reloaded (new key objects, or the kid gone): verify afresh.
    kid = next(iter(h.res.keys.verify_keys))
    original = h.res.keys.verify_keys[kid]
    h.res.keys.verify_keys[kid] = object()
    try:
        assert memo.get(h.res.keys, token) is None
    finally:
        h.res.keys.verify_keys[kid] = original
    # Bounded: the oldest goes first.
    for i in range(3):
        memo.put(h.res.keys, token + f"x{i}", claims)
    assert len(memo._tokens) == 2


async def test_me_survives_a_script_flush_and_dropped_redis_connections(h: Harness) -> None:
    """The one round trip: a NOSCRIPT reply reloads the limiter's script and goes again; a
    connection Redis closed is replaced."""
    _, auth = await h.user("redis@example.com")
    assert (await h.client.get(ME, headers=auth)).status_code == 200
    await h.res.redis.script_flush()
    assert (await h.client.get(ME, headers=auth)).status_code == 200
    await h.res.redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")
    r = await h.client.get(ME, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "redis@example.com"


def test_the_line_works_on_uvloop(migrated: Settings) -> None:
    """`serve` runs uvicorn on uvloop, whose transports are not asyncio's classes."""

    async def go() -> list[Any]:
        line = RedisLine(migrated.redis)
        try:
            return await line.send([("PING",), ("ECHO", "é")])
        finally:
            await line.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(go()) == ["PONG", "é"]


async def test_a_late_reply_goes_to_the_request_that_gave_up_not_the_next(migrated: Settings) -> None:
    """Replies are matched to requests by order: one that timed out still has its reply read
    (and dropped) when Redis answers at last, so the next request gets its own."""
    r = migrated.redis
    admin = Redis(host=r.host, port=r.port, password=r.password.get_secret_value(), decode_responses=True)
    line = RedisLine(r, timeout_seconds=0.3)
    try:
        assert await line.send([("PING",)]) == ["PONG"]  # connected
        await admin.client_pause(800, all=True)
        with pytest.raises(RedisTimeoutError):
            await line.send([("ECHO", "first")])
        line.timeout_seconds = 10
        assert await line.send([("ECHO", "second"), ("ECHO", "third")]) == ["second", "third"]
    finally:
        await line.close()
        await admin.aclose()
