from __future__ import annotations

import base64
import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import func, select

from hearth_app.auth.deps import CurrentPrincipal
from hearth_app.core.deps import ClientIp, Page, Res
from hearth_app.core.problems import PROBLEM_RESPONSES, Problem
from hearth_app.core.schemas import Paginated
from hearth_app.events import outbox, subjects
from hearth_app.files.models import StoredFile
from hearth_app.files.schemas import DownloadOut, FileIn, FileOut, InspectOut, UploadOut
from hearth_app.projects.access import authorize

router = APIRouter(prefix="/projects/{project_id}/files", tags=["files"], responses=PROBLEM_RESPONSES)


async def _file(res: Res, project_id: uuid.UUID, file_id: uuid.UUID) -> StoredFile:
    async with res.sessions() as s:
        row = await s.get(StoredFile, file_id)
    if row is None or row.project_id != project_id:
        raise Problem(404, "no such file", kind="not-found")
    return row


@router.post("", status_code=201, response_model=UploadOut)
async def start_upload(
    project_id: uuid.UUID, body: FileIn, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> UploadOut:
    """Declare a file and get a presigned PUT URL. S3 checks size and SHA-256 on upload."""
    await authorize(res, p, project_id, "editor", ip)
    limits = res.settings.s3
    if body.size > limits.max_file_bytes:
        raise Problem(413, f"files may be at most {limits.max_file_bytes} bytes", kind="too-large")
    if body.content_type not in limits.allowed_content_types:
        raise Problem(415, f"content type {body.content_type} is not allowed", kind="unsupported-type")
    file_id = uuid.uuid4()
    key = f"projects/{project_id}/{file_id}"
    async with res.sessions() as s, s.begin():
        row = StoredFile(
            id=file_id,
            project_id=project_id,
            name=body.name,
            content_type=body.content_type,
            size=body.size,
            sha256=body.sha256,
            object_key=key,
            created_by=p.user_id,
        )
        s.add(row)
    url = await res.storage.presign_put(key, body.content_type, body.size, body.sha256)
    headers = {
        "Content-Type": body.content_type,
        "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(body.sha256)).decode(),
    }
    return UploadOut(file=FileOut.model_validate(row), upload_url=url, upload_headers=headers)


@router.post("/{file_id}/complete", status_code=202, response_model=FileOut)
async def complete_upload(
    project_id: uuid.UUID, file_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> StoredFile:
    """Tell us the upload finished; the worker then checks checksum and content type."""
    await authorize(res, p, project_id, "editor", ip)
    row = await _file(res, project_id, file_id)
    if row.status != "pending":
        raise Problem(409, f"file is already {row.status}", kind="conflict")
    head = await res.storage.head(row.object_key)
    if head is None:
        raise Problem(409, "the object has not been uploaded", kind="conflict")
    if int(head.get("ContentLength", -1)) != row.size:
        raise Problem(409, "uploaded size differs from the declared size", kind="conflict")
    async with res.sessions() as s, s.begin():
        fresh = await s.get(StoredFile, file_id, with_for_update=True)
        if fresh is None or fresh.status != "pending":
            # Completed (or deleted) by a concurrent request: one file.uploaded per file.
            raise Problem(409, f"file is already {fresh.status if fresh else 'deleted'}", kind="conflict")
        fresh.status = "uploaded"
        outbox.record(s, subjects.FILE_UPLOADED, {"file_id": str(file_id), "project_id": str(project_id)})
    row.status = "uploaded"
    return row


@router.get("", response_model=Paginated[FileOut])
async def list_files(
    project_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp, page: Page
) -> dict[str, Any]:
    await authorize(res, p, project_id, "viewer", ip)
    async with res.sessions() as s:
        q = select(StoredFile).where(StoredFile.project_id == project_id)
        total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
        items = (
            await s.scalars(
                q.order_by(StoredFile.created_at, StoredFile.id).limit(page.limit).offset(page.offset)
            )
        ).all()
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{file_id}", response_model=FileOut)
async def get_file(
    project_id: uuid.UUID, file_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> StoredFile:
    await authorize(res, p, project_id, "viewer", ip)
    return await _file(res, project_id, file_id)


@router.get("/{file_id}/download", response_model=DownloadOut)
async def download(
    project_id: uuid.UUID, file_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> DownloadOut:
    """A presigned GET URL, only for files the worker accepted."""
    await authorize(res, p, project_id, "viewer", ip)
    row = await _file(res, project_id, file_id)
    if row.status != "ready":
        raise Problem(409, f"file is {row.status}, not ready", kind="conflict")
    url = await res.storage.presign_get(row.object_key, row.name)
    return DownloadOut(url=url, expires_in=res.settings.s3.presign_seconds)


@router.post("/{file_id}/inspect", response_model=InspectOut)
async def inspect(
    project_id: uuid.UUID, file_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> InspectOut:
    """Ask a worker over NATS request/reply to checksum and sniff the stored object now."""
    await authorize(res, p, project_id, "viewer", ip)
    row = await _file(res, project_id, file_id)
    if row.status == "pending":
        raise Problem(409, "file has not been uploaded", kind="conflict")
    try:
        reply = await res.bus.request(subjects.INSPECT, {"file_id": str(file_id)}, wait_seconds=10)
    except Exception as exc:
        raise Problem(503, "no file worker answered", kind="worker-unavailable") from exc
    if "error" in reply:
        raise Problem(502, "the worker could not inspect the file", kind="worker-error")
    return InspectOut(**reply)


@router.delete("/{file_id}", status_code=204)
async def delete_file(
    project_id: uuid.UUID, file_id: uuid.UUID, p: CurrentPrincipal, res: Res, ip: ClientIp
) -> Response:
    await authorize(res, p, project_id, "editor", ip)
    row = await _file(res, project_id, file_id)
    await res.storage.delete(row.object_key)
    async with res.sessions() as s, s.begin():
        fresh = await s.get(StoredFile, file_id)
        if fresh is not None:
            await s.delete(fresh)
            outbox.record(s, subjects.FILE_DELETED, {"file_id": str(file_id), "project_id": str(project_id)})
    return Response(status_code=204)
