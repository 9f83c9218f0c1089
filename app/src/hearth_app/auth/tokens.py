"""Access tokens (JWT, EdDSA) and opaque refresh tokens.

Verification order follows ASVS V9: the header is checked against our allowlist and the key
comes only from our own key ring, the signature is verified before any claim is read, then
type, validity window, issuer and audience.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from hearth_app.auth.keys import ALG, KeyRing
from hearth_app.core.settings import AuthSettings

ACCESS_TYP = "at+jwt"  # RFC 9068
ALLOWED_ALGS = (ALG,)
# Header parameters that would let a token name its own key: never honoured.
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")
LEEWAY_SECONDS = 5


class TokenError(Exception):
    """The token is not acceptable; the message says why (for logs, not clients)."""


class UnknownKeyError(TokenError):
    def __init__(self, kid: str) -> None:
        super().__init__("unknown key id")
        self.kid = kid


@dataclass(frozen=True)
class AccessClaims:
    sub: uuid.UUID
    sid: uuid.UUID
    email: str
    iat: int
    exp: int
    jti: str


def issue_access(
    keys: KeyRing, settings: AuthSettings, *, user_id: uuid.UUID, session_id: uuid.UUID, email: str
) -> str:
    if keys.signing_key is None or keys.signing_kid is None:
        raise RuntimeError("no signing key loaded")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "email": email,
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_ttl_seconds,
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(
        claims,
        keys.signing_key,
        algorithm=ALG,
        headers={"kid": keys.signing_kid, "typ": ACCESS_TYP},
    )


def verify_access(keys: KeyRing, settings: AuthSettings, token: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(f"malformed token: {exc}") from exc
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise TokenError(f"algorithm {alg!r} is not allowed")
    if any(h in header for h in _FORBIDDEN_HEADERS):
        raise TokenError("token names its own key source")
    if header.get("typ") != ACCESS_TYP:
        raise TokenError(f"wrong token type {header.get('typ')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenError("no key id")
    key = keys.verify_keys.get(kid)
    if key is None:
        raise UnknownKeyError(kid)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGS),
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "sid", "jti"]},
        )
        return AccessClaims(
            sub=uuid.UUID(claims["sub"]),
            sid=uuid.UUID(claims["sid"]),
            email=str(claims.get("email", "")),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
            jti=str(claims["jti"]),
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise TokenError(str(exc)) from exc


async def verify_access_current(keys: KeyRing, settings: AuthSettings, token: str) -> AccessClaims:
    """:func:`verify_access`, but a kid rotated in by another replica is learnt first.

    A known kid costs nothing more; an unknown one may reload the ring from PostgreSQL.
    """
    try:
        return verify_access(keys, settings, token)
    except UnknownKeyError as exc:
        if not await keys.learn(exc.kid):
            raise
    return verify_access(keys, settings, token)


def new_refresh_token() -> tuple[str, bytes]:
    """256 bits from the CSPRNG; only the SHA-256 goes to the database."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh(token)


def hash_refresh(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
