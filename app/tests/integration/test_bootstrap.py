"""The first administrator: `hearth-app migrate` with HEARTH_BOOTSTRAP_ADMIN_EMAIL and
HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from hearth_app.auth.bootstrap import AdminRequest, BootstrapError, ensure_admin
from hearth_app.auth.models import User
from hearth_app.rbac.models import AuditLog
from tests.conftest import PASSWORD, Harness
from tests.containers import Services

ADMIN = "admin@hearth.localhost"
ADMIN_PASSWORD = "first-admin-password-from-a-file"


def _migrate(services: Services, password_file: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **services.app_env(),
        "HEARTH_LOG_LEVEL": "INFO",
        "HEARTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN,
        "HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE": str(password_file),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "hearth-app"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _count(h: Harness, email: str) -> int:
    async with h.res.sessions() as s:
        n: int = await s.scalar(select(func.count()).select_from(User).where(User.email == email))
        return n


async def _me(h: Harness, email: str, password: str) -> dict[str, object]:
    token = (await h.login(email, password))["access_token"]
    r = await h.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


async def test_migrate_twice_creates_the_admin_once_with_the_password_from_the_file(
    h: Harness, services: Services, tmp_path: Path
) -> None:
    secret = tmp_path / "admin_password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    first = await asyncio.to_thread(_migrate, services, secret)
    assert first.returncode == 0, first.stderr[-3000:]
    second = await asyncio.to_thread(_migrate, services, secret)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"admin {ADMIN} created" in first.stdout
    assert f"admin {ADMIN} exists" in second.stdout
    assert f"admin {ADMIN} created" not in second.stdout
    for out in (first, second):
        assert ADMIN_PASSWORD not in out.stdout + out.stderr
    assert await _count(h, ADMIN) == 1
    me = await _me(h, ADMIN, ADMIN_PASSWORD)
    assert me["roles"] == ["admin"]
    assert "users:manage" in me["permissions"]  # type: ignore[operator]


async def test_an_existing_accounts_password_is_never_reset(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator changed the password (here: an account made with their own): it stays."""
    await _vouched_for(h, await h.register(ADMIN, PASSWORD))
    req = AdminRequest(email=ADMIN, password=SecretStr(ADMIN_PASSWORD))
    with caplog.at_level(logging.INFO, logger="hearth.bootstrap"):
        assert await ensure_admin(h.res, req) is False
        assert await ensure_admin(h.res, req) is False
    assert [r.getMessage() for r in caplog.records] == [f"admin {ADMIN} exists"] * 2
    assert ADMIN_PASSWORD not in caplog.text
    # The existing password still works, the file's does not; the admin role was granted again.
    me = await _me(h, ADMIN, PASSWORD)
    assert "admin" in me["roles"]  # type: ignore[operator]
    r = await h.client.post("/api/v1/auth/login", json={"email": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 401
    async with h.res.sessions() as s:
        outcomes = (
            await s.scalars(select(AuditLog.outcome).where(AuditLog.action == "admin.bootstrap"))
        ).all()
    assert outcomes == ["role-granted"]


async def test_a_disabled_admin_stays_disabled(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    user = await h.register(ADMIN, PASSWORD)
    async with h.res.sessions() as s, s.begin():
        row = await s.get(User, uuid.UUID(user["id"]))
        assert row is not None
        row.is_disabled = True
        row.email_verified = True
    with caplog.at_level(logging.INFO, logger="hearth.bootstrap"):
        await ensure_admin(h.res, AdminRequest(email=ADMIN, password=SecretStr(ADMIN_PASSWORD)))
    assert "stays disabled" in caplog.text
    r = await h.client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert r.status_code == 401


async def _vouched_for(h: Harness, user: dict[str, object]) -> None:
    """As if an administrator had made the account: its address counts as verified."""
    async with h.res.sessions() as s, s.begin():
        row = await s.get(User, uuid.UUID(str(user["id"])))
        assert row is not None
        row.email_verified = True


async def test_a_self_registered_account_with_the_admins_email_is_never_made_admin(
    h: Harness,
) -> None:
    """Pre-hijacking the first administrator: register the address before the operator names it."""
    await h.register(ADMIN, PASSWORD)
    req = AdminRequest(email=ADMIN, password=SecretStr(ADMIN_PASSWORD))
    with pytest.raises(BootstrapError, match="self-registered") as err:
        await ensure_admin(h.res, req)
    assert "grant-role" in str(err.value)
    me = await _me(h, ADMIN, PASSWORD)
    assert "admin" not in me["roles"]  # type: ignore[operator]


async def test_migrations_running_together_create_one_admin(h: Harness) -> None:
    req = AdminRequest(email=ADMIN, password=SecretStr(ADMIN_PASSWORD))
    created = await asyncio.gather(*(ensure_admin(h.res, req) for _ in range(4)))
    assert sorted(created) == [False, False, False, True]
    assert await _count(h, ADMIN) == 1
    me = await _me(h, ADMIN, ADMIN_PASSWORD)
    assert me["roles"] == ["admin"]
