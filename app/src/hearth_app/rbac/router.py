"""Admin endpoints: users, roles, the audit log, signing keys."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hearth_app.auth import service as auth_service
from hearth_app.auth.deps import Principal
from hearth_app.auth.models import User
from hearth_app.auth.schemas import MeOut
from hearth_app.core.deps import ClientIp, Page, Res
from hearth_app.core.problems import PROBLEM_RESPONSES, Problem
from hearth_app.core.schemas import Paginated
from hearth_app.events import outbox, subjects
from hearth_app.rbac import policy, service
from hearth_app.rbac.audit import audit
from hearth_app.rbac.deps import (
    CanManageRoles,
    CanManageUsers,
    CanReadAudit,
    CanReadUsers,
    CanRotateKeys,
    deny,
)
from hearth_app.rbac.models import AuditLog, Permission, Role
from hearth_app.rbac.permissions import DEFAULT_ROLE
from hearth_app.rbac.policy import Refused
from hearth_app.rbac.schemas import (
    AuditOut,
    KeyRotated,
    PasswordSet,
    RoleIn,
    RoleOut,
    RolePatch,
    UserCreate,
    UserPatch,
    UserRolesIn,
)

RoleNamePath = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)


async def _user_out(res: Res, user_id: uuid.UUID) -> dict[str, Any]:
    async with res.sessions() as s:
        user = await s.get(User, user_id)
        if user is None:
            raise Problem(404, "no such user", kind="not-found")
        roles, perms = await service.roles_and_permissions(s, user.id)
    return MeOut.model_validate(user).model_copy(update={"roles": roles, "permissions": perms}).model_dump()


@router.get("/users", response_model=Paginated[MeOut])
async def list_users(
    _: CanReadUsers,
    res: Res,
    page: Page,
    email: Annotated[str | None, Query(max_length=320, description="Substring of the email")] = None,
) -> dict[str, Any]:
    async with res.sessions() as s:
        q = select(User)
        if email:
            q = q.where(User.email.contains(email.lower(), autoescape=True))
        total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
        users = (
            await s.scalars(q.order_by(User.created_at, User.id).limit(page.limit).offset(page.offset))
        ).all()
        items = []
        for u in users:
            roles, perms = await service.roles_and_permissions(s, u.id)
            items.append(MeOut.model_validate(u).model_copy(update={"roles": roles, "permissions": perms}))
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/users/{user_id}", response_model=MeOut)
async def get_user(user_id: uuid.UUID, _: CanReadUsers, res: Res) -> dict[str, Any]:
    return await _user_out(res, user_id)


async def _refuse(
    res: Res, actor: Principal, ip: str, exc: Refused, *, action: str, resource: str
) -> Problem:
    return await deny(res, actor, action=action, resource=resource, ip=ip, why=exc.why, refused=exc.refused)


@router.post("/users", status_code=201, response_model=MeOut)
async def create_user(body: UserCreate, actor: CanManageUsers, res: Res, ip: ClientIp) -> dict[str, Any]:
    """Make an account with a password the administrator chose (open registration or not).

    The account gets the roles named in the body, or without them the role self-registration
    gives; either way they are granted under the rules of PUT /users/{id}/roles. Its email
    counts as unverified, as a self-registered one does: typing an address proves nobody owns
    it (auth/models.py).
    """
    pw_hash = await res.passwords.hash(body.password)
    names = [DEFAULT_ROLE] if body.roles is None else sorted(set(body.roles))
    try:
        async with res.sessions() as s, s.begin():
            roles = (
                await s.scalars(select(Role).where(Role.name.in_(names)).with_for_update(read=True))
            ).all()
            missing = set(names) - {r.name for r in roles}
            if missing:
                raise Problem(422, f"unknown roles: {', '.join(sorted(missing))}", kind="validation")
            added = {r.name: set(await service.role_permissions_of(s, r.id)) for r in roles}
            policy.check_role_change(
                await service.grants_of(s, actor.user_id), own=False, added=added, removed=set()
            )
            user = User(email=body.email, password_hash=pw_hash, display_name=body.display_name)
            s.add(user)
            await s.flush()
            await service.set_user_roles(s, user.id, [r.id for r in roles])
            outbox.record(s, subjects.USER_REGISTERED, {"user_id": str(user.id), "email": user.email})
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="user.create", resource=f"user:{body.email}") from exc
    except IntegrityError as exc:
        raise Problem(
            409,
            f"an account with the email {body.email!r} exists; find it with GET /api/v1/admin/users?email=",
            kind="conflict",
        ) from exc
    await audit(
        res.sessions,
        action="user.create",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"user:{user.id}",
        ip=ip,
        detail={"email": body.email, "roles": names},
    )
    return await _user_out(res, user.id)


@router.post("/users/{user_id}/password", status_code=204)
async def set_password(
    user_id: uuid.UUID, body: PasswordSet, actor: CanManageUsers, res: Res, ip: ClientIp
) -> Response:
    """Give an account a new (temporary) password; every session of it ends at once."""
    pw_hash = await res.passwords.hash(body.password)
    try:
        async with res.sessions() as s, s.begin():
            user = await s.get(User, user_id, with_for_update=True)
            if user is None:
                raise Problem(404, "no such user", kind="not-found")
            policy.check_account_change(
                await service.grants_of(s, actor.user_id), await service.grants_of(s, user_id)
            )
            user.password_hash = pw_hash
    except Refused as exc:
        raise await _refuse(
            res, actor, ip, exc, action="user.password_reset", resource=f"user:{user_id}"
        ) from exc
    # Whoever held the old password (or a session made with it) is out.
    await auth_service.end_all_sessions(res, user_id)
    await audit(
        res.sessions,
        action="user.password_reset",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"user:{user_id}",
        ip=ip,
    )
    return Response(status_code=204)


@router.patch("/users/{user_id}", response_model=MeOut)
async def patch_user(
    user_id: uuid.UUID, body: UserPatch, actor: CanManageUsers, res: Res, ip: ClientIp
) -> dict[str, Any]:
    """Disable (ending every session at once) or enable an account, or rename it."""
    if body.is_disabled and user_id == actor.user_id:
        raise Problem(409, "you cannot disable your own account", kind="conflict")
    try:
        async with res.sessions() as s, s.begin():
            # The row lock (PUT …/roles takes it too): the target gains no role between the
            # check and the change.
            user = await s.get(User, user_id, with_for_update=True)
            if user is None:
                raise Problem(404, "no such user", kind="not-found")
            policy.check_account_change(
                await service.grants_of(s, actor.user_id), await service.grants_of(s, user_id)
            )
            if body.display_name is not None:
                user.display_name = body.display_name
            if body.is_disabled is not None:
                auth_service.mark_disabled(s, user, body.is_disabled)
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="user.update", resource=f"user:{user_id}") from exc
    if body.is_disabled:
        await auth_service.end_all_sessions(res, user_id)
    await res.cache.invalidate("user", str(user_id))
    if body.display_name is not None:
        await audit(
            res.sessions,
            action="user.update",
            outcome="ok",
            actor_id=actor.user_id,
            resource=f"user:{user_id}",
            ip=ip,
            detail={"display_name": body.display_name},
        )
    if body.is_disabled is not None:
        await audit(
            res.sessions,
            action="user.disable" if body.is_disabled else "user.enable",
            outcome="ok",
            actor_id=actor.user_id,
            resource=f"user:{user_id}",
            ip=ip,
        )
    return await _user_out(res, user_id)


@router.put("/users/{user_id}/roles", response_model=MeOut)
async def set_user_roles(
    user_id: uuid.UUID, body: UserRolesIn, actor: CanManageUsers, res: Res, ip: ClientIp
) -> dict[str, Any]:
    """Set a user's roles. Adding a role grants its permissions: see rbac/policy.py for who may."""
    try:
        async with res.sessions() as s, s.begin():
            # The user's row lock runs role changes of one user one at a time, each on the
            # roles the previous one left.
            if await s.get(User, user_id, with_for_update=True) is None:
                raise Problem(404, "no such user", kind="not-found")
            # Shared locks: a role deleted meanwhile is either gone here (422) or waits for us.
            roles = (
                await s.scalars(select(Role).where(Role.name.in_(body.roles)).with_for_update(read=True))
            ).all()
            missing = set(body.roles) - {r.name for r in roles}
            if missing:
                raise Problem(422, f"unknown roles: {', '.join(sorted(missing))}", kind="validation")
            current = set((await service.roles_and_permissions(s, user_id))[0])
            added = {
                r.name: set(await service.role_permissions_of(s, r.id))
                for r in roles
                if r.name not in current
            }
            removed = current - {r.name for r in roles}
            policy.check_role_change(
                await service.grants_of(s, actor.user_id),
                own=user_id == actor.user_id,
                added=added,
                removed=removed,
            )
            await service.set_user_roles(s, user_id, [r.id for r in roles])
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="user.roles", resource=f"user:{user_id}") from exc
    await res.cache.invalidate("user", str(user_id))
    await res.cache.invalidate("perms", str(user_id))
    await audit(
        res.sessions,
        action="user.roles",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"user:{user_id}",
        detail={"roles": sorted(body.roles), "added": sorted(added), "removed": sorted(removed)},
    )
    return await _user_out(res, user_id)


async def _role_out(res: Res, role: Role) -> RoleOut:
    async with res.sessions() as s:
        perms = await service.role_permissions_of(s, role.id)
    return RoleOut(
        id=role.id,
        name=role.name,
        description=role.description,
        builtin=role.builtin,
        permissions=perms,
    )


@router.get("/roles", response_model=list[RoleOut])
async def list_roles(_: CanReadUsers, res: Res) -> list[RoleOut]:
    async with res.sessions() as s:
        roles = (await s.scalars(select(Role).order_by(Role.name))).all()
    return [await _role_out(res, r) for r in roles]


async def _check_perms(res: Res, perms: list[str]) -> None:
    async with res.sessions() as s:
        known = set((await s.scalars(select(Permission.name))).all())
    unknown = set(perms) - known
    if unknown:
        raise Problem(422, f"unknown permissions: {', '.join(sorted(unknown))}", kind="validation")


@router.post("/roles", status_code=201, response_model=RoleOut)
async def create_role(body: RoleIn, actor: CanManageRoles, res: Res, ip: ClientIp) -> RoleOut:
    await _check_perms(res, body.permissions)
    try:
        async with res.sessions() as s, s.begin():
            policy.check_permissions(await service.grants_of(s, actor.user_id), set(body.permissions))
            role = Role(name=body.name, description=body.description, builtin=False)
            s.add(role)
            await s.flush()
            await service.set_role_permissions(s, role.id, sorted(set(body.permissions)))
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="role.create", resource=f"role:{body.name}") from exc
    except IntegrityError as exc:
        raise Problem(
            409, f"a role named {body.name!r} exists; choose another name", kind="conflict"
        ) from exc
    await audit(
        res.sessions,
        action="role.create",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"role:{body.name}",
        detail={"permissions": sorted(set(body.permissions))},
    )
    return await _role_out(res, role)


async def _flush_grants(res: Res) -> None:
    # A role change touches every holder: drop every cached permission set and profile.
    await res.cache.invalidate_all("perms")
    await res.cache.invalidate_all("user")


@router.patch("/roles/{name}", response_model=RoleOut)
async def patch_role(
    name: RoleNamePath, body: RolePatch, actor: CanManageRoles, res: Res, ip: ClientIp
) -> RoleOut:
    if body.permissions is not None:
        await _check_perms(res, body.permissions)
    try:
        async with res.sessions() as s, s.begin():
            role = await service.role_by_name(s, name, lock=True)
            if role is None:
                raise Problem(404, "no such role", kind="not-found")
            grants = await service.grants_of(s, actor.user_id)
            policy.check_role_edit(grants, name)
            if role.builtin:
                raise Problem(409, "built-in roles cannot be changed", kind="conflict")
            if body.description is not None:
                role.description = body.description
            if body.permissions is not None:
                policy.check_permissions(grants, set(body.permissions))
                await service.set_role_permissions(s, role.id, sorted(set(body.permissions)))
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="role.update", resource=f"role:{name}") from exc
    if body.permissions is not None:
        await _flush_grants(res)
    await audit(
        res.sessions,
        action="role.update",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"role:{name}",
        detail={} if body.permissions is None else {"permissions": sorted(set(body.permissions))},
    )
    return await _role_out(res, role)


@router.delete("/roles/{name}", status_code=204)
async def delete_role(name: RoleNamePath, actor: CanManageRoles, res: Res, ip: ClientIp) -> Response:
    try:
        async with res.sessions() as s, s.begin():
            # Locked: of two deletes at once, the second finds nothing (404), not a vanished row.
            role = await service.role_by_name(s, name, lock=True)
            if role is None:
                raise Problem(404, "no such role", kind="not-found")
            policy.check_role_edit(await service.grants_of(s, actor.user_id), name)
            if role.builtin:
                raise Problem(409, "built-in roles cannot be deleted", kind="conflict")
            await s.delete(role)
    except Refused as exc:
        raise await _refuse(res, actor, ip, exc, action="role.delete", resource=f"role:{name}") from exc
    await _flush_grants(res)
    await audit(
        res.sessions,
        action="role.delete",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"role:{name}",
    )
    return Response(status_code=204)


@router.get("/audit", response_model=Paginated[AuditOut])
async def list_audit(
    _: CanReadAudit,
    res: Res,
    page: Page,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description="An action (`user.roles`), or a prefix when it ends with `.` (`user.`)",
        ),
    ] = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="The user who acted")] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Rows at or after this time (ISO 8601 with an offset)")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Rows at or before this time (ISO 8601 with an offset)")
    ] = None,
) -> dict[str, Any]:
    """The audit log, newest first. Times need an offset: a bare local time names no instant."""
    if since is not None and until is not None and since > until:
        msg = f"since ({since.isoformat()}) is after until ({until.isoformat()}); swap them or drop one"
        raise Problem(
            422,
            msg,
            kind="validation",
            extra={"errors": [{"loc": ["query", "since"], "msg": msg, "type": "value_error"}]},
        )
    q = select(AuditLog)
    if outcome:
        q = q.where(AuditLog.outcome == outcome)
    if action:
        q = q.where(
            AuditLog.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditLog.action == action
        )
    if actor_id is not None:
        q = q.where(AuditLog.actor_id == actor_id)
    if since is not None:
        q = q.where(AuditLog.at >= since)
    if until is not None:
        q = q.where(AuditLog.at <= until)
    async with res.sessions() as s:
        total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = (await s.scalars(q.order_by(AuditLog.id.desc()).limit(page.limit).offset(page.offset))).all()
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/keys/rotate", response_model=KeyRotated)
async def rotate_keys(actor: CanRotateKeys, res: Res) -> KeyRotated:
    """Start signing with a new key; the old one verifies until its tokens have expired."""
    kid = await res.keys.rotate(res.sessions, timedelta(seconds=res.settings.auth.access_ttl_seconds))
    await audit(
        res.sessions,
        action="keys.rotate",
        outcome="ok",
        actor_id=actor.user_id,
        resource=f"key:{kid}",
    )
    return KeyRotated(kid=kid)
