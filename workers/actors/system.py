"""Actors that keep the worker fleet observable and repair jobs the outbox still holds."""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs, outbox
from infra.redis import create_redis
from infra.settings import get_settings
from workers.actor import actor

HEARTBEAT_KEY = "tg:worker:heartbeat"


@actor("system.heartbeat", max_retries=0, time_limit=10_000)
async def heartbeat(session: AsyncSession, enqueued_at: float) -> None:
    """Record that a worker took a scheduled message, and how long it waited in the queue."""
    await session.execute(text("SELECT 1"))
    now = time.time()
    client = create_redis(get_settings())
    try:
        await client.hset(
            HEARTBEAT_KEY,
            mapping={"enqueued_at": enqueued_at, "processed_at": now, "lag": now - enqueued_at},
        )
    finally:
        await client.aclose()


@actor("system.relay_outbox", max_retries=0, time_limit=60_000)
async def relay_outbox(session: AsyncSession, enqueued_at: float) -> None:
    """Send committed jobs that their unit of work's own relay did not (crash, broker error)."""
    await outbox.relay_pending(session, jobs.installed_sender())
