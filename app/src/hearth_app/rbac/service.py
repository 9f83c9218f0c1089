from __future__ import annotations

import uuid

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth_app.rbac.models import Role, role_permissions, user_roles


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


async def role_by_name(s: AsyncSession, name: str) -> Role | None:
    return await s.scalar(select(Role).where(Role.name == name))


async def set_user_roles(s: AsyncSession, user_id: uuid.UUID, role_ids: list[uuid.UUID]) -> None:
    await s.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    if role_ids:
        await s.execute(insert(user_roles), [{"user_id": user_id, "role_id": r} for r in role_ids])


async def grant_role(s: AsyncSession, user_id: uuid.UUID, role: Role) -> None:
    exists = await s.scalar(
        select(func.count())
        .select_from(user_roles)
        .where(user_roles.c.user_id == user_id, user_roles.c.role_id == role.id)
    )
    if not exists:
        await s.execute(insert(user_roles).values(user_id=user_id, role_id=role.id))


async def role_permissions_of(s: AsyncSession, role_id: uuid.UUID) -> list[str]:
    rows = await s.scalars(select(role_permissions.c.permission).where(role_permissions.c.role_id == role_id))
    return sorted(rows.all())


async def set_role_permissions(s: AsyncSession, role_id: uuid.UUID, perms: list[str]) -> None:
    await s.execute(delete(role_permissions).where(role_permissions.c.role_id == role_id))
    if perms:
        await s.execute(insert(role_permissions), [{"role_id": role_id, "permission": p} for p in perms])
