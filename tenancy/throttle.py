"""Attempt throttling in Redis: logins per email and per client IP, mails per address.

Checking and counting are one Lua script, so concurrent attempts cannot all read "under the
limit" before any of them counts: an attempt takes its slot before the password is checked
(at most `limit` attempts per window ever reach it), and a good login gives the slot back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis.asyncio as aioredis

from tenancy.errors import TooManyAttemptsError

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 30

# KEYS: counters; ARGV[1]: window seconds, ARGV[1 + i]: the limit of KEYS[i].
# Refuses (returning the longest remaining window, >= 1) when any counter is at its limit,
# counting nothing; otherwise counts one attempt on every counter and returns 0.
_TAKE = """
local refused = 0
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > refused then refused = ttl end
  end
end
if refused > 0 then return refused end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1], 'NX')
end
return 0
"""

# Gives one attempt back on every counter that still holds one.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


def hashed(kind: str, value: str) -> str:
    """A counter key that holds no email address or IP in the clear."""
    return f"tg:throttle:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]


class AttemptCounter:
    """Counts attempts against several limits at once, atomically."""

    def __init__(self, redis: aioredis.Redis, window_seconds: int = WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._redis = redis

    async def take(self, limits: Sequence[tuple[str, int]]) -> int:
        """Count one attempt on every key; 0 if allowed, else seconds until it would be."""
        keys = [key for key, _ in limits]
        answer = await self._take(keys=keys, args=[self._window, *[n for _, n in limits]])
        return int(answer)

    async def give_back(self, keys: Sequence[str]) -> None:
        """Undo one counted attempt on each key (the attempt turned out not to count)."""
        await self._give_back(keys=list(keys), args=[])

    async def clear(self, key: str) -> None:
        """Forget a key's attempts."""
        await self._redis.delete(key)


def _email_key(email: str) -> str:
    # Hashed so that Redis holds no email addresses.
    return "tg:login:email:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _ip_key(ip: str) -> str:
    return f"tg:login:ip:{ip}"


class LoginThrottle:
    """Refuses logins after repeated failures until the window passes."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._counter = AttemptCounter(redis)

    def _limits(self, email: str, ip: str | None) -> list[tuple[str, int]]:
        limits = [(_email_key(email), MAX_FAILURES_PER_EMAIL)]
        if ip:
            limits.append((_ip_key(ip), MAX_FAILURES_PER_IP))
        return limits

    async def acquire(self, email: str, ip: str | None) -> None:
        """Take an attempt for the email and the IP, or raise 429 with Retry-After."""
        retry_after = await self._counter.take(self._limits(email, ip))
        if retry_after:
            raise TooManyAttemptsError(
                "Too many failed logins; try again later",
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
            )

    async def release(self, email: str, ip: str | None) -> None:
        """The attempt never checked a password (e.g. SSO is required): give it back."""
        await self._counter.give_back([key for key, _ in self._limits(email, ip)])

    async def succeeded(self, email: str, ip: str | None) -> None:
        """A good login clears the email's failures and gives the IP its attempt back."""
        await self._counter.clear(_email_key(email))
        if ip:
            await self._counter.give_back([_ip_key(ip)])

    async def reset(self, email: str) -> None:
        """Forget the email's failures (its password was just reset)."""
        await self._counter.clear(_email_key(email))
