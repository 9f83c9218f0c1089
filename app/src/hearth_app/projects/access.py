"""Project-level access: membership role, or a global permission that overrides it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from hearth_app.auth.deps import Principal
from hearth_app.core.problems import Problem
from hearth_app.core.state import Resources
from hearth_app.projects.models import Project, ProjectMember
from hearth_app.projects.schemas import ProjectOut
from hearth_app.rbac.deps import deny, permissions_of

RANK = {"viewer": 1, "editor": 2, "owner": 3}


async def read_project(res: Resources, project_id: uuid.UUID) -> dict[str, Any] | None:
    """What the `project` cache holds: the project and its members' roles."""
    async with res.sessions() as s:
        proj = await s.get(Project, project_id)
        if proj is None:
            return None
        members = (
            await s.execute(
                select(ProjectMember.user_id, ProjectMember.role).where(
                    ProjectMember.project_id == project_id
                )
            )
        ).all()
    out = ProjectOut.model_validate(proj).model_dump(mode="json")
    out["members"] = {str(u): r for u, r in members}
    return out


async def load_project(res: Resources, project_id: uuid.UUID) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await res.cache.get_or_load(
        "project", str(project_id), lambda: read_project(res, project_id)
    )
    return data


async def authorize(
    res: Resources, p: Principal, project_id: uuid.UUID, need: str, ip: str
) -> dict[str, Any]:
    data = await load_project(res, project_id)
    if data is None:
        raise Problem(404, "no such project", kind="not-found")
    role = data["members"].get(str(p.user_id))
    if role and RANK[role] >= RANK[need]:
        return data
    perms = await permissions_of(res, p)
    override = "projects:read_all" if need == "viewer" else "projects:manage_all"
    if override in perms or "projects:manage_all" in perms:
        return data
    raise await deny(
        res,
        p,
        action=f"project.{need}",
        resource=f"project:{project_id}",
        ip=ip,
        why=f"needs the {need} role on this project",
    )


async def invalidate(res: Resources, project_id: uuid.UUID) -> None:
    """After the change has committed (core/cache.py)."""
    await res.cache.invalidate("project", str(project_id))
