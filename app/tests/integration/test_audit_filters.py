"""GET /admin/audit filters by action (exact or a `x.` prefix), actor and a time window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hearth_app.rbac.models import AuditLog
from tests.conftest import Harness

AUDIT = "/api/v1/admin/audit"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")


async def _rows(h: Harness, *rows: tuple[str, uuid.UUID | None, int]) -> None:
    """Audit rows (action, actor, minutes after T0), written with their time as given."""
    async with h.res.sessions() as s, s.begin():
        for action, actor, minutes in rows:
            s.add(
                AuditLog(
                    action=action,
                    actor_id=actor,
                    outcome="ok",
                    resource="",
                    at=T0 + timedelta(minutes=minutes),
                    detail={},
                )
            )


async def _get(h: Harness, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await h.client.get(AUDIT, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _actions(body: dict[str, Any]) -> list[str]:
    return [row["action"] for row in body["items"]]


async def test_audit_filters_by_exact_action_or_prefix(h: Harness) -> None:
    _, admin = await h.user("auditor@example.com", role="admin")
    await _rows(
        h,
        ("user.create", ALICE, 0),
        ("user.roles", ALICE, 1),
        ("usersX.create", ALICE, 2),
        ("role.create", BOB, 3),
        ("user.roles.extra", BOB, 4),
    )
    body = await _get(h, admin, action="user.roles")
    assert (body["total"], _actions(body)) == (1, ["user.roles"])
    # A trailing dot asks for a prefix; newest (highest id) first, as without filters.
    body = await _get(h, admin, action="user.")
    assert (body["total"], _actions(body)) == (3, ["user.roles.extra", "user.roles", "user.create"])
    # Without the dot it is an exact action, and LIKE wildcards in a prefix are plain characters.
    assert (await _get(h, admin, action="user"))["total"] == 0
    assert (await _get(h, admin, action="us_r."))["total"] == 0
    # The admin's own sign-in is in the log too: `auth.` finds it, `user.` did not.
    assert _actions(await _get(h, admin, action="auth.")) == ["auth.login"]
    # Paging keeps the filter's total.
    body = await _get(h, admin, action="user.", limit=2, offset=2)
    assert (body["total"], _actions(body)) == (3, ["user.create"])


async def test_audit_filters_by_actor_and_time_window(h: Harness) -> None:
    _, admin = await h.user("auditor@example.com", role="admin")
    await _rows(h, *[("user.roles", ALICE if m % 2 == 0 else BOB, m) for m in range(6)])
    body = await _get(h, admin, actor_id=str(ALICE))
    assert body["total"] == 3
    assert {row["actor_id"] for row in body["items"]} == {str(ALICE)}
    # Both ends are included; an offset other than UTC names the same instant.
    plus2 = timezone(timedelta(hours=2))
    since = (T0 + timedelta(minutes=1)).astimezone(plus2).isoformat()
    until = (T0 + timedelta(minutes=4)).isoformat()
    body = await _get(h, admin, since=since, until=until)
    assert [row["at"] for row in body["items"]] == [
        (T0 + timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in (4, 3, 2, 1)
    ]
    body = await _get(h, admin, since=since, until=until, actor_id=str(BOB), action="user.")
    assert body["total"] == 2
    # `since` alone reaches to now: the admin's sign-in is after every row written above.
    body = await _get(h, admin, since=(T0 + timedelta(minutes=5)).isoformat())
    assert sorted(_actions(body)) == ["auth.login", "user.roles"]
    assert (await _get(h, admin, until=T0.isoformat()))["total"] == 1


async def test_audit_refuses_an_empty_window_and_bad_values_with_problems(h: Harness) -> None:
    _, admin = await h.user("auditor@example.com", role="admin")
    since, until = "2025-03-02T00:00:00+00:00", "2025-03-01T00:00:00+00:00"
    r = await h.client.get(AUDIT, params={"since": since, "until": until}, headers=admin)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert since in body["detail"]
    assert until in body["detail"]
    assert [e["loc"] for e in body["errors"]] == [["query", "since"]]
    # A time without an offset is ambiguous; an actor must be a uuid.
    for params in ({"since": "2025-03-01T00:00:00"}, {"actor_id": "alice"}):
        r = await h.client.get(AUDIT, params=params, headers=admin)
        assert r.status_code == 422, params
        assert [e["loc"][1] for e in r.json()["errors"]] == list(params)
