"""JetStream setup when replicas start together, and the app's NATS permissions, against a real
NATS server whose app user holds exactly :func:`hearth_app.events.subjects.app_permissions`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from hearth_app.core.settings import Settings
from hearth_app.events import subjects
from hearth_app.events.bus import ConsumerConflictError, EventBus
from hearth_app.events.worker import FileWorker
from hearth_app.main import build_resources
from tests.conftest import admin_nats
from tests.containers import Services

REPLICAS = 6
ROUNDS = 10


class CountingWorker(FileWorker):
    """A replica's worker that only counts and acks what it is given."""

    delivered: list[str]

    async def _on_uploaded(self, msg: Msg) -> None:
        self.delivered.append(json.loads(msg.data)["data"]["file_id"])
        await msg.ack()


@contextlib.asynccontextmanager
async def replicas(settings: Settings | list[Settings], n: int = 0) -> AsyncIterator[list[CountingWorker]]:
    """App replicas (n of one configuration, or one per configuration), each with its own NATS
    connection, as separate processes have."""
    configs = settings if isinstance(settings, list) else [settings] * n
    resources = [build_resources(c) for c in configs]
    workers = []
    for res in resources:
        w = CountingWorker(res.bus, res.sessions, res.storage, res.settings.s3.max_file_bytes)
        w.delivered = []
        workers.append(w)
    try:
        await asyncio.gather(*(res.bus.connect() for res in resources))
        yield workers
    finally:
        for w in workers:
            await w.stop()
        for res in resources:
            await res.bus.close()
            await res.redis.aclose()
            await res.http.aclose()
            await res.engine.dispose()


async def _durable_consumers(js: Any, stream: str) -> list[str]:
    """Names of the stream's durable consumers (an ephemeral one another test's reader left
    behind lives on until its inactivity threshold and is not the app's)."""
    return [c.name for c in await js.consumers_info(stream) if c.config.durable_name]


async def _delete_consumer(js: Any, stream: str) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(stream, subjects.WORKER_DURABLE)


async def test_replicas_starting_together_all_bind_to_one_consumer(
    migrated: Settings, services: Services
) -> None:
    """Without create-or-adopt, all but one replica failed: "consumer name already in use"."""
    stream = migrated.nats.stream
    admin = await admin_nats(services)
    js = admin.jetstream()
    try:
        for _ in range(ROUNDS):
            await _delete_consumer(js, stream)
            await js.purge_stream(stream)
            async with replicas(migrated, REPLICAS) as workers:
                results = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
                assert [r for r in results if isinstance(r, BaseException)] == []
                names = await _durable_consumers(js, stream)
                assert names == [subjects.WORKER_DURABLE]
                info = await js.consumer_info(stream, subjects.WORKER_DURABLE)
                assert info.config.deliver_subject == subjects.deliver_subject(
                    stream, subjects.WORKER_DURABLE
                )
                assert info.config.deliver_group == subjects.WORKER_QUEUE
                assert info.push_bound
                # Every replica is bound to that consumer: the queue group shares the work and
                # each message is handled exactly once.
                ids = [str(uuid.uuid4()) for _ in range(30)]
                for file_id in ids:
                    await js.publish(
                        subjects.FILE_UPLOADED, json.dumps({"data": {"file_id": file_id}}).encode()
                    )
                deadline = asyncio.get_running_loop().time() + 10
                while sum(len(w.delivered) for w in workers) < len(ids):
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                got = [i for w in workers for i in w.delivered]
                assert sorted(got) == sorted(ids)
    finally:
        await js.purge_stream(stream)
        await admin.close()


async def test_replicas_of_different_settings_starting_together_share_one_consumer(
    migrated: Settings, services: Services
) -> None:
    """A rolling change of HEARTH_NATS_MAX_DELIVER: the create that loses to the other
    configuration looks the consumer up again and updates it instead of failing."""
    stream = migrated.nats.stream
    other = migrated.model_copy(update={"nats": migrated.nats.model_copy(update={"max_deliver": 7})})
    admin = await admin_nats(services)
    js = admin.jetstream()
    try:
        for _ in range(ROUNDS):
            await _delete_consumer(js, stream)
            async with replicas([migrated, other] * (REPLICAS // 2)) as workers:
                results = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
                assert [r for r in results if isinstance(r, BaseException)] == []
                assert await _durable_consumers(js, stream) == [subjects.WORKER_DURABLE]
                info = await js.consumer_info(stream, subjects.WORKER_DURABLE)
                assert info.config.max_deliver in {migrated.nats.max_deliver, 7}
                assert info.config.deliver_subject == subjects.deliver_subject(
                    stream, subjects.WORKER_DURABLE
                )
    finally:
        await _delete_consumer(js, stream)
        await admin.close()


async def test_an_existing_consumer_is_adopted_and_updated_not_replaced(
    migrated: Settings, services: Services
) -> None:
    """A consumer made earlier (a random inbox, an old max_deliver) keeps its deliver subject."""
    stream = migrated.nats.stream
    admin = await admin_nats(services)
    js = admin.jetstream()
    legacy_inbox = admin.new_inbox()
    try:
        await _delete_consumer(js, stream)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=subjects.WORKER_DURABLE,
                deliver_subject=legacy_inbox,
                deliver_group=subjects.WORKER_QUEUE,
                filter_subject=subjects.FILE_UPLOADED,
                ack_policy=AckPolicy.EXPLICIT,
                max_deliver=1,
                ack_wait=99,
            ),
        )
        async with replicas(migrated, 3) as workers:
            await asyncio.gather(*(w.start() for w in workers))
            info = await js.consumer_info(stream, subjects.WORKER_DURABLE)
            assert info.config.deliver_subject == legacy_inbox
            assert info.config.max_deliver == migrated.nats.max_deliver
            assert info.config.ack_wait == pytest.approx(migrated.nats.ack_wait_seconds)

        # A consumer of that name that cannot be changed in place is a clear error, not a
        # silent takeover.
        await _delete_consumer(js, stream)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=subjects.WORKER_DURABLE,
                deliver_subject=legacy_inbox,
                deliver_group="someone-else",
                filter_subject=subjects.FILE_UPLOADED,
            ),
        )
        async with replicas(migrated, 1) as workers:
            with pytest.raises(ConsumerConflictError, match="deliver_group='someone-else'"):
                await workers[0].start()
    finally:
        await _delete_consumer(js, stream)
        await admin.close()


class OtherVersionBus(EventBus):
    """A replica of another version, asking for a different retention."""

    def stream_configs(self) -> list[StreamConfig]:
        return [c.evolve(max_age=(c.max_age or 0) + 3600) for c in super().stream_configs()]


async def test_streams_are_ensured_by_replicas_together(migrated: Settings, services: Services) -> None:
    s = migrated.nats
    admin = await admin_nats(services)
    js = admin.jetstream()
    try:
        for round_no in range(ROUNDS):
            for name in (s.stream, s.dlq_stream):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name)
            # Odd rounds mix two configurations: a create that loses to a different one
            # becomes an update instead of failing.
            buses = [(OtherVersionBus if round_no % 2 and i % 2 else EventBus)(s) for i in range(REPLICAS)]
            await asyncio.gather(*(b.connect() for b in buses))
            try:
                results = await asyncio.gather(*(b.ensure_streams() for b in buses), return_exceptions=True)
                assert [r for r in results if isinstance(r, BaseException)] == []
            finally:
                for b in buses:
                    await b.close()
            names = {i.config.name for i in await js.streams_info()}
            assert {s.stream, s.dlq_stream} <= names
        # One more, alone: the streams end as this version wants them.
        bus = EventBus(s)
        await bus.connect()
        await bus.ensure_streams()
        await bus.close()
        info = await js.stream_info(s.stream)
        assert info.config.max_age == pytest.approx(7 * 24 * 3600.0)
        assert sorted(info.config.subjects or []) == sorted(subjects.STREAM_SUBJECTS)
    finally:
        await admin.close()


async def test_the_app_user_is_held_to_the_declared_permissions(
    migrated: Settings, services: Services
) -> None:
    """The tests' NATS enforces app_permissions(): anything else is refused (so the rest of the
    suite passing proves the list is enough)."""
    errors: list[str] = []
    both = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))
        if len(errors) >= 2:
            both.set()

    nc = await nats.connect(
        migrated.nats.url,
        user=migrated.nats.user,
        password=migrated.nats.password.get_secret_value(),
        error_cb=on_error,
    )
    try:
        await nc.subscribe("file.inspect")
        await nc.publish("file.inspect", b"{}")
        await nc.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), timeout=5)
    finally:
        await nc.close()
    joined = " ".join(errors).lower()
    assert "permissions violation for subscription" in joined
    assert "permissions violation for publish" in joined
