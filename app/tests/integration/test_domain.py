"""Projects, files in S3, events on NATS, the queue-group worker and its dead-letter stream."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import httpx
import nats

from tests.conftest import Harness, admin_nats
from tests.containers import Services

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


async def _wait_status(
    h: Harness, url: str, auth: dict[str, str], want: set[str], wait_seconds: float = 20
) -> Any:
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        body = (await h.client.get(url, headers=auth)).json()
        if body["status"] in want:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.2)


async def _upload(
    h: Harness,
    pid: str,
    auth: dict[str, str],
    data: bytes,
    ctype: str,
    declared: bytes | None = None,
) -> dict[str, Any]:
    body = {
        "name": "f.bin",
        "content_type": ctype,
        "size": len(data),
        "sha256": hashlib.sha256(declared or data).hexdigest(),
    }
    r = await h.client.post(f"/api/v1/projects/{pid}/files", json=body, headers=auth)
    assert r.status_code == 201, r.text
    up = r.json()
    async with httpx.AsyncClient() as s3:
        put = await s3.put(up["upload_url"], content=data, headers=up["upload_headers"])
    return {"up": up, "put": put}


async def test_project_membership_roles_and_denials(h: Harness) -> None:
    owner_id, owner = await h.user("owner@example.com")
    other_id, other = await h.user("other@example.com")
    p = (await h.client.post("/api/v1/projects", json={"name": "Alpha"}, headers=owner)).json()
    url = f"/api/v1/projects/{p['id']}"
    assert p["owner_id"] == owner_id
    assert (await h.client.get(url, headers=other)).status_code == 403
    r = await h.client.put(f"{url}/members/{other_id}", json={"role": "viewer"}, headers=owner)
    assert r.status_code == 200
    assert (await h.client.get(url, headers=other)).status_code == 200
    assert (await h.client.patch(url, json={"name": "x"}, headers=other)).status_code == 403
    listing = (await h.client.get("/api/v1/projects", headers=other)).json()
    assert [i["id"] for i in listing["items"]] == [p["id"]]
    members = (await h.client.get(f"{url}/members", headers=other)).json()
    assert {m["role"] for m in members} == {"owner", "viewer"}
    assert (await h.client.delete(f"{url}/members/{owner_id}", headers=owner)).status_code == 409
    assert (await h.client.delete(url, headers=other)).status_code == 403
    assert (await h.client.delete(url, headers=owner)).status_code == 204
    assert (await h.client.get(url, headers=owner)).status_code == 404


async def test_file_upload_is_checked_by_the_worker_then_downloadable(h: Harness) -> None:
    _, auth = await h.user("files@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "F"}, headers=auth)).json()["id"]
    out = await _upload(h, pid, auth, PNG, "image/png")
    assert out["put"].status_code == 200, out["put"].text
    fid = out["up"]["file"]["id"]
    r = await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    assert r.status_code == 202, r.text
    body = await _wait_status(h, f"/api/v1/projects/{pid}/files/{fid}", auth, {"ready", "rejected"})
    assert body["status"] == "ready", body
    assert body["detected_type"] == "image/png"
    dl = (await h.client.get(f"/api/v1/projects/{pid}/files/{fid}/download", headers=auth)).json()
    async with httpx.AsyncClient() as s3:
        got = await s3.get(dl["url"])
    assert got.content == PNG
    # Request/reply: a worker checksums the stored object on demand.
    r = await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/inspect", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "detected_type": "image/png",
        "size": len(PNG),
    }


async def test_s3_refuses_a_body_that_does_not_match_the_declared_checksum(h: Harness) -> None:
    _, auth = await h.user("cs@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "C"}, headers=auth)).json()["id"]
    out = await _upload(h, pid, auth, PNG, "image/png", declared=PNG + b"x")
    assert out["put"].status_code == 400
    fid = out["up"]["file"]["id"]
    assert (
        await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    ).status_code == 409


async def test_worker_rejects_content_that_is_not_the_declared_type(h: Harness) -> None:
    _, auth = await h.user("sniff@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "S"}, headers=auth)).json()["id"]
    exe = b"MZ\x90\x00" + bytes(100)
    out = await _upload(h, pid, auth, exe, "image/png")
    assert out["put"].status_code == 200
    fid = out["up"]["file"]["id"]
    await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    body = await _wait_status(h, f"/api/v1/projects/{pid}/files/{fid}", auth, {"ready", "rejected"})
    assert body["status"] == "rejected"
    assert body["detected_type"] == "application/x-msdownload"
    assert (
        await h.client.get(f"/api/v1/projects/{pid}/files/{fid}/download", headers=auth)
    ).status_code == 409


async def test_file_size_and_type_limits(h: Harness) -> None:
    _, auth = await h.user("limits@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "L"}, headers=auth)).json()["id"]
    digest = "0" * 64
    big = {"name": "b", "content_type": "image/png", "size": 10 * 1024 * 1024, "sha256": digest}
    assert (await h.client.post(f"/api/v1/projects/{pid}/files", json=big, headers=auth)).status_code == 413
    exe = {"name": "e", "content_type": "application/x-msdownload", "size": 10, "sha256": digest}
    assert (await h.client.post(f"/api/v1/projects/{pid}/files", json=exe, headers=auth)).status_code == 415


async def test_domain_events_are_published_for_users_projects_and_files(
    h: Harness, services: Services
) -> None:
    _, auth = await h.user("events@example.com")
    await h.client.post("/api/v1/projects", json={"name": "E"}, headers=auth)
    nc = await admin_nats(services)
    js = nc.jetstream()
    subjects: list[str] = []
    sub = await js.pull_subscribe(">", stream=h.settings.nats.stream)
    # The outbox relay publishes after the commit, on its own time: read until both arrived
    # (a single fetch returns what is there, which on a busy machine may be the first only).
    deadline = asyncio.get_running_loop().time() + 20
    while not {"user.registered", "project.created"} <= set(subjects):
        if asyncio.get_running_loop().time() > deadline:
            break
        try:
            msgs = await sub.fetch(10, timeout=1)
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            subjects.append(m.subject)
            await m.ack()
    await sub.unsubscribe()
    await nc.close()
    assert "user.registered" in subjects
    assert "project.created" in subjects


async def test_a_message_that_keeps_failing_lands_in_the_dead_letter_stream(
    h: Harness, services: Services
) -> None:
    """file.uploaded for a file that does not exist fails on every delivery."""
    s = h.settings.nats
    ghost = str(uuid.uuid4())
    await h.res.bus.publish("file.uploaded", {"file_id": ghost, "project_id": ghost})
    nc = await admin_nats(services)
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 30
    dead = None
    while asyncio.get_running_loop().time() < deadline:
        info = await js.stream_info(s.dlq_stream)
        if info.state.messages:
            dead = await js.get_last_msg(s.dlq_stream, "dlq.file.uploaded")
            break
        await asyncio.sleep(0.2)
    assert dead is not None, "nothing reached the dead-letter stream"
    assert json.loads(dead.data)["data"]["file_id"] == ghost
    assert dead.headers is not None
    assert dead.headers["Hearth-Deliveries"] == str(s.max_deliver)
    assert "not known" in dead.headers["Hearth-Error"]
    # It was delivered exactly max_deliver times, then terminated: nothing pending.
    info = await js.consumer_info(s.stream, "file-workers")
    await nc.close()
    assert info.num_ack_pending == 0


async def test_worker_queue_group_shares_work_between_workers(h: Harness) -> None:
    """Two subscribers in the file-workers queue group: each request is answered once."""
    nc = await nats.connect(
        h.settings.nats.url,
        user=h.settings.nats.user,
        password=h.settings.nats.password.get_secret_value(),
    )
    answered = 0

    async def second(msg: Any) -> None:
        nonlocal answered
        answered += 1
        await msg.respond(json.dumps({"error": "second worker"}).encode())

    await nc.subscribe("rpc.file.inspect", queue="file-workers", cb=second)
    replies = []
    for _ in range(10):
        m = await nc.request(
            "rpc.file.inspect", json.dumps({"file_id": str(uuid.uuid4())}).encode(), timeout=5
        )
        replies.append(json.loads(m.data)["error"])
    await nc.close()
    assert len(replies) == 10
    # Every request got exactly one answer, from one member of the group or the other.
    assert answered + sum("not known" in r for r in replies) == 10
