from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
    ),
]
# ASVS 6.2: at least 8 characters (we ask 12), at most 128, anything printable allowed.
Password = Annotated[str, StringConstraints(min_length=12, max_length=128)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Password
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[str, StringConstraints(min_length=16, max_length=128)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    email: str
    display_name: str
    is_disabled: bool
    created_at: datetime


class MeOut(UserOut):
    roles: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)


__all__ = ["LoginIn", "MeOut", "RefreshIn", "RegisterIn", "TokenOut", "UserOut"]
