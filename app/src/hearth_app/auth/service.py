"""Accounts, logins and sessions."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hearth_app.auth import tokens
from hearth_app.auth.models import ExternalIdentity, RefreshToken, User
from hearth_app.auth.oidc import ExternalUser
from hearth_app.core import metrics
from hearth_app.core.context import request_id_var
from hearth_app.core.db import utcnow
from hearth_app.core.problems import Problem
from hearth_app.core.state import Resources
from hearth_app.events import outbox, subjects
from hearth_app.rbac import service as rbac
from hearth_app.rbac.audit import audit
from hearth_app.rbac.models import AuditLog
from hearth_app.rbac.permissions import DEFAULT_ROLE

log = logging.getLogger("hearth.auth")


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    # Seconds the refresh token works for (the refresh cookie's Max-Age).
    refresh_expires_in: int


@dataclass(frozen=True)
class ActiveSession:
    id: uuid.UUID
    started_at: datetime
    last_used_at: datetime
    expires_at: datetime


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def register(res: Resources, email: str, password: str, display_name: str) -> User:
    """Create an account, answering the same whether or not the address is taken.

    A taken address gets a body of the same shape that names no account (a fresh id) and costs
    the same (the password is hashed either way); nothing changes and the attempt is audited.
    The user then signs in: a taken address opens only with its existing account's password.
    """
    if not res.settings.auth.registration_enabled:
        raise Problem(403, "registration is closed on this deployment", kind="registration-closed")
    pw_hash = await res.passwords.hash(password)
    async with res.sessions() as s:
        try:
            async with s.begin():
                user = User(email=email, password_hash=pw_hash, display_name=display_name)
                s.add(user)
                await s.flush()
                role = await rbac.role_by_name(s, DEFAULT_ROLE)
                if role:
                    await rbac.grant_role(s, user.id, role)
                outbox.record(s, subjects.USER_REGISTERED, {"user_id": str(user.id), "email": user.email})
        except IntegrityError:
            metrics.AUTH_EVENTS.labels("register", "exists").inc()
            await audit(res.sessions, action="auth.register", outcome="exists", detail={"email": email})
            return User(
                id=uuid.uuid4(),
                email=email,
                display_name=display_name,
                is_disabled=False,
                email_verified=False,
                created_at=utcnow(),
            )
    metrics.AUTH_EVENTS.labels("register", "ok").inc()
    return user


async def start_session(res: Resources, user: User, audit_row: AuditLog | None = None) -> IssuedTokens:
    """A new session: a new refresh-token family and an access token bound to it.

    An audit row passed in is written in the same transaction (one commit per login).
    """
    now = utcnow()
    family = uuid.uuid4()
    raw, digest = tokens.new_refresh_token()
    a = res.settings.auth
    expires_at = now + timedelta(seconds=a.refresh_ttl_seconds)
    family_expires_at = now + timedelta(seconds=a.session_max_seconds)
    async with res.sessions() as s, s.begin():
        await res.keys.sync_signer(s)
        s.add(
            RefreshToken(
                family_id=family,
                user_id=user.id,
                token_hash=digest,
                expires_at=expires_at,
                family_expires_at=family_expires_at,
            )
        )
        if audit_row is not None:
            s.add(audit_row)
    access = tokens.issue_access(res.keys, a, user_id=user.id, session_id=family, email=user.email)
    return IssuedTokens(
        access, raw, a.access_ttl_seconds, family, _seconds_until(min(expires_at, family_expires_at), now)
    )


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(0, int((when - now).total_seconds()))


async def login(res: Resources, email: str, password: str, ip: str) -> IssuedTokens:
    """Password login. The attempt is counted before the password is checked (auth/backoff.py).

    Unknown account, wrong password and disabled account answer alike, after the same work.
    """
    wait = await res.backoff.reserve(email, ip)
    if wait:
        metrics.AUTH_EVENTS.labels("login", "throttled").inc()
        raise Problem(
            429,
            f"too many failed logins; wait {wait} s before trying again",
            kind="login-backoff",
            headers={"Retry-After": str(wait)},
        )
    async with res.sessions() as s:
        user = await s.scalar(select(User).where(User.email == email))
    ok = await res.passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or user.is_disabled:
        # A disabled account must not confirm that the password was right.
        outcome = "disabled" if ok and user is not None else "failed"
        metrics.AUTH_EVENTS.labels("login", outcome).inc()
        await audit(
            res.sessions,
            action="auth.login",
            outcome=outcome,
            actor_id=user.id if user is not None and ok else None,
            ip=ip,
            detail={"email": email},
        )
        raise _unauthorized("email or password is wrong")
    await res.backoff.succeeded(email, ip)
    if user.password_hash and res.passwords.needs_rehash(user.password_hash):
        new_hash = await res.passwords.hash(password)
        async with res.sessions() as s, s.begin():
            await s.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
    row = AuditLog(
        actor_id=user.id,
        action="auth.login",
        resource="",
        outcome="ok",
        ip=ip[:64],
        request_id=request_id_var.get(),
        detail={},
    )
    issued = await start_session(res, user, row)
    metrics.AUTH_EVENTS.labels("login", "ok").inc()
    return issued


async def refresh(res: Resources, raw: str, ip: str) -> IssuedTokens:
    digest = tokens.hash_refresh(raw)
    now = utcnow()
    a = res.settings.auth
    async with res.sessions() as s, s.begin():
        row = await s.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest).with_for_update())
        if row is None:
            metrics.AUTH_EVENTS.labels("refresh", "unknown").inc()
            raise _unauthorized("refresh token is not valid")
        if row.used_at is not None or row.revoked_at is not None:
            # Reuse: someone holds a copy. End the whole session family.
            await s.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            family, user_id = row.family_id, row.user_id
            reused = True
        else:
            reused = False
            if row.expires_at <= now or row.family_expires_at <= now:
                raise _unauthorized("refresh token has expired")
            user = await s.get(User, row.user_id)
            if user is None or user.is_disabled:
                raise _unauthorized("account is disabled")
            await res.keys.sync_signer(s)
            row.used_at = now
            new_raw, new_digest = tokens.new_refresh_token()
            new_expires_at = min(now + timedelta(seconds=a.refresh_ttl_seconds), row.family_expires_at)
            s.add(
                RefreshToken(
                    family_id=row.family_id,
                    user_id=row.user_id,
                    token_hash=new_digest,
                    expires_at=new_expires_at,
                    family_expires_at=row.family_expires_at,
                )
            )
            family, user_id, email = row.family_id, row.user_id, user.email
    if reused:
        await res.revocations.revoke_session(family)
        metrics.AUTH_EVENTS.labels("refresh", "reuse").inc()
        await audit(
            res.sessions,
            action="auth.refresh",
            outcome="reuse-revoked-family",
            actor_id=user_id,
            ip=ip,
            detail={"family": str(family)},
        )
        raise _unauthorized("refresh token was already used; the session has been ended")
    metrics.AUTH_EVENTS.labels("refresh", "ok").inc()
    access = tokens.issue_access(res.keys, a, user_id=user_id, session_id=family, email=email)
    return IssuedTokens(access, new_raw, a.access_ttl_seconds, family, _seconds_until(new_expires_at, now))


def _live(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A session's current refresh token: neither spent nor revoked nor expired. A session
    (family) is active while it has one; ending it revokes every row of the family."""
    return (
        RefreshToken.used_at.is_(None),
        RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > now,
        RefreshToken.family_expires_at > now,
    )


async def active_sessions(res: Resources, user_id: uuid.UUID) -> list[ActiveSession]:
    """The user's active sessions, the most recently refreshed first."""
    started = (
        select(RefreshToken.family_id, func.min(RefreshToken.created_at).label("started_at"))
        .where(RefreshToken.user_id == user_id)
        .group_by(RefreshToken.family_id)
        .subquery()
    )
    q = (
        select(RefreshToken.family_id, started.c.started_at, RefreshToken.created_at, RefreshToken.expires_at)
        .join(started, started.c.family_id == RefreshToken.family_id)
        .where(RefreshToken.user_id == user_id, *_live(utcnow()))
        .order_by(RefreshToken.created_at.desc(), RefreshToken.family_id)
    )
    async with res.sessions() as s:
        rows = (await s.execute(q)).all()
    return [ActiveSession(*row) for row in rows]


async def end_own_session(res: Resources, user_id: uuid.UUID, family: uuid.UUID) -> bool:
    """End one of the user's sessions; False when it is not theirs or not active."""
    async with res.sessions() as s:
        live = await s.scalar(
            select(RefreshToken.id).where(
                RefreshToken.user_id == user_id, RefreshToken.family_id == family, *_live(utcnow())
            )
        )
    if live is None:
        return False
    await end_session(res, family)
    return True


async def end_session(res: Resources, family: uuid.UUID) -> None:
    async with res.sessions() as s, s.begin():
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    await res.revocations.revoke_session(family)


async def end_all_sessions(res: Resources, user_id: uuid.UUID) -> None:
    async with res.sessions() as s, s.begin():
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    await res.revocations.revoke_user(user_id)


def mark_disabled(s: AsyncSession, user: User, disabled: bool) -> None:
    """In the caller's transaction; after its commit, disabling must end_all_sessions."""
    user.is_disabled = disabled
    event = subjects.USER_DISABLED if disabled else subjects.USER_ENABLED
    outbox.record(s, event, {"user_id": str(user.id)})


async def set_disabled(res: Resources, user_id: uuid.UUID, disabled: bool) -> User:
    async with res.sessions() as s, s.begin():
        user = await s.get(User, user_id)
        if user is None:
            raise Problem(404, "no such user", kind="not-found")
        mark_disabled(s, user, disabled)
    if disabled:
        await end_all_sessions(res, user_id)
    await res.cache.invalidate("user", str(user_id))
    return user


async def login_external(res: Resources, ext: ExternalUser, ip: str) -> IssuedTokens:
    """Map an identity from an OIDC provider to a local user, then start a session."""
    cfg = next(p for p in res.settings.auth.oidc_providers if p.name == ext.provider)
    created = False
    async with res.sessions() as s, s.begin():
        ident = await s.scalar(
            select(ExternalIdentity).where(
                ExternalIdentity.provider == ext.provider, ExternalIdentity.subject == ext.subject
            )
        )
        user = await s.get(User, ident.user_id) if ident else None
        if user is None and ext.email and ext.email_verified and cfg.link_by_verified_email:
            # Both sides must vouch for the address: the provider, and whoever made the local
            # account (anyone may self-register anyone's address, then wait for the owner).
            user = await s.scalar(select(User).where(User.email == ext.email, User.email_verified))
        if user is None:
            if not res.settings.auth.registration_enabled:
                raise Problem(403, "registration is closed on this deployment", kind="registration-closed")
            email = ext.email if ext.email and ext.email_verified else None
            if email is None or await s.scalar(select(User.id).where(User.email == email)):
                digest = hashlib.sha256(f"{ext.provider}:{ext.subject}".encode()).hexdigest()[:20]
                email = f"{digest}@{ext.provider}.oidc.invalid"
            # A placeholder is no address: nothing may ever be linked to it by email.
            user = User(email=email, password_hash=None, email_verified=email == ext.email)
            s.add(user)
            await s.flush()
            role = await rbac.role_by_name(s, DEFAULT_ROLE)
            if role:
                await rbac.grant_role(s, user.id, role)
            created = True
            outbox.record(s, subjects.USER_REGISTERED, {"user_id": str(user.id), "provider": ext.provider})
        if ident is None:
            s.add(
                ExternalIdentity(provider=ext.provider, subject=ext.subject, user_id=user.id, email=ext.email)
            )
    if user.is_disabled:
        metrics.AUTH_EVENTS.labels("oidc", "disabled").inc()
        raise Problem(403, "this account is disabled", kind="account-disabled")
    issued = await start_session(res, user)
    metrics.AUTH_EVENTS.labels("oidc", "ok").inc()
    await audit(
        res.sessions,
        action="auth.oidc",
        outcome="ok",
        actor_id=user.id,
        ip=ip,
        detail={"provider": ext.provider, "linked": ident is None and not created},
    )
    return issued
