"""Telemetry actors: daily retention of the log/trace store, tier moves after plan changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing import subscriptions
from infra import jobs
from infra.errors import NotFoundError
from infra.settings import Tier, get_settings
from telemetry import retention, tier_move
from tenancy.authz import system_context
from tenancy.context import Actor
from workers import runtime
from workers.actor import actor


@actor("telemetry.drop_expired", max_retries=5, time_limit=1_800_000)
async def drop_expired(session: AsyncSession, enqueued_at: float) -> None:
    """Drop every tier's log and span days past retention, as of when the job was scheduled."""
    now = datetime.fromtimestamp(enqueued_at, UTC)
    await retention.drop_expired(runtime.telemetry_store(), now)


# A move runs twice: right after the plan change commits, then once more to carry over what
# was still written to the old tier meanwhile (a gateway whose cached entitlements had not yet
# been evicted, a request in flight, samples the old store had not yet made searchable).
MOVE_SWEEP_AFTER = timedelta(minutes=1)
MOVE_ACTOR = Actor("system", "tier_move")


@actor("telemetry.move_tier", max_retries=20, time_limit=3_600_000)
async def move_tier(
    session: AsyncSession, org_id: str, from_tier: str, to_tier: str, final: bool = False
) -> None:
    """Move an org's metrics, logs and spans into its plan's tier (resumable, idempotent).

    The target is the org's tier when the job runs, which `to_tier` names unless a later
    plan change superseded it (that change's own job then finds nothing left to do).
    """
    try:
        context = await system_context(session, org_id, MOVE_ACTOR)
        target = await subscriptions.current_tier(session, context)
    except NotFoundError:
        return  # the org is gone; its purge deletes its telemetry in every tier
    await tier_move.move_tenant(
        runtime.telemetry_store(),
        runtime.http_client(),
        get_settings(),
        org_id,
        Tier(from_tier),
        target,
        datetime.now(UTC),
    )
    if not final:
        jobs.enqueue_later(
            session, MOVE_SWEEP_AFTER, "telemetry.move_tier", org_id, from_tier, to_tier, final=True
        )
