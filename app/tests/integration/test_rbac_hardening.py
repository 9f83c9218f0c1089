"""Privilege escalation through the admin API is refused, audited, and concurrent identical
writes answer cleanly (never 500)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Harness

ROLES = "/api/v1/admin/roles"


async def _role(h: Harness, admin: dict[str, str], name: str, perms: list[str]) -> None:
    r = await h.client.post(ROLES, json={"name": name, "permissions": perms}, headers=admin)
    assert r.status_code == 201, r.text


async def _setup(h: Harness) -> tuple[dict[str, str], str, dict[str, str]]:
    """An admin, and a user manager (users:manage, users:read, plus member's projects:create)."""
    _, admin = await h.user("root@example.com", role="admin")
    await _role(h, admin, "usermgr", ["users:manage", "users:read"])
    mgr_id, mgr = await h.user("mgr@example.com", role="usermgr")
    return admin, mgr_id, mgr


async def _denials(h: Harness, admin: dict[str, str]) -> list[dict[str, Any]]:
    r = await h.client.get("/api/v1/admin/audit?outcome=denied&limit=100", headers=admin)
    assert r.status_code == 200
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _refused(r: httpx.Response, *names: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["refused"] == list(names)
    for n in names:
        assert n in body["detail"]


async def test_a_user_manager_cannot_make_themselves_admin(h: Harness) -> None:
    admin, mgr_id, mgr = await _setup(h)
    r = await h.client.put(f"/api/v1/admin/users/{mgr_id}/roles", json={"roles": ["admin"]}, headers=mgr)
    _refused(r, "admin", "member", "usermgr")
    assert "your own roles" in r.json()["detail"]
    me = (await h.client.get("/api/v1/me", headers=mgr)).json()
    assert me["roles"] == ["member", "usermgr"]
    rows = await _denials(h, admin)
    assert rows[0]["actor_id"] == mgr_id
    assert rows[0]["action"] == "user.roles"
    assert rows[0]["resource"] == f"user:{mgr_id}"
    assert rows[0]["detail"]["refused"] == ["admin", "member", "usermgr"]


async def test_a_user_manager_grants_only_permissions_they_hold(h: Harness) -> None:
    admin, mgr_id, mgr = await _setup(h)
    await _role(h, admin, "auditor", ["audit:read"])
    uid, _ = await h.user("u@example.com")
    url = f"/api/v1/admin/users/{uid}/roles"
    # The admin role: refused by name, whatever the manager holds.
    _refused(await h.client.put(url, json={"roles": ["member", "admin"]}, headers=mgr), "admin")
    # A role carrying a permission the manager lacks.
    _refused(await h.client.put(url, json={"roles": ["member", "auditor"]}, headers=mgr), "audit:read")
    # Roles whose permissions the manager holds (member's projects:create, viewer's none).
    r = await h.client.put(url, json={"roles": ["viewer", "member", "usermgr"]}, headers=mgr)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["member", "usermgr", "viewer"]
    # Keeping a role the target already holds is not a grant; removing one is allowed.
    r = await h.client.put(url, json={"roles": ["auditor", "member"]}, headers=admin)
    assert r.status_code == 200
    r = await h.client.put(url, json={"roles": ["auditor"]}, headers=mgr)
    assert r.status_code == 200, r.text
    r = await h.client.put(url, json={"roles": []}, headers=mgr)
    assert r.status_code == 200, r.text
    rows = await _denials(h, admin)
    assert [row["detail"]["refused"] for row in rows] == [["audit:read"], ["admin"]]
    assert {(row["actor_id"], row["resource"]) for row in rows} == {(mgr_id, f"user:{uid}")}


async def test_only_an_admin_revokes_the_admin_role(h: Harness) -> None:
    admin, _, mgr = await _setup(h)
    other_id, other = await h.user("other-admin@example.com", role="admin")
    url = f"/api/v1/admin/users/{other_id}/roles"
    _refused(await h.client.put(url, json={"roles": ["member"]}, headers=mgr), "admin")
    assert (await h.client.get("/api/v1/admin/audit", headers=other)).status_code == 200
    r = await h.client.put(url, json={"roles": ["member"]}, headers=admin)
    assert r.status_code == 200
    assert r.json()["roles"] == ["member"]
    # An admin grants it back.
    r = await h.client.put(url, json={"roles": ["admin", "member"]}, headers=admin)
    assert r.status_code == 200


async def test_nobody_changes_their_own_roles_not_even_an_admin(h: Harness) -> None:
    admin_id, admin = await h.user("root@example.com", role="admin")
    r = await h.client.put(f"/api/v1/admin/users/{admin_id}/roles", json={"roles": ["member"]}, headers=admin)
    _refused(r, "admin")
    # Sending the roles one already holds changes nothing, and is no refusal.
    r = await h.client.put(
        f"/api/v1/admin/users/{admin_id}/roles", json={"roles": ["admin", "member"]}, headers=admin
    )
    assert r.status_code == 200
    me = (await h.client.get("/api/v1/me", headers=admin)).json()
    assert "admin" in me["roles"]


async def test_only_an_admin_changes_an_admins_account(h: Harness) -> None:
    admin, _, mgr = await _setup(h)
    other_id, _ = await h.user("other-admin@example.com", role="admin")
    r = await h.client.patch(f"/api/v1/admin/users/{other_id}", json={"is_disabled": True}, headers=mgr)
    _refused(r, "admin")
    r = await h.client.patch(f"/api/v1/admin/users/{other_id}", json={"display_name": "x"}, headers=mgr)
    _refused(r, "admin")
    assert (await h.client.get(f"/api/v1/admin/users/{other_id}", headers=admin)).json()[
        "is_disabled"
    ] is False
    uid, _ = await h.user("plain@example.com")
    r = await h.client.patch(f"/api/v1/admin/users/{uid}", json={"is_disabled": True}, headers=mgr)
    assert r.status_code == 200


async def test_a_user_manager_cannot_take_over_an_account_holding_more(h: Harness) -> None:
    """A new password, then signing in with it, would make the manager that user: an account
    is changed only by one who holds every permission it holds."""
    admin, mgr_id, mgr = await _setup(h)
    await _role(h, admin, "keeper", ["roles:manage", "keys:rotate", "audit:read", "projects:manage_all"])
    uid, _ = await h.user("keeper@example.com", role="keeper")
    users = "/api/v1/admin/users"
    lacking = ("audit:read", "keys:rotate", "projects:manage_all", "roles:manage")
    r = await h.client.post(f"{users}/{uid}/password", json={"password": "the manager's choice"}, headers=mgr)
    _refused(r, *lacking)
    # The old password still opens the account; the new one does not.
    await h.login("keeper@example.com")
    bad = await h.client.post(
        "/api/v1/auth/login", json={"email": "keeper@example.com", "password": "the manager's choice"}
    )
    assert bad.status_code == 401
    # Disabling and renaming are account changes too.
    _refused(await h.client.patch(f"{users}/{uid}", json={"is_disabled": True}, headers=mgr), *lacking)
    _refused(await h.client.patch(f"{users}/{uid}", json={"display_name": "x"}, headers=mgr), *lacking)
    target = (await h.client.get(f"{users}/{uid}", headers=admin)).json()
    assert (target["is_disabled"], target["display_name"]) == (False, "")
    rows = await _denials(h, admin)
    assert [(row["action"], row["actor_id"], row["resource"]) for row in rows] == [
        ("user.update", mgr_id, f"user:{uid}"),
        ("user.update", mgr_id, f"user:{uid}"),
        ("user.password_reset", mgr_id, f"user:{uid}"),
    ]
    assert all(row["detail"]["refused"] == list(lacking) for row in rows)
    # One permission short is enough to refuse; an account holding no more than the manager is theirs.
    r = await h.client.put(f"{users}/{uid}/roles", json={"roles": ["member", "usermgr"]}, headers=admin)
    assert r.status_code == 200, r.text
    r = await h.client.post(f"{users}/{uid}/password", json={"password": "the manager's choice"}, headers=mgr)
    assert r.status_code == 204, r.text
    await _role(h, admin, "auditor", ["audit:read"])
    await h.grant("keeper@example.com", "auditor")
    _refused(await h.client.patch(f"{users}/{uid}", json={"is_disabled": True}, headers=mgr), "audit:read")


async def test_a_created_account_gets_only_roles_the_creator_may_grant(h: Harness) -> None:
    """Without `roles` the account gets member; granting it is checked like any grant."""
    admin, mgr_id, mgr = await _setup(h)
    r = await h.client.put(f"/api/v1/admin/users/{mgr_id}/roles", json={"roles": ["usermgr"]}, headers=admin)
    assert r.status_code == 200, r.text
    new = {"email": "new@example.com", "password": "a long enough password", "display_name": ""}
    r = await h.client.post("/api/v1/admin/users", json=new, headers=mgr)
    _refused(r, "projects:create")
    assert (await h.client.get("/api/v1/admin/users?email=new@", headers=admin)).json()["total"] == 0
    rows = await _denials(h, admin)
    assert [(row["action"], row["resource"]) for row in rows] == [("user.create", "user:new@example.com")]
    r = await h.client.post("/api/v1/admin/users", json={**new, "roles": ["viewer"]}, headers=mgr)
    assert r.status_code == 201, r.text


async def test_a_role_manager_cannot_widen_a_role_beyond_their_own_permissions(h: Harness) -> None:
    _, admin = await h.user("root@example.com", role="admin")
    await _role(h, admin, "rolemgr", ["roles:manage", "users:read"])
    rm_id, rm = await h.user("rm@example.com", role="rolemgr")
    r = await h.client.patch(
        f"{ROLES}/rolemgr",
        json={"permissions": ["roles:manage", "users:read", "users:manage", "keys:rotate"]},
        headers=rm,
    )
    _refused(r, "keys:rotate", "users:manage")
    r = await h.client.post(ROLES, json={"name": "sneaky", "permissions": ["audit:read"]}, headers=rm)
    _refused(r, "audit:read")
    # Within their own permissions (member's projects:create included) it works.
    r = await h.client.post(
        ROLES, json={"name": "helper", "permissions": ["users:read", "projects:create"]}, headers=rm
    )
    assert r.status_code == 201, r.text
    r = await h.client.patch(f"{ROLES}/helper", json={"permissions": ["users:read"]}, headers=rm)
    assert r.status_code == 200
    me = (await h.client.get("/api/v1/me", headers=rm)).json()
    assert me["permissions"] == ["projects:create", "roles:manage", "users:read"]
    rows = await _denials(h, admin)
    assert [(row["action"], row["resource"], row["actor_id"]) for row in rows] == [
        ("role.create", "role:sneaky", rm_id),
        ("role.update", "role:rolemgr", rm_id),
    ]


async def test_only_an_admin_touches_the_admin_role(h: Harness) -> None:
    _, admin = await h.user("root@example.com", role="admin")
    await _role(h, admin, "rolemgr", ["roles:manage"])
    _, rm = await h.user("rm@example.com", role="rolemgr")
    _refused(await h.client.patch(f"{ROLES}/admin", json={"description": "x"}, headers=rm), "admin")
    _refused(await h.client.delete(f"{ROLES}/admin", headers=rm), "admin")
    # An admin is told why instead: built-in roles are fixed.
    assert (
        await h.client.patch(f"{ROLES}/admin", json={"description": "x"}, headers=admin)
    ).status_code == 409


async def _all(n: int, call: Any) -> list[int]:
    return [r.status_code for r in await asyncio.gather(*(call() for _ in range(n)))]


async def test_concurrent_identical_admin_writes_answer_cleanly(h: Harness) -> None:
    _, admin = await h.user("root@example.com", role="admin")
    uid, _ = await h.user("u@example.com")

    def create() -> Any:
        return h.client.post(ROLES, json={"name": "twin", "permissions": ["audit:read"]}, headers=admin)

    assert sorted(await _all(4, create)) == [201, 409, 409, 409]

    def assign() -> Any:
        body = {"roles": ["member", "twin", "viewer"]}
        return h.client.put(f"/api/v1/admin/users/{uid}/roles", json=body, headers=admin)

    assert await _all(4, assign) == [200] * 4

    def patch() -> Any:
        return h.client.patch(
            f"{ROLES}/twin", json={"permissions": ["users:read", "audit:read"]}, headers=admin
        )

    assert await _all(4, patch) == [200] * 4

    def remove() -> Any:
        return h.client.delete(f"{ROLES}/twin", headers=admin)

    assert sorted(await _all(4, remove)) == [204, 404, 404, 404]


async def test_concurrent_identical_member_writes_answer_cleanly(h: Harness) -> None:
    _, owner = await h.user("owner@example.com")
    uid, _ = await h.user("u@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "P"}, headers=owner)).json()["id"]
    url = f"/api/v1/projects/{pid}/members/{uid}"

    def put() -> Any:
        return h.client.put(url, json={"role": "editor"}, headers=owner)

    assert await _all(4, put) == [200] * 4

    def remove() -> Any:
        return h.client.delete(url, headers=owner)

    assert await _all(4, remove) == [204] * 4

    def patch() -> Any:
        return h.client.patch(f"/api/v1/projects/{pid}", json={"name": "Q"}, headers=owner)

    assert await _all(4, patch) == [200] * 4

    def drop() -> Any:
        return h.client.delete(f"/api/v1/projects/{pid}", headers=owner)

    # A delete racing another may find the project gone (404) or its own membership gone with
    # it (403): clean answers, never a 500; exactly one of them deletes.
    drops = await _all(4, drop)
    assert set(drops) <= {204, 403, 404}, drops
    assert drops.count(204) >= 1, drops
