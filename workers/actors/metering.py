"""Metering actors: the periodic flush of outcome counters into the usage ledger."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing import metering, quota_events
from billing.quotas.redis import RedisQuotaBackend
from infra.redis import create_redis
from infra.settings import get_settings
from tenancy.context import TenantContext
from workers.actor import actor

_redis = None


def _backend() -> RedisQuotaBackend:
    global _redis
    if _redis is None:
        _redis = create_redis(get_settings())
    return RedisQuotaBackend(_redis)


@actor("metering.flush", max_retries=3, time_limit=120_000)
async def flush(session: AsyncSession, enqueued_at: float) -> None:
    """Upsert pending outcome hours into usage_hourly; closed hours leave Redis after commit."""
    backend, now = _backend(), datetime.now(UTC)

    async def announce(org_session: AsyncSession, context: TenantContext) -> None:
        await quota_events.announce_thresholds(org_session, context, backend, now)

    await metering.flush(session, backend, now, announce)
