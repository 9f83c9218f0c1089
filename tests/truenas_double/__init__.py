"""A test double of the TrueNAS middleware JSON-RPC 2.0 WebSocket API (see README.md)."""

from .errors import CallError, ValidationErrors
from .model import TrueNASState
from .server import API_PATH, DEFAULT_API_KEY, DEFAULT_USERNAME, DoubleConfig, TrueNASDouble

__all__ = [
    "API_PATH",
    "DEFAULT_API_KEY",
    "DEFAULT_USERNAME",
    "CallError",
    "DoubleConfig",
    "TrueNASDouble",
    "TrueNASState",
    "ValidationErrors",
]
