"""Stopping a background task for sure."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` until it has ended. On Python 3.11 a library's own `asyncio.wait_for`
    (nats-py's requests, for one) swallows a cancellation that arrives as its answer does: a
    single cancel can leave the task running, and an `await task` waiting for ever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1)
    with contextlib.suppress(asyncio.CancelledError):
        await task
