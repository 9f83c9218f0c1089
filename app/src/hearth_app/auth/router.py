from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from hearth_app.auth import service
from hearth_app.auth.deps import ACCESS_COOKIE, CurrentPrincipal, principal_from_token
from hearth_app.auth.models import User
from hearth_app.auth.oidc import STATE_TTL
from hearth_app.auth.schemas import (
    AuthOptions,
    JwksOut,
    LoginIn,
    MeOut,
    RefreshIn,
    RegisterIn,
    SessionOut,
    TokenOut,
    UserOut,
)
from hearth_app.core.deps import ClientIp, Res, resources_of
from hearth_app.core.problems import PROBLEM_RESPONSES, Problem
from hearth_app.rbac import service as rbac
from hearth_app.rbac.deps import deny, permissions_of

# Where main.py mounts `router`: the refresh cookie is sent to these paths only.
AUTH_PATH = "/api/v1/auth"
REFRESH_COOKIE = "hearth_refresh"
CSRF_HEADER = "X-Hearth-CSRF"
# Binds an OpenID Connect login to the browser that started it; sent to start and callback only.
OIDC_COOKIE = "hearth_oidc"
OIDC_PATH = f"{AUTH_PATH}/oidc"
# Where a browser lands after an OpenID Connect login, and after a failed one (?error=<kind>).
CONSOLE_PATH = "/console/"
SIGN_IN_PATH = "/console/sign-in/"

# The console's mark: a page of another origin cannot add a custom header (CORS), and with it
# the refresh token is answered in the HttpOnly cookie alone, never to script.
CsrfHeader = Annotated[
    str | None,
    Header(
        alias=CSRF_HEADER,
        max_length=8,
        description="1 (the console): the refresh token only in the hearth_refresh cookie, "
        "never in the response body; refresh then also takes it from the cookie",
    ),
]

router = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)
me_router = APIRouter(tags=["auth"], responses=PROBLEM_RESPONSES)
wellknown = APIRouter(tags=["auth"])


def _set_cookies(res: Res, t: service.IssuedTokens, response: Response) -> None:
    secure = res.settings.auth.cookie_secure
    # The access token for browsers behind the edge (forward auth reads it).
    response.set_cookie(
        ACCESS_COOKIE, t.access_token, max_age=t.expires_in, httponly=True, secure=secure, samesite="lax"
    )
    # The refresh token for the console: script never sees it, and only /auth/* gets it.
    response.set_cookie(
        REFRESH_COOKIE,
        t.refresh_token,
        max_age=t.refresh_expires_in,
        path=AUTH_PATH,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"


def _tokens_out(res: Res, t: service.IssuedTokens, response: Response, csrf: str | None) -> TokenOut:
    """The tokens, and the cookies; for the console (`csrf` is 1) the refresh token is in the
    HttpOnly cookie only, so no script in the page (an injected one included) can read it."""
    _set_cookies(res, t, response)
    return TokenOut(
        access_token=t.access_token,
        refresh_token=None if csrf == "1" else t.refresh_token,
        expires_in=t.expires_in,
    )


def _delete_refresh_cookie(res: Res, response: Response) -> None:
    response.delete_cookie(
        REFRESH_COOKIE,
        path=AUTH_PATH,
        httponly=True,
        secure=res.settings.auth.cookie_secure,
        samesite="strict",
    )


def _delete_oidc_cookie(res: Res, response: Response) -> None:
    response.delete_cookie(
        OIDC_COOKIE, path=OIDC_PATH, httponly=True, secure=res.settings.auth.cookie_secure, samesite="lax"
    )


def _with_deleted_cookie(exc: Problem, delete: Callable[[Response], None]) -> Problem:
    """The problem, also telling the browser to drop a cookie (one Set-Cookie header)."""
    gone = Response()
    delete(gone)
    exc.headers = {**(exc.headers or {}), "Set-Cookie": gone.headers["set-cookie"]}
    return exc


def _delete_cookies(res: Res, response: Response) -> None:
    response.delete_cookie(
        ACCESS_COOKIE, httponly=True, secure=res.settings.auth.cookie_secure, samesite="lax"
    )
    _delete_refresh_cookie(res, response)


def _prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above application/json (a browser navigating)."""

    def quality(media: str) -> float:
        kind = media.split("/")[0] + "/*"
        best: tuple[int, float] = (-1, 0.0)  # (specificity, q) of the most specific match
        for part in accept.split(","):
            name, *params = (p.strip() for p in part.split(";"))
            spec = {media: 2, kind: 1, "*/*": 0}.get(name.lower())
            if spec is None or spec <= best[0]:
                continue
            q = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            best = (spec, q)
        return best[1]

    return quality("text/html") > quality("application/json")


@router.post("/register", status_code=201, response_model=UserOut)
async def register(body: RegisterIn, res: Res) -> User:
    """Create an account (when registration is enabled)."""
    return await service.register(res, body.email, body.password, body.display_name)


@router.post("/login", response_model=TokenOut)
async def login(
    body: LoginIn, res: Res, ip: ClientIp, response: Response, csrf: CsrfHeader = None
) -> TokenOut:
    """Password login: an access token and a refresh token starting a new session."""
    return _tokens_out(res, await service.login(res, body.email, body.password, ip), response, csrf)


@router.post("/refresh", response_model=TokenOut)
async def refresh(
    request: Request,
    res: Res,
    ip: ClientIp,
    response: Response,
    body: Annotated[RefreshIn | None, Body()] = None,
    csrf: CsrfHeader = None,
) -> TokenOut:
    """Trade a refresh token for new tokens. Each refresh token works once.

    The token comes from the body or, when the body has none, from the hearth_refresh cookie.
    The cookie is taken only with `X-Hearth-CSRF: 1`: a custom header is something a page of
    another origin cannot send without our consent (CORS), so a forged request cannot spend
    the cookie (and end the session by reuse detection). SameSite=Strict is the second lock.
    With the header, the new refresh token is in the cookie only.
    """
    if body is not None and body.refresh_token is not None:
        return _tokens_out(res, await service.refresh(res, body.refresh_token, ip), response, csrf)
    if csrf != "1":
        raise Problem(
            403,
            f"refreshing with the {REFRESH_COOKIE} cookie needs the header {CSRF_HEADER}: 1; "
            "send that header, or send the refresh token as refresh_token in a JSON body",
            kind="csrf",
        )
    raw = request.cookies.get(REFRESH_COOKIE)
    if not raw:
        raise Problem(
            401,
            f"no refresh token: the {REFRESH_COOKIE} cookie is missing and the body has no "
            "refresh_token; sign in again",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        issued = await service.refresh(res, raw, ip)
    except Problem as exc:
        # A cookie that failed once fails forever: drop it, so the browser stops sending it.
        raise _with_deleted_cookie(exc, lambda r: _delete_refresh_cookie(res, r)) from None
    return _tokens_out(res, issued, response, csrf)


@router.post("/logout", status_code=204)
async def logout(p: CurrentPrincipal, res: Res) -> Response:
    """End this session now: its access and refresh tokens stop working."""
    await service.end_session(res, p.session_id)
    resp = Response(status_code=204)
    _delete_cookies(res, resp)
    return resp


@router.post("/logout-all", status_code=204)
async def logout_all(p: CurrentPrincipal, res: Res) -> Response:
    """End every session of the caller."""
    await service.end_all_sessions(res, p.user_id)
    resp = Response(status_code=204)
    _delete_cookies(res, resp)
    return resp


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(p: CurrentPrincipal, res: Res) -> list[SessionOut]:
    """The caller's active sessions (one per sign-in), the most recently refreshed first."""
    return [
        SessionOut(
            id=x.id,
            started_at=x.started_at,
            last_used_at=x.last_used_at,
            expires_at=x.expires_at,
            current=x.id == p.session_id,
        )
        for x in await service.active_sessions(res, p.user_id)
    ]


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(session_id: uuid.UUID, p: CurrentPrincipal, res: Res) -> Response:
    """End one of the caller's sessions now (as logout does for the current one)."""
    if not await service.end_own_session(res, p.user_id, session_id):
        raise Problem(
            404,
            f"you have no active session {session_id}; GET {AUTH_PATH}/sessions lists yours",
            kind="not-found",
        )
    resp = Response(status_code=204)
    if session_id == p.session_id:
        _delete_cookies(res, resp)
    return resp


@router.get("/options", response_model=AuthOptions)
async def options(res: Res) -> AuthOptions:
    """How one may sign in here: self-registration, and which OpenID Connect providers."""
    return AuthOptions(
        registration_enabled=res.settings.auth.registration_enabled, oidc_providers=res.oidc.names
    )


@router.get(
    "/forward",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "Allowed; user in X-Auth-* headers"}},
)
async def forward_auth(
    request: Request,
    res: Res,
    ip: ClientIp,
    permission: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[a-z_]+:[a-z_]+$", description="Also require this permission"),
    ] = None,
) -> Response:
    """For the edge proxy's forward_auth: 200 with user headers, 401 or 403."""
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise Problem(
            401,
            "authentication required",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    p = await principal_from_token(res, token)
    perms = await permissions_of(res, p)
    if permission and permission not in perms:
        raise await deny(
            res,
            p,
            action="forward-auth",
            resource=permission,
            ip=ip,
            why=f"missing permission {permission}",
        )
    return Response(
        status_code=200,
        headers={
            "X-Auth-User-Id": str(p.user_id),
            "X-Auth-User-Email": p.email,
            "X-Auth-Permissions": ",".join(sorted(perms)),
            "Cache-Control": "no-store",
        },
    )


@me_router.get("/me", response_model=MeOut)
async def me(request: Request, p: CurrentPrincipal) -> Response:
    """The caller's account, roles and permissions (cached, invalidated on change)."""
    res = resources_of(request)
    # Built here, not by FastAPI: a returned Response gets no headers from dependencies.
    headers = getattr(request.state, "ratelimit_headers", None)
    if p.cached_profile is not None:
        # Already fetched with the session check: no extra round trip, no re-validation.
        res.cache.record("user", hit=True)
        return Response(p.cached_profile, media_type="application/json", headers=headers)

    async def load() -> dict[str, Any] | None:
        async with res.sessions() as s:
            user = await s.get(User, p.user_id)
            if user is None:
                return None
            roles, perms = await rbac.roles_and_permissions(s, user.id)
        out = UserOut.model_validate(user).model_dump(mode="json")
        return {**out, "roles": roles, "permissions": perms}

    data = await res.cache.get_or_load("user", str(p.user_id), load)
    if data is None:
        raise Problem(404, "account no longer exists", kind="not-found")
    return Response(
        MeOut.model_validate(data).model_dump_json(), media_type="application/json", headers=headers
    )


@wellknown.get("/.well-known/jwks.json", response_model=JwksOut)
async def jwks(res: Res) -> JSONResponse:
    """Public keys that verify our access tokens, including retired ones still in use."""
    return JSONResponse(res.keys.jwks_doc, headers={"Cache-Control": "public, max-age=60"})


@router.get("/oidc/providers", response_model=list[str])
async def oidc_providers(res: Res) -> list[str]:
    """Names of the configured OpenID Connect providers."""
    return res.oidc.names


@router.get(
    "/oidc/{provider}/start",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": f"To the provider; sets the {OIDC_COOKIE} cookie the callback needs"}},
)
async def oidc_start(provider: Annotated[str, Path(max_length=64)], res: Res) -> RedirectResponse:
    """Begin an OpenID Connect login: redirect to the provider (PKCE, state, nonce).

    The login is bound to this browser by a cookie (HttpOnly, SameSite=Lax so that it comes
    back with the provider's redirect, only for the OIDC paths); the callback requires it."""
    url, browser = await res.oidc.start(provider)
    redirect = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    redirect.set_cookie(
        OIDC_COOKIE,
        browser,
        max_age=STATE_TTL,
        path=OIDC_PATH,
        httponly=True,
        secure=res.settings.auth.cookie_secure,
        samesite="lax",
    )
    return redirect


@router.get(
    "/oidc/{provider}/callback",
    response_model=TokenOut,
    responses={
        303: {
            "description": f"A browser (Accept prefers text/html): to {CONSOLE_PATH}, signed in; "
            f"or, when the login failed, to {SIGN_IN_PATH}?error=<problem kind>"
        }
    },
)
async def oidc_callback(
    provider: Annotated[str, Path(max_length=64)],
    request: Request,
    res: Res,
    ip: ClientIp,
    response: Response,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    csrf: CsrfHeader = None,
) -> Any:
    """The provider sends the browser back here: our tokens as JSON, or for a browser the
    cookies and a redirect to the console (which then refreshes with the cookie). It must be
    the browser that started the login (its hearth_oidc cookie), which the answer clears.
    A browser whose login failed goes to the console's sign-in page, which says why."""
    browser = _prefers_html(request.headers.get("accept", "")[:1024])
    try:
        if error or not code or not state:
            raise Problem(401, "the provider did not complete the login", kind="oidc-failed")
        ext = await res.oidc.finish(provider, code, state, request.cookies.get(OIDC_COOKIE))
        issued = await service.login_external(res, ext, ip)
    except Problem as exc:
        if not browser:
            raise _with_deleted_cookie(exc, lambda r: _delete_oidc_cookie(res, r)) from None
        failed = RedirectResponse(
            f"{SIGN_IN_PATH}?error={quote(exc.kind or 'oidc-failed')}",
            status_code=303,
            headers={"Cache-Control": "no-store"},
        )
        _delete_oidc_cookie(res, failed)
        return failed
    if browser:
        redirect = RedirectResponse(CONSOLE_PATH, status_code=303)
        _set_cookies(res, issued, redirect)
        _delete_oidc_cookie(res, redirect)
        return redirect
    _delete_oidc_cookie(res, response)
    return _tokens_out(res, issued, response, csrf)
