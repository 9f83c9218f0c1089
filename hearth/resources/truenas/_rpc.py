"""The TrueNAS JSON-RPC client, shared with the Ansible role that manages the same API.

The client lives in `ansible/roles/truenas/module_utils/truenas_rpc.py` (standard library
only, so Ansible can ship it to any host); this module loads that one file under a private
name, so the role and the Pulumi target speak to TrueNAS with the same code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

CLIENT_FILE = (
    Path(__file__).resolve().parents[2] / "ansible/roles/truenas/module_utils/truenas_rpc.py"
)
_MODULE = "hearth_truenas_rpc"


def _load() -> ModuleType:
    loaded = sys.modules.get(_MODULE)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(_MODULE, CLIENT_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the TrueNAS client from {CLIENT_FILE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module
    spec.loader.exec_module(module)
    return module


class Client(Protocol):
    """What Hearth uses of `TrueNASClient`."""

    calls: int

    def call(
        self, method: str, *params: Any, job: bool = False, timeout: float | None = None
    ) -> Any: ...

    def bulk(self, method: str, params_list: list[list[Any]]) -> list[Any]: ...

    def login_api_key(self, api_key: str, username: str = "root") -> None: ...

    def close(self) -> None: ...


_rpc = _load()

TrueNASClient: Any = _rpc.TrueNASClient
TrueNASError: type[Exception] = _rpc.TrueNASError
TrueNASValidationError: type[Exception] = _rpc.TrueNASValidationError
TrueNASAuthError: type[Exception] = _rpc.TrueNASAuthError
TrueNASRateLimited: type[Exception] = _rpc.TrueNASRateLimited
TrueNASConnectionError: type[Exception] = _rpc.TrueNASConnectionError
TrueNASMethodNotFound: type[Exception] = _rpc.TrueNASMethodNotFound


def validation_errors(exc: Exception) -> list[tuple[str, str, int]]:
    """The (attribute, message, errno) triples of a validation error; [] for other errors."""
    errors: list[tuple[str, str, int]] = getattr(exc, "errors", None) or []
    return errors


def errname(exc: Exception) -> str | None:
    name: str | None = getattr(exc, "errname", None)
    return name
