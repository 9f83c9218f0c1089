"""Imports every model so metadata is complete (Alembic, tests)."""

from hearth_app.auth.models import ExternalIdentity, RefreshToken, SigningKey, User
from hearth_app.core.db import Base
from hearth_app.events.outbox import OutboxEvent
from hearth_app.files.models import StoredFile
from hearth_app.projects.models import Project, ProjectMember
from hearth_app.rbac.models import AuditLog, Permission, Role, role_permissions, user_roles

__all__ = [
    "AuditLog",
    "Base",
    "ExternalIdentity",
    "OutboxEvent",
    "Permission",
    "Project",
    "ProjectMember",
    "RefreshToken",
    "Role",
    "SigningKey",
    "StoredFile",
    "User",
    "role_permissions",
    "user_roles",
]
