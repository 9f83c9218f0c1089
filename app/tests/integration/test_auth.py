from __future__ import annotations

import time
from datetime import timedelta

from hearth_app.core.settings import AuthSettings
from tests.conftest import PASSWORD, Harness, make_settings, start_harness
from tests.containers import Services

ME = "/api/v1/me"


async def test_register_login_me_and_refresh_rotation(h: Harness) -> None:
    u = await h.register("Alice@Example.com")
    assert u["email"] == "alice@example.com"
    t = await h.login("alice@example.com")
    assert t["token_type"] == "Bearer"
    me = await h.client.get(ME, headers={"Authorization": f"Bearer {t['access_token']}"})
    assert me.status_code == 200
    assert me.json()["roles"] == ["member"]
    assert "projects:create" in me.json()["permissions"]
    r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]})
    assert r.status_code == 200
    assert r.json()["refresh_token"] != t["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    # The login is in the audit log, with the request that made it.
    from sqlalchemy import select

    from hearth_app.rbac.models import AuditLog

    async with h.res.sessions() as s:
        rows = (await s.scalars(select(AuditLog).where(AuditLog.action == "auth.login"))).all()
    assert [(r.outcome, str(r.actor_id)) for r in rows] == [("ok", u["id"])]
    assert rows[0].request_id


async def test_wrong_password_is_401_problem_and_same_for_unknown_account(h: Harness) -> None:
    await h.register("bob@example.com")
    a = await h.client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": "nope"})
    b = await h.client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]
    assert a.headers["content-type"] == "application/problem+json"


async def test_short_password_is_a_validation_problem(h: Harness) -> None:
    r = await h.client.post("/api/v1/auth/register", json={"email": "s@example.com", "password": "short"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("/validation")
    assert body["errors"][0]["loc"] == ["body", "password"]


async def test_registration_can_be_switched_off(services: Services, migrated: object) -> None:
    settings = make_settings(
        services,
        auth=AuthSettings(
            key_encryption_secret=make_settings(services).auth.key_encryption_secret,
            registration_enabled=False,
            argon2_memory_kib=1024,
            argon2_time_cost=1,
        ),
    )
    async with start_harness(settings) as hh:
        r = await hh.client.post(
            "/api/v1/auth/register", json={"email": "x@example.com", "password": PASSWORD}
        )
        assert r.status_code == 403
        assert r.json()["type"].endswith("/registration-closed")


async def test_failed_logins_back_off_per_account_and_ip_then_recover(h: Harness) -> None:
    await h.register("target@example.com")
    bad = {"email": "target@example.com", "password": "wrong-password"}
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(h.settings.auth.backoff_pair_threshold):
        assert (await h.client.post("/api/v1/auth/login", json=bad, headers=attacker)).status_code == 401
    r = await h.client.post("/api/v1/auth/login", json=bad, headers=attacker)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # The owner, from another address, is not locked out by the attacker's failures.
    ok = await h.client.post(
        "/api/v1/auth/login",
        json={"email": "target@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.2"},
    )
    assert ok.status_code == 200


async def test_account_wide_backoff_is_capped_so_a_victim_is_never_locked_out(h: Harness) -> None:
    await h.register("victim2@example.com")
    bo = h.res.backoff
    # Hundreds of failures from many addresses.
    for i in range(200):
        await bo.reserve("victim2@example.com", f"192.0.2.{i % 250}")
    wait = await bo.reserve("victim2@example.com", "198.51.100.9")
    assert 0 < wait <= h.settings.auth.backoff_account_max_seconds
    # And every mark expires after the window: nothing is permanent.
    ttl = await h.res.redis.ttl("bo:ip:192.0.2.1")
    assert 0 < ttl <= h.settings.auth.backoff_window_seconds


async def test_forward_auth_returns_user_headers_or_401_403(h: Harness) -> None:
    uid, auth = await h.user("fwd@example.com")
    r = await h.client.get("/api/v1/auth/forward", headers=auth)
    assert r.status_code == 200
    assert r.headers["x-auth-user-id"] == uid
    assert r.headers["x-auth-user-email"] == "fwd@example.com"
    assert (await h.client.get("/api/v1/auth/forward")).status_code == 401
    r = await h.client.get("/api/v1/auth/forward?permission=dashboards:view", headers=auth)
    assert r.status_code == 403
    await h.grant("fwd@example.com", "admin")
    assert (
        await h.client.get("/api/v1/auth/forward?permission=dashboards:view", headers=auth)
    ).status_code == 200
    # Browsers behind the edge carry the cookie set at login instead of a header.
    t = await h.login("fwd@example.com")
    h.client.cookies.set("hearth_access", t["access_token"])
    assert (await h.client.get("/api/v1/auth/forward")).status_code == 200
    h.client.cookies.clear()


async def test_jwks_publishes_keys_and_rotation_keeps_old_tokens_valid_until_expiry(
    h: Harness,
) -> None:
    _, admin = await h.user("keys@example.com", role="admin")
    old_kid = h.res.keys.signing_kid
    r = await h.client.post("/api/v1/admin/keys/rotate", headers=admin)
    assert r.status_code == 200
    new_kid = r.json()["kid"]
    assert new_kid != old_kid
    jwks = (await h.client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} >= {old_kid, new_kid}
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
    # The token signed by the retired key still works...
    assert (await h.client.get(ME, headers=admin)).status_code == 200
    # ...until its verification window closes, then the key leaves the ring and the JWKS.
    from sqlalchemy import update

    from hearth_app.auth.models import SigningKey
    from hearth_app.core.db import utcnow

    async with h.res.sessions() as s, s.begin():
        await s.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(verify_until=utcnow() - timedelta(seconds=1))
        )
    await h.res.keys.load(h.res.sessions)
    assert old_kid not in {k["kid"] for k in (await h.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert (await h.client.get(ME, headers=admin)).status_code == 401
    t = await h.login("keys@example.com")
    assert (
        await h.client.get(ME, headers={"Authorization": f"Bearer {t['access_token']}"})
    ).status_code == 200


async def test_login_response_sets_a_hardened_cookie(h: Harness) -> None:
    await h.register("cookie@example.com")
    r = await h.client.post("/api/v1/auth/login", json={"email": "cookie@example.com", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    h.client.cookies.clear()


async def test_rehash_keeps_login_working_when_parameters_change(h: Harness) -> None:
    await h.register("rehash@example.com")
    start = time.monotonic()
    await h.login("rehash@example.com")
    assert time.monotonic() - start < 5
