"""Redis cache-aside for read endpoints; writers invalidate the keys they touch."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hearth_app.core import metrics

log = logging.getLogger("hearth.cache")


class Cache:
    def __init__(self, redis: Redis, ttl_seconds: int, prefix: str = "cache:") -> None:
        self._r = redis
        self._ttl = ttl_seconds
        self._prefix = prefix

    def key(self, name: str, key: str) -> str:
        return f"{self._prefix}{name}:{key}"

    @staticmethod
    def record(name: str, hit: bool) -> None:
        metrics.CACHE.labels(name, "hit" if hit else "miss").inc()

    async def get_or_load(self, name: str, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        full = f"{self._prefix}{name}:{key}"
        try:
            raw = await self._r.get(full)
        except RedisError:
            # A cache outage degrades to the database, it does not fail the request.
            log.warning("cache read failed", extra={"key": full})
            raw = None
        if raw is not None:
            metrics.CACHE.labels(name, "hit").inc()
            return json.loads(raw)
        metrics.CACHE.labels(name, "miss").inc()
        value = await loader()
        if value is not None:
            try:
                await self._r.set(full, json.dumps(value, default=str), ex=self._ttl)
            except RedisError:
                log.warning("cache write failed", extra={"key": full})
        return value

    async def invalidate(self, name: str, *keys: str) -> None:
        if keys:
            await self._r.delete(*(f"{self._prefix}{name}:{k}" for k in keys))
