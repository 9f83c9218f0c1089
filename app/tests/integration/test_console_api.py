"""What the admin console needs from the API: the refresh cookie and its CSRF header, the
caller's own sessions, account creation and password resets by administrators, the sign-in
options, and the OpenAPI document the console's types are generated from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from hearth_app.auth.models import RefreshToken
from hearth_app.auth.tokens import hash_refresh
from hearth_app.core.db import utcnow
from hearth_app.core.settings import AuthSettings
from hearth_app.rbac.models import AuditLog
from tests.conftest import PASSWORD, Harness, make_settings, set_cookies, start_harness
from tests.containers import Services

AUTH = "/api/v1/auth"
REFRESH = f"{AUTH}/refresh"
SESSIONS = f"{AUTH}/sessions"
USERS = "/api/v1/admin/users"
ME = "/api/v1/me"
CSRF = {"X-Hearth-CSRF": "1"}
NEW_PASSWORD = "a temporary password 42"


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def cookie_login(h: Harness, email: str) -> httpx.Response:
    """Log in as a browser does: the cookies stay in the client's jar."""
    h.client.cookies.clear()
    r = await h.client.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r


async def audit_rows(h: Harness, action: str) -> list[AuditLog]:
    async with h.res.sessions() as s:
        return list((await s.scalars(select(AuditLog).where(AuditLog.action == action))).all())


# Refresh cookie


async def test_login_sets_an_httponly_strict_refresh_cookie_for_the_auth_paths_only(
    h: Harness, services: Services
) -> None:
    await h.register("cookie@example.com")
    r = await cookie_login(h, "cookie@example.com")
    c = set_cookies(r)["hearth_refresh"]
    assert c["value"] == r.json()["refresh_token"]
    assert "httponly" in c
    assert c["samesite"] == "strict"
    assert c["path"] == AUTH
    assert int(c["max-age"]) == h.settings.auth.refresh_ttl_seconds
    assert "secure" not in c  # the test settings say cookie_secure=False
    # The access cookie is as before.
    assert set_cookies(r)["hearth_access"]["samesite"] == "lax"
    # The browser sends the refresh cookie to the auth endpoints, and nowhere else.
    me = await h.client.get(ME, headers=bearer(r.json()))
    assert "hearth_access=" in me.request.headers["cookie"]
    assert "hearth_refresh" not in me.request.headers["cookie"]
    out = await h.client.post(REFRESH, headers=CSRF)
    assert out.status_code == 200, out.text
    assert f"hearth_refresh={r.json()['refresh_token']}" in out.request.headers["cookie"]
    h.client.cookies.clear()
    # With cookie_secure (the default), the cookie is Secure.
    base = make_settings(services)
    secure = make_settings(
        services,
        auth=AuthSettings(
            key_encryption_secret=base.auth.key_encryption_secret,
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            cookie_secure=True,
        ),
    )
    async with start_harness(secure) as hs:
        r = await hs.client.post(f"{AUTH}/login", json={"email": "cookie@example.com", "password": PASSWORD})
        assert r.status_code == 200
        assert "secure" in set_cookies(r)["hearth_refresh"]


async def test_the_cookie_refreshes_only_with_the_csrf_header(h: Harness) -> None:
    await h.register("csrf@example.com")
    login = await cookie_login(h, "csrf@example.com")
    for headers in ({}, {"X-Hearth-CSRF": "0"}):
        r = await h.client.post(REFRESH, headers=headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"].endswith("/csrf")
        assert "X-Hearth-CSRF: 1" in body["detail"]
        # Refused before the token was looked at: it is not spent, and the cookie stays.
        assert "hearth_refresh" not in set_cookies(r)
    # An empty JSON object is a body without a token, the same as no body.
    assert (await h.client.post(REFRESH, json={})).status_code == 403
    # What a cross-site form can send (no custom header, no JSON content type) is refused.
    plain = {"Content-Type": "text/plain"}
    token = json.dumps({"refresh_token": login.json()["refresh_token"]})
    assert (await h.client.post(REFRESH, content=token, headers=plain)).status_code == 422
    sign_in = json.dumps({"email": "csrf@example.com", "password": PASSWORD})
    assert (await h.client.post(f"{AUTH}/login", content=sign_in, headers=plain)).status_code == 422
    r = await h.client.post(REFRESH, headers=CSRF)
    assert r.status_code == 200, r.text
    new = r.json()
    assert r.headers["cache-control"] == "no-store"
    # The cookie rotated with the token; the access cookie was renewed too.
    rotated = set_cookies(r)["hearth_refresh"]["value"]
    assert rotated != login.json()["refresh_token"]
    assert h.client.cookies.get("hearth_refresh") == rotated
    assert set_cookies(r)["hearth_access"]["value"] == new["access_token"]
    assert (await h.client.get(ME, headers=bearer(new))).status_code == 200
    # A token in the body needs no header.
    h.client.cookies.clear()
    r = await h.client.post(REFRESH, json={"refresh_token": rotated})
    assert r.status_code == 200, r.text
    # The header without any cookie: 401, saying what is missing.
    h.client.cookies.clear()
    r = await h.client.post(REFRESH, headers=CSRF)
    assert r.status_code == 401
    assert "hearth_refresh" in r.json()["detail"]
    h.client.cookies.clear()


async def test_with_the_csrf_header_the_refresh_token_is_in_the_cookie_only(h: Harness) -> None:
    """A script in the page (an injected one included) never reads the refresh token: the console
    sends X-Hearth-CSRF: 1, and then login and refresh answer it in the HttpOnly cookie alone."""
    await h.register("script@example.com")
    h.client.cookies.clear()
    login = await h.client.post(
        f"{AUTH}/login", json={"email": "script@example.com", "password": PASSWORD}, headers=CSRF
    )
    assert login.status_code == 200, login.text
    assert login.json()["refresh_token"] is None
    assert login.json()["access_token"]
    assert set_cookies(login)["hearth_refresh"]["value"] not in login.text
    # Refreshing by the cookie, and by a token in the body: with the header, neither answers it.
    for by_body in (False, True):
        body = {"refresh_token": h.client.cookies["hearth_refresh"]} if by_body else None
        r = await h.client.post(REFRESH, headers=CSRF, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["refresh_token"] is None
        assert set_cookies(r)["hearth_refresh"]["value"] not in r.text
        assert (await h.client.get(ME, headers=bearer(r.json()))).status_code == 200
    # API clients (no header) still get it in the body, and the cookie too.
    h.client.cookies.clear()
    api = await h.client.post(f"{AUTH}/login", json={"email": "script@example.com", "password": PASSWORD})
    assert api.json()["refresh_token"] == set_cookies(api)["hearth_refresh"]["value"]
    r = await h.client.post(REFRESH, json={"refresh_token": api.json()["refresh_token"]})
    assert r.json()["refresh_token"] == set_cookies(r)["hearth_refresh"]["value"]
    h.client.cookies.clear()


async def test_a_failed_cookie_refresh_answers_like_the_body_and_drops_the_cookie(h: Harness) -> None:
    await h.register("fail@example.com")

    async def both_ways(token: str) -> httpx.Response:
        """The same token by cookie, then by body: the same 401; only the first drops a cookie."""
        by_cookie = await h.client.post(REFRESH, headers={**CSRF, "Cookie": f"hearth_refresh={token}"})
        by_body = await h.client.post(REFRESH, json={"refresh_token": token})
        assert by_cookie.status_code == by_body.status_code == 401
        assert by_cookie.json()["detail"] == by_body.json()["detail"]
        assert by_cookie.headers["www-authenticate"] == "Bearer"
        dropped = set_cookies(by_cookie)["hearth_refresh"]
        assert dropped["max-age"] == "0"
        assert dropped["path"] == AUTH
        assert "hearth_refresh" not in set_cookies(by_body)
        return by_cookie

    # Unknown.
    assert "not valid" in (await both_ways("x" * 43)).json()["detail"]
    # Expired.
    t = await h.login("fail@example.com")
    async with h.res.sessions() as s, s.begin():
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh(t["refresh_token"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert "expired" in (await both_ways(t["refresh_token"])).json()["detail"]
    # Reused (the session then ends, as with a body token).
    await cookie_login(h, "fail@example.com")
    spent = h.client.cookies["hearth_refresh"]
    assert (await h.client.post(REFRESH, headers=CSRF)).status_code == 200
    h.client.cookies.clear()
    assert "already used" in (await both_ways(spent)).json()["detail"]
    # And in a browser's jar the dropped cookie is gone.
    await cookie_login(h, "fail@example.com")
    async with h.res.sessions() as s, s.begin():
        await s.execute(update(RefreshToken).values(revoked_at=utcnow()))
    assert (await h.client.post(REFRESH, headers=CSRF)).status_code == 401
    assert "hearth_refresh" not in h.client.cookies
    h.client.cookies.clear()


async def test_logout_and_logout_all_delete_both_cookies(h: Harness) -> None:
    await h.register("bye@example.com")
    for path in ("logout", "logout-all"):
        login = await cookie_login(h, "bye@example.com")
        r = await h.client.post(f"{AUTH}/{path}", headers=bearer(login.json()))
        assert r.status_code == 204
        gone = set_cookies(r)
        assert gone["hearth_access"]["max-age"] == "0"
        assert gone["hearth_access"]["path"] == "/"
        assert gone["hearth_refresh"]["max-age"] == "0"
        assert gone["hearth_refresh"]["path"] == AUTH
        assert not h.client.cookies


# Own sessions


async def test_own_sessions_are_listed_and_one_can_be_ended_at_once(h: Harness) -> None:
    await h.register("many@example.com")
    a = await h.login("many@example.com")
    b = await h.login("many@example.com")
    ended = await h.login("many@example.com")
    assert (await h.client.post(f"{AUTH}/logout", headers=bearer(ended))).status_code == 204
    expired = await h.login("many@example.com")
    async with h.res.sessions() as s, s.begin():
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh(expired["refresh_token"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _, other = await h.user("other@example.com")
    # A refreshes: its session is the most recently used.
    r = await h.client.post(REFRESH, json={"refresh_token": a["refresh_token"]})
    assert r.status_code == 200
    a = r.json()

    r = await h.client.get(SESSIONS, headers=bearer(b))
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [x["current"] for x in listed] == [False, True]
    sa, sb = listed
    at = {k: datetime.fromisoformat(sa[k]) for k in ("started_at", "last_used_at", "expires_at")}
    assert at["started_at"] < at["last_used_at"] < at["expires_at"]
    assert sb["last_used_at"] == sb["started_at"]
    assert set(sa) == {"id", "started_at", "last_used_at", "expires_at", "current"}
    # The other user's and the ended or expired sessions are not listed.
    others = (await h.client.get(SESSIONS, headers=other)).json()
    assert len(others) == 1
    assert others[0]["current"]
    assert others[0]["id"] not in {sa["id"], sb["id"]}

    # Ending A from B: A's unexpired access token and its refresh token stop at once.
    assert (await h.client.get(ME, headers=bearer(a))).status_code == 200
    r = await h.client.delete(f"{SESSIONS}/{sa['id']}", headers=bearer(b))
    assert r.status_code == 204
    assert "hearth_refresh" not in set_cookies(r)  # not the caller's own session
    assert (await h.client.get(ME, headers=bearer(a))).status_code == 401
    assert (await h.client.post(REFRESH, json={"refresh_token": a["refresh_token"]})).status_code == 401
    assert [x["id"] for x in (await h.client.get(SESSIONS, headers=bearer(b))).json()] == [sb["id"]]
    # Not active any more, somebody else's, or nobody's: 404, and nothing ends.
    for sid in (sa["id"], others[0]["id"], str(uuid.uuid4())):
        r = await h.client.delete(f"{SESSIONS}/{sid}", headers=bearer(b))
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert sid in r.json()["detail"]
    assert (await h.client.get(ME, headers=other)).status_code == 200
    # Ending one's own current session is a logout, cookies included.
    r = await h.client.delete(f"{SESSIONS}/{sb['id']}", headers=bearer(b))
    assert r.status_code == 204
    assert set_cookies(r)["hearth_refresh"]["max-age"] == "0"
    assert (await h.client.get(ME, headers=bearer(b))).status_code == 401
    # Signed-out callers get nothing.
    assert (await h.client.get(SESSIONS)).status_code == 401


# Administrators: accounts and passwords


async def _manager(h: Harness) -> tuple[str, dict[str, str], str, dict[str, str]]:
    """An admin, and a user manager (users:manage and users:read, plus member's projects:create)."""
    admin_id, admin = await h.user("root@example.com", role="admin")
    r = await h.client.post(
        "/api/v1/admin/roles",
        json={"name": "usermgr", "permissions": ["users:manage", "users:read"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    mgr_id, mgr = await h.user("mgr@example.com", role="usermgr")
    return admin_id, admin, mgr_id, mgr


async def test_an_administrator_creates_accounts(h: Harness) -> None:
    admin_id, admin, mgr_id, mgr = await _manager(h)
    new = {"email": "New@Example.com", "password": PASSWORD, "display_name": "New Person"}
    r = await h.client.post(USERS, json=new, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["email"] == "new@example.com"
    assert made["display_name"] == "New Person"
    assert made["roles"] == ["member"]  # as self-registration gives
    assert made["permissions"] == ["projects:create"]
    me = await h.client.get(ME, headers=bearer(await h.login("new@example.com")))
    assert me.json()["id"] == made["id"]
    rows = await audit_rows(h, "user.create")
    assert [(str(x.actor_id), x.resource, x.outcome) for x in rows] == [
        (admin_id, f"user:{made['id']}", "ok")
    ]
    # Named roles, granted as PUT /roles grants them.
    r = await h.client.post(
        USERS, json={**new, "email": "v@example.com", "roles": ["viewer", "usermgr"]}, headers=mgr
    )
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == ["usermgr", "viewer"]
    # The email is taken, in any spelling.
    r = await h.client.post(USERS, json={**new, "email": "NEW@example.com"}, headers=admin)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/conflict")
    assert "new@example.com" in r.json()["detail"]
    # Password and role rules.
    r = await h.client.post(USERS, json={**new, "email": "s@example.com", "password": "short"}, headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "password"]
    r = await h.client.post(USERS, json={**new, "email": "s@example.com", "roles": ["nope"]}, headers=admin)
    assert r.status_code == 422
    assert "nope" in r.json()["detail"]
    # A user manager cannot make an administrator; refused by name and audited.
    r = await h.client.post(USERS, json={**new, "email": "x@example.com", "roles": ["admin"]}, headers=mgr)
    assert r.status_code == 403
    assert r.json()["refused"] == ["admin"]
    denied = await audit_rows(h, "user.create")
    assert [(str(x.actor_id), x.outcome) for x in denied if x.outcome == "denied"] == [(mgr_id, "denied")]
    # Without users:manage: refused.
    _, member = await h.user("plain@example.com")
    r = await h.client.post(USERS, json={**new, "email": "y@example.com"}, headers=member)
    assert r.status_code == 403
    listed = (await h.client.get(f"{USERS}?limit=100", headers=admin)).json()["items"]
    assert {u["email"] for u in listed} == {
        "root@example.com",
        "mgr@example.com",
        "new@example.com",
        "v@example.com",
        "plain@example.com",
    }


async def test_an_administrator_sets_a_password_and_every_session_of_the_user_ends(h: Harness) -> None:
    admin_id, admin, _, mgr = await _manager(h)
    uid, _ = await h.user("forgot@example.com")
    sessions = [await h.login("forgot@example.com") for _ in range(2)]
    url = f"{USERS}/{uid}/password"
    r = await h.client.post(url, json={"password": NEW_PASSWORD}, headers=mgr)
    assert r.status_code == 204, r.text
    for t in sessions:
        assert (await h.client.get(ME, headers=bearer(t))).status_code == 401
        assert (await h.client.post(REFRESH, json={"refresh_token": t["refresh_token"]})).status_code == 401
    old = await h.client.post(f"{AUTH}/login", json={"email": "forgot@example.com", "password": PASSWORD})
    assert old.status_code == 401
    await h.login("forgot@example.com", NEW_PASSWORD)
    rows = await audit_rows(h, "user.password_reset")
    assert [(x.resource, x.outcome) for x in rows] == [(f"user:{uid}", "ok")]
    # An administrator's password only by an administrator: refused and audited.
    r = await h.client.post(f"{USERS}/{admin_id}/password", json={"password": NEW_PASSWORD}, headers=mgr)
    assert r.status_code == 403
    assert r.json()["refused"] == ["admin"]
    assert [x.outcome for x in await audit_rows(h, "user.password_reset")] == ["ok", "denied"]
    assert (await h.client.get(ME, headers=admin)).status_code == 200
    # Password rules as registration; unknown accounts; callers without users:manage.
    r = await h.client.post(url, json={"password": "short"}, headers=admin)
    assert r.status_code == 422
    r = await h.client.post(
        f"{USERS}/{uuid.uuid4()}/password", json={"password": NEW_PASSWORD}, headers=admin
    )
    assert r.status_code == 404
    _, member = await h.user("plain@example.com")
    assert (await h.client.post(url, json={"password": NEW_PASSWORD}, headers=member)).status_code == 403


# Sign-in options


async def test_options_say_whether_registration_is_open(h: Harness, services: Services) -> None:
    r = await h.client.get(f"{AUTH}/options")
    assert r.status_code == 200
    assert r.json() == {"registration_enabled": True, "oidc_providers": []}
    base = make_settings(services)
    closed = make_settings(
        services,
        auth=AuthSettings(
            key_encryption_secret=base.auth.key_encryption_secret,
            registration_enabled=False,
            argon2_memory_kib=1024,
            argon2_time_cost=1,
        ),
    )
    async with start_harness(closed) as hc:
        r = await hc.client.get(f"{AUTH}/options")
        assert r.json() == {"registration_enabled": False, "oidc_providers": []}


# The OpenAPI document


def _openapi_cli(env: dict[str, str]) -> str:
    exe = Path(sys.executable).parent / "hearth-app"
    out = subprocess.run(
        [str(exe), "openapi"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


async def test_openapi_command_prints_the_served_document_without_configuration(h: Harness) -> None:
    # Nothing configured, and a setting that would stop every other command.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HEARTH_ENV": "production",
        "HEARTH_AUTH_KEY_ENCRYPTION_SECRET_FILE": "/nonexistent/secret",
    }
    text = _openapi_cli(env)
    doc = json.loads(text)
    served = (await h.client.get("/openapi.json")).json()
    assert doc == served
    # Stable text: sorted keys, indent 2, one trailing newline, the same every time.
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert _openapi_cli(env) == text
    assert {
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{session_id}",
        "/api/v1/auth/options",
        "/api/v1/admin/users/{user_id}/password",
    } <= set(doc["paths"])


async def test_every_response_body_has_a_schema(h: Harness) -> None:
    """Types generated from the document are only as good as its schemas: no body is untyped."""
    doc = (await h.client.get("/openapi.json")).json()
    untyped = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                for media, content in response.get("content", {}).items():
                    if not content.get("schema"):
                        untyped.append(f"{method.upper()} {path} {code} {media}")
                if code == "204" or code.startswith("3"):
                    assert "content" not in response, f"{method} {path} {code}"
    assert untyped == []
    comps = doc["components"]["schemas"]
    assert set(comps["SessionOut"]["required"]) == {
        "id",
        "started_at",
        "last_used_at",
        "expires_at",
        "current",
    }
    assert set(comps["AuthOptions"]["required"]) == {"registration_enabled", "oidc_providers"}
    refresh = doc["paths"]["/api/v1/auth/refresh"]["post"]
    assert "X-Hearth-CSRF" in [p["name"] for p in refresh["parameters"]]
    assert "required" not in refresh["requestBody"] or not refresh["requestBody"]["required"]
