"""Permission checks as dependencies. Every denial is a 403 problem and an audit row."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from hearth_app.auth.deps import CurrentPrincipal, Principal
from hearth_app.core.deps import ClientIp, Res
from hearth_app.core.problems import Problem
from hearth_app.core.state import Resources
from hearth_app.rbac import service
from hearth_app.rbac.audit import audit


async def load_grants(res: Resources, user_id: uuid.UUID) -> dict[str, Any]:
    """What the `perms` cache holds for a user: their roles and permissions."""
    async with res.sessions() as s:
        roles, perms = await service.roles_and_permissions(s, user_id)
    return {"roles": roles, "permissions": perms}


async def permissions_of(res: Resources, p: Principal) -> set[str]:
    data = await res.cache.get_or_load("perms", str(p.user_id), lambda: load_grants(res, p.user_id))
    return set(data["permissions"])


async def deny(
    res: Resources,
    p: Principal | None,
    *,
    action: str,
    resource: str,
    ip: str,
    why: str,
    refused: list[str] | None = None,
) -> Problem:
    """Audit the refusal, then the 403 to raise; `refused` names the roles or permissions."""
    detail: dict[str, Any] = {"reason": why}
    extra = {}
    if refused is not None:
        detail["refused"] = extra["refused"] = refused
    await audit(
        res.sessions,
        action=action,
        outcome="denied",
        actor_id=p.user_id if p else None,
        resource=resource,
        ip=ip,
        detail=detail,
    )
    return Problem(403, why, kind="forbidden", extra=extra)


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def check(request: Request, res: Res, p: CurrentPrincipal, ip: ClientIp) -> Principal:
        if permission not in await permissions_of(res, p):
            raise await deny(
                res,
                p,
                action=f"{request.method} {request.url.path}",
                resource=permission,
                ip=ip,
                why=f"missing permission {permission}",
            )
        return p

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return check


CanReadUsers = Annotated[Principal, Depends(require("users:read"))]
CanManageUsers = Annotated[Principal, Depends(require("users:manage"))]
CanManageRoles = Annotated[Principal, Depends(require("roles:manage"))]
CanReadAudit = Annotated[Principal, Depends(require("audit:read"))]
CanRotateKeys = Annotated[Principal, Depends(require("keys:rotate"))]
CanCreateProjects = Annotated[Principal, Depends(require("projects:create"))]
