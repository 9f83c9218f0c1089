"""Permission checks as dependencies. Every denial is a 403 problem and an audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from hearth_app.auth.deps import CurrentPrincipal, Principal
from hearth_app.core.deps import ClientIp, Res
from hearth_app.core.problems import Problem
from hearth_app.core.state import Resources
from hearth_app.rbac import service
from hearth_app.rbac.audit import audit


async def permissions_of(res: Resources, p: Principal) -> set[str]:
    async def load() -> dict[str, Any]:
        async with res.sessions() as s:
            roles, perms = await service.roles_and_permissions(s, p.user_id)
        return {"roles": roles, "permissions": perms}

    data = await res.cache.get_or_load("perms", str(p.user_id), load)
    return set(data["permissions"])


async def deny(
    res: Resources, p: Principal | None, *, action: str, resource: str, ip: str, why: str
) -> Problem:
    await audit(
        res.sessions,
        action=action,
        outcome="denied",
        actor_id=p.user_id if p else None,
        resource=resource,
        ip=ip,
        detail={"reason": why},
    )
    return Problem(403, why, kind="forbidden")


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
