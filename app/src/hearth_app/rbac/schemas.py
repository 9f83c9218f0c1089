from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hearth_app.auth.schemas import Email, Password

RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]
PermName = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[a-z_]+$", max_length=64)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Password
    display_name: Annotated[str, StringConstraints(max_length=200)]
    roles: list[RoleName] | None = Field(
        default=None, max_length=20, description="Omitted: the role self-registration gives"
    )


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_disabled: bool | None = None
    display_name: Annotated[str, StringConstraints(max_length=200)] | None = None


class UserRolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[RoleName] = Field(max_length=20)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: RoleName
    description: Annotated[str, StringConstraints(max_length=255)] = ""
    permissions: list[PermName] = Field(default_factory=list, max_length=100)


class RolePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: Annotated[str, StringConstraints(max_length=255)] | None = None
    permissions: list[PermName] | None = Field(default=None, max_length=100)


class RoleOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    builtin: bool
    permissions: list[str]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    resource: str
    outcome: str
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]


class KeyRotated(BaseModel):
    kid: str
