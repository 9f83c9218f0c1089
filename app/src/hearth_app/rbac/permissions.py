"""The permission catalogue and the built-in roles. Migrations seed these."""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "users:read": "List and read user accounts",
    "users:manage": (
        "Create accounts and grant roles (only of permissions you hold); set the password of, "
        "disable, enable and rename accounts holding no more than you"
    ),
    "roles:manage": "Create, change and delete custom roles",
    "audit:read": "Read the audit log",
    "keys:rotate": "Rotate the token signing key",
    "projects:create": "Create projects",
    "projects:read_all": "Read every project, member or not",
    "projects:manage_all": "Change or delete any project",
    "dashboards:view": "Reach the platform dashboards through the edge",
}

ADMIN_ROLE = "admin"

BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    ADMIN_ROLE: ("Everything", sorted(PERMISSIONS)),
    "member": ("Creates and works on projects", ["projects:create"]),
    "viewer": ("Reads projects shared with them", []),
}

DEFAULT_ROLE = "member"
