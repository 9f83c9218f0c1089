"""Issue #10: login backoff under concurrency, what registration and login reveal, and emails.

Against real PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from hearth_app.auth.models import User
from hearth_app.core.settings import AuthSettings
from hearth_app.rbac.models import AuditLog
from tests.conftest import PASSWORD, Harness

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


async def _login(h: Harness, email: str, password: str, ip: str) -> Any:
    r = await h.client.post(
        LOGIN, json={"email": email, "password": password}, headers={"X-Forwarded-For": ip}
    )
    h.client.cookies.clear()
    return r


def _count_calls(h: Harness, method: str) -> list[None]:
    """Record each call of ``h.res.passwords.<method>``; the real method still runs."""
    calls: list[None] = []
    real = getattr(h.res.passwords, method)

    async def counting(*args: Any) -> Any:
        calls.append(None)
        return await real(*args)

    setattr(h.res.passwords, method, counting)
    return calls


class FakeClock:
    """Wall-clock time for the backoff, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


# --- failed-login backoff ---------------------------------------------------------------------


async def test_parallel_wrong_guesses_reach_the_password_check_at_most_threshold_times(h: Harness) -> None:
    await h.register("race@example.com")
    threshold = h.settings.auth.backoff_pair_threshold
    verified = _count_calls(h, "verify")
    guesses = [_login(h, "race@example.com", f"guess-{i}", "203.0.113.50") for i in range(25)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert len(verified) == threshold
    assert statuses == [401] * threshold + [429] * (25 - threshold)


async def test_attempts_stamped_out_of_order_are_free_under_the_threshold(h: Harness) -> None:
    """Parallel requests (or replicas) read the clock in one order and reach Redis in another."""
    clock = FakeClock()
    bo = h.res.backoff
    bo.clock = clock
    clock.now += 0.5
    assert await bo.reserve("skew@example.com", "192.0.2.5") == 0
    clock.now -= 0.5
    assert await bo.reserve("skew@example.com", "192.0.2.5") == 0


async def test_an_attacker_cannot_keep_the_owner_out_beyond_the_account_cap(h: Harness) -> None:
    clock = FakeClock()
    h.res.backoff.clock = clock
    cap = h.settings.auth.backoff_account_max_seconds
    assert cap <= 60
    await h.register("owner@example.com")
    bots = [f"198.18.0.{i}" for i in range(20)]

    async def attack() -> None:
        await asyncio.gather(*(_login(h, "owner@example.com", "nope", ip) for ip in ["203.0.113.1", *bots]))

    # A burst from one address, then twenty addresses guessing every minute for a quarter of an
    # hour: the account-wide wait is at its cap.
    await asyncio.gather(*(_login(h, "owner@example.com", "nope", "203.0.113.1") for _ in range(40)))
    for _ in range(15):
        await attack()
        clock.now += 61
    # The owner, from their own address, is asked to wait: the account cap, no more...
    first = await _login(h, "owner@example.com", PASSWORD, "192.0.2.10")
    assert first.status_code == 429
    wait = int(first.headers["retry-after"])
    assert wait == cap
    # ...while the attack goes on, which re-arms nothing for the owner...
    for _ in range(3):
        clock.now += wait / 3
        await attack()
    # ...and when the wait is over, the right password gets in.
    ok = await _login(h, "owner@example.com", PASSWORD, "192.0.2.10")
    assert ok.status_code == 200, ok.text


async def test_a_guesser_from_one_address_is_slowed_to_one_try_per_pair_cap(h: Harness) -> None:
    clock = FakeClock()
    h.res.backoff.clock = clock
    await h.register("slow@example.com")
    cap = h.settings.auth.backoff_pair_max_seconds
    waits: list[int] = []
    tries = 0
    for _ in range(60):
        r = await _login(h, "slow@example.com", "nope", "203.0.113.9")
        if r.status_code == 429:
            waits.append(int(r.headers["retry-after"]))
            clock.now += waits[-1]
        else:
            assert r.status_code == 401
            tries += 1
        if waits.count(cap) == 3:
            break
    assert waits.count(cap) == 3
    assert max(waits) == cap
    # Doubling from 1 s: hours of guessing got through about twenty tries.
    assert waits[:3] == [1, 2, 4]
    assert tries <= 20


async def test_a_success_clears_the_accounts_marks_but_not_the_addresss(h: Harness) -> None:
    await h.register("typo@example.com")
    ip = "192.0.2.77"
    for _ in range(3):
        assert (await _login(h, "typo@example.com", "typo", ip)).status_code == 401
    assert (await _login(h, "typo@example.com", PASSWORD, ip)).status_code == 200
    pair, acct, ip_key = h.res.backoff.keys("typo@example.com", ip)
    assert await h.res.redis.exists(pair, acct) == 0
    # The three failures stay on the address (guesses at other accounts count there); the
    # successful attempt does not.
    assert await h.res.redis.hget(ip_key, "n") == "3"


def test_the_account_wide_wait_can_never_exceed_a_minute() -> None:
    with pytest.raises(ValidationError, match="backoff_account_max_seconds"):
        AuthSettings(backoff_account_max_seconds=61)


# --- what registration and login reveal -------------------------------------------------------


async def test_registration_answers_the_same_whether_or_not_the_email_is_taken(h: Harness) -> None:
    hashed = _count_calls(h, "hash")
    new = await h.client.post(REGISTER, json={"email": "taken@example.com", "password": PASSWORD})
    again = await h.client.post(
        REGISTER, json={"email": "Taken@Example.com", "password": "another long password"}
    )
    assert new.status_code == again.status_code == 201
    assert new.json().keys() == again.json().keys()
    assert again.json()["email"] == "taken@example.com"
    assert again.json()["id"] != new.json()["id"]
    # Same work both times: the password is hashed even for a taken address.
    assert len(hashed) == 2
    # Nothing changed: the first password signs in, the second does not.
    assert (await _login(h, "taken@example.com", PASSWORD, "192.0.2.1")).status_code == 200
    assert (await _login(h, "taken@example.com", "another long password", "192.0.2.1")).status_code == 401
    async with h.res.sessions() as s:
        users = (await s.scalars(select(User.id).where(User.email == "taken@example.com"))).all()
        outcomes = (await s.scalars(select(AuditLog.outcome).where(AuditLog.action == "auth.register"))).all()
    assert [str(u) for u in users] == [new.json()["id"]]
    assert outcomes == ["exists"]


async def test_a_disabled_account_answers_exactly_like_a_wrong_password(h: Harness) -> None:
    from hearth_app.auth import service

    await h.register("gone@example.com")
    await h.register("here@example.com")
    async with h.res.sessions() as s:
        gone = await s.scalar(select(User.id).where(User.email == "gone@example.com"))
    assert gone is not None
    await service.set_disabled(h.res, gone, True)
    verified = _count_calls(h, "verify")
    disabled = await _login(h, "gone@example.com", PASSWORD, "192.0.2.2")
    wrong = await _login(h, "here@example.com", "not the password", "192.0.2.3")
    assert disabled.status_code == wrong.status_code == 401
    assert disabled.headers["www-authenticate"] == wrong.headers["www-authenticate"]

    def same(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in ("request_id",)}

    assert same(disabled.json()) == same(wrong.json())
    assert len(verified) == 2


# --- emails -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("ali\u200bce@example.com", "U+200B (ZERO WIDTH SPACE)"),
        ("\u202emoc.elpmaxe@ecila", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("alice@example.com\nlevel=ERROR forged", "U+000A"),
        ("alice\u00a0@example.com", "U+00A0 (NO-BREAK SPACE)"),
        ("alice\u2028@example.com", "U+2028 (LINE SEPARATOR)"),
        ("alice\u3164@example.com", "U+3164 (HANGUL FILLER)"),
        ("alice\ue000@example.com", "U+E000"),
        ("ali\u00adce@example.com", "U+00AD (SOFT HYPHEN)"),
    ],
)
async def test_emails_with_invisible_or_control_characters_are_refused(
    h: Harness, email: str, named: str
) -> None:
    for path, body in (
        (REGISTER, {"email": email, "password": PASSWORD}),
        (LOGIN, {"email": email, "password": PASSWORD}),
    ):
        r = await h.client.post(path, json=body)
        assert r.status_code == 422, r.text
        err = r.json()["errors"][0]
        assert err["loc"] == ["body", "email"]
        assert named in err["msg"]
    async with h.res.sessions() as s:
        assert await s.scalar(select(User.id)) is None


async def test_emails_are_stored_in_one_spelling(h: Harness) -> None:
    # Fullwidth letters and upper case are the same address as plain lower case (NFKC).
    u = await h.register("\uff21\uff4c\uff49\uff43\uff45@Example.COM")
    assert u["email"] == "alice@example.com"
    assert (await _login(h, "alice@example.com", PASSWORD, "192.0.2.4")).status_code == 200
    assert (await _login(h, "ALICE@example.com", PASSWORD, "192.0.2.4")).status_code == 200


# --- the migration ----------------------------------------------------------------------------


async def test_migration_0002_marks_only_vouched_for_accounts_verified(h: Harness) -> None:
    """Existing accounts: OIDC-made ones with a real address and administrators are verified;
    self-registered ones (and OIDC placeholders) are not."""
    from alembic import command

    from hearth_app.cli import alembic_config
    from hearth_app.core.db import make_engine

    name = f"hearth_mig_{uuid.uuid4().hex[:8]}"
    admin_engine = make_engine(h.settings.db)
    async with admin_engine.connect() as c:
        await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f"CREATE DATABASE {name}")
        )
    settings = h.settings.model_copy(update={"db": h.settings.db.model_copy(update={"name": name})})
    engine = make_engine(settings.db)
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(settings), "0001")
        rows = {
            "self@example.com": "argon2-hash",
            "oidc@example.com": None,
            "abc@corp.oidc.invalid": None,
            "admin@example.com": "argon2-hash",
        }
        admin_role = uuid.uuid4()
        async with engine.begin() as c:
            await c.execute(
                text(
                    "INSERT INTO roles (id, name, description, builtin, created_at)"
                    " VALUES (:id, 'admin', '', true, now())"
                ),
                {"id": admin_role},
            )
            for email, pw in rows.items():
                uid = uuid.uuid4()
                await c.execute(
                    text(
                        "INSERT INTO users (id, email, display_name, password_hash, is_disabled, created_at)"
                        " VALUES (:id, :email, '', :pw, false, now())"
                    ),
                    {"id": uid, "email": email, "pw": pw},
                )
                if email.startswith("admin"):
                    await c.execute(
                        text("INSERT INTO user_roles (user_id, role_id) VALUES (:u, :r)"),
                        {"u": uid, "r": admin_role},
                    )
        await asyncio.to_thread(command.upgrade, alembic_config(settings), "0002")
        async with engine.connect() as c:
            marks = {
                e: v for e, v in (await c.execute(text("SELECT email, email_verified FROM users"))).all()
            }
        assert marks == {
            "self@example.com": False,
            "oidc@example.com": True,
            "abc@corp.oidc.invalid": False,
            "admin@example.com": True,
        }
    finally:
        await engine.dispose()
        async with admin_engine.connect() as c:
            await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text(f"DROP DATABASE {name} WITH (FORCE)")
            )
        await admin_engine.dispose()
