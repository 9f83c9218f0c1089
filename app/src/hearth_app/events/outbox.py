"""The transactional outbox: a domain event is published if and only if its transaction commits.

A writer calls :func:`record` inside the transaction that makes the change, so the event is a
row of ``outbox`` that commits or rolls back with it. A :class:`Relay` in every process
publishes the pending rows to JetStream, oldest first, with ``Nats-Msg-Id`` = the row's id,
and marks them sent. While NATS is down the rows wait in PostgreSQL and the relay backs off;
they go out when it is back. A row published but not yet marked (a crash, a lost
acknowledgement) is published again: JetStream drops the copy within the stream's duplicate
window (two minutes), and consumers tolerate one that comes later (delivery is at least once).

Replicas share the work: each takes a batch with ``FOR UPDATE SKIP LOCKED``, so in normal
operation no row is published twice. A trigger on ``outbox`` notifies ``hearth_outbox`` on
commit, which wakes the relays at once; a slow poll covers a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import JSON, BigInteger, DateTime, Identity, Index, String, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from hearth_app.core import metrics
from hearth_app.core.db import Base, new_id
from hearth_app.core.settings import DatabaseSettings
from hearth_app.core.tasks import cancel_and_wait
from hearth_app.events import subjects
from hearth_app.events.bus import EventBus

log = logging.getLogger("hearth.outbox")

CHANNEL = "hearth_outbox"
"""Notified (by a trigger, on commit) when rows are added; see migration 0003."""


class OutboxEvent(Base):
    __tablename__ = "outbox"

    # The event's id: the body's "id" and the Nats-Msg-Id JetStream de-duplicates on. A UUID,
    # never reused (a restored backup or a reset sequence would reuse a counter).
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Publishing order.
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    subject: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_outbox_pending", "seq", postgresql_where=text("sent_at IS NULL")),)


def record(session: AsyncSession, subject: str, data: dict[str, Any]) -> uuid.UUID:
    """Add an event to ``session``'s transaction; it is published after, and only if, that commits.

    The subject must be one of :data:`subjects.EVENTS` (the app may publish nothing else, and a
    row NATS refused would be retried for ever).
    """
    if subject not in subjects.EVENTS:
        raise ValueError(f"{subject!r} is not a domain event; add it to hearth_app.events.subjects")
    event_id = new_id()
    session.add(OutboxEvent(id=event_id, subject=subject, data=data))
    return event_id


class Relay:
    """Publishes committed events from ``outbox``; one per process, any number of replicas."""

    def __init__(
        self,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        db: DatabaseSettings,
        *,
        batch: int = 100,
        poll_seconds: float = 5.0,
        max_backoff_seconds: float = 5.0,
        retention: timedelta = timedelta(days=1),
        cleanup_seconds: float = 600.0,
        metrics_seconds: float = 1.0,
    ) -> None:
        self.bus = bus
        self.sessions = sessions
        self.db = db
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.retention = retention
        self.cleanup_seconds = cleanup_seconds
        self.metrics_seconds = metrics_seconds
        self._wake = asyncio.Event()  # a commit added rows (NOTIFY)
        self._nats_back = asyncio.Event()  # the connection to NATS is back
        self._listen_failed = False
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_cleanup = 0.0
        self._last_metrics = 0.0
        bus.on_reconnect(self._nats_back.set)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop, publishing what is pending first if NATS is there (what is left stays for later)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self.bus.connected:
            try:
                await asyncio.wait_for(self.drain(), timeout=drain_seconds)
            except Exception:  # the rows stay pending; another replica sends them
                log.warning("outbox not drained at shutdown", exc_info=True)
        await self._close_listener()

    async def publish_batch(self) -> int:
        """Publish up to ``batch`` pending rows, oldest first; returns how many were sent.

        Rows another replica is publishing are skipped, not waited for. If a publish fails,
        the rows sent before it are marked and the error is raised.
        """
        async with self.sessions() as s, s.begin():
            rows = (
                await s.execute(
                    select(OutboxEvent.id, OutboxEvent.subject, OutboxEvent.data)
                    .where(OutboxEvent.sent_at.is_(None))
                    .order_by(OutboxEvent.seq)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            sent: list[uuid.UUID] = []
            failure: Exception | None = None
            for event_id, subject, data in rows:
                try:
                    await self.bus.publish(subject, data, str(event_id))
                except Exception as exc:  # noqa: BLE001 - re-raised once the sent rows are marked
                    failure = exc
                    break
                sent.append(event_id)
            if sent:
                mark = update(OutboxEvent).where(OutboxEvent.id.in_(sent)).values(sent_at=func.now())
                await s.execute(mark)
        if failure is not None:
            raise failure
        return len(sent)

    async def drain(self) -> int:
        """Publish until nothing is pending (that another replica is not already publishing)."""
        total = 0
        while True:
            n = await self.publish_batch()
            total += n
            if n < self.batch:
                return total

    async def cleanup(self) -> int:
        """Delete rows sent longer than ``retention`` ago."""
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                delete(OutboxEvent).where(OutboxEvent.sent_at < func.now() - self.retention)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def refresh_metrics(self) -> tuple[int, float]:
        """Set the pending-rows and oldest-pending-age gauges; returns (pending, age in seconds)."""
        oldest = func.extract("epoch", func.now() - func.min(OutboxEvent.created_at))
        query = select(func.count(), func.coalesce(oldest, 0)).where(OutboxEvent.sent_at.is_(None))
        async with self.sessions() as s:
            count, age = (await s.execute(query)).one()
        metrics.OUTBOX_PENDING.set(count)
        metrics.OUTBOX_OLDEST_PENDING_AGE.set(float(age))
        return int(count), float(age)

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self._nats_back.clear()
            try:
                await self._ensure_listener()
                await self.drain()
                failures = 0
                if loop.time() - self._last_cleanup >= self.cleanup_seconds:
                    self._last_cleanup = loop.time()
                    await self.cleanup()
            except Exception as exc:  # noqa: BLE001 - NATS or PostgreSQL away: back off, retry
                failures += 1
                delay = min(self.max_backoff_seconds, 0.1 * 2**failures)
                # Once per outage at warning level; the metrics show how long it lasts.
                (log.warning if failures == 1 else log.debug)(
                    "outbox relay: publishing failed, retrying",
                    extra={"error": repr(exc), "attempt": failures, "retry_in": delay},
                )
                # New commits do not shorten the back-off; NATS coming back does.
                woken_by = self._nats_back
            else:
                delay, woken_by = self.poll_seconds, self._wake
            await self._refresh_metrics_now_and_then(loop.time())
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the event is set, and stop() would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await woken_by.wait()

    async def _refresh_metrics_now_and_then(self, now: float) -> None:
        if now - self._last_metrics < self.metrics_seconds:
            return
        self._last_metrics = now
        try:
            await self.refresh_metrics()
        except Exception:  # metrics are best effort
            log.debug("outbox metrics unavailable", exc_info=True)

    async def _ensure_listener(self) -> None:
        """LISTEN on a connection of its own (best effort: without it the poll still runs)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._close_listener()
        d = self.db
        try:
            # Held at once, so that stop() closes it even if what follows is cancelled.
            self._listener = await asyncpg.connect(
                host=d.host,
                port=d.port,
                user=d.user,
                password=d.password.get_secret_value(),
                database=d.name,
                timeout=5,
            )
            await self._listener.add_listener(CHANNEL, self._notified)
        except Exception:  # polling covers for it
            await self._close_listener()
            if not self._listen_failed:
                log.warning("outbox relay: cannot LISTEN, polling only", exc_info=True)
            self._listen_failed = True
            return
        self._listen_failed = False

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
