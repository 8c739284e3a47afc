"""Key lookup for every process: bounded in-process TTL caches, evicted through Redis pub/sub.

Steady state costs no database round trip. A revocation or rotation publishes the affected
hashes after commit; every process evicts them on receipt, and the TTL bounds staleness even if
a message is missed.

Unknown hashes (forged or deleted tokens: the checksum is public, so anyone can make tokens that
pass it) live in a cache of their own, so a flood of them costs one query per distinct token and
evicts only other unknown hashes, never the keys in use. Creating a key publishes its hash on the
same channel, so a negative entry can never hide a new key beyond that message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TypeVar

import redis.asyncio as aioredis
from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import pubsub
from tenancy import keys
from tenancy.repository import GlobalKeyRepository, GlobalOrgRepository, KeyRecord

CHANNEL = "tg:keys:invalidate"
USAGE_KEY = "tg:keys:last_used"
USAGE_PROCESSING_KEY = "tg:keys:last_used:processing"
MAX_ENTRIES = 100_000
MAX_UNKNOWN_ENTRIES = 100_000

T = TypeVar("T")


class KeyLookup:
    """Finds keys by token, caching hits (and, apart, misses) for a short TTL."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        ttl_seconds: float = 5.0,
        *,
        max_entries: int = MAX_ENTRIES,
        max_unknown_entries: int = MAX_UNKNOWN_ENTRIES,
    ) -> None:
        self._factory = session_factory
        self._redis = redis
        self._cache: TTLCache[bytes, KeyRecord] = TTLCache(max_entries, ttl_seconds)
        self._unknown: TTLCache[bytes, bool] = TTLCache(max_unknown_entries, ttl_seconds)
        self._projects: TTLCache[str, str | None] = TTLCache(max_entries, ttl_seconds)
        self._usage: dict[str, datetime] = {}
        # Hashes being looked up right now (with a count of concurrent lookups), and those of
        # them evicted meanwhile: such a lookup does not cache what it read, since its answer
        # may predate the commit the eviction announced.
        self._in_flight: dict[bytes, int] = {}
        self._raced: set[bytes] = set()

    @property
    def sizes(self) -> dict[str, int]:
        """How many entries each cache holds (for tests and /metrics)."""
        return {
            "keys": len(self._cache),
            "unknown": len(self._unknown),
            "projects": len(self._projects),
        }

    async def find(self, token: str, *, now: datetime) -> KeyRecord | None:
        """The usable key for this token, or None (bad checksum, unknown, revoked, expired)."""
        if keys.parse_kind(token) is None:
            return None
        secret_hash = keys.digest(token)
        record = self._cache.get(secret_hash)
        if record is None:
            record = await self.unless_unknown(secret_hash, lambda: self._load(secret_hash))
        if record is None or not record.usable_at(now):
            return None
        return record

    async def _load(self, secret_hash: bytes) -> KeyRecord | None:
        async with self._factory() as session:
            record = await GlobalKeyRepository(session).lookup(secret_hash)
        if record is not None:
            self._cache[secret_hash] = record
        return record

    async def unless_unknown(
        self, secret_hash: bytes, fetch: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """`fetch()` unless this hash is known to match nothing; remembers a None for the TTL.

        Session tokens and hub keys use it too: one negative cache for every token kind.
        """
        if secret_hash in self._unknown:
            return None
        self._in_flight[secret_hash] = self._in_flight.get(secret_hash, 0) + 1
        try:
            found = await fetch()
        finally:
            raced = secret_hash in self._raced
            remaining = self._in_flight.pop(secret_hash) - 1
            if remaining:
                self._in_flight[secret_hash] = remaining
            else:
                self._raced.discard(secret_hash)
        if raced:
            self._cache.pop(secret_hash, None)  # a positive answer may be stale too
        elif found is None:
            self._unknown[secret_hash] = True
        return found

    def mark_unknown(self, secret_hash: bytes) -> None:
        """Remember a hash that will never be usable again (a revoked session or hub key)."""
        self._unknown[secret_hash] = True

    async def project_org(self, project_id: str) -> str | None:
        """The org owning a project (cached like keys), for org keys on the data plane."""
        if project_id in self._projects:
            return self._projects[project_id]
        async with self._factory() as session:
            org_id = await GlobalOrgRepository(session).project_org(project_id)
        self._projects[project_id] = org_id
        return org_id

    def evict(self, hashes: Iterable[bytes]) -> None:
        """Forget cached entries, known and unknown (called on pub/sub messages)."""
        for secret_hash in hashes:
            self._cache.pop(secret_hash, None)
            self._unknown.pop(secret_hash, None)
            if secret_hash in self._in_flight:
                self._raced.add(secret_hash)

    def clear(self) -> None:
        """Forget everything (the subscription broke: messages may have been missed)."""
        self._raced.update(self._in_flight)
        self._cache.clear()
        self._unknown.clear()

    async def publish_invalidation(self, hashes: Iterable[bytes]) -> None:
        """Tell every process to forget these hashes (call after commit): revoked or rotated
        keys, and newly created ones (which may sit in a negative cache)."""
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
            self.clear,
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
