"""Audit log rows, written in their own transaction so a rollback never loses them."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth_app.core.context import request_id_var
from hearth_app.rbac.models import AuditLog

log = logging.getLogger("hearth.audit")


async def audit(
    maker: async_sessionmaker[AsyncSession],
    *,
    action: str,
    outcome: str,
    actor_id: uuid.UUID | None = None,
    resource: str = "",
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    rid = request_id_var.get()
    async with maker() as s, s.begin():
        s.add(
            AuditLog(
                actor_id=actor_id,
                # Columns are bounded; paths and names come from clients.
                action=action[:128],
                resource=resource[:255],
                outcome=outcome,
                ip=ip[:64] if ip else None,
                request_id=rid,
                detail=detail or {},
            )
        )
    log.info(
        "audit",
        extra={"action": action, "outcome": outcome, "actor": str(actor_id), "resource": resource},
    )
