from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hearth_app.auth.keys import KeyRing
from hearth_app.auth.tokens import (
    TokenError,
    hash_refresh,
    issue_access,
    new_refresh_token,
    verify_access,
)
from hearth_app.core.settings import AuthSettings

SETTINGS = AuthSettings(issuer="https://hearth.test", audience="hearth-api", access_ttl_seconds=300)


def ring() -> KeyRing:
    r = KeyRing.from_secret("unit-test-secret")
    r._install([r._new_row()])
    return r


def test_issued_token_verifies_and_carries_session() -> None:
    r = ring()
    uid, sid = uuid.uuid4(), uuid.uuid4()
    c = verify_access(r, SETTINGS, issue_access(r, SETTINGS, user_id=uid, session_id=sid, email="a@b.c"))
    assert (c.sub, c.sid, c.email) == (uid, sid, "a@b.c")
    assert c.exp - c.iat == 300


def test_token_header_declares_access_token_type_and_kid() -> None:
    r = ring()
    t = issue_access(r, SETTINGS, user_id=uuid.uuid4(), session_id=uuid.uuid4(), email="")
    hdr = jwt.get_unverified_header(t)
    assert hdr == {"alg": "EdDSA", "typ": "at+jwt", "kid": r.signing_kid}


def test_rotated_ring_keeps_verifying_old_tokens() -> None:
    r = ring()
    old = issue_access(r, SETTINGS, user_id=uuid.uuid4(), session_id=uuid.uuid4(), email="")
    old_row = r._new_row()
    # Simulate a rotation: a new key signs, the old public key stays for verification.
    rows = [old_row]
    r2 = KeyRing.from_secret("unit-test-secret")
    r2._install(rows)
    r2.verify_keys.update(r.verify_keys)
    assert r2.signing_kid != r.signing_kid
    verify_access(r2, SETTINGS, old)


def test_wrong_key_with_right_kid_fails() -> None:
    r = ring()
    claims = {
        "iss": SETTINGS.issuer,
        "aud": SETTINGS.audience,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": int(time.time()),
        "nbf": int(time.time()),
        "exp": int(time.time()) + 60,
        "jti": "x",
    }
    t = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": r.signing_kid, "typ": "at+jwt"},
    )
    with pytest.raises(TokenError):
        verify_access(r, SETTINGS, t)


def test_refresh_tokens_have_256_bits_and_are_stored_as_sha256() -> None:
    raw, digest = new_refresh_token()
    assert len(raw) >= 43
    assert digest == hash_refresh(raw)
    assert len(digest) == 32
    assert new_refresh_token()[0] != raw


def test_private_keys_are_encrypted_at_rest() -> None:
    r = ring()
    row = r._new_row()
    assert b"PRIVATE" not in row.private_key_enc
    other = KeyRing.from_secret("another-secret")
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        other._decrypt(row.kid, row.private_key_enc)
