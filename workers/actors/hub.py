"""Hub actors: Tollgate's heartbeat to the sibling-product hub (when HUB_URL is set)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from infra import hub
from infra.redis import create_redis
from infra.settings import get_settings
from workers import runtime
from workers.actor import actor

HEARTBEAT_ACTOR = "hub.heartbeat"


# No Dramatiq retries: the next scheduled heartbeat (30 s) is the retry.
@actor(HEARTBEAT_ACTOR, max_retries=0, time_limit=20_000)
async def heartbeat(session: AsyncSession, enqueued_at: float) -> None:
    """Heartbeat to the hub (registering again if it forgot us); nothing without a hub."""
    settings = get_settings()
    client = hub.HubClient.of(settings, runtime.http_client())
    if client is None:
        return
    redis = create_redis(settings)
    try:
        await hub.heartbeat_once(client, settings, redis)
    finally:
        await redis.aclose()
