"""The shared async Redis client."""

from __future__ import annotations

import redis.asyncio as aioredis

from infra.settings import Settings


def create_redis(settings: Settings, *, url: str | None = None) -> aioredis.Redis:
    """A client on a bounded pool (waits for a free connection rather than failing)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url or settings.redis_url,
        max_connections=64,
        timeout=2.0,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)
