"""Alembic environment: async engine from our settings, one migrator at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from hearth_app.core.db import make_engine
from hearth_app.core.models import Base
from hearth_app.core.settings import DatabaseSettings

target_metadata = Base.metadata
_LOCK = 0x4D494752  # pg advisory lock: replicas starting together migrate once


def _run(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK})
    try:
        context.configure(connection=conn, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK})


async def _main() -> None:
    settings = context.config.attributes.get("db_settings") or DatabaseSettings()
    engine = make_engine(settings)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `hearth-app migrate`")
asyncio.run(_main())
