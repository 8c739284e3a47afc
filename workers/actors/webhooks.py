"""Webhook actors: one signed delivery attempt per message (org endpoints, hub subscriptions)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from infra.crypto import SecretBox, load_secret_box
from infra.settings import get_settings
from tenancy import webhooks
from tenancy.authz import system_context
from workers import runtime
from workers.actor import actor

_box: SecretBox | None = None


def _secret_box() -> SecretBox:
    global _box
    if _box is None:
        _box = load_secret_box(get_settings())
    return _box


# Failed attempts are rescheduled by the service with its own backoff (and recorded); Dramatiq's
# retries only cover a crash of the unit of work itself (database down, worker killed).
@actor(webhooks.DELIVER_ACTOR, max_retries=5, min_backoff=5_000, time_limit=60_000)
async def deliver(session: AsyncSession, org_id: str, delivery_id: str, attempt: int) -> None:
    """Attempt one webhook delivery (a stale or duplicate message does nothing)."""
    context = await system_context(session, org_id, webhooks.WEBHOOK_ACTOR)
    await webhooks.deliver(
        session,
        context,
        delivery_id,
        attempt,
        client=runtime.outbound_client(),
        box=_secret_box(),
    )


@actor(webhooks.HUB_DELIVER_ACTOR, max_retries=5, min_backoff=5_000, time_limit=60_000)
async def deliver_hub(session: AsyncSession, delivery_id: str, attempt: int) -> None:
    """Attempt one hub-subscription delivery (a stale or duplicate message does nothing)."""
    await webhooks.deliver_hub(
        session, delivery_id, attempt, client=runtime.outbound_client(), box=_secret_box()
    )
