"""Notification actors: one delivery attempt per message, and the escalation/repeat sweep."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.crypto import SecretBox, load_secret_box
from infra.settings import get_settings
from telemetry.notifications import delivery, dispatch
from telemetry.notifications.repository import GlobalNotificationRepository
from telemetry.notifications.senders import Providers, Transport
from tenancy.authz import system_context
from tenancy.context import Actor
from workers import runtime
from workers.actor import actor
from workers.actors.accounts import mailer

NOTIFY_ACTOR = Actor("system", "notifications")
SWEEP_ACTOR = "notifications.sweep"
SWEEP_ORG_ACTOR = "notifications.sweep_org"
_box: SecretBox | None = None


def _secret_box() -> SecretBox:
    global _box
    if _box is None:
        _box = load_secret_box(get_settings())
    return _box


def transport() -> Transport:
    """The guarded client, the process's mailer and the provider URLs of the settings."""
    return Transport(runtime.outbound_client(), mailer(), Providers.from_settings(get_settings()))


# Failed attempts are rescheduled by the service with its own backoff (and recorded); Dramatiq's
# retries only cover a crash of the unit of work itself.
@actor(delivery.DELIVER_ACTOR, max_retries=5, min_backoff=5_000, time_limit=60_000)
async def deliver(session: AsyncSession, org_id: str, delivery_id: str, attempt: int) -> None:
    """Attempt one notification (a stale or duplicate message does nothing)."""
    context = await system_context(session, org_id, NOTIFY_ACTOR)
    await delivery.deliver(
        session, context, delivery_id, attempt, transport=transport(), box=_secret_box()
    )


@actor(SWEEP_ACTOR, max_retries=0, time_limit=60_000)
async def sweep(session: AsyncSession, enqueued_at: float) -> None:
    """Queue one sweep per org that has a channel."""
    for org_id in await GlobalNotificationRepository(session).orgs_with_channels():
        jobs.enqueue(session, SWEEP_ORG_ACTOR, org_id, enqueued_at)


@actor(SWEEP_ORG_ACTOR, max_retries=3, time_limit=120_000)
async def sweep_org(session: AsyncSession, org_id: str, enqueued_at: float) -> None:
    """Escalate and re-announce one org's firing, unacknowledged incidents (idempotent)."""
    context = await system_context(session, org_id, NOTIFY_ACTOR)
    await dispatch.sweep(session, context, datetime.fromtimestamp(enqueued_at, UTC))
