"""Tenancy actors: telemetry purges after deletions and batched key last-used writes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from infra.http import create_http_client
from infra.redis import create_redis
from infra.settings import Tier, get_settings
from infra.victoriametrics import delete_series, tenant_matcher
from tenancy.key_lookup import finish_usage_batch, persist_usage
from workers.actor import actor


async def _purge(matcher: str) -> None:
    settings = get_settings()
    async with create_http_client(settings.vm_timeout_seconds) as http:
        for tier in Tier:
            await delete_series(http, settings.vm_read_url(tier), matcher)


@actor("tenancy.purge_org_telemetry", max_retries=20)
async def purge_org_telemetry(session: AsyncSession, org_id: str) -> None:
    """Delete a deleted org's metrics in every tier (retried until every tier answered)."""
    await _purge(tenant_matcher(org_id))


@actor("tenancy.purge_project_telemetry", max_retries=20)
async def purge_project_telemetry(session: AsyncSession, org_id: str, project_id: str) -> None:
    """Delete a deleted project's metrics in every tier."""
    await _purge(tenant_matcher(org_id, project_id))


@actor("tenancy.flush_key_usage", max_retries=3)
async def flush_key_usage(session: AsyncSession, enqueued_at: float) -> None:
    """Write the batched key last-used times to PostgreSQL."""
    redis = create_redis(get_settings())
    try:
        await persist_usage(redis, session)
        await session.commit()
        await finish_usage_batch(redis)
    finally:
        await redis.aclose()
