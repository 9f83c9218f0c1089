"""Events are not lost: the transactional outbox (events/outbox.py) against real PostgreSQL and
NATS JetStream, with NATS stopped and paused while the app writes.

The NATS-down tests run their own NATS container on a fixed port (the session's one is
started with --rm, and a stopped container would come back on another port)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text, update

from hearth_app.core.settings import Settings
from hearth_app.events import outbox, subjects
from hearth_app.events.bus import PUBLISH_TIMEOUT_SECONDS, EventBus
from hearth_app.events.outbox import OutboxEvent, Relay
from hearth_app.events.worker import FileWorker
from hearth_app.files.models import StoredFile
from tests.conftest import Harness, _clean, admin_nats, start_harness
from tests.containers import IMAGES, Services

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
WAIT_SECONDS = 60


def _docker(*args: str) -> str:
    out = subprocess.run(["docker", *args], check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnNats:
    """A NATS container of the tests' configuration that a test may stop, start and pause."""

    def __init__(self, services: Services) -> None:
        self.name = f"{services.prefix}-outbox-nats"
        self.port = _free_port()
        self.services = services
        self.dir = Path(tempfile.mkdtemp(prefix="hearth-apptest-outbox-"))

    def run(self) -> None:
        self.dir.chmod(0o755)
        conf = self.dir / "nats.conf"
        conf.write_text(self.services.nats_config(), encoding="utf-8")
        conf.chmod(0o644)
        _docker(
            "run", "-d", "--name", self.name, "--label", "hearth.test=app",
            "-p", f"127.0.0.1:{self.port}:4222",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-e", "NATS_CONFIG_FILE=/etc/nats/hearth-apptest.conf",
            "-v", f"{conf}:/etc/nats/hearth-apptest.conf:ro",
            IMAGES["nats"],
        )  # fmt: skip
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while _docker("inspect", "--format", "{{.State.Health.Status}}", self.name) != "healthy":
            assert time.monotonic() < deadline, f"{self.name} is not healthy"
            time.sleep(0.3)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(_docker("inspect", "--format", "{{json .State}}", self.name))
        return out

    def ensure_running(self) -> None:
        state = self.state()
        if state.get("Paused"):
            _docker("unpause", self.name)
        elif not state.get("Running"):
            _docker("start", self.name)
        self.wait_healthy()

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60, check=False)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)


@pytest.fixture(scope="module")
def own_nats(services: Services) -> Iterator[OwnNats]:
    n = OwnNats(services)
    try:
        n.run()
        yield n
    finally:
        n.remove()


async def _truncate_outbox(settings: Settings) -> None:
    from hearth_app.core.db import make_engine

    engine = make_engine(settings.db)
    async with engine.begin() as c:
        await c.execute(text("TRUNCATE outbox"))
    await engine.dispose()


@pytest.fixture
async def oh(migrated: Settings, services: Services) -> AsyncIterator[Harness]:
    """The usual harness, with an empty outbox."""
    await _clean(migrated, services)
    await _truncate_outbox(migrated)
    async with start_harness(migrated) as harness:
        yield harness


@pytest.fixture
async def nh(migrated: Settings, services: Services, own_nats: OwnNats) -> AsyncIterator[Harness]:
    """A harness whose NATS is ``own_nats`` (streams ensured, emptied); running again at the end."""
    own_nats.ensure_running()
    settings = migrated.model_copy(
        update={"nats": migrated.nats.model_copy(update={"url": f"nats://127.0.0.1:{own_nats.port}"})}
    )
    await _clean(migrated, services)
    await _truncate_outbox(migrated)
    bus = EventBus(settings.nats)
    await bus.connect()
    await bus.ensure_streams()
    await bus.close()
    async with _own_admin(own_nats) as nc:
        for stream in (settings.nats.stream, settings.nats.dlq_stream):
            await nc.jetstream().purge_stream(stream)
    async with start_harness(settings) as harness:
        try:
            yield harness
        finally:
            # Back before the app shuts down (a failed test may leave it stopped or paused).
            own_nats.ensure_running()
            await _until(lambda: _async(harness.res.bus.connected), "the app to reconnect")


@contextlib.asynccontextmanager
async def _own_admin(own_nats: OwnNats) -> AsyncIterator[Any]:
    nc = await nats.connect(
        f"nats://127.0.0.1:{own_nats.port}",
        user=own_nats.services.nats_admin_user,
        password=own_nats.services.nats_admin_password,
    )
    try:
        yield nc
    finally:
        await nc.close()


async def _until(check: Any, what: str, wait_seconds: float = WAIT_SECONDS) -> Any:
    """Poll ``check`` (async, returning a truthy value when done) until it is done."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        got = await check()
        if got:
            return got
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _rows(h: Harness) -> list[OutboxEvent]:
    async with h.res.sessions() as s:
        return list((await s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))).all())


async def _stream(nc: Any, stream: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every message in ``stream``: (Nats-Msg-Id, subject, body)."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(stream, seq)
        out.append((msg.headers["Nats-Msg-Id"], msg.subject, json.loads(msg.data)))
    return out


async def _project_with_upload(h: Harness, email: str) -> tuple[dict[str, str], str, str]:
    """A user, a project and a file uploaded to S3 but not yet completed."""
    _, auth = await h.user(email)
    pid = (await h.client.post("/api/v1/projects", json={"name": "O"}, headers=auth)).json()["id"]
    body = {
        "name": "o.png",
        "content_type": "image/png",
        "size": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }
    r = await h.client.post(f"/api/v1/projects/{pid}/files", json=body, headers=auth)
    assert r.status_code == 201, r.text
    up = r.json()
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(up["upload_url"], content=PNG, headers=up["upload_headers"])).status_code == 200
    return auth, pid, up["file"]["id"]


async def _writes_while_down(h: Harness, auth: dict[str, str], pid: str, fid: str, tag: str) -> None:
    """Writes that each commit an event; they succeed with NATS away."""
    for i in range(5):
        await h.register(f"{tag}-{i}@example.com")
    r = await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    assert r.status_code == 202, r.text
    # A transaction that records an event and rolls back publishes nothing.
    with pytest.raises(RuntimeError, match="the change failed"):
        await _record_then_fail(h, tag)


async def _record_then_fail(h: Harness, tag: str) -> None:
    async with h.res.sessions() as s, s.begin():
        outbox.record(s, subjects.USER_REGISTERED, {"user_id": "rolled-back", "tag": tag})
        raise RuntimeError("the change failed")


async def _assert_all_arrive_once(h: Harness, own_nats: OwnNats) -> list[OutboxEvent]:
    """Every committed event arrives (the worker's file.ready too), once, exactly as written."""
    stream = h.settings.nats.stream

    async def everything_sent() -> list[OutboxEvent] | None:
        rows = await _rows(h)
        done = rows and all(r.sent_at is not None for r in rows)
        return rows if done and any(r.subject == subjects.FILE_READY for r in rows) else None

    rows: list[OutboxEvent] = await _until(everything_sent, "every outbox row to be sent")
    async with _own_admin(own_nats) as nc:
        got = await _stream(nc, stream)
    by_id: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for msg_id, subject, body in got:
        by_id.setdefault(msg_id, []).append((subject, body))
    for row in rows:
        copies = by_id.get(str(row.id), [])
        assert copies == [(row.subject, {"id": str(row.id), "type": row.subject, "data": row.data})], (
            row.subject
        )
    assert all(body["data"].get("user_id") != "rolled-back" for _, _, body in got)
    # Nothing else and nothing twice in the stream (the project was created before the outage).
    assert sorted(m for m, _, _ in got if m in {str(r.id) for r in rows}) == sorted(str(r.id) for r in rows)
    return rows


async def test_events_committed_while_nats_is_stopped_are_published_when_it_is_back(
    nh: Harness, own_nats: OwnNats
) -> None:
    h = nh
    auth, pid, fid = await _project_with_upload(h, "stopped@example.com")
    await _until(lambda: _none_pending(h), "the events so far to be published")
    _docker("stop", own_nats.name)
    await _until(lambda: _async(not h.res.bus.connected), "the app to notice NATS is gone")

    await _writes_while_down(h, auth, pid, fid, "stopped")
    relay: Relay = h.app.state.relay
    pending, age = await relay.refresh_metrics()
    assert pending == 6  # five registrations and file.uploaded; not the rolled-back one
    assert age > 0
    assert _sample("hearth_outbox_pending") == 6

    _docker("start", own_nats.name)
    rows = await _assert_all_arrive_once(h, own_nats)
    assert [r.subject for r in rows].count(subjects.USER_REGISTERED) == 5 + 1  # and the owner's
    assert await relay.refresh_metrics() == (0, 0.0)
    body = await _until(
        lambda: _file_status(h, pid, fid, auth, {"ready"}), "the worker to check the file after the outage"
    )
    assert body["status"] == "ready"


async def test_events_committed_while_nats_hangs_arrive_once(nh: Harness, own_nats: OwnNats) -> None:
    """Paused NATS: publishes time out, and the timed-out copy may still reach the server when
    it is back; Nats-Msg-Id lets JetStream drop it, so each event is stored once."""
    h = nh
    auth, pid, fid = await _project_with_upload(h, "paused@example.com")
    await _until(lambda: _none_pending(h), "the events so far to be published")
    duplicates = _sample("hearth_events_duplicate_total", subject=subjects.USER_REGISTERED)
    _docker("pause", own_nats.name)
    await _writes_while_down(h, auth, pid, fid, "paused")
    # Woken by the first commit, the relay tried at once; its publish has timed out by now.
    await _until(lambda: _pending_age_over(h, PUBLISH_TIMEOUT_SECONDS + 0.5), "a publish to time out")
    _docker("unpause", own_nats.name)
    await _assert_all_arrive_once(h, own_nats)
    # The timed-out copy reached JetStream after all; the relay's next publish was dropped.
    assert _sample("hearth_events_duplicate_total", subject=subjects.USER_REGISTERED) > duplicates


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _async(value: Any) -> Any:
    return value


async def _pending_age_over(h: Harness, seconds: float) -> bool:
    _, age = await h.app.state.relay.refresh_metrics()
    return bool(age > seconds)


async def _file_status(h: Harness, pid: str, fid: str, auth: dict[str, str], want: set[str]) -> Any:
    body = (await h.client.get(f"/api/v1/projects/{pid}/files/{fid}", headers=auth)).json()
    return body if body["status"] in want else None


async def test_a_commit_wakes_the_relay_at_once(oh: Harness) -> None:
    """LISTEN/NOTIFY: with an hour-long poll, an event is still published within seconds."""
    h = oh
    await h.app.state.relay.stop()
    relay = Relay(h.res.bus, h.res.sessions, h.settings.db, poll_seconds=3600)
    await relay.start()
    try:
        await _until(lambda: _async(relay._listener is not None), "the relay to LISTEN")
        await h.register("woken@example.com")
        await _until(lambda: _all_sent(h), "the event to be published", wait_seconds=10)
    finally:
        await relay.stop()


async def _none_pending(h: Harness) -> bool:
    return all(r.sent_at is not None for r in await _rows(h))


async def _all_sent(h: Harness) -> bool:
    rows = await _rows(h)
    return bool(rows) and all(r.sent_at is not None for r in rows)


async def test_replicas_publish_each_event_once(oh: Harness, services: Services) -> None:
    """Relays of several replicas draining together: SKIP LOCKED gives each row to one of them."""
    h = oh
    await h.app.state.relay.stop()
    n = 300
    async with h.res.sessions() as s, s.begin():
        for i in range(n):
            outbox.record(s, subjects.PROJECT_UPDATED, {"project_id": str(uuid.uuid4()), "i": i})
    buses = [EventBus(h.settings.nats) for _ in range(4)]
    await asyncio.gather(*(b.connect() for b in buses))
    duplicates = _sample("hearth_events_duplicate_total", subject=subjects.PROJECT_UPDATED)
    try:
        relays = [Relay(b, h.res.sessions, h.settings.db, batch=10) for b in buses]
        counts = await asyncio.gather(*(r.drain() for r in relays))
    finally:
        for b in buses:
            await b.close()
    assert sum(counts) == n
    assert sum(1 for c in counts if c) > 1, counts  # they did share the work
    assert _sample("hearth_events_duplicate_total", subject=subjects.PROJECT_UPDATED) == duplicates
    nc = await admin_nats(services)
    try:
        got = [m for m in await _stream(nc, h.settings.nats.stream) if m[1] == subjects.PROJECT_UPDATED]
    finally:
        await nc.close()
    assert sorted(b["data"]["i"] for _, _, b in got) == list(range(n))


async def test_a_duplicated_file_uploaded_is_handled_once(oh: Harness, services: Services) -> None:
    """The worker is idempotent: a redelivered file.uploaded (a new copy, past JetStream's
    duplicate window) changes nothing and publishes nothing, and two deliveries handled at
    the same moment check the file once."""
    h = oh
    auth, pid, fid = await _project_with_upload(h, "dup@example.com")
    r = await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    assert r.status_code == 202
    await _until(lambda: _file_status(h, pid, fid, auth, {"ready"}), "the file to be checked")
    duplicates = _sample("hearth_worker_messages_total", outcome="duplicate")
    nc = await admin_nats(services)
    try:
        js = nc.jetstream()
        copy = json.dumps({"id": "copy", "type": subjects.FILE_UPLOADED, "data": {"file_id": fid}})
        ack = await js.publish(subjects.FILE_UPLOADED, copy.encode())

        async def handled() -> bool:
            info = await js.consumer_info(h.settings.nats.stream, subjects.WORKER_DURABLE)
            return bool(info.delivered.stream_seq >= ack.seq and not info.num_ack_pending)

        await _until(handled, "the copy to be handled")
    finally:
        await nc.close()
    assert _sample("hearth_worker_messages_total", outcome="duplicate") == duplicates + 1
    assert await _events_for(h, subjects.FILE_READY, fid) == 1

    # Two deliveries at once, of a file no event announced (the app's worker stays out).
    worker = FileWorker(h.res.bus, h.res.sessions, h.res.storage, h.settings.s3.max_file_bytes)
    async with h.res.sessions() as s, s.begin():
        await s.execute(update(StoredFile).where(StoredFile.id == uuid.UUID(fid)).values(status="uploaded"))
    outcomes = await asyncio.gather(*(worker.process(uuid.UUID(fid)) for _ in range(3)))
    assert sorted(outcomes) == ["duplicate", "duplicate", "ready"]
    assert await _events_for(h, subjects.FILE_READY, fid) == 2


async def _events_for(h: Harness, subject: str, fid: str) -> int:
    async with h.res.sessions() as s:
        rows = (await s.scalars(select(OutboxEvent).where(OutboxEvent.subject == subject))).all()
    return sum(1 for r in rows if r.data["file_id"] == fid)


async def test_completing_an_upload_twice_at_once_announces_it_once(oh: Harness) -> None:
    h = oh
    auth, pid, fid = await _project_with_upload(h, "twice@example.com")
    url = f"/api/v1/projects/{pid}/files/{fid}/complete"
    codes = sorted(
        r.status_code for r in await asyncio.gather(*(h.client.post(url, headers=auth) for _ in range(4)))
    )
    assert codes == [202, 409, 409, 409]
    assert await _events_for(h, subjects.FILE_UPLOADED, fid) == 1


async def test_cleanup_removes_only_rows_sent_long_ago(oh: Harness) -> None:
    h = oh
    await h.app.state.relay.stop()
    async with h.res.sessions() as s, s.begin():
        ids = [outbox.record(s, subjects.PROJECT_UPDATED, {"project_id": str(i)}) for i in range(3)]
    old, recent, pending = ids
    async with h.res.sessions() as s, s.begin():
        await s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == old)
            .values(sent_at=func.now() - text("interval '2 days'"))
        )
        await s.execute(update(OutboxEvent).where(OutboxEvent.id == recent).values(sent_at=func.now()))
    relay = Relay(h.res.bus, h.res.sessions, h.settings.db)
    assert await relay.cleanup() == 1
    assert {r.id for r in await _rows(h)} == {recent, pending}


def test_only_domain_events_can_be_recorded() -> None:
    """A row NATS would refuse would be retried for ever: refused when written instead."""
    with pytest.raises(ValueError, match="not a domain event"):
        outbox.record(None, "file.uploadedd", {})  # type: ignore[arg-type]


async def test_stop_ends_the_relay_even_when_woken_at_the_same_moment(h: Harness) -> None:
    """A wake-up and the cancellation of stop() arriving together must not keep the relay
    running (Python 3.11's wait_for swallowed such a cancellation: shutdown hung)."""
    for _ in range(50):
        relay = Relay(h.res.bus, h.res.sessions, h.settings.db, poll_seconds=3600)
        await relay.start()
        await asyncio.sleep(0.02)  # the relay waits for a wake-up or its poll
        relay._wake.set()
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):  # not wait_for: it has the very bug this test is about
            await relay.stop(drain_seconds=0)
        assert asyncio.get_running_loop().time() - started < 2, "stop() waited for the relay"
