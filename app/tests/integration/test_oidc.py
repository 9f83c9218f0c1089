"""OIDC login against real OpenID Provider processes (node oidc-provider), two at once."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest
from pydantic import SecretStr

from hearth_app.core.settings import AuthSettings, OidcProvider, Settings
from tests.conftest import Harness, _clean, make_settings, set_cookies, start_harness
from tests.containers import Services

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
BASE = "http://hearth.test"
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True},
    "mallory": {"email": "victim@example.com", "email_verified": False},
    "bob": {"email": "bob@example.com", "email_verified": True},
}


def _start_provider(name: str, secret: str) -> tuple[subprocess.Popen[str], str]:
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    cfg = {
        "port": port,
        "issuer": issuer,
        "client_id": "hearth",
        "client_secret": secret,
        "redirect_uris": [f"{BASE}/api/v1/auth/oidc/{name}/callback"],
        "accounts": ACCOUNTS,
    }
    proc = subprocess.Popen(
        ["node", str(OIDC_DIR / "provider.mjs")],
        env={**os.environ, "OIDC_TEST_CONFIG": json.dumps(cfg)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening"), f"provider {name} did not start"
    return proc, issuer


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, tuple[str, str]]]:
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the test OpenID Provider"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, check=True, capture_output=True, timeout=300
        )
    procs = []
    out: dict[str, tuple[str, str]] = {}
    try:
        for name in ("corp", "social"):
            secret = secrets.token_urlsafe(24)
            proc, issuer = _start_provider(name, secret)
            procs.append(proc)
            out[name] = (issuer, secret)
        yield out
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
            if p.stdout is not None:
                p.stdout.close()


def oidc_settings(services: Services, providers: dict[str, tuple[str, str]], **auth: Any) -> Settings:
    base = make_settings(services)
    return make_settings(
        services,
        auth=AuthSettings(
            key_encryption_secret=base.auth.key_encryption_secret,
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            oidc_redirect_base=BASE,
            oidc_providers=[
                OidcProvider(
                    name=name,
                    issuer=issuer,
                    client_id="hearth",
                    client_secret=SecretStr(secret),
                    # "social" links nobody by email, even verified: subject only.
                    link_by_verified_email=name == "corp",
                )
                for name, (issuer, secret) in providers.items()
            ],
            **{"cookie_secure": False, **auth},
        ),
    )


@pytest.fixture
async def oh(
    services: Services, migrated: Settings, providers: dict[str, tuple[str, str]]
) -> AsyncIterator[Harness]:
    settings = oidc_settings(services, providers)
    await _clean(settings, services)
    async with start_harness(settings) as harness:
        yield harness


async def at_provider(url: str, login: str) -> str:
    """The provider's login and consent pages, from its authorization URL back to our callback."""
    async with httpx.AsyncClient() as browser:
        for _ in range(20):
            if url.startswith(BASE):
                return url
            resp = await browser.get(url)
            if resp.status_code in (302, 303):
                url = urljoin(url, resp.headers["location"])
                continue
            form = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"', resp.text)
            assert form, resp.text[:500]
            fields = dict(
                re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', resp.text)
            )
            if 'name="login"' in resp.text:
                fields.update(login=login, password="anything")
            resp = await browser.post(urljoin(url, form.group(1)), data=fields)
            assert resp.status_code in (302, 303), resp.text[:500]
            url = urljoin(url, resp.headers["location"])
    raise AssertionError("login did not come back to the app")


async def start(client: httpx.AsyncClient, provider: str) -> str:
    """GET start as a browser does (the client's jar keeps the login cookie): the provider's URL."""
    r = await client.get(f"/api/v1/auth/oidc/{provider}/start")
    assert r.status_code == 302, r.text
    url = r.headers["location"]
    q = parse_qs(urlparse(url).query)
    assert q["code_challenge_method"] == ["S256"]
    assert q["state"][0]
    assert q["nonce"][0]
    return str(url)


async def browser_login(
    h: Harness, provider: str, login: str, accept: str | None = None
) -> tuple[httpx.Response, str]:
    """What a browser does: start, the provider's login and consent pages, the callback (sent
    with `accept` as its Accept header, when given)."""
    url = await at_provider(await start(h.client, provider), login)
    headers = {"Accept": accept} if accept else {}
    return await h.client.get(url[len(BASE) :], headers=headers), url


async def test_oidc_login_creates_a_user_and_returns_our_tokens(oh: Harness) -> None:
    r, _ = await browser_login(oh, "corp", "alice")
    assert r.status_code == 200, r.text
    me = await oh.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["email"] == "alice@example.com"
    assert me.json()["roles"] == ["member"]
    # The provider verified the address, so the new account's address counts as verified.
    assert await _verified(oh, me.json()["id"])
    # Second login: the same user, found by (provider, subject).
    r2, _ = await browser_login(oh, "corp", "alice")
    me2 = await oh.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r2.json()['access_token']}"})
    assert me2.json()["id"] == me.json()["id"]
    providers = (await oh.client.get("/api/v1/auth/oidc/providers")).json()
    assert sorted(providers) == ["corp", "social"]


async def _me(h: Harness, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    me = await h.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    out: dict[str, Any] = me.json()
    return out


async def _verified(h: Harness, user_id: str) -> bool:
    import uuid

    from hearth_app.auth.models import User

    async with h.res.sessions() as s:
        user = await s.get(User, uuid.UUID(user_id))
        assert user is not None
        return bool(user.email_verified)


async def _operator_account(h: Harness, email: str) -> str:
    """An account an operator made (the bootstrap): its address counts as verified."""
    from pydantic import SecretStr
    from sqlalchemy import select

    from hearth_app.auth.bootstrap import AdminRequest, ensure_admin
    from hearth_app.auth.models import User

    assert await ensure_admin(
        h.res, AdminRequest(email=email, password=SecretStr("operator-chosen-password"))
    )
    async with h.res.sessions() as s:
        return str(await s.scalar(select(User.id).where(User.email == email)))


async def test_verified_email_links_to_an_account_whose_email_is_verified(oh: Harness) -> None:
    # Made by another provider that verified the address...
    social = await _me(oh, (await browser_login(oh, "social", "bob"))[0])
    assert await _verified(oh, social["id"])
    # ...so a first login at corp, which verified it too, signs in to the same account.
    corp = await _me(oh, (await browser_login(oh, "corp", "bob"))[0])
    assert corp["id"] == social["id"]
    # The same for an account an operator made.
    admin_id = await _operator_account(oh, "alice@example.com")
    assert (await _me(oh, (await browser_login(oh, "corp", "alice"))[0]))["id"] == admin_id


async def test_a_self_registered_address_is_never_linked_by_email(oh: Harness) -> None:
    """Pre-hijacking: someone registers the victim's address first, with their own password,
    and waits for the victim to sign in through a provider."""
    squatter = await oh.register("bob@example.com")
    assert not await _verified(oh, squatter["id"])
    victim = await _me(oh, (await browser_login(oh, "corp", "bob"))[0])
    assert victim["id"] != squatter["id"]
    assert victim["email"].endswith("@corp.oidc.invalid")
    # The squatter's password still opens only the squatter's own account.
    t = await oh.login("bob@example.com")
    me = await oh.client.get("/api/v1/me", headers={"Authorization": f"Bearer {t['access_token']}"})
    assert me.json()["id"] == squatter["id"]
    # And the victim's next login comes back to the victim's account, by subject.
    assert (await _me(oh, (await browser_login(oh, "corp", "bob"))[0]))["id"] == victim["id"]


async def test_unverified_email_never_takes_over_an_account(oh: Harness) -> None:
    uid = await _operator_account(oh, "victim@example.com")
    r, _ = await browser_login(oh, "corp", "mallory")
    me = await _me(oh, r)
    assert me["id"] != uid
    assert me["email"].endswith("@corp.oidc.invalid")
    # A placeholder is no address: it is not verified.
    assert not await _verified(oh, me["id"])


async def test_several_providers_map_by_subject_per_provider(oh: Harness) -> None:
    uid = await _operator_account(oh, "alice@example.com")
    corp, _ = await browser_login(oh, "corp", "alice")
    social, _ = await browser_login(oh, "social", "alice")
    ids = []
    for r in (corp, social):
        me = await oh.client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        ids.append(me.json()["id"])
    # corp links by verified email; social is configured for subject-only mapping.
    assert ids[0] == uid
    assert ids[1] != uid


async def test_state_is_single_use_and_must_be_ours(oh: Harness) -> None:
    r, callback = await browser_login(oh, "corp", "alice")
    assert r.status_code == 200
    replay = await oh.client.get(callback[len(BASE) :])
    assert replay.status_code == 401
    forged = re.sub(r"state=[^&]+", "state=forged", callback[len(BASE) :])
    assert (await oh.client.get(forged)).status_code == 401


async def test_nonce_mismatch_rejects_the_id_token(oh: Harness) -> None:
    r = await oh.client.get("/api/v1/auth/oidc/corp/start")
    state = parse_qs(urlparse(r.headers["location"]).query)["state"][0]
    import json

    key = f"oidc:state:{state}"
    saved = json.loads(await oh.res.redis.get(key))
    saved["nonce"] = "not-the-nonce-sent"
    await oh.res.redis.set(key, json.dumps(saved), ex=600)
    # Continue the same login in a browser.
    url = await at_provider(r.headers["location"], "alice")
    cb = await oh.client.get(url[len(BASE) :])
    assert cb.status_code == 401
    assert "nonce" in cb.json()["detail"]


async def test_disabled_user_cannot_log_in_through_a_provider(oh: Harness) -> None:
    r, _ = await browser_login(oh, "corp", "alice")
    me = (
        await oh.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    ).json()
    _, admin = await oh.user("admin@example.com", role="admin")
    await oh.client.patch(f"/api/v1/admin/users/{me['id']}", json={"is_disabled": True}, headers=admin)
    r2, _ = await browser_login(oh, "corp", "alice")
    assert r2.status_code == 403


async def test_unknown_provider_and_provider_error_are_problems(oh: Harness) -> None:
    assert (await oh.client.get("/api/v1/auth/oidc/nope/start")).status_code == 404
    r = await oh.client.get("/api/v1/auth/oidc/corp/callback?error=access_denied&state=x")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


async def test_api_clients_get_json_and_the_refresh_cookie(oh: Harness) -> None:
    for accept in (None, "application/json", "application/json, text/html"):
        oh.client.cookies.clear()
        r, _ = await browser_login(oh, "corp", "alice", accept)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
        c = set_cookies(r)
        assert c["hearth_refresh"]["value"] == r.json()["refresh_token"]
        assert c["hearth_refresh"]["path"] == "/api/v1/auth"
        assert c["hearth_refresh"]["samesite"] == "strict"
        assert "httponly" in c["hearth_refresh"]
        assert c["hearth_access"]["value"] == r.json()["access_token"]
    oh.client.cookies.clear()


async def test_a_browser_is_sent_to_the_console_signed_in(oh: Harness) -> None:
    oh.client.cookies.clear()
    r, _ = await browser_login(oh, "corp", "alice", BROWSER_ACCEPT)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/"
    assert r.headers["cache-control"] == "no-store"
    assert {"hearth_access", "hearth_refresh"} <= set(set_cookies(r))
    assert "access_token" not in r.text
    # The console, loaded, gets its access token with the cookie.
    t = await oh.client.post("/api/v1/auth/refresh", headers={"X-Hearth-CSRF": "1"})
    assert t.status_code == 200, t.text
    me = await oh.client.get("/api/v1/me", headers={"Authorization": f"Bearer {t.json()['access_token']}"})
    assert me.json()["email"] == "alice@example.com"
    oh.client.cookies.clear()


async def test_a_failed_login_sends_a_browser_to_the_sign_in_page(oh: Harness) -> None:
    """A browser gets a page that says what went wrong, not a JSON document; API clients keep
    the problem. Nothing signs in either way."""
    for attempt in ("provider-error", "disabled"):
        if attempt == "disabled":
            await _disable(oh, (await _me(oh, (await browser_login(oh, "corp", "alice"))[0]))["id"])
        for accept, want in ((BROWSER_ACCEPT, 303), ("application/json", None), (None, None)):
            oh.client.cookies.clear()
            headers = {"Accept": accept} if accept else {}
            if attempt == "provider-error":
                await start(oh.client, "corp")
                r = await oh.client.get(
                    "/api/v1/auth/oidc/corp/callback?error=access_denied&state=x", headers=headers
                )
                kind, status = "oidc-failed", 401
            else:
                r, _ = await browser_login(oh, "corp", "alice", accept)
                kind, status = "account-disabled", 403
            assert r.status_code == (want or status), r.text
            if want:
                assert r.headers["location"] == f"/console/sign-in/?error={kind}"
                assert r.headers["cache-control"] == "no-store"
                assert r.content == b""
            else:
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["type"].endswith(f"/{kind}")
            c = set_cookies(r)
            assert not {"hearth_access", "hearth_refresh"} & set(c)
            # The login cookie is spent either way.
            assert c["hearth_oidc"]["max-age"] == "0"
            assert "hearth_oidc" not in oh.client.cookies
    oh.client.cookies.clear()


async def _disable(h: Harness, user_id: str) -> None:
    from hearth_app.auth import service

    await service.set_disabled(h.res, uuid.UUID(user_id), True)


def _app_client(h: Harness) -> httpx.AsyncClient:
    """Another browser on the same app: its own cookie jar."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE)


async def test_a_callback_from_another_browser_signs_nobody_in(oh: Harness) -> None:
    """Login CSRF: the attacker signs in at the provider as themselves and sends the victim the
    callback URL; the victim's browser must not end up signed in to the attacker's account."""
    victim = "/api/v1/auth/oidc/corp/callback"
    async with _app_client(oh) as attacker:
        for accept in (None, BROWSER_ACCEPT):
            url = await at_provider(await start(attacker, "corp"), "mallory")
            oh.client.cookies.clear()
            if accept:
                # The victim started a login of their own: a cookie, but not the one bound to this state.
                await start(oh.client, "corp")
            r = await oh.client.get(url[len(BASE) :], headers={"Accept": accept} if accept else {})
            assert not {"hearth_access", "hearth_refresh"} & set(set_cookies(r))
            if accept:
                assert r.status_code == 303
                assert r.headers["location"] == "/console/sign-in/?error=oidc-failed"
            else:
                assert r.status_code == 401, r.text
                assert r.json()["type"].endswith("/oidc-failed")
                assert "same browser" in r.json()["detail"]
            assert victim in url
            # And the state is spent: the attacker cannot finish it either.
            r = await attacker.get(url[len(BASE) :])
            assert r.status_code == 401
        # A login started and finished in one browser works.
        url = await at_provider(await start(attacker, "corp"), "alice")
        r = await attacker.get(url[len(BASE) :])
        assert r.status_code == 200, r.text
        assert set_cookies(r)["hearth_oidc"]["max-age"] == "0"
    oh.client.cookies.clear()


async def test_the_login_cookie_is_httponly_lax_and_scoped_to_the_oidc_paths(
    oh: Harness, services: Services, providers: dict[str, tuple[str, str]]
) -> None:
    oh.client.cookies.clear()
    r = await oh.client.get("/api/v1/auth/oidc/corp/start")
    c = set_cookies(r)["hearth_oidc"]
    assert len(c["value"]) >= 32
    assert "httponly" in c
    assert c["samesite"] == "lax"  # sent on the provider's top-level redirect back to us
    assert c["path"] == "/api/v1/auth/oidc"
    assert int(c["max-age"]) == 600
    assert "secure" not in c
    # The value is not what the provider sees, nor what Redis keys the login by.
    state = parse_qs(urlparse(r.headers["location"]).query)["state"][0]
    assert c["value"] not in r.headers["location"]
    assert c["value"] not in await oh.res.redis.get(f"oidc:state:{state}")
    oh.client.cookies.clear()
    async with start_harness(oidc_settings(services, providers, cookie_secure=True)) as hs:
        r = await hs.client.get("/api/v1/auth/oidc/corp/start")
        assert "secure" in set_cookies(r)["hearth_oidc"]


async def test_options_name_the_providers(oh: Harness) -> None:
    r = await oh.client.get("/api/v1/auth/options")
    assert r.json() == {"registration_enabled": True, "oidc_providers": ["corp", "social"]}
