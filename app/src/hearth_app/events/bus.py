"""Domain events on NATS JetStream, request/reply on core NATS."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError

from hearth_app.core import metrics
from hearth_app.core.settings import NatsSettings

log = logging.getLogger("hearth.events")

SUBJECTS = ["user.>", "project.>", "file.>"]
DLQ_PREFIX = "dlq."


def max_deliveries_advisory(stream: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.>"


class EventBus:
    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None

    async def connect(self) -> None:
        s = self.settings
        opts: dict[str, Any] = {
            "servers": [s.url],
            "name": "hearth-app",
            "max_reconnect_attempts": -1,
        }
        if s.user:
            opts.update(user=s.user, password=s.password.get_secret_value())
        self.nc = await nats.connect(**opts)
        self.js = self.nc.jetstream()

    async def ensure_streams(self) -> None:
        """Create or update the event stream and the dead-letter stream (idempotent)."""
        assert self.js is not None
        s = self.settings
        main = StreamConfig(name=s.stream, subjects=SUBJECTS, max_age=7 * 24 * 3600.0)
        dlq = StreamConfig(
            name=s.dlq_stream,
            # Our explicit dead letters, and the server's note when a consumer gives up.
            subjects=[DLQ_PREFIX + ">", max_deliveries_advisory(s.stream)],
            retention=RetentionPolicy.LIMITS,
            max_age=30 * 24 * 3600.0,
        )
        for cfg in (main, dlq):
            try:
                await self.js.stream_info(cfg.name or "")
                await self.js.update_stream(cfg)
            except NotFoundError:
                await self.js.add_stream(cfg)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def publish(self, subject: str, data: dict[str, Any]) -> None:
        """Publish an event; failures are logged, not raised (the write already committed)."""
        if self.js is None:
            return
        event_id = uuid.uuid4().hex
        body = json.dumps({"id": event_id, "type": subject, "data": data}).encode()
        try:
            # Nats-Msg-Id lets JetStream drop a duplicate if we ever retry.
            await self.js.publish(subject, body, headers={"Nats-Msg-Id": event_id}, timeout=2)
            metrics.EVENTS_PUBLISHED.labels(subject).inc()
        except Exception:
            log.exception("event publish failed", extra={"subject": subject})

    async def request(self, subject: str, data: dict[str, Any], wait_seconds: float = 5.0) -> dict[str, Any]:
        assert self.nc is not None
        msg = await self.nc.request(subject, json.dumps(data).encode(), timeout=wait_seconds)
        out: dict[str, Any] = json.loads(msg.data)
        return out
