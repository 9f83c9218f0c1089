"""Errors as the TrueNAS middleware reports them over JSON-RPC 2.0.

The wire shapes follow the middleware's `send_error` / `send_truenas_error`: a JSON-RPC error
whose `data` carries `error` (an errno), `errname`, `reason`, `trace` and `extra` (for validation
errors a list of `[attribute, message, errno]`).
"""

from __future__ import annotations

import errno
from typing import Any

# JSON-RPC codes the middleware uses (the last two are its own, in the range the spec allows).
INVALID_JSON = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TOO_MANY_CONCURRENT_CALLS = -32000
CALL_ERROR = -32001

# The middleware's own errno values beyond the C library's.
ENOMETHOD = 201
ENOTAUTHENTICATED = 207

_OWN_ERRNAMES = {ENOMETHOD: "ENOMETHOD", ENOTAUTHENTICATED: "ENOTAUTHENTICATED"}


def errname(code: int) -> str:
    return _OWN_ERRNAMES.get(code) or errno.errorcode.get(code, "EUNKNOWN")


class CallError(Exception):
    """A failed call: JSON-RPC code -32001 ("Method call error")."""

    def __init__(self, reason: str, errno_: int = errno.EFAULT, extra: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = errno_
        self.extra = extra

    def __str__(self) -> str:
        return f"[{errname(self.errno)}] {self.reason}"


class ValidationErrors(Exception):
    """One or more invalid attributes: JSON-RPC code -32602 ("Invalid params")."""

    def __init__(self, errors: list[tuple[str, str, int]] | None = None) -> None:
        super().__init__()
        self.errors: list[tuple[str, str, int]] = list(errors or [])

    def add(self, attribute: str, message: str, errno_: int = errno.EINVAL) -> None:
        self.errors.append((attribute, message, errno_))

    def check(self) -> None:
        if self.errors:
            raise self

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __str__(self) -> str:
        return "".join(f"[{errname(e)}] {attr}: {msg}\n" for attr, msg, e in self.errors)


class MethodNotFound(Exception):
    pass


def error_data(exc: Exception) -> dict[str, Any]:
    """The `data` member of an error response, as `format_truenas_error` builds it."""
    if isinstance(exc, ValidationErrors):
        return {
            "error": errno.EINVAL,
            "errname": "EINVAL",
            "reason": str(exc),
            "trace": _trace(exc),
            "extra": [list(e) for e in exc.errors],
        }
    if isinstance(exc, CallError):
        return {
            "error": exc.errno,
            "errname": errname(exc.errno),
            "reason": exc.reason,
            "trace": _trace(exc),
            "extra": exc.extra,
        }
    return {
        "error": errno.EINVAL,
        "errname": "EINVAL",
        "reason": str(exc) or repr(exc),
        "trace": _trace(exc),
        "extra": None,
    }


def _trace(exc: Exception) -> dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "frames": [],
        "formatted": f"{type(exc).__name__}: {exc}",
        "repr": repr(exc),
    }
