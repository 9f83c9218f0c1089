"""Redis cache-aside for read endpoints; writers invalidate the keys they touch, after commit.

A reader that misses may load from the database before a writer commits and store after the
writer has invalidated: that would undo a revocation for a whole TTL. So every key has a
generation that invalidation bumps (and every cache name one more, bumped by `invalidate_all`);
the reader notes both in the same round trip as its miss and stores only if neither moved
(compare-and-set in Lua). A hit is one GET, as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hearth_app.core import metrics

log = logging.getLogger("hearth.cache")

# A generation must outlive any load that read it: were it to expire (and so read as absent
# again) while a load is in flight, a stale value could slip through. Loads take seconds.
GEN_TTL_SECONDS = 86400

_STORE = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] and (redis.call('GET', KEYS[3]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
"""


class Cache:
    def __init__(self, redis: Redis, ttl_seconds: int, prefix: str = "cache:") -> None:
        self._r = redis
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._store = redis.register_script(_STORE)

    def key(self, name: str, key: str) -> str:
        """Where the value lives (a plain JSON string: callers may GET it directly)."""
        return f"{self._prefix}{name}:{key}"

    def _gen(self, name: str, key: str | None = None) -> str:
        # Outside the values' `<prefix><name>:*` pattern, so invalidate_all never deletes them.
        return f"{self._prefix}gen:{name}" + (f":{key}" if key is not None else "")

    @staticmethod
    def record(name: str, hit: bool) -> None:
        metrics.CACHE.labels(name, "hit" if hit else "miss").inc()

    async def get_or_load(self, name: str, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        full = self.key(name, key)
        try:
            raw, gen, name_gen = await self._r.mget(full, self._gen(name, key), self._gen(name))
        except RedisError:
            # A cache outage degrades to the database, it does not fail the request.
            log.warning("cache read failed", extra={"key": full})
            self.record(name, hit=False)
            return await loader()
        if raw is not None:
            self.record(name, hit=True)
            return json.loads(raw)
        self.record(name, hit=False)
        value = await loader()
        if value is not None:
            try:
                await self._store(
                    keys=[full, self._gen(name, key), self._gen(name)],
                    args=[gen or "", name_gen or "", json.dumps(value, default=str), self._ttl],
                )
            except RedisError:
                log.warning("cache write failed", extra={"key": full})
        return value

    async def invalidate(self, name: str, *keys: str) -> None:
        """Drop the values; a load already in flight for them will not store. Call after commit."""
        if not keys:
            return
        pipe = self._r.pipeline(transaction=True)
        for k in keys:
            pipe.incr(self._gen(name, k))
            pipe.expire(self._gen(name, k), GEN_TTL_SECONDS)
            pipe.delete(self.key(name, k))
        await pipe.execute()

    async def invalidate_all(self, name: str) -> None:
        """Drop every value of one cache (a change that touches many keys). Call after commit."""
        await self._r.incr(self._gen(name))
        # Loads that started before the bump cannot store; what was stored before goes now.
        batch: list[str] = []
        async for k in self._r.scan_iter(match=f"{self._prefix}{name}:*", count=500):
            batch.append(k)
            if len(batch) >= 500:
                await self._r.delete(*batch)
                batch = []
        if batch:
            await self._r.delete(*batch)
