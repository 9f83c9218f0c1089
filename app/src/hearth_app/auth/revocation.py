"""Immediate session termination for stateless access tokens.

Logout marks the session id revoked; disablement marks every token of the user issued up to
now. Both live in Redis only as long as an access token can, and are read in one MGET.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from hearth_app.auth.tokens import AccessClaims


class Revocations:
    def __init__(self, redis: Redis, access_ttl: int) -> None:
        self._r = redis
        # Tokens older than this are dead anyway; keep the marks a little longer for skew.
        self._ttl = access_ttl + 60

    async def revoke_session(self, sid: uuid.UUID) -> None:
        await self._r.set(f"rv:sid:{sid}", "1", ex=self._ttl)

    async def revoke_user(self, user_id: uuid.UUID) -> None:
        await self._r.set(f"rv:user:{user_id}", str(time.time()), ex=self._ttl)

    @staticmethod
    def keys(c: AccessClaims) -> list[str]:
        return [f"rv:sid:{c.sid}", f"rv:user:{c.sub}"]

    @staticmethod
    def revoked(c: AccessClaims, values: Sequence[bytes | str | None]) -> bool:
        sid, before = values
        if sid is not None:
            return True
        return before is not None and c.iat <= float(before)

    async def is_revoked(self, c: AccessClaims) -> bool:
        return self.revoked(c, await self._r.mget(*self.keys(c)))
