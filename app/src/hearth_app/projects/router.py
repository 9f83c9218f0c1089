from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from hearth_app.auth.deps import CurrentPrincipal
from hearth_app.auth.models import User
from hearth_app.core.deps import ClientIp, Page, Res
from hearth_app.core.problems import PROBLEM_RESPONSES, Problem
from hearth_app.core.schemas import Paginated
from hearth_app.events import outbox, subjects
from hearth_app.projects.access import authorize, invalidate
from hearth_app.projects.models import Project, ProjectMember
from hearth_app.projects.schemas import MemberIn, MemberOut, ProjectIn, ProjectOut, ProjectPatch
from hearth_app.rbac.deps import CanCreateProjects, permissions_of

router = APIRouter(prefix="/projects", tags=["projects"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=201, response_model=ProjectOut)
async def create_project(body: ProjectIn, p: CanCreateProjects, res: Res) -> Project:
    async with res.sessions() as s, s.begin():
        proj = Project(name=body.name, description=body.description, owner_id=p.user_id)
        s.add(proj)
        await s.flush()
        s.add(ProjectMember(project_id=proj.id, user_id=p.user_id, role="owner"))
        outbox.record(s, subjects.PROJECT_CREATED, {"project_id": str(proj.id), "owner_id": str(p.user_id)})
    return proj


@router.get("", response_model=Paginated[ProjectOut])
async def list_projects(p: CurrentPrincipal, res: Res, page: Page) -> dict[str, Any]:
    """Projects the caller is a member of (all of them with projects:read_all)."""
    see_all = "projects:read_all" in await permissions_of(res, p)
    async with res.sessions() as s:
        q = select(Project)
        if not see_all:
            q = q.join(ProjectMember, ProjectMember.project_id == Project.id).where(
                ProjectMember.user_id == p.user_id
            )
        total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
        items = (
            await s.scalars(q.order_by(Project.created_at, Project.id).limit(page.limit).offset(page.offset))
        ).all()
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp) -> Any:
    """Read a project (cache-aside; writes invalidate)."""
    return await authorize(res, p, project_id, "viewer", ip)


@router.patch("/{project_id}", response_model=ProjectOut)
async def patch_project(
    project_id: uuid.UUID, body: ProjectPatch, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> Project:
    await authorize(res, p, project_id, "editor", ip)
    async with res.sessions() as s, s.begin():
        proj = await s.get(Project, project_id, with_for_update=True)
        if proj is None:
            raise Problem(404, "no such project", kind="not-found")
        if body.name is not None:
            proj.name = body.name
        if body.description is not None:
            proj.description = body.description
        outbox.record(s, subjects.PROJECT_UPDATED, {"project_id": str(project_id)})
    await invalidate(res, project_id)
    return proj


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp) -> Response:
    await authorize(res, p, project_id, "owner", ip)
    async with res.sessions() as s, s.begin():
        # A statement, not a loaded row: deleting twice at once is no error (and one event).
        deleted = await s.execute(delete(Project).where(Project.id == project_id))
        if deleted.rowcount:  # type: ignore[attr-defined]
            outbox.record(s, subjects.PROJECT_DELETED, {"project_id": str(project_id)})
    await invalidate(res, project_id)
    return Response(status_code=204)


@router.get("/{project_id}/members", response_model=list[MemberOut])
async def list_members(project_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp) -> list[MemberOut]:
    data = await authorize(res, p, project_id, "viewer", ip)
    return [MemberOut(user_id=uuid.UUID(u), role=r) for u, r in sorted(data["members"].items())]


@router.put("/{project_id}/members/{user_id}", response_model=MemberOut)
async def put_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberIn,
    p: CurrentPrincipal,
    res: Res,
    ip: ClientIp,
) -> MemberOut:
    await authorize(res, p, project_id, "owner", ip)
    try:
        async with res.sessions() as s, s.begin():
            if await s.get(User, user_id) is None:
                raise Problem(404, "no such user", kind="not-found")
            # An upsert: the same member added twice at once is set twice, not a key conflict.
            await s.execute(
                insert(ProjectMember)
                .values(project_id=project_id, user_id=user_id, role=body.role)
                .on_conflict_do_update(
                    index_elements=[ProjectMember.project_id, ProjectMember.user_id],
                    set_={"role": body.role},
                )
            )
            outbox.record(
                s,
                subjects.PROJECT_MEMBER_SET,
                {"project_id": str(project_id), "user_id": str(user_id), "role": body.role},
            )
    except IntegrityError as exc:
        # The project or the user was deleted meanwhile.
        raise Problem(404, "no such project or user", kind="not-found") from exc
    await invalidate(res, project_id)
    return MemberOut(user_id=user_id, role=body.role)


@router.delete("/{project_id}/members/{user_id}", status_code=204)
async def delete_member(
    project_id: uuid.UUID, user_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> Response:
    await authorize(res, p, project_id, "owner", ip)
    async with res.sessions() as s, s.begin():
        proj = await s.get(Project, project_id)
        if proj is not None and proj.owner_id == user_id:
            raise Problem(409, "the owner cannot be removed", kind="conflict")
        removed = await s.execute(
            delete(ProjectMember).where(
                ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
            )
        )
        if removed.rowcount:  # type: ignore[attr-defined]
            outbox.record(
                s, subjects.PROJECT_MEMBER_REMOVED, {"project_id": str(project_id), "user_id": str(user_id)}
            )
    await invalidate(res, project_id)
    return Response(status_code=204)
