"""Login throttling per email and per client IP, in Redis."""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from tenancy.errors import TooManyAttemptsError

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 30


def _email_key(email: str) -> str:
    # Hashed so that Redis holds no email addresses.
    return "tg:login:email:" + hashlib.sha256(email.encode()).hexdigest()[:32]


class LoginThrottle:
    """Refuses logins after repeated failures until the window passes."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def check(self, email: str, ip: str | None) -> None:
        """Raise 429 with Retry-After when the email or the IP is over its limit."""
        keys = [(_email_key(email), MAX_FAILURES_PER_EMAIL)]
        if ip:
            keys.append((f"tg:login:ip:{ip}", MAX_FAILURES_PER_IP))
        for key, limit in keys:
            failures = await self._redis.get(key)
            if failures is not None and int(failures) >= limit:
                retry_after = max(1, int(await self._redis.ttl(key)))
                raise TooManyAttemptsError(
                    "Too many failed logins; try again later",
                    headers={"Retry-After": str(retry_after)},
                    retry_after=retry_after,
                )

    async def failed(self, email: str, ip: str | None) -> None:
        """Count a failure against the email and the IP."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in [_email_key(email)] + ([f"tg:login:ip:{ip}"] if ip else []):
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        """A good login clears the email's count (not the IP's)."""
        await self._redis.delete(_email_key(email))
