"""Domain events on NATS JetStream, request/reply on core NATS.

Stream and consumer setup is safe when several replicas run it at once: creation treats
"already exists" as a reason to look again, never as a failure, and a consumer is created
with the same configuration by every replica (a fixed deliver subject), so the server
answers each of them with the one consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    RetentionPolicy,
    StreamConfig,
)
from nats.js.errors import APIError, BadRequestError, NotFoundError

from hearth_app.core import metrics
from hearth_app.core.settings import NatsSettings
from hearth_app.events import subjects

log = logging.getLogger("hearth.events")

# Setup attempts when another replica changes the same stream or consumer at the same moment.
SETUP_ATTEMPTS = 5
SETUP_RETRY_SECONDS = 0.1
API_TIMEOUT_SECONDS = 5.0


PUBLISH_TIMEOUT_SECONDS = 2.0


class NatsUnavailableError(RuntimeError):
    """NATS is not connected (down, or reconnecting)."""


class ConsumerConflictError(RuntimeError):
    """A consumer of that name exists with settings that cannot be changed in place."""


# Settings of the worker's consumer that JetStream cannot change on an existing consumer.
_FIXED_FIELDS = ("filter_subject", "deliver_group", "ack_policy", "deliver_policy")
# Settings the app owns and updates in place when configuration changes.
_UPDATABLE_FIELDS = ("max_deliver", "ack_wait")


def _differs(field: str, have: Any, want: Any) -> bool:
    if field == "ack_wait":
        return abs(float(have or 0) - float(want or 0)) > 1e-3
    return bool(have != want)


class EventBus:
    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._on_reconnect: list[Callable[[], None]] = []

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the connection to NATS is back."""
        self._on_reconnect.append(callback)

    async def _reconnected(self) -> None:
        log.info("reconnected to NATS")
        for callback in self._on_reconnect:
            callback()

    async def connect(self) -> None:
        s = self.settings
        opts: dict[str, Any] = {
            "servers": [s.url],
            "name": "hearth-app",
            "max_reconnect_attempts": -1,
            "reconnected_cb": self._reconnected,
        }
        if s.user:
            opts.update(user=s.user, password=s.password.get_secret_value())
        self.nc = await nats.connect(**opts)
        self.js = self.nc.jetstream()

    def stream_configs(self) -> list[StreamConfig]:
        s = self.settings
        main = StreamConfig(
            name=s.stream,
            subjects=list(subjects.STREAM_SUBJECTS),
            max_age=7 * 24 * 3600.0,
            num_replicas=s.stream_replicas,
        )
        dlq = StreamConfig(
            name=s.dlq_stream,
            # Our explicit dead letters, and the server's note when a consumer gives up.
            subjects=[subjects.DLQ_STREAM_SUBJECT, subjects.max_deliveries_advisory(s.stream)],
            retention=RetentionPolicy.LIMITS,
            max_age=30 * 24 * 3600.0,
            num_replicas=s.stream_replicas,
        )
        return [main, dlq]

    async def ensure_streams(self) -> None:
        """Create or update the event stream and the dead-letter stream.

        Idempotent, and safe when replicas run it together: a create that loses the race
        (the stream appeared in between) turns into an update.
        """
        for cfg in self.stream_configs():
            await self._ensure_stream(cfg)

    async def _ensure_stream(self, cfg: StreamConfig) -> None:
        assert self.js is not None
        name = cfg.name or ""
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                await self.js.stream_info(name)
            except NotFoundError:
                try:
                    await self.js.add_stream(cfg)
                    return
                except BadRequestError as exc:
                    # Created meanwhile by another replica (with another configuration:
                    # an identical one is not an error). Look again and update it.
                    if attempt == SETUP_ATTEMPTS:
                        raise
                    log.info("stream appeared while creating it", extra={"stream": name, "error": str(exc)})
                    await asyncio.sleep(SETUP_RETRY_SECONDS * attempt)
                    continue
            await self.js.update_stream(cfg)
            return

    def consumer_config(self, durable: str, filter_subject: str, queue: str) -> ConsumerConfig:
        s = self.settings
        return ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=filter_subject,
            deliver_subject=subjects.deliver_subject(s.stream, durable),
            deliver_group=queue,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=s.max_deliver,
            ack_wait=s.ack_wait_seconds,
        )

    async def ensure_consumer(self, want: ConsumerConfig) -> ConsumerInfo:
        """Create the durable push consumer ``want`` on the event stream, or adopt the existing one.

        Every replica asks for the identical configuration with ``action: create``, so
        replicas starting together all get the one consumer. If it already exists, its
        deliver subject is kept (replicas may be bound to it), updatable settings are
        brought to ``want``, and settings JetStream cannot change raise
        :class:`ConsumerConflictError`. A create that still loses a race (another
        configuration appeared in between) is followed by a fresh look-up.
        """
        assert self.js is not None
        stream, name = self.settings.stream, want.durable_name or ""
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                have = await self.js.consumer_info(stream, name)
            except NotFoundError:
                try:
                    return await self._consumer_request(want, action="create")
                except BadRequestError as exc:
                    if attempt == SETUP_ATTEMPTS:
                        raise
                    log.info(
                        "consumer appeared while creating it", extra={"consumer": name, "error": str(exc)}
                    )
                    await asyncio.sleep(SETUP_RETRY_SECONDS * attempt)
                    continue
            return await self._reconcile_consumer(have, want)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reconcile_consumer(self, have: ConsumerInfo, want: ConsumerConfig) -> ConsumerInfo:
        cfg = have.config
        fixed = [f for f in _FIXED_FIELDS if _differs(f, getattr(cfg, f), getattr(want, f))]
        if fixed:
            detail = ", ".join(f"{f}={getattr(cfg, f)!r} (want {getattr(want, f)!r})" for f in fixed)
            raise ConsumerConflictError(
                f"JetStream consumer {self.settings.stream}/{have.name} exists with {detail}; "
                f"these cannot change in place: delete the consumer and start again"
            )
        changed = {
            f: getattr(want, f) for f in _UPDATABLE_FIELDS if _differs(f, getattr(cfg, f), getattr(want, f))
        }
        if not changed:
            return have
        log.info("updating consumer", extra={"consumer": have.name, "fields": sorted(changed)})
        # The existing deliver subject stays: other replicas may be bound to it.
        # (A consumer made by name-less durable create has no "name" in its configuration.)
        return await self._consumer_request(cfg.evolve(name=have.name, **changed), action="update")

    async def _consumer_request(self, cfg: ConsumerConfig, action: str) -> ConsumerInfo:
        """``$JS.API.CONSUMER.CREATE`` with an explicit action (nats-py does not send one)."""
        assert self.nc is not None
        s = self.settings
        api = subjects.consumer_create_api(s.stream, cfg.name or "", cfg.filter_subject or "")
        body = {"stream_name": s.stream, "config": cfg.as_dict(), "action": action}
        msg = await self.nc.request(api, json.dumps(body).encode(), timeout=API_TIMEOUT_SECONDS)
        resp: dict[str, Any] = json.loads(msg.data)
        if "error" in resp:
            APIError.from_error(resp["error"])  # raises NotFoundError, BadRequestError, ...
        info: ConsumerInfo = ConsumerInfo.from_response(resp)
        return info

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def publish(self, subject: str, data: dict[str, Any], event_id: str | None = None) -> None:
        """Publish one event now and wait for JetStream to store it; raises if it did not.

        Only the outbox relay (events/outbox.py) calls this: application code records its
        events in its own transaction, so none is published for a change that rolled back or
        lost while NATS is away. ``event_id`` goes into the body and into ``Nats-Msg-Id``, so
        JetStream drops a second publish of the same event within the duplicate window.
        """
        if self.js is None or not self.connected:
            raise NatsUnavailableError("not connected to NATS")
        event_id = event_id or str(uuid.uuid4())
        body = json.dumps({"id": event_id, "type": subject, "data": data}).encode()
        ack = await self.js.publish(
            subject, body, headers={"Nats-Msg-Id": event_id}, timeout=PUBLISH_TIMEOUT_SECONDS
        )
        (metrics.EVENTS_DUPLICATE if ack.duplicate else metrics.EVENTS_PUBLISHED).labels(subject).inc()

    async def request(self, subject: str, data: dict[str, Any], wait_seconds: float = 5.0) -> dict[str, Any]:
        assert self.nc is not None
        msg = await self.nc.request(subject, json.dumps(data).encode(), timeout=wait_seconds)
        out: dict[str, Any] = json.loads(msg.data)
        return out
