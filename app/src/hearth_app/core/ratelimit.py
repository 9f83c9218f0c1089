"""GCRA rate limiting in one Lua script: one Redis round trip checks every scope at once."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from hearth_app.core.settings import RateLimitSettings

# KEYS: limiter keys. ARGV: per key, emission interval T (ms) and burst b.
# All keys must allow; otherwise none is charged. Time comes from Redis, so replicas agree.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local new_tats = {}
local allowed = 1
local retry = 0
local tight_i = 1
local tight_remaining = -1
local tight_reset = 0
for i = 1, n do
  local T = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local dvt = T * burst
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + T
  local allow_at = new_tat - dvt
  if now < allow_at then
    allowed = 0
    if allow_at - now > retry then retry = allow_at - now end
    if tight_remaining ~= 0 then tight_i = i; tight_remaining = 0; tight_reset = tat - now end
  else
    new_tats[i] = new_tat
    local remaining = math.floor((now - allow_at) / T)
    if tight_remaining < 0 or remaining < tight_remaining then
      tight_i = i; tight_remaining = remaining; tight_reset = new_tat - now
    end
  end
end
if allowed == 1 then
  for i = 1, n do
    redis.call('SET', KEYS[i], new_tats[i], 'PX', math.max(1, new_tats[i] - now))
  end
end
return {allowed, tight_i, tight_remaining, tight_reset, retry}
"""


@dataclass(frozen=True)
class Scope:
    name: str
    key: str
    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, 60_000 // self.per_minute)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    scope: Scope
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        # draft-ietf-httpapi-ratelimit-headers: quota policy and current state, per scope name.
        window = max(1, self.scope.burst * self.scope.interval_ms // 1000)
        h = {
            "RateLimit-Policy": f'"{self.scope.name}";q={self.scope.burst};w={window}',
            "RateLimit": f'"{self.scope.name}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after_seconds)
        return h


class RateLimiter:
    def __init__(self, redis: Redis, settings: RateLimitSettings) -> None:
        self._r = redis
        self.settings = settings
        self._script = redis.register_script(GCRA_LUA)

    def scopes(self, ip: str, user: str | None) -> list[Scope]:
        s = self.settings
        out = [Scope("ip", f"rl:ip:{ip}", s.ip_per_minute, s.ip_burst)]
        if user:
            out.append(Scope("user", f"rl:user:{user}", s.user_per_minute, s.user_burst))
        return out

    @staticmethod
    def command(scopes: list[Scope]) -> tuple[list[str], list[int]]:
        args: list[int] = []
        for sc in scopes:
            args += [sc.interval_ms, sc.burst]
        return [sc.key for sc in scopes], args

    @property
    def sha(self) -> str:
        sha: str = self._script.sha
        return sha

    async def load(self) -> None:
        await self._r.script_load(GCRA_LUA)

    async def check(self, scopes: list[Scope]) -> Decision:
        keys, args = self.command(scopes)
        return self.decide(scopes, await self._script(keys=keys, args=args))

    @staticmethod
    def decide(scopes: list[Scope], res: list[int]) -> Decision:
        allowed, idx, remaining, reset_ms, retry_ms = (int(x) for x in res)
        return Decision(
            allowed=bool(allowed),
            scope=scopes[idx - 1],
            remaining=max(0, remaining),
            reset_seconds=max(0, -(-reset_ms // 1000)),
            retry_after_seconds=max(1, -(-retry_ms // 1000)),
        )
