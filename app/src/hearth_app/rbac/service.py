"""Role and permission rows. Writes are idempotent (ON CONFLICT DO NOTHING, deleting only what
goes), so the same change made twice at once succeeds twice instead of failing on a key."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hearth_app.rbac.models import Role, role_permissions, user_roles
from hearth_app.rbac.policy import Grants


async def roles_and_permissions(s: AsyncSession, user_id: uuid.UUID) -> tuple[list[str], list[str]]:
    rows = (
        await s.execute(
            select(Role.name, role_permissions.c.permission)
            .join(user_roles, user_roles.c.role_id == Role.id)
            .outerjoin(role_permissions, role_permissions.c.role_id == Role.id)
            .where(user_roles.c.user_id == user_id)
        )
    ).all()
    roles = sorted({r[0] for r in rows})
    perms = sorted({r[1] for r in rows if r[1] is not None})
    return roles, perms


async def grants_of(s: AsyncSession, user_id: uuid.UUID) -> Grants:
    roles, perms = await roles_and_permissions(s, user_id)
    return Grants(frozenset(roles), frozenset(perms))


async def role_by_name(s: AsyncSession, name: str, *, lock: bool = False) -> Role | None:
    """`lock`: hold the row until commit, so concurrent changes of one role run one by one."""
    q = select(Role).where(Role.name == name)
    return await s.scalar(q.with_for_update() if lock else q)


async def set_user_roles(s: AsyncSession, user_id: uuid.UUID, role_ids: list[uuid.UUID]) -> None:
    await s.execute(
        delete(user_roles).where(user_roles.c.user_id == user_id, user_roles.c.role_id.not_in(role_ids))
    )
    if role_ids:
        await s.execute(
            insert(user_roles)
            .values([{"user_id": user_id, "role_id": r} for r in sorted(role_ids)])
            .on_conflict_do_nothing()
        )


async def grant_role(s: AsyncSession, user_id: uuid.UUID, role: Role) -> bool:
    """Give the role (if not held already); True when it was new."""
    out = await s.execute(
        insert(user_roles).values(user_id=user_id, role_id=role.id).on_conflict_do_nothing()
    )
    return bool(getattr(out, "rowcount", 0))


async def role_permissions_of(s: AsyncSession, role_id: uuid.UUID) -> list[str]:
    rows = await s.scalars(select(role_permissions.c.permission).where(role_permissions.c.role_id == role_id))
    return sorted(rows.all())


async def set_role_permissions(s: AsyncSession, role_id: uuid.UUID, perms: list[str]) -> None:
    await s.execute(
        delete(role_permissions).where(
            role_permissions.c.role_id == role_id, role_permissions.c.permission.not_in(perms)
        )
    )
    if perms:
        await s.execute(
            insert(role_permissions)
            .values([{"role_id": role_id, "permission": p} for p in sorted(perms)])
            .on_conflict_do_nothing()
        )
