"""The file worker: a JetStream queue-group consumer of ``file.uploaded`` and the
``rpc.file.inspect`` request/reply responder.

A message that keeps failing is redelivered with growing delays up to ``max_deliver`` times,
then copied to the dead-letter stream (``dlq.<subject>``) and terminated. Delivery is at least
once (a redelivery after a lost ack, the outbox publishing an event again), so handling a
message twice must change nothing: see :meth:`FileWorker.process`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth_app.core import metrics
from hearth_app.events import outbox, subjects
from hearth_app.events.bus import EventBus
from hearth_app.files.models import StoredFile
from hearth_app.files.sniff import sniff
from hearth_app.files.storage import Storage

log = logging.getLogger("hearth.worker")
QUEUE = subjects.WORKER_QUEUE
DURABLE = subjects.WORKER_DURABLE


class FileWorker:
    def __init__(
        self,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        max_bytes: int,
    ) -> None:
        self.bus = bus
        self.sessions = sessions
        self.storage = storage
        self.max_bytes = max_bytes
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        assert self.bus.js is not None
        assert self.bus.nc is not None
        s = self.bus.settings
        # Create the durable consumer, or adopt the one another replica made: replicas
        # starting together all end up bound to the same consumer.
        info = await self.bus.ensure_consumer(
            self.bus.consumer_config(DURABLE, subjects.WORKER_FILTER, QUEUE)
        )
        sub = await self.bus.js.subscribe_bind(
            stream=s.stream,
            config=info.config,
            consumer=info.name,
            cb=self._on_uploaded,
            manual_ack=True,
        )
        self._subs.append(sub)
        self._subs.append(await self.bus.nc.subscribe(subjects.INSPECT, queue=QUEUE, cb=self._on_inspect))

    async def stop(self) -> None:
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._subs.clear()

    async def analyse(self, file_id: uuid.UUID) -> tuple[StoredFile, str, str, int]:
        async with self.sessions() as s:
            row = await s.get(StoredFile, file_id)
        if row is None:
            raise LookupError(f"file {file_id} is not known")
        return (row, *await self._measure(row))

    async def _measure(self, row: StoredFile) -> tuple[str, str, int]:
        """The stored object's SHA-256, sniffed type and size."""
        data = await self.storage.read(row.object_key, self.max_bytes)
        return hashlib.sha256(data).hexdigest(), sniff(data[:8192]), len(data)

    async def process(self, file_id: uuid.UUID) -> str:
        """Check an uploaded file and mark it ready or rejected; returns the outcome.

        Idempotent, as at-least-once delivery needs: only a file still ``uploaded`` is
        checked, and its new status and the ``file.ready``/``file.rejected`` event commit
        together under a row lock, so a redelivered or duplicated ``file.uploaded`` changes
        nothing and publishes nothing (``duplicate``).
        """
        async with self.sessions() as s:
            row = await s.get(StoredFile, file_id)
        if row is None:
            raise LookupError(f"file {file_id} is not known")
        if row.status != "uploaded":
            return "duplicate"
        digest, detected, size = await self._measure(row)
        reason = None
        if size > self.max_bytes or size != row.size:
            reason = "size differs from the declared size"
        elif digest != row.sha256:
            reason = "checksum differs from the declared SHA-256"
        elif detected != row.content_type:
            reason = f"content is {detected}, declared {row.content_type}"
        status = "rejected" if reason else "ready"
        async with self.sessions() as s, s.begin():
            fresh = await s.get(StoredFile, file_id, with_for_update=True)
            if fresh is None or fresh.status != "uploaded":
                return "duplicate"  # deleted, or checked by a concurrent delivery
            fresh.status = status
            fresh.detected_type = detected
            fresh.reason = reason
            outbox.record(
                s,
                subjects.FILE_READY if status == "ready" else subjects.FILE_REJECTED,
                {"file_id": str(file_id), "project_id": str(row.project_id), "reason": reason},
            )
        return status

    async def _on_uploaded(self, msg: Msg) -> None:
        md = msg.metadata
        try:
            event = json.loads(msg.data)
            status = await self.process(uuid.UUID(event["data"]["file_id"]))
            await msg.ack()
            metrics.WORKER_MESSAGES.labels(status).inc()
        except Exception as exc:  # noqa: BLE001 - any failure is a redelivery or a dead letter
            s = self.bus.settings
            if md.num_delivered >= s.max_deliver:
                await self._dead_letter(msg, exc, md.num_delivered)
                await msg.term()
                metrics.WORKER_MESSAGES.labels("dead-lettered").inc()
                log.error("message dead-lettered", extra={"subject": msg.subject, "error": str(exc)})
            else:
                delay = s.retry_base_seconds * (2 ** (md.num_delivered - 1))
                await msg.nak(delay=delay)
                metrics.WORKER_MESSAGES.labels("retry").inc()
                log.warning(
                    "processing failed, will retry",
                    extra={"error": str(exc), "attempt": md.num_delivered},
                )

    async def _dead_letter(self, msg: Msg, exc: Exception, deliveries: int) -> None:
        assert self.bus.js is not None
        await self.bus.js.publish(
            subjects.dead_letter(msg.subject),
            msg.data,
            headers={
                "Hearth-Original-Subject": msg.subject,
                "Hearth-Deliveries": str(deliveries),
                "Hearth-Error": str(exc)[:200],
                "Hearth-Stream-Seq": str(msg.metadata.sequence.stream),
            },
        )

    async def _on_inspect(self, msg: Msg) -> None:
        reply: dict[str, Any]
        try:
            req = json.loads(msg.data)
            _, digest, detected, size = await self.analyse(uuid.UUID(req["file_id"]))
            reply = {"sha256": digest, "detected_type": detected, "size": size}
        except Exception as exc:  # noqa: BLE001 - the caller gets the error, not a time-out
            reply = {"error": str(exc)[:200]}
        await msg.respond(json.dumps(reply).encode())

    async def queue_depth(self) -> int:
        assert self.bus.js is not None
        info = await self.bus.js.consumer_info(self.bus.settings.stream, DURABLE)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
