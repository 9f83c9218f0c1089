"""Issue #10: a key rotation on one replica is seen by every other at once.

Two app instances (two key rings, two Redis clients, two connection pools) over the same
PostgreSQL and Redis, as two replicas behind the edge are.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hearth_app.auth.keys import KeyRing
from hearth_app.auth.tokens import TokenError, issue_access
from tests.conftest import Harness, start_harness

ME = "/api/v1/me"


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_rotation_on_one_replica_is_seen_by_the_other_at_once(h: Harness) -> None:
    _, admin = await h.user("keys@example.com", role="admin")
    async with start_harness(h.settings) as other:
        before = await other.login("keys@example.com")
        old_kid = _kid(before["access_token"])
        r = await h.client.post("/api/v1/admin/keys/rotate", headers=admin)
        assert r.status_code == 200
        new_kid = r.json()["kid"]
        assert new_kid != old_kid
        # A token signed with the new key on this replica works on the other one right away...
        fresh = await h.login("keys@example.com")
        assert _kid(fresh["access_token"]) == new_kid
        me = await other.client.get(ME, headers=_bearer(fresh["access_token"]))
        assert me.status_code == 200, me.text
        # ...and the other replica signs only with the new key from now on: at login, at refresh.
        assert _kid((await other.login("keys@example.com"))["access_token"]) == new_kid
        r = await other.client.post("/api/v1/auth/refresh", json={"refresh_token": before["refresh_token"]})
        assert r.status_code == 200
        assert _kid(r.json()["access_token"]) == new_kid
        # The retired key still verifies everywhere until its tokens have expired.
        assert (await other.client.get(ME, headers=_bearer(before["access_token"]))).status_code == 200
        assert (await h.client.get(ME, headers=_bearer(before["access_token"]))).status_code == 200


async def test_made_up_kids_cost_the_database_a_bounded_number_of_reloads(h: Harness) -> None:
    from hearth_app.auth.keys import MISS_RELOAD_BURST, MISS_RELOADS_PER_SECOND

    _, auth = await h.user("kids@example.com")
    claims = jwt.decode(auth["Authorization"].split()[1], options={"verify_signature": False})
    forger = Ed25519PrivateKey.generate()
    keys = h.res.keys
    loads = keys.loads
    start = time.monotonic()
    tokens = [
        jwt.encode(claims, forger, algorithm="EdDSA", headers={"kid": f"made-up-{i}", "typ": "at+jwt"})
        for i in range(60)
    ]
    statuses = await asyncio.gather(*(h.client.get(ME, headers=_bearer(t)) for t in tokens))
    elapsed = time.monotonic() - start
    assert {r.status_code for r in statuses} == {401}
    assert keys.loads - loads <= MISS_RELOAD_BURST + elapsed * MISS_RELOADS_PER_SECOND + 1
    # A known kid never reloads.
    loads = keys.loads
    for _ in range(20):
        assert (await h.client.get(ME, headers=auth)).status_code == 200
    assert keys.loads == loads


async def test_two_key_rings_over_one_database_agree_after_a_rotation(h: Harness) -> None:
    from hearth_app.auth.tokens import verify_access_current

    settings = h.settings.auth
    ttl = timedelta(seconds=settings.access_ttl_seconds)
    secret = settings.key_encryption_secret.get_secret_value()
    a, b = KeyRing.from_secret(secret), KeyRing.from_secret(secret)
    await a.load(h.res.sessions)
    await b.load(h.res.sessions)
    assert a.signing_kid == b.signing_kid
    new_kid = await a.rotate(h.res.sessions, ttl)
    token = issue_access(a, settings, user_id=uuid.uuid4(), session_id=uuid.uuid4(), email="")
    assert _kid(token) == new_kid
    assert (await verify_access_current(b, settings, token)).email == ""
    async with h.res.sessions() as s, s.begin():
        await b.sync_signer(s)
    assert b.signing_kid == new_kid
    # A ring that never loaded from a database cannot learn anything.
    lone = KeyRing.from_secret(secret)
    with pytest.raises(TokenError):
        await verify_access_current(lone, settings, token)
