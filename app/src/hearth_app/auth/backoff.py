"""Failed-login backoff per (account, IP), per IP and per account, in Redis.

Every login attempt first reserves its place with one Lua script: it is refused (with the wait)
or counted as a failure before the password is verified, so parallel guesses cannot all slip
through a check made before any of them failed. A success then takes the count back.

- (account, IP) and IP: ``threshold`` attempts, then each needs a wait since that scope's last
  attempt, doubling up to the scope's cap. These stop a guesser.
- account: past its threshold, every attempt waits (doubling, at most
  ``backoff_account_max_seconds``, never more than 60 s) — timed per (account, IP), so failures
  sent from elsewhere can make the owner wait once per attempt but can never lock them out.

Every mark expires ``backoff_window_seconds`` after the last attempt.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from redis.asyncio import Redis

from hearth_app.core.settings import AuthSettings

# KEYS: pair, account, ip. ARGV: now, base, window, then threshold and cap of pair, account, ip.
# Returns 0 (attempt counted: go ahead) or the whole seconds to wait (nothing counted).
_RESERVE = """
local now, base, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function delay(n, thr, cap)
  if n < thr then return 0 end
  return math.min(cap, base * 2 ^ math.min(n - thr, 30))
end
local function due(key, thr, cap)
  local v = redis.call('HMGET', key, 'n', 'last')
  if not v[1] then return 0 end
  local d = delay(tonumber(v[1]), thr, cap)
  -- Under the threshold nothing is due, even if a parallel attempt stamped a later 'last'.
  if d == 0 then return 0 end
  return tonumber(v[2]) + d - now
end
local wait = math.max(due(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5])),
                      due(KEYS[3], tonumber(ARGV[8]), tonumber(ARGV[9])))
if wait > 0 then return math.ceil(wait) end
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local d = delay(n, tonumber(ARGV[6]), tonumber(ARGV[7]))
if d > 0 then
  -- The account-wide wait runs on this (account, IP)'s own clock: nobody else can re-arm it.
  local ok_at = redis.call('HGET', KEYS[1], 'ok_at')
  if not ok_at then
    redis.call('HSET', KEYS[1], 'ok_at', tostring(now + d))
    redis.call('EXPIRE', KEYS[1], window)
    return math.ceil(d)
  end
  if now < tonumber(ok_at) then return math.ceil(tonumber(ok_at) - now) end
  redis.call('HDEL', KEYS[1], 'ok_at')
end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', tostring(now))
  redis.call('EXPIRE', key, window)
end
return 0
"""

# KEYS: pair, account, ip. The IP mark only gives the attempt back: one good account must not
# wash out guesses at others.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('HGET', KEYS[3], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[3], 'n', -1)
end
return 0
"""


class LoginBackoff:
    def __init__(self, redis: Redis, settings: AuthSettings, clock: Callable[[], float] = time.time) -> None:
        self._s = settings
        # Wall-clock time from the app: replicas run NTP, and a second's skew does not matter here.
        self.clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._succeeded = redis.register_script(_SUCCEEDED)

    @staticmethod
    def keys(email: str, ip: str) -> list[str]:
        acct = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
        return [f"bo:pair:{acct}:{ip}", f"bo:acct:{acct}", f"bo:ip:{ip}"]

    async def reserve(self, email: str, ip: str) -> int:
        """0: the attempt is counted as a failure, verify the password; else seconds to wait."""
        s = self._s
        args = [
            self.clock(),
            s.backoff_base_seconds,
            s.backoff_window_seconds,
            s.backoff_pair_threshold,
            s.backoff_pair_max_seconds,
            s.backoff_account_threshold,
            s.backoff_account_max_seconds,
            s.backoff_ip_threshold,
            s.backoff_ip_max_seconds,
        ]
        return int(await self._reserve(keys=self.keys(email, ip), args=args))

    async def succeeded(self, email: str, ip: str) -> None:
        """The password was right: forget this account's failures and give the IP its attempt back."""
        await self._succeeded(keys=self.keys(email, ip))
