"""argon2id password hashing, always off the event loop."""

from __future__ import annotations

import contextlib
import os
import threading

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from hearth_app.core.settings import AuthSettings

_local = threading.local()
# Hashing threads run at nice 10 (about a tenth of the event loop's CPU weight): a login storm
# then slows logins, not every other request. Not SCHED_IDLE: on a box shared with PostgreSQL
# and Redis that would starve logins whenever anything else is busy.
HASH_THREAD_NICE = 10


def _lower_thread_priority() -> None:
    if getattr(_local, "niced", False) or threading.current_thread() is threading.main_thread():
        return
    _local.niced = True
    with contextlib.suppress(OSError, AttributeError):
        # On Linux a thread is a task with its own nice value.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)


def _usable_cpus() -> int:
    # The CPUs this process may run on (taskset, cgroups cpusets), not the machine's count.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Passwords:
    def __init__(self, settings: AuthSettings) -> None:
        self._ph = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # One hash per core at a time: more threads only add memory and queueing.
        self._limiter = anyio.CapacityLimiter(_usable_cpus())
        # Verified when the account does not exist, so both paths cost the same.
        self._dummy = self._ph.hash("hearth-timing-equaliser")

    def hash_sync(self, password: str) -> str:
        _lower_thread_priority()
        return self._ph.hash(password)

    def verify_sync(self, stored: str | None, password: str) -> bool:
        _lower_thread_priority()
        try:
            return self._ph.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._ph.check_needs_rehash(stored)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash_sync, password, limiter=self._limiter)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(self.verify_sync, stored, password, limiter=self._limiter)
