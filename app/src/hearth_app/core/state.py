"""The process's live resources, built in the lifespan and reached through dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hearth_app.auth.backoff import LoginBackoff
from hearth_app.auth.keys import KeyRing
from hearth_app.auth.oidc import OidcClient
from hearth_app.auth.passwords import Passwords
from hearth_app.auth.revocation import Revocations
from hearth_app.core.settings import Settings

if TYPE_CHECKING:
    from hearth_app.core.cache import Cache
    from hearth_app.core.ratelimit import RateLimiter
    from hearth_app.core.redisline import RedisLine
    from hearth_app.events.bus import EventBus
    from hearth_app.files.storage import Storage


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    # The API's per-request round trip (auth/deps.py); connects on first use.
    line: RedisLine
    keys: KeyRing
    passwords: Passwords
    cache: Cache
    limiter: RateLimiter
    bus: EventBus
    storage: Storage
    revocations: Revocations
    backoff: LoginBackoff
    oidc: OidcClient
    http: httpx.AsyncClient
