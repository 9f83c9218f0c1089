"""The first administrator, from configuration: no default password anywhere.

`hearth-app migrate` runs this on every deployment. With ``HEARTH_BOOTSTRAP_ADMIN_EMAIL`` and
``HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE`` both set, it makes sure an account with that email
exists and holds the ``admin`` role:

- missing: it is created with the password from the file, its email counted as verified;
- present: its password is left alone (the operator may have changed it), the ``admin`` role
  is granted again if it was taken away, and a disabled account stays disabled (disabling is
  how an operator shuts an account out; a deployment must not undo it).

The password is never logged, and never compared with the stored one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import SecretStr, TypeAdapter, ValidationError
from sqlalchemy import func, select, text

from hearth_app.auth.models import User
from hearth_app.auth.schemas import Email, Password
from hearth_app.core.settings import Settings, is_placeholder
from hearth_app.core.state import Resources
from hearth_app.rbac import service as rbac
from hearth_app.rbac.models import AuditLog, user_roles

log = logging.getLogger("hearth.bootstrap")

EMAIL_VAR = "HEARTH_BOOTSTRAP_ADMIN_EMAIL"
PASSWORD_VAR = "HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE"  # noqa: S105 - a variable's name
ADMIN_ROLE = "admin"
_LOCK_ID = 0x41444D4E  # pg advisory lock: replicas migrating together create the admin once

_email = TypeAdapter(Email)
_password = TypeAdapter(Password)


class BootstrapError(ValueError):
    """The first-administrator settings are incomplete or unusable."""


@dataclass(frozen=True)
class AdminRequest:
    email: str
    password: SecretStr


def admin_request(settings: Settings) -> AdminRequest | None:
    """The configured first administrator, checked; None when neither variable is set."""
    b = settings.bootstrap
    email = b.admin_email.strip()
    password = b.admin_password.get_secret_value()
    if not email and not password:
        return None
    if not email:
        raise BootstrapError(f"{PASSWORD_VAR} is set but {EMAIL_VAR} is not: set both, or neither")
    if not password:
        raise BootstrapError(
            f"{EMAIL_VAR} is set but {PASSWORD_VAR} is not set or names an empty file: "
            "put the first administrator's password in that file"
        )
    try:
        email = _email.validate_python(email)
    except ValidationError:
        raise BootstrapError(f"{EMAIL_VAR}={email!r} is not an email address") from None
    try:
        _password.validate_python(password)
    except ValidationError:
        # Never echo the value.
        raise BootstrapError(f"the password in {PASSWORD_VAR} must be 12 to 128 characters") from None
    if settings.core.env != "development" and is_placeholder(password):
        raise BootstrapError(f"the password in {PASSWORD_VAR} is a placeholder; use a real one")
    return AdminRequest(email=email, password=SecretStr(password))


async def ensure_admin(res: Resources, req: AdminRequest) -> bool:
    """Make sure ``req.email`` exists and is an administrator. Returns True if it was created."""
    granted = False
    async with res.sessions() as s, s.begin():
        # Two migrations at once: the second waits, then finds the account.
        await s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        role = await rbac.role_by_name(s, ADMIN_ROLE)
        if role is None:  # pragma: no cover - the catalogue is synced just before
            raise BootstrapError(f"the built-in role {ADMIN_ROLE!r} is missing")
        user = await s.scalar(select(User).where(User.email == req.email))
        created = user is None
        if user is None:
            pw_hash = await res.passwords.hash(req.password.get_secret_value())
            # The operator named this address: it counts as verified (auth/models.py).
            user = User(
                email=req.email, password_hash=pw_hash, display_name="Administrator", email_verified=True
            )
            s.add(user)
            await s.flush()
        has_role = await s.scalar(
            select(func.count())
            .select_from(user_roles)
            .where(user_roles.c.user_id == user.id, user_roles.c.role_id == role.id)
        )
        if not has_role and not user.email_verified:
            # Self-registered: anybody could have taken the address before the operator named it.
            raise BootstrapError(
                f"an account with the first administrator's email {req.email!r} exists but was "
                "self-registered (its address was never verified), so it is not made an "
                "administrator: choose another adminEmail, or, if the account is yours, grant "
                f"the role by hand: hearth-app grant-role {req.email} {ADMIN_ROLE}"
            )
        if not has_role:
            await rbac.grant_role(s, user.id, role)
            granted = not created
        if created or granted:
            s.add(
                AuditLog(
                    actor_id=None,
                    action="admin.bootstrap",
                    resource=f"user:{user.id}",
                    outcome="created" if created else "role-granted",
                    detail={"email": req.email, "role": ADMIN_ROLE},
                )
            )
        user_id, disabled = user.id, user.is_disabled
    if granted:
        await res.cache.invalidate("perms", str(user_id))
        await res.cache.invalidate("user", str(user_id))
    if created:
        log.info("admin %s created", req.email, extra={"user_id": str(user_id)})
    else:
        log.info("admin %s exists", req.email, extra={"user_id": str(user_id), "role_granted": granted})
        if disabled:
            log.warning(
                "admin %s is disabled and stays disabled; enable it with PATCH /api/v1/admin/users/%s",
                req.email,
                user_id,
            )
    return created
