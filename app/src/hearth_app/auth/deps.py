"""Who is calling: bearer token (or the edge's cookie) to a verified principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import NoScriptError

from hearth_app.auth.revocation import Revocations
from hearth_app.auth.tokens import AccessClaims, TokenError, verify_access
from hearth_app.core import metrics
from hearth_app.core.deps import ClientIp, Res
from hearth_app.core.problems import Problem
from hearth_app.core.ratelimit import Decision

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


async def principal_from_token(res: Res, token: str) -> Principal:
    try:
        claims = verify_access(res.keys, res.settings.auth, token)
    except TokenError as exc:
        metrics.AUTH_EVENTS.labels("token", "rejected").inc()
        raise _unauthorized("access token is not valid") from exc
    if await res.revocations.is_revoked(claims):
        metrics.AUTH_EVENTS.labels("token", "revoked").inc()
        raise _unauthorized("session has ended")
    return Principal(claims.sub, claims.sid, claims.email, claims)


async def optional_principal(
    request: Request,
    res: Res,
    ip: ClientIp,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """Verify the bearer token (if any), then, in one Redis round trip, check that its session
    is alive and charge the rate limiter (per IP, and per user when signed in).

    The API takes bearer tokens only: a cookie would make every endpoint a CSRF target. The
    cookie is for the edge's forward auth (see auth/router.py).
    """
    claims = None
    if creds is not None:
        try:
            claims = verify_access(res.keys, res.settings.auth, creds.credentials)
        except TokenError as exc:
            metrics.AUTH_EVENTS.labels("token", "rejected").inc()
            raise _unauthorized("access token is not valid") from exc
    limited = res.settings.ratelimit.enabled
    scopes = res.limiter.scopes(ip, str(claims.sub) if claims else None)
    if claims is None and not limited:
        return None
    keys, args = res.limiter.command(scopes)
    for attempt in range(2):
        pipe = res.redis.pipeline(transaction=False)
        if claims is not None:
            pipe.mget(*Revocations.keys(claims))
            pipe.get(res.cache.key("user", str(claims.sub)))
        if limited:
            pipe.evalsha(res.limiter.sha, len(keys), *keys, *args)
        try:
            out = await pipe.execute()
            break
        except NoScriptError:
            # Redis restarted or flushed its scripts: load once and go again.
            if attempt:
                raise
            await res.limiter.load()
    if limited:
        decision = res.limiter.decide(scopes, out[-1])
        request.state.ratelimit = decision
        # Error responses built later carry the same headers (core/problems.py).
        request.state.ratelimit_headers = decision.headers()
    if claims is None:
        return None
    if Revocations.revoked(claims, out[0]):
        metrics.AUTH_EVENTS.labels("token", "revoked").inc()
        raise _unauthorized("session has ended")
    return Principal(claims.sub, claims.sid, claims.email, claims, out[1])


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def require_principal(p: OptionalPrincipal) -> Principal:
    if p is None:
        raise _unauthorized("authentication required")
    return p


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


async def rate_limit(request: Request, res: Res, p: OptionalPrincipal, response: Response) -> None:
    """Router-level: refuse with 429 when the check made in optional_principal said so."""
    decision: Decision | None = getattr(request.state, "ratelimit", None)
    if decision is None:
        return
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(decision.scope.name).inc()
        raise Problem(429, "rate limit exceeded", kind="rate-limited", headers=decision.headers())
    response.headers.update(decision.headers())
