"""Telemetry actors: daily retention of the log/trace store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telemetry import retention
from workers import runtime
from workers.actor import actor


@actor("telemetry.drop_expired", max_retries=5, time_limit=1_800_000)
async def drop_expired(session: AsyncSession, enqueued_at: float) -> None:
    """Drop every tier's log and span days past retention, as of when the job was scheduled."""
    now = datetime.fromtimestamp(enqueued_at, UTC)
    await retention.drop_expired(runtime.telemetry_store(), now)
