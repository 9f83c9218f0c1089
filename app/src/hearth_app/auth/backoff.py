"""Failed-login backoff per (account, IP), per account and per IP, in Redis.

Each scope allows ``threshold`` failures, then demands a wait that doubles per further failure
up to a cap, and forgets everything after ``window`` seconds without failures. The
account-wide cap is small, so failures sent by someone else can slow a victim down for at
most that long per attempt and never lock the account; the (account, IP) and IP scopes, with
larger caps, are what stop a guesser.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from hearth_app.core.settings import AuthSettings


@dataclass(frozen=True)
class _Scope:
    key: str
    threshold: int
    cap: int


class LoginBackoff:
    def __init__(self, redis: Redis, settings: AuthSettings) -> None:
        self._r = redis
        self._s = settings

    def _scopes(self, email: str, ip: str) -> list[_Scope]:
        s = self._s
        acct = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
        return [
            _Scope(f"bo:pair:{acct}:{ip}", s.backoff_pair_threshold, s.backoff_pair_max_seconds),
            _Scope(f"bo:acct:{acct}", s.backoff_account_threshold, s.backoff_account_max_seconds),
            _Scope(f"bo:ip:{ip}", s.backoff_ip_threshold, s.backoff_ip_max_seconds),
        ]

    def _delay(self, failures: int, sc: _Scope) -> float:
        over = failures - sc.threshold
        if over < 0:
            return 0.0
        return float(min(sc.cap, self._s.backoff_base_seconds * (2 ** min(over, 30))))

    async def retry_after(self, email: str, ip: str) -> int:
        """Seconds to wait before this attempt may be checked; 0 when it may go ahead."""
        scopes = self._scopes(email, ip)
        pipe = self._r.pipeline(transaction=False)
        for sc in scopes:
            pipe.hmget(sc.key, "n", "last")
        rows = await pipe.execute()
        now = time.time()
        wait = 0.0
        for sc, (n, last) in zip(scopes, rows, strict=True):
            if n is None or last is None:
                continue
            wait = max(wait, float(last) + self._delay(int(n), sc) - now)
        return int(wait) + 1 if wait > 0 else 0

    async def failed(self, email: str, ip: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        now = time.time()
        for sc in self._scopes(email, ip):
            pipe.hincrby(sc.key, "n", 1)
            pipe.hset(sc.key, "last", now)
            pipe.expire(sc.key, self._s.backoff_window_seconds)
        await pipe.execute()

    async def succeeded(self, email: str, ip: str) -> None:
        # The IP counter stays: one good account must not wash out guesses at others.
        pair, acct, _ = self._scopes(email, ip)
        await self._r.delete(pair.key, acct.key)
