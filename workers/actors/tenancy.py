"""Tenancy actors: telemetry purges after deletions and batched key last-used writes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing import metering
from billing.quotas.redis import RedisQuotaBackend
from infra import jobs
from infra.redis import create_redis
from infra.settings import get_settings
from telemetry.retention import purge_tenant
from tenancy.key_lookup import finish_usage_batch, persist_usage
from workers import runtime
from workers.actor import actor

# A purge runs twice: right after the deletion commits, then once more to catch what was still
# in flight then (writes accepted under a key cached before the invalidation reached every
# process; samples and documents the stores had not yet made searchable, which a delete misses).
SWEEP_AFTER = timedelta(minutes=1)


@actor("tenancy.purge_org_telemetry", max_retries=20, time_limit=1_800_000)
async def purge_org_telemetry(session: AsyncSession, org_id: str, final: bool = False) -> None:
    """Delete a deleted org's Redis state, then its logs, spans and metrics in every tier
    (retried until all answer)."""
    redis = create_redis(get_settings())
    try:
        # first, and on both passes: the sweep also catches counters re-created by requests
        # admitted under a key cached before the invalidation reached every gateway
        await metering.discard_org(RedisQuotaBackend(redis), org_id)
    finally:
        await redis.aclose()
    await purge_tenant(runtime.telemetry_store(), runtime.http_client(), get_settings(), org_id)
    if not final:
        jobs.enqueue_later(session, SWEEP_AFTER, "tenancy.purge_org_telemetry", org_id, final=True)


@actor("tenancy.purge_project_telemetry", max_retries=20, time_limit=1_800_000)
async def purge_project_telemetry(
    session: AsyncSession, org_id: str, project_id: str, final: bool = False
) -> None:
    """Delete a deleted project's logs, spans and metrics in every tier."""
    await purge_tenant(
        runtime.telemetry_store(), runtime.http_client(), get_settings(), org_id, project_id
    )
    if not final:
        jobs.enqueue_later(
            session,
            SWEEP_AFTER,
            "tenancy.purge_project_telemetry",
            org_id,
            project_id,
            final=True,
        )


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
