from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Control, format (bidi, zero-width, soft hyphen), separator, private-use, surrogate, unassigned.
_BAD_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn"}
# Letters and marks that render as nothing (Hangul fillers, braille blank, combining grapheme
# joiner, Khmer inherent vowels, variation selectors): look-alikes of shorter addresses.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0}
_INVISIBLE_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")


def _problem_char(value: str) -> str | None:
    for i, ch in enumerate(value):
        cp = ord(ch)
        if ch == " ":
            return f"a space at position {i + 1}"
        if (
            unicodedata.category(ch) in _BAD_CATEGORIES
            or cp in _INVISIBLE
            or any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES)
        ):
            name = unicodedata.name(ch, "unnamed")
            return f"the invisible, control or formatting character U+{cp:04X} ({name}) at position {i + 1}"
    return None


def _refuse_invisible(value: str) -> None:
    bad = _problem_char(value)
    if bad:
        raise ValueError(f"the email address contains {bad}; type the address again without it")


def normalize_email(value: str) -> str:
    """The one spelling we store and compare: NFKC, lower case, nothing invisible.

    Invisible, bidirectional and control characters are refused, not removed: an address that
    looks like another one must not quietly become it, and none may reach a log line.
    """
    value = value.strip(" \t\r\n")
    _refuse_invisible(value)
    value = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).lower())
    # Again: NFKC maps some visible characters to others.
    _refuse_invisible(value)
    if not 3 <= len(value) <= 320:
        raise ValueError("the email address must be 3 to 320 characters long")
    if not _EMAIL_SHAPE.match(value):
        raise ValueError("the email address must have the form name@domain, with a single @")
    return value


# The length bound comes first: it keeps the character scan cheap.
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email)]
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
    # Without it, the hearth_refresh cookie is used (auth/router.py, refresh).
    refresh_token: Annotated[str, StringConstraints(min_length=16, max_length=128)] | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str | None = Field(
        default=None,
        description="Null when the request sent X-Hearth-CSRF: 1 (the console): "
        "then only the HttpOnly hearth_refresh cookie carries it",
    )


class SessionOut(BaseModel):
    id: uuid.UUID = Field(description="The session (its refresh-token family)")
    started_at: datetime
    last_used_at: datetime = Field(description="The last refresh (or the start)")
    expires_at: datetime = Field(description="When it ends unless refreshed before")
    current: bool = Field(description="The session of the token making this request")


class AuthOptions(BaseModel):
    registration_enabled: bool
    oidc_providers: list[str]


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JwksOut(BaseModel):
    keys: list[Jwk]


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


__all__ = [
    "AuthOptions",
    "JwksOut",
    "LoginIn",
    "MeOut",
    "RefreshIn",
    "RegisterIn",
    "SessionOut",
    "TokenOut",
    "UserOut",
]
