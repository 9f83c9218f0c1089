"""Who may grant what: nobody grants a permission they do not hold, nobody changes their own
roles, only an administrator touches the admin role, and nobody changes (sets the password of,
disables, renames) an account that holds more than they do.

The checks run inside the writing transaction, on the actor's grants as the database has
them then (not as cached), so a concurrent demotion is not outrun by a stale cache entry."""

from __future__ import annotations

from dataclasses import dataclass

from hearth_app.rbac.permissions import ADMIN_ROLE


class Refused(Exception):  # noqa: N818 - a decision, answered as a 403 problem
    def __init__(self, why: str, refused: list[str]) -> None:
        super().__init__(why)
        self.why = why
        self.refused = refused


@dataclass(frozen=True)
class Grants:
    roles: frozenset[str]
    permissions: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


def check_permissions(actor: Grants, perms: set[str]) -> None:
    """Granting these permissions (to a role) is allowed only to one who holds them all."""
    lacking = sorted(perms - actor.permissions)
    if lacking:
        raise Refused(f"you cannot grant permissions you do not hold: {', '.join(lacking)}", lacking)


def check_role_change(
    actor: Grants,
    *,
    own: bool,
    added: dict[str, set[str]],
    removed: set[str],
) -> None:
    """A change of one user's roles: `added` maps each new role to its permissions."""
    changed = sorted(set(added) | removed)
    if own and changed:
        raise Refused(
            f"you cannot change your own roles ({', '.join(changed)}); "
            "another user with users:manage must do it",
            changed,
        )
    if ADMIN_ROLE in changed and not actor.is_admin:
        raise Refused(f"only an administrator may grant or revoke the {ADMIN_ROLE} role", [ADMIN_ROLE])
    check_permissions(actor, set().union(*added.values()))


def check_role_edit(actor: Grants, role: str) -> None:
    """Changing or deleting a role: the admin role is for administrators alone."""
    if role == ADMIN_ROLE and not actor.is_admin:
        raise Refused(f"only an administrator may change the {ADMIN_ROLE} role", [ADMIN_ROLE])


def check_account_change(actor: Grants, target: Grants) -> None:
    """Setting an account's password, disabling, enabling or renaming it: only by one who holds
    all it holds. A new password would let the actor sign in as the target, so anything less
    is a way to gain the target's permissions; the admin role counts too (it alone may grant
    and edit the admin role)."""
    if target.is_admin and not actor.is_admin:
        raise Refused("only an administrator may change an administrator's account", [ADMIN_ROLE])
    lacking = sorted(target.permissions - actor.permissions)
    if lacking:
        raise Refused(
            "you cannot change the account of a user holding permissions you do not hold: "
            f"{', '.join(lacking)}; ask someone who holds them",
            lacking,
        )
