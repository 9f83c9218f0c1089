"""Storage clean-up: what S3 lifecycle rules would do, done by the app.

The platform's S3 server (the Versity S3 Gateway, posix backend) implements no lifecycle
rules, and nothing else removes what nobody will ever use again. Without this the disk
grows for ever with:

- **incomplete multipart uploads**: started, neither completed nor aborted; their parts
  sit in the bucket's temporary area. Aborted once older than `multipart_expiry_seconds`.
- **orphaned objects**: objects under `projects/` that no `files` row names any more
  (a deleted project takes its rows along; a failed delete may leave the object). Deleted
  once older than `orphan_grace_seconds`.
- **abandoned uploads**: files declared (`pending`) whose upload was never completed, older
  than `pending_expiry_seconds` (always longer than an upload URL lives): the object, if
  any, and the row.

Deleted objects do not linger: versioning is off, so a delete removes the file.

`serve` runs `collect` every `gc_interval_seconds` on one replica at a time (a Redis lock
taken for most of the interval); `hearth-app gc-storage` runs it once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from hearth_app.core.state import Resources
from hearth_app.files.models import StoredFile

log = logging.getLogger("hearth.files.gc")

PREFIX = "projects/"
"""Where the app keeps file objects (router.start_upload); nothing else is touched."""
LOCK_KEY = "hearth:gc:storage"


@dataclass(frozen=True)
class Report:
    aborted_uploads: int = 0
    deleted_orphans: int = 0
    expired_pending: int = 0


async def collect(res: Resources, now: datetime | None = None) -> Report:
    """One clean-up pass; `now` is for tests (what is old is judged against it)."""
    s = res.settings.s3
    now = now or datetime.now(UTC)
    storage = res.storage

    aborted = 0
    cutoff = now - timedelta(seconds=s.multipart_expiry_seconds)
    for upload in await storage.list_multipart_uploads():
        if upload.initiated <= cutoff:
            await storage.abort_multipart_upload(upload)
            aborted += 1

    expired = 0
    cutoff = now - timedelta(seconds=s.pending_expiry_seconds)
    async with res.sessions() as session:
        stale = (
            await session.scalars(
                select(StoredFile).where(StoredFile.status == "pending", StoredFile.created_at <= cutoff)
            )
        ).all()
    for row in stale:
        await storage.delete(row.object_key)
        async with res.sessions() as session, session.begin():
            # Only if still pending: a completion meanwhile keeps the file.
            done = await session.execute(
                delete(StoredFile).where(StoredFile.id == row.id, StoredFile.status == "pending")
            )
        expired += done.rowcount  # type: ignore[attr-defined]

    deleted = 0
    cutoff = now - timedelta(seconds=s.orphan_grace_seconds)
    for page in await storage.list_objects(PREFIX):
        old = [o.key for o in page if o.last_modified <= cutoff]
        if not old:
            continue
        named = select(StoredFile.object_key).where(StoredFile.object_key.in_(old))
        async with res.sessions() as session:
            known = set((await session.scalars(named)).all())
        for key in old:
            if key not in known:
                await storage.delete(key)
                deleted += 1

    report = Report(aborted_uploads=aborted, deleted_orphans=deleted, expired_pending=expired)
    if aborted or deleted or expired:
        log.info(
            "storage clean-up: %d multipart uploads aborted, %d orphaned objects deleted, "
            "%d abandoned uploads removed",
            aborted,
            deleted,
            expired,
        )
    return report


async def run_periodically(res: Resources, first_delay: float | None = None) -> None:
    """`collect` every `gc_interval_seconds`, by one replica at a time; never raises.

    The first pass comes `first_delay` seconds after start (default: 10 to 60, at random, so
    replicas started together spread out)."""
    interval = res.settings.s3.gc_interval_seconds
    if interval <= 0:
        return
    if first_delay is None:
        first_delay = random.uniform(10, 60)  # noqa: S311 - jitter, not security
    await asyncio.sleep(first_delay)
    while True:
        try:
            # Held for most of the interval: the other replicas skip this round.
            ttl = max(1, interval * 9 // 10)
            if await res.redis.set(LOCK_KEY, f"{os.getpid()}", nx=True, ex=ttl):
                await collect(res)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("storage clean-up failed; retrying in %d s", interval)
        await asyncio.sleep(interval)
