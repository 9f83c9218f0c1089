"""A revocation takes effect at once, whatever reads run concurrently.

The race driven here: a replica misses the cache and reads the database, the revocation
commits and invalidates on another replica, then the first replica stores what it read. Each
test holds the reader between its read and its store (a loader waiting on an event), so the
interleaving is the same on every run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hearth_app.cli import _grant, sync_catalogue
from hearth_app.core.cache import GEN_TTL_SECONDS
from hearth_app.core.settings import Settings
from hearth_app.projects.access import read_project
from hearth_app.rbac.deps import load_grants
from hearth_app.rbac.models import Role, role_permissions
from hearth_app.rbac.permissions import BUILTIN_ROLES
from tests.conftest import Harness, start_harness


class HeldReader:
    """A cache read on `replica` whose load finishes, then waits for `release()` to store."""

    def __init__(self, replica: Harness, name: str, key: str, load: Callable[[], Awaitable[Any]]) -> None:
        self.loaded = asyncio.Event()
        self._go = asyncio.Event()

        async def held() -> Any:
            value = await load()
            self.loaded.set()
            await self._go.wait()
            return value

        self.task = asyncio.create_task(replica.res.cache.get_or_load(name, key, held))
        self.value: Any = None

    async def __aenter__(self) -> HeldReader:
        await self.loaded.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._go.set()
        self.value = await self.task


async def test_a_removed_member_loses_access_at_once_despite_a_racing_read(
    h: Harness, migrated: Settings
) -> None:
    _, owner = await h.user("owner@example.com")
    mid, member = await h.user("member@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "P"}, headers=owner)).json()["id"]
    url = f"/api/v1/projects/{pid}"
    assert (
        await h.client.put(f"{url}/members/{mid}", json={"role": "viewer"}, headers=owner)
    ).status_code == 200
    async with start_harness(migrated) as replica:
        reader = HeldReader(replica, "project", pid, lambda: read_project(replica.res, uuid.UUID(pid)))
        async with reader:
            assert (await h.client.delete(f"{url}/members/{mid}", headers=owner)).status_code == 204
        assert mid in reader.value["members"]  # it read before the removal...
        # ...and did not store it.
        assert (await replica.client.get(url, headers=member)).status_code == 403
        assert (await h.client.get(url, headers=member)).status_code == 403


async def test_a_demoted_admin_loses_access_at_once_despite_a_racing_read(
    h: Harness, migrated: Settings
) -> None:
    aid, demoted = await h.user("demoted@example.com", role="admin")
    _, boss = await h.user("boss@example.com", role="admin")
    async with start_harness(migrated) as replica:
        reader = HeldReader(replica, "perms", aid, lambda: load_grants(replica.res, uuid.UUID(aid)))
        async with reader:
            r = await h.client.put(
                f"/api/v1/admin/users/{aid}/roles", json={"roles": ["member"]}, headers=boss
            )
            assert r.status_code == 200
        assert "admin" in reader.value["roles"]
        assert (await replica.client.get("/api/v1/admin/users", headers=demoted)).status_code == 403


async def test_a_narrowed_role_takes_effect_at_once_despite_a_racing_read(
    h: Harness, migrated: Settings
) -> None:
    _, boss = await h.user("boss@example.com", role="admin")
    r = await h.client.post(
        "/api/v1/admin/roles", json={"name": "auditor", "permissions": ["audit:read"]}, headers=boss
    )
    assert r.status_code == 201
    uid, auditor = await h.user("auditor@example.com", role="auditor")
    async with start_harness(migrated) as replica:
        reader = HeldReader(replica, "perms", uid, lambda: load_grants(replica.res, uuid.UUID(uid)))
        async with reader:
            r = await h.client.patch("/api/v1/admin/roles/auditor", json={"permissions": []}, headers=boss)
            assert r.status_code == 200
        assert "audit:read" in reader.value["permissions"]
        assert (await replica.client.get("/api/v1/admin/audit", headers=auditor)).status_code == 403


async def test_a_load_that_no_invalidation_overtook_is_stored(h: Harness) -> None:
    """The guard refuses only stale stores: a quiet miss fills the cache as before."""
    uid, _ = await h.user("quiet@example.com")
    key = h.res.cache.key("perms", uid)
    await h.res.redis.delete(key)
    await h.res.cache.invalidate("perms", uid)  # a generation exists and has not moved since
    data = await h.res.cache.get_or_load("perms", uid, lambda: load_grants(h.res, uuid.UUID(uid)))
    assert data["roles"] == ["member"]
    assert await h.res.redis.get(key) is not None
    gen = h.res.cache._gen("perms", uid)
    assert 0 < await h.res.redis.ttl(gen) <= GEN_TTL_SECONDS


async def test_grant_role_from_the_cli_takes_effect_at_once(h: Harness) -> None:
    _, auth = await h.user("cli@example.com")
    assert (await h.client.get("/api/v1/admin/users", headers=auth)).status_code == 403  # cached
    await _grant(h.settings, "CLI@example.com", "admin")
    assert (await h.client.get("/api/v1/admin/users", headers=auth)).status_code == 200
    assert "admin" in (await h.client.get("/api/v1/me", headers=auth)).json()["roles"]


async def test_a_catalogue_sync_takes_effect_at_once(h: Harness) -> None:
    """A migration that widens a built-in role: running replicas see it without waiting."""
    from sqlalchemy import delete, select

    _, auth = await h.user("sync@example.com")
    assert "projects:create" in BUILTIN_ROLES["member"][1]
    try:
        async with h.res.sessions() as s, s.begin():
            member = await s.scalar(select(Role.id).where(Role.name == "member"))
            await s.execute(
                delete(role_permissions).where(
                    role_permissions.c.role_id == member, role_permissions.c.permission == "projects:create"
                )
            )
        await h.res.cache.invalidate_all("perms")
        # The older catalogue, cached.
        assert (await h.client.post("/api/v1/projects", json={"name": "x"}, headers=auth)).status_code == 403
    finally:
        await sync_catalogue(h.settings)
    assert (await h.client.post("/api/v1/projects", json={"name": "x"}, headers=auth)).status_code == 201


async def test_invalidate_all_drops_every_value_of_one_cache_only(h: Harness) -> None:
    cache, r = h.res.cache, h.res.redis
    await r.mset({cache.key("perms", str(i)): "{}" for i in range(1200)} | {cache.key("project", "p"): "{}"})
    await cache.invalidate_all("perms")
    assert [k async for k in r.scan_iter(match=cache.key("perms", "*"))] == []
    assert await r.exists(cache.key("project", "p")) == 1


async def test_a_cache_outage_degrades_to_the_database(h: Harness) -> None:
    """Redis unreachable: reads still answer, from the loader, and store nothing."""
    from redis.asyncio import Redis

    from hearth_app.core.cache import Cache

    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    try:
        cache = Cache(down, 60)
        calls = 0

        async def load() -> dict[str, int]:
            nonlocal calls
            calls += 1
            return {"n": calls}

        assert await cache.get_or_load("perms", "k", load) == {"n": 1}
        assert await cache.get_or_load("perms", "k", load) == {"n": 2}
    finally:
        await down.aclose()
