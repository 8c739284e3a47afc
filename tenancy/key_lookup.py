"""Key lookup for every process: an in-process TTL cache, evicted at once through Redis pub/sub.

Steady state costs no database round trip. A revocation or rotation publishes the affected
hashes after commit; every process evicts them on receipt, and the TTL bounds staleness even if
a message is missed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import pubsub
from tenancy import keys
from tenancy.repository import GlobalKeyRepository, GlobalOrgRepository, KeyRecord

CHANNEL = "tg:keys:invalidate"
USAGE_KEY = "tg:keys:last_used"
USAGE_PROCESSING_KEY = "tg:keys:last_used:processing"
MAX_ENTRIES = 100_000


class KeyLookup:
    """Finds keys by token, caching hits and misses for a short TTL."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        ttl_seconds: float = 5.0,
    ) -> None:
        self._factory = session_factory
        self._redis = redis
        self._ttl = ttl_seconds
        self._cache: dict[bytes, tuple[float, KeyRecord | None]] = {}
        self._usage: dict[str, datetime] = {}
        self._projects: dict[str, tuple[float, str | None]] = {}

    async def find(self, token: str, *, now: datetime) -> KeyRecord | None:
        """The usable key for this token, or None (bad checksum, unknown, revoked, expired)."""
        if keys.parse_kind(token) is None:
            return None
        secret_hash = keys.digest(token)
        cached = self._cache.get(secret_hash)
        if cached is not None and cached[0] > time.monotonic():
            record = cached[1]
        else:
            async with self._factory() as session:
                record = await GlobalKeyRepository(session).lookup(secret_hash)
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[secret_hash] = (time.monotonic() + self._ttl, record)
        if record is None or not record.usable_at(now):
            return None
        return record

    async def project_org(self, project_id: str) -> str | None:
        """The org owning a project (cached like keys), for org keys on the data plane."""
        cached = self._projects.get(project_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._factory() as session:
            org_id = await GlobalOrgRepository(session).project_org(project_id)
        if len(self._projects) >= MAX_ENTRIES:
            self._projects.clear()
        self._projects[project_id] = (time.monotonic() + self._ttl, org_id)
        return org_id

    def evict(self, hashes: Iterable[bytes]) -> None:
        """Forget cached entries (called on pub/sub messages)."""
        for secret_hash in hashes:
            self._cache.pop(secret_hash, None)

    async def publish_invalidation(self, hashes: Iterable[bytes]) -> None:
        """Tell every process to forget these hashes (call after commit)."""
        payload = b",".join(h.hex().encode() for h in hashes)
        if payload:
            self.evict(bytes.fromhex(h.decode()) for h in payload.split(b","))
            await self._redis.publish(CHANNEL, payload)

    async def listen(self) -> None:
        """Evict on every invalidation message (and everything after a gap) until cancelled."""
        await pubsub.listen(
            self._redis,
            CHANNEL,
            lambda data: self.evict(bytes.fromhex(h.decode()) for h in data.split(b",") if h),
            self._cache.clear,
        )

    def record_use(self, key_id: str, at: datetime) -> None:
        """Note a key's use in memory; written out in batches, never per request."""
        self._usage[key_id] = at

    async def flush_usage(self) -> int:
        """Move noted uses to Redis (one round trip); a worker writes them to PostgreSQL."""
        if not self._usage:
            return 0
        usage, self._usage = self._usage, {}
        await self._redis.hset(USAGE_KEY, mapping={k: v.isoformat() for k, v in usage.items()})
        return len(usage)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def persist_usage(redis: aioredis.Redis, session: AsyncSession) -> int:
    """Write batched last-used times to PostgreSQL; a crash leaves them for the next run."""
    if await redis.exists(USAGE_KEY) and not await redis.exists(USAGE_PROCESSING_KEY):
        await redis.rename(USAGE_KEY, USAGE_PROCESSING_KEY)
    raw = await redis.hgetall(USAGE_PROCESSING_KEY)
    if not raw:
        return 0
    used = {_text(k): datetime.fromisoformat(_text(v)) for k, v in raw.items()}
    await GlobalKeyRepository(session).touch(used)
    await session.flush()
    return len(used)


async def finish_usage_batch(redis: aioredis.Redis) -> None:
    """Drop the processed batch once its transaction committed."""
    await redis.delete(USAGE_PROCESSING_KEY)
