from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from hearth_app.auth import service
from hearth_app.auth.deps import ACCESS_COOKIE, CurrentPrincipal, principal_from_token
from hearth_app.auth.models import User
from hearth_app.auth.schemas import LoginIn, MeOut, RefreshIn, RegisterIn, TokenOut, UserOut
from hearth_app.core.deps import ClientIp, Res, resources_of
from hearth_app.core.problems import PROBLEM_RESPONSES, Problem
from hearth_app.rbac import service as rbac
from hearth_app.rbac.deps import deny, permissions_of

router = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)
me_router = APIRouter(tags=["auth"], responses=PROBLEM_RESPONSES)
wellknown = APIRouter(tags=["auth"])


def _tokens_out(res: Res, t: service.IssuedTokens, response: Response) -> TokenOut:
    # Same token as a cookie for browsers behind the edge (forward auth reads it).
    response.set_cookie(
        ACCESS_COOKIE,
        t.access_token,
        max_age=t.expires_in,
        httponly=True,
        secure=res.settings.auth.cookie_secure,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(access_token=t.access_token, refresh_token=t.refresh_token, expires_in=t.expires_in)


@router.post("/register", status_code=201, response_model=UserOut)
async def register(body: RegisterIn, res: Res) -> User:
    """Create an account (when registration is enabled)."""
    return await service.register(res, body.email, body.password, body.display_name)


@router.post("/login", response_model=TokenOut)
async def login(body: LoginIn, res: Res, ip: ClientIp, response: Response) -> TokenOut:
    """Password login: an access token and a refresh token starting a new session."""
    return _tokens_out(res, await service.login(res, body.email, body.password, ip), response)


@router.post("/refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, res: Res, ip: ClientIp, response: Response) -> TokenOut:
    """Trade a refresh token for new tokens. Each refresh token works once."""
    return _tokens_out(res, await service.refresh(res, body.refresh_token, ip), response)


@router.post("/logout", status_code=204)
async def logout(p: CurrentPrincipal, res: Res) -> Response:
    """End this session now: its access and refresh tokens stop working."""
    await service.end_session(res, p.session_id)
    resp = Response(status_code=204)
    resp.delete_cookie(ACCESS_COOKIE)
    return resp


@router.post("/logout-all", status_code=204)
async def logout_all(p: CurrentPrincipal, res: Res) -> Response:
    """End every session of the caller."""
    await service.end_all_sessions(res, p.user_id)
    return Response(status_code=204)


@router.get(
    "/forward",
    status_code=200,
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


@wellknown.get("/.well-known/jwks.json")
async def jwks(res: Res) -> JSONResponse:
    """Public keys that verify our access tokens, including retired ones still in use."""
    return JSONResponse(res.keys.jwks_doc, headers={"Cache-Control": "public, max-age=60"})


@router.get("/oidc/providers", response_model=list[str])
async def oidc_providers(res: Res) -> list[str]:
    """Names of the configured OpenID Connect providers."""
    return res.oidc.names


@router.get("/oidc/{provider}/start", status_code=302, responses={302: {"description": "To the provider"}})
async def oidc_start(provider: Annotated[str, Path(max_length=64)], res: Res) -> RedirectResponse:
    """Begin an OpenID Connect login: redirect to the provider (PKCE, state, nonce)."""
    url = await res.oidc.start(provider)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/oidc/{provider}/callback", response_model=TokenOut)
async def oidc_callback(
    provider: Annotated[str, Path(max_length=64)],
    res: Res,
    ip: ClientIp,
    response: Response,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> TokenOut:
    """The provider sends the browser back here; answers our tokens."""
    if error or not code or not state:
        raise Problem(401, "the provider did not complete the login", kind="oidc-failed")
    ext = await res.oidc.finish(provider, code, state)
    return _tokens_out(res, await service.login_external(res, ext, ip), response)
