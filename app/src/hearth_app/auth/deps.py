"""Who is calling: bearer token (or the edge's cookie) to a verified principal."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import NoScriptError

from hearth_app.auth.keys import KeyRing
from hearth_app.auth.revocation import Revocations
from hearth_app.auth.tokens import LEEWAY_SECONDS, AccessClaims, TokenError, verify_access_current
from hearth_app.core import metrics
from hearth_app.core.deps import get_client_ip, resources_of
from hearth_app.core.problems import Problem
from hearth_app.core.ratelimit import Decision
from hearth_app.core.settings import AuthSettings
from hearth_app.core.state import Resources

ACCESS_COOKIE = "hearth_access"
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str
    claims: AccessClaims
    # The cached profile (JSON), fetched in the same round trip as the session check, for /me.
    cached_profile: str | None = None


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})


class VerifiedTokens:
    """Access tokens that passed :func:`verify_access_current`, so the next request bearing the
    same token skips the Ed25519 verification and the JWT parsing (most of an authenticated
    read's CPU; a client sends one token for many requests).

    Only a token that verified is kept, and only what cannot change for those exact bytes is
    reused (signature, header, issuer, audience, claims). What can change is checked on every
    use: expiry (with the same leeway), and that the ring still holds, for the token's kid, the
    very key that verified it (a key dropped or reloaded means verifying afresh). Revocation is
    checked in Redis on every request, as before. Bounded: the oldest entry goes first.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._tokens: dict[str, tuple[AccessClaims, str, object]] = {}

    def get(self, keys: KeyRing, token: str) -> AccessClaims | None:
        hit = self._tokens.get(token)
        if hit is None:
            return None
        claims, kid, key = hit
        if claims.exp <= time.time() - LEEWAY_SECONDS or keys.verify_keys.get(kid) is not key:
            del self._tokens[token]
            return None
        return claims

    def put(self, keys: KeyRing, token: str, claims: AccessClaims) -> None:
        header = token.split(".", 1)[0]
        kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
        if len(self._tokens) >= self.max_entries:
            del self._tokens[next(iter(self._tokens))]
        self._tokens[token] = (claims, kid, keys.verify_keys[kid])

    async def verify(self, keys: KeyRing, settings: AuthSettings, token: str) -> AccessClaims:
        """:func:`verify_access_current`, or its remembered result for this very token."""
        claims = self.get(keys, token)
        if claims is None:
            claims = await verify_access_current(keys, settings, token)
            self.put(keys, token, claims)
        return claims


verified_tokens = VerifiedTokens()


async def _verify(res: Resources, token: str) -> AccessClaims:
    try:
        return await verified_tokens.verify(res.keys, res.settings.auth, token)
    except TokenError as exc:
        metrics.AUTH_EVENTS.labels("token", "rejected").inc()
        raise _unauthorized("access token is not valid") from exc


async def principal_from_token(res: Resources, token: str) -> Principal:
    claims = await _verify(res, token)
    if await res.revocations.is_revoked(claims):
        metrics.AUTH_EVENTS.labels("token", "revoked").inc()
        raise _unauthorized("session has ended")
    return Principal(claims.sub, claims.sid, claims.email, claims)


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_PRINCIPAL = "hearth.principal"


async def authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal | None:
    """Verify the bearer token (if any), then, in one Redis round trip, check that its session
    is alive and charge the rate limiter (per IP, and per user when signed in). Once per
    request: the dependencies below all call it, and the first call's result is kept.

    The API takes bearer tokens only: a cookie would make every endpoint a CSRF target. The
    cookie is for the edge's forward auth (see auth/router.py).
    """
    if _PRINCIPAL in request.scope:
        done: Principal | None = request.scope[_PRINCIPAL]
        return done
    res = resources_of(request)
    claims = await _verify(res, creds.credentials) if creds is not None else None
    limited = res.settings.ratelimit.enabled
    if claims is None and not limited:
        request.scope[_PRINCIPAL] = None
        return None
    scopes = res.limiter.scopes(await get_client_ip(request), str(claims.sub) if claims else None)
    commands: list[tuple[Any, ...]] = []
    if claims is not None:
        commands.append(("MGET", *Revocations.keys(claims)))
        commands.append(("GET", res.cache.key("user", str(claims.sub))))
    if limited:
        keys, args = res.limiter.command(scopes)
        commands.append(("EVALSHA", res.limiter.sha, len(keys), *keys, *args))
    try:
        out = await res.line.send(commands)
    except NoScriptError:
        # Redis restarted or flushed its scripts: load once and go again.
        await res.limiter.load()
        out = await res.line.send(commands)
    if limited:
        decision = res.limiter.decide(scopes, out[-1])
        request.state.ratelimit = decision
        # Error responses built later carry the same headers (core/problems.py).
        request.state.ratelimit_headers = decision.headers()
    p = None
    if claims is not None:
        if Revocations.revoked(claims, out[0]):
            metrics.AUTH_EVENTS.labels("token", "revoked").inc()
            raise _unauthorized("session has ended")
        p = Principal(claims.sub, claims.sid, claims.email, claims, out[1])
    request.scope[_PRINCIPAL] = p
    return p


# Both take the credentials, not the principal as a dependency of its own: one dependency
# fewer to resolve on every API request.


async def require_principal(request: Request, creds: Bearer) -> Principal:
    p = await authenticate(request, creds)
    if p is None:
        raise _unauthorized("authentication required")
    return p


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


async def rate_limit(request: Request, creds: Bearer, response: Response) -> None:
    """Router-level: refuse with 429 when the check made in :func:`authenticate` said so."""
    await authenticate(request, creds)
    decision: Decision | None = getattr(request.state, "ratelimit", None)
    if decision is None:
        return
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(decision.scope.name).inc()
        raise Problem(429, "rate limit exceeded", kind="rate-limited", headers=decision.headers())
    response.headers.update(decision.headers())
