from __future__ import annotations

from tests.conftest import Harness


async def _audit_denials(h: Harness) -> list[dict[str, object]]:
    _, admin = await h.user("auditor@example.com", role="admin")
    r = await h.client.get("/api/v1/admin/audit?outcome=denied", headers=admin)
    assert r.status_code == 200
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def test_member_is_denied_admin_endpoints_with_403_problem_and_audit_row(h: Harness) -> None:
    uid, member = await h.user("member@example.com")
    r = await h.client.get("/api/v1/admin/users", headers=member)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "missing permission users:read"
    rows = await _audit_denials(h)
    assert any(row["actor_id"] == uid and row["resource"] == "users:read" for row in rows)
    assert all(row["request_id"] for row in rows)


async def test_viewer_cannot_create_projects(h: Harness) -> None:
    uid, viewer = await h.user("viewer@example.com")
    _admin_id, admin = await h.user("boss@example.com", role="admin")
    r = await h.client.put(f"/api/v1/admin/users/{uid}/roles", json={"roles": ["viewer"]}, headers=admin)
    assert r.status_code == 200
    assert r.json()["roles"] == ["viewer"]
    r = await h.client.post("/api/v1/projects", json={"name": "p"}, headers=viewer)
    assert r.status_code == 403


async def test_admin_manages_custom_roles_and_builtins_are_protected(h: Harness) -> None:
    uid, user = await h.user("ops@example.com")
    _, admin = await h.user("root@example.com", role="admin")
    r = await h.client.post(
        "/api/v1/admin/roles",
        json={"name": "auditor", "description": "reads audit", "permissions": ["audit:read"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert (await h.client.get("/api/v1/admin/audit", headers=user)).status_code == 403
    r = await h.client.put(
        f"/api/v1/admin/users/{uid}/roles", json={"roles": ["member", "auditor"]}, headers=admin
    )
    assert r.status_code == 200
    # The permission cache was invalidated by the write: access is immediate.
    assert (await h.client.get("/api/v1/admin/audit", headers=user)).status_code == 200
    r = await h.client.patch("/api/v1/admin/roles/auditor", json={"permissions": []}, headers=admin)
    assert r.status_code == 200
    assert (await h.client.get("/api/v1/admin/audit", headers=user)).status_code == 403
    assert (await h.client.delete("/api/v1/admin/roles/admin", headers=admin)).status_code == 409
    assert (await h.client.delete("/api/v1/admin/roles/auditor", headers=admin)).status_code == 204
    r = await h.client.post(
        "/api/v1/admin/roles", json={"name": "bad", "permissions": ["no:such"]}, headers=admin
    )
    assert r.status_code == 422


async def test_admin_lists_users_with_pagination(h: Harness) -> None:
    _, admin = await h.user("a0@example.com", role="admin")
    for i in range(1, 5):
        await h.register(f"a{i}@example.com")
    r = await h.client.get("/api/v1/admin/users?limit=2&offset=1", headers=admin)
    body = r.json()
    assert (body["total"], body["limit"], body["offset"], len(body["items"])) == (5, 2, 1, 2)
    assert [u["email"] for u in body["items"]] == ["a1@example.com", "a2@example.com"]
    r = await h.client.get("/api/v1/admin/users?limit=1000", headers=admin)
    assert r.status_code == 422


async def test_admin_cannot_disable_themselves(h: Harness) -> None:
    uid, admin = await h.user("self@example.com", role="admin")
    r = await h.client.patch(f"/api/v1/admin/users/{uid}", json={"is_disabled": True}, headers=admin)
    assert r.status_code == 409
