"""OpenID Connect login with any standards-compliant provider.

Authorization code flow with discovery, PKCE (S256), state and nonce. State, nonce and the
PKCE verifier are kept in Redis for ten minutes and can be used once. The state is bound to
the browser that started the login: start returns a secret for a cookie, Redis keeps its hash,
and finish requires it, so a callback URL sent to someone else signs them in to nobody's
account (login CSRF). The ID token is verified
against the provider's published keys (algorithm allowlist, iss, aud, azp, exp, iat, nonce).
An external identity maps to a local user by (provider, subject); a first login links to an
existing account by email only when the provider says it verified the address and the local
account's own address is verified too (see auth/service.py, login_external).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from redis.asyncio import Redis

from hearth_app.auth.schemas import normalize_email
from hearth_app.core.problems import Problem
from hearth_app.core.settings import AuthSettings, OidcProvider

ID_TOKEN_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]
STATE_TTL = 600
DISCOVERY_TTL = 3600


@dataclass
class _Provider:
    cfg: OidcProvider
    metadata: dict[str, Any] = field(default_factory=dict)
    fetched: float = 0.0
    jwks: jwt.PyJWKSet | None = None


@dataclass(frozen=True)
class ExternalUser:
    provider: str
    subject: str
    email: str | None
    email_verified: bool


def _fail(detail: str) -> Problem:
    return Problem(401, detail, kind="oidc-failed")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _address(email: object) -> str | None:
    """The provider's email in our spelling; None when it is not one we would accept at all."""
    if not isinstance(email, str) or len(email) > 320:
        return None
    try:
        return normalize_email(email)
    except ValueError:
        return None


class OidcClient:
    def __init__(self, settings: AuthSettings, redis: Redis, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self._r = redis
        self._http = http
        self._providers = {p.name: _Provider(p) for p in settings.oidc_providers}

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    def _get(self, name: str) -> _Provider:
        p = self._providers.get(name)
        if p is None:
            raise Problem(404, "no such identity provider", kind="not-found")
        return p

    def redirect_uri(self, name: str) -> str:
        return f"{self.settings.oidc_redirect_base.rstrip('/')}/api/v1/auth/oidc/{name}/callback"

    async def _discover(self, p: _Provider) -> dict[str, Any]:
        if p.metadata and time.monotonic() - p.fetched < DISCOVERY_TTL:
            return p.metadata
        url = p.cfg.issuer.rstrip("/") + "/.well-known/openid-configuration"
        r = await self._http.get(url)
        r.raise_for_status()
        meta: dict[str, Any] = r.json()
        # OIDC Discovery 4.3: the document's issuer must be exactly the one we were given.
        if meta.get("issuer") != p.cfg.issuer:
            raise _fail("the provider's discovery document names another issuer")
        p.metadata, p.fetched, p.jwks = meta, time.monotonic(), None
        return meta

    async def _key(self, p: _Provider, kid: str | None) -> Any:
        for attempt in range(2):
            if p.jwks is None or attempt == 1:
                meta = await self._discover(p)
                r = await self._http.get(meta["jwks_uri"])
                r.raise_for_status()
                p.jwks = jwt.PyJWKSet.from_dict(r.json())
            for k in p.jwks.keys:
                if kid is None or k.key_id == kid:
                    return k.key
        raise _fail("the ID token is signed with a key the provider does not publish")

    async def start(self, name: str) -> tuple[str, str]:
        """The authorization URL to send the browser to, and the secret that browser must bring
        back to finish (the caller puts it in a cookie)."""
        p = self._get(name)
        meta = await self._discover(p)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        browser = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        await self._r.set(
            f"oidc:state:{state}",
            json.dumps({"provider": name, "nonce": nonce, "verifier": verifier, "browser": _digest(browser)}),
            ex=STATE_TTL,
        )
        query = {
            "response_type": "code",
            "client_id": p.cfg.client_id,
            "redirect_uri": self.redirect_uri(name),
            "scope": " ".join(p.cfg.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{meta['authorization_endpoint']}?{urlencode(query)}", browser

    async def finish(self, name: str, code: str, state: str, browser: str | None) -> ExternalUser:
        """`browser`: the secret start gave, from the cookie of the browser now calling back."""
        p = self._get(name)
        # GETDEL: a state works once, so a replayed callback fails; a refused one is spent too.
        raw = await self._r.getdel(f"oidc:state:{state}")
        if raw is None:
            raise _fail("unknown or expired login state; sign in again")
        saved = json.loads(raw)
        if browser is None or not secrets.compare_digest(saved.get("browser", ""), _digest(browser)):
            raise _fail(
                "this login was not started in this browser: start and finish signing in in the "
                "same browser (sign in again from the sign-in page)"
            )
        if saved["provider"] != name:
            raise _fail("login state belongs to another provider")
        meta = await self._discover(p)
        r = await self._http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri(name),
                "code_verifier": saved["verifier"],
            },
            auth=(p.cfg.client_id, p.cfg.client_secret.get_secret_value()),
            headers={"Accept": "application/json"},
        )
        if r.status_code != 200:
            raise _fail("the provider refused the authorization code")
        tokens = r.json()
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _fail("the provider returned no ID token")
        claims = await self._verify_id_token(p, meta, id_token, saved["nonce"])
        email = claims.get("email")
        verified = claims.get("email_verified") is True
        if email is None and tokens.get("access_token") and meta.get("userinfo_endpoint"):
            ui = await self._http.get(
                meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            if ui.status_code == 200:
                info = ui.json()
                # OIDC Core 5.3.2: userinfo is only about the ID token's subject.
                if info.get("sub") == claims["sub"]:
                    email, verified = info.get("email"), info.get("email_verified") is True
        return ExternalUser(
            provider=name, subject=str(claims["sub"]), email=_address(email), email_verified=verified
        )

    async def _verify_id_token(
        self, p: _Provider, meta: dict[str, Any], token: str, nonce: str
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _fail("malformed ID token") from exc
        allowed = [
            a for a in ID_TOKEN_ALGS if a in meta.get("id_token_signing_alg_values_supported", ID_TOKEN_ALGS)
        ]
        if header.get("alg") not in allowed:
            raise _fail("ID token algorithm is not allowed")
        key = await self._key(p, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=allowed,
                audience=p.cfg.client_id,
                issuer=p.cfg.issuer,
                leeway=30,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise _fail(f"ID token rejected: {exc}") from exc
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != p.cfg.client_id:
            raise _fail("ID token azp does not name this client")
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise _fail("ID token nonce does not match this login")
        return claims
