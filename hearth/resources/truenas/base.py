"""What every TrueNAS dynamic resource shares: configuration, sessions, diff helpers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from pulumi.dynamic import CheckFailure, ConfigureRequest, DiffResult, ResourceProvider
from pulumi.runtime import rpc

from hearth.resources.truenas.connection import Endpoint, session
from hearth.resources.truenas.rpc import TrueNASClient

PROVIDER_KEY = "__provider"


def known(value: Any) -> bool:
    """False for a value Pulumi does not know yet (a preview of a not-yet-created output)."""
    return value is not rpc.UNKNOWN and value != rpc.UNKNOWN


def diff_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


def diff_result(changed: list[str], replace_keys: Iterable[str], **kw: Any) -> DiffResult:
    replaces = [k for k in changed if k in set(replace_keys)]
    return DiffResult(changes=bool(changed), replaces=replaces, stables=[], **kw)


def failure(prop: str, reason: str) -> CheckFailure:
    return CheckFailure(prop, reason)


OCTAL_MODE = re.compile(r"^0?[0-7]{3}$")


def check_owner(news: Mapping[str, Any], failures: list[CheckFailure]) -> None:
    """uid, gid (numbers, not names) and mode (octal text such as "0750")."""
    for key in ("uid", "gid"):
        value = news.get(key)
        if value is None or not known(value):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            failures.append(failure(key, f"{key} must be a number, got {value!r}"))
        elif not 0 <= int(value) < 2**31:
            failures.append(failure(key, f"{key} must be between 0 and 2147483647, got {value}"))
    mode = news.get("mode")
    if mode is not None and known(mode) and not (isinstance(mode, str) and OCTAL_MODE.match(mode)):
        failures.append(failure("mode", f'mode must be octal text such as "0750", got {mode!r}'))


class TrueNASProvider(ResourceProvider):
    """Base of the TrueNAS providers: the endpoint comes from the stack config.

    `hearth:truenasUrl` and the secret `hearth:truenasApiKey` reach `configure` in the
    provider process, so the key is never an input of a resource and never in its state.
    """

    endpoint: Endpoint | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self.endpoint = Endpoint.from_config(req.config)

    def session(self, what: str) -> AbstractContextManager[TrueNASClient]:
        return session(self.endpoint, what)


def strip(props: Mapping[str, Any]) -> dict[str, Any]:
    """Props without the serialised provider."""
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}
