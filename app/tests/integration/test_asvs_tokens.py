"""OWASP ASVS 5.0 token requirements, one named test each, against the running API."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.conftest import Harness

ME = "/api/v1/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    h, p, s = token.split(".")

    def dec(x: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
        return out

    return dec(h), dec(p), s


def _resign(h: Harness, claims: dict[str, Any], **header: Any) -> str:
    """A token signed with the service's real current key, with chosen claims and header."""
    keys = h.res.keys
    hdr = {"kid": keys.signing_kid, "typ": "at+jwt", **header}
    return jwt.encode(claims, keys.signing_key, algorithm="EdDSA", headers=hdr)


async def _claims(h: Harness) -> tuple[str, dict[str, Any]]:
    _, auth = await h.user(f"{uuid.uuid4().hex[:8]}@example.com")
    token = auth["Authorization"].split()[1]
    return token, _parts(token)[1]


async def _status(h: Harness, token: str) -> int:
    r = await h.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    if r.status_code == 401:
        assert r.headers["content-type"] == "application/problem+json"
    return r.status_code


async def test_v9_1_1_token_signature_is_verified_before_contents_are_accepted(h: Harness) -> None:
    token, claims = await _claims(h)
    assert await _status(h, token) == 200
    # Tampered payload (another subject), original signature: rejected.
    hdr, _, sig = token.split(".")
    forged = {**claims, "sub": str(uuid.uuid4())}
    tampered = f"{hdr}.{_b64(json.dumps(forged).encode())}.{sig}"
    assert await _status(h, tampered) == 401
    # Signed by a key that is not ours but carries our kid: rejected.
    other = Ed25519PrivateKey.generate()
    foreign = jwt.encode(
        claims, other, algorithm="EdDSA", headers={"kid": h.res.keys.signing_kid, "typ": "at+jwt"}
    )
    assert await _status(h, foreign) == 401
    # Signature stripped: rejected.
    assert await _status(h, token.rsplit(".", 1)[0] + ".") == 401


async def test_v9_1_2_only_allowlisted_algorithms_are_accepted(h: Harness) -> None:
    _, claims = await _claims(h)
    hdr = {"kid": h.res.keys.signing_kid, "typ": "at+jwt"}
    # alg "none"
    none_token = f"{_b64(json.dumps({**hdr, 'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."
    assert await _status(h, none_token) == 401
    # HS256 keyed with the public key (key confusion).
    pub_x = h.res.keys.jwks_doc["keys"][0]["x"]
    public_bytes = base64.urlsafe_b64decode(pub_x + "=" * (-len(pub_x) % 4))
    hs = jwt.encode(claims, public_bytes, algorithm="HS256", headers=hdr)
    assert await _status(h, hs) == 401
    # Another asymmetric algorithm we did not list.
    from cryptography.hazmat.primitives.asymmetric import ec

    es = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers=hdr)
    assert await _status(h, es) == 401
    # And the service itself only publishes and signs with EdDSA.
    assert {k["alg"] for k in h.res.keys.jwks_doc["keys"]} == {"EdDSA"}


async def test_v9_1_3_key_material_only_from_trusted_preconfigured_sources(h: Harness) -> None:
    _, claims = await _claims(h)
    attacker = Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(OKPAlgorithm.to_jwk(attacker.public_key()))
    # Embedded key (jwk), remote key set (jku), certificate URL (x5u): none is honoured.
    for extra in (
        {"jwk": attacker_jwk},
        {"jku": "http://127.0.0.1:1/jwks.json"},
        {"x5u": "http://127.0.0.1:1/cert.pem"},
    ):
        t = jwt.encode(
            claims,
            attacker,
            algorithm="EdDSA",
            headers={"kid": "attacker", "typ": "at+jwt", **extra},
        )
        assert await _status(h, t) == 401
    # Even signed by our key, a token naming its own key source is refused.
    assert await _status(h, _resign(h, claims, jku="http://127.0.0.1:1/jwks.json")) == 401
    # An unknown kid never makes us fetch or trust a key.
    assert await _status(h, _resign(h, claims, kid="not-a-key-of-ours")) == 401


async def test_v9_2_1_token_accepted_only_within_nbf_and_exp(h: Harness) -> None:
    _, claims = await _claims(h)
    now = int(time.time())
    assert await _status(h, _resign(h, {**claims, "exp": now - 60})) == 401
    assert await _status(h, _resign(h, {**claims, "nbf": now + 120})) == 401
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    assert await _status(h, _resign(h, no_exp)) == 401
    no_nbf = {k: v for k, v in claims.items() if k != "nbf"}
    assert await _status(h, _resign(h, no_nbf)) == 401
    assert await _status(h, _resign(h, claims)) == 200


async def test_v9_2_2_only_access_tokens_are_accepted_for_authorization(h: Harness) -> None:
    _, claims = await _claims(h)
    for typ in ("JWT", "id_token+jwt", "refresh+jwt", None):
        hdr_typ: dict[str, Any] = {"typ": typ} if typ else {}
        t = jwt.encode(
            claims,
            h.res.keys.signing_key,
            algorithm="EdDSA",
            headers={"kid": h.res.keys.signing_kid, **hdr_typ},
        )
        if typ is None:
            # PyJWT adds typ=JWT by default; drop it explicitly.
            t = jwt.encode(
                claims,
                h.res.keys.signing_key,
                algorithm="EdDSA",
                headers={"kid": h.res.keys.signing_kid, "typ": None},
            )
        assert await _status(h, t) == 401, typ
    # A refresh token is opaque and never works as a bearer token.
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    await h.register(email)
    tokens = await h.login(email)
    assert await _status(h, tokens["refresh_token"]) == 401


async def test_v9_2_3_only_tokens_for_this_audience_are_accepted(h: Harness) -> None:
    _, claims = await _claims(h)
    assert await _status(h, _resign(h, {**claims, "aud": "some-other-service"})) == 401
    assert await _status(h, _resign(h, {k: v for k, v in claims.items() if k != "aud"})) == 401
    assert await _status(h, _resign(h, {**claims, "iss": "https://evil.example"})) == 401
    assert await _status(h, _resign(h, {**claims, "aud": [h.settings.auth.audience]})) == 200


async def test_v7_4_1_logout_terminates_the_session_at_once(h: Harness) -> None:
    email = "leaver@example.com"
    await h.register(email)
    t = await h.login(email)
    auth = {"Authorization": f"Bearer {t['access_token']}"}
    assert (await h.client.get(ME, headers=auth)).status_code == 200
    other = await h.login(email)  # a second session stays alive
    assert (await h.client.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    # The same, unexpired access token no longer works, nor does its refresh token.
    assert (await h.client.get(ME, headers=auth)).status_code == 401
    r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]})
    assert r.status_code == 401
    # Forward auth at the edge (a downstream relying party) refuses it too.
    assert (await h.client.get("/api/v1/auth/forward", headers=auth)).status_code == 401
    other_auth = {"Authorization": f"Bearer {other['access_token']}"}
    assert (await h.client.get(ME, headers=other_auth)).status_code == 200


async def test_v7_4_2_disabling_an_account_terminates_all_its_sessions(h: Harness) -> None:
    _, admin = await h.user("admin@example.com", role="admin")
    victim_id, _ = await h.user("victim@example.com")
    sessions = [await h.login("victim@example.com") for _ in range(2)]
    for s in sessions:
        assert (
            await h.client.get(ME, headers={"Authorization": f"Bearer {s['access_token']}"})
        ).status_code == 200
    r = await h.client.patch(f"/api/v1/admin/users/{victim_id}", json={"is_disabled": True}, headers=admin)
    assert r.status_code == 200, r.text
    for s in sessions:
        assert (
            await h.client.get(ME, headers={"Authorization": f"Bearer {s['access_token']}"})
        ).status_code == 401
        r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
        assert r.status_code == 401
    r = await h.client.post(
        "/api/v1/auth/login",
        json={"email": "victim@example.com", "password": "correct horse battery staple"},
    )
    # Answered as a wrong password: a disabled account does not confirm the password.
    assert r.status_code == 401


async def test_v10_4_5_refresh_token_reuse_revokes_the_whole_family(h: Harness) -> None:
    email = "rotor@example.com"
    await h.register(email)
    first = await h.login(email)
    r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The attacker replays the used token: refused, and the family dies with it.
    r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    r = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    # Access tokens of that session stop too.
    assert (
        await h.client.get(ME, headers={"Authorization": f"Bearer {second['access_token']}"})
    ).status_code == 401
    # Stored hashed: the raw token is nowhere in the database.
    from sqlalchemy import select

    from hearth_app.auth.models import RefreshToken
    from hearth_app.auth.tokens import hash_refresh

    async with h.res.sessions() as s:
        rows = (await s.scalars(select(RefreshToken))).all()
    assert rows
    assert all(row.revoked_at is not None for row in rows)
    assert hash_refresh(first["refresh_token"]) in {row.token_hash for row in rows}
    assert all(first["refresh_token"].encode() not in row.token_hash for row in rows)
