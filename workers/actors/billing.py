"""Billing actors: period close, the Stripe invoice mirror and events, dunning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from billing import dunning, invoices, stripe_sync
from billing.admission import CHANNEL
from billing.quotas.redis import RedisQuotaBackend
from infra.redis import create_redis
from infra.settings import get_settings
from infra.stripe import StripeGateway
from tenancy.authz import system_context
from workers.actor import actor

_UNSET = object()
_redis: aioredis.Redis | None = None
_stripe: StripeGateway | object | None = _UNSET


def _client() -> aioredis.Redis:
    global _redis
    if _redis is None:
        _redis = create_redis(get_settings())
    return _redis


def _gateway() -> StripeGateway | None:
    global _stripe
    if _stripe is _UNSET:
        _stripe = StripeGateway.from_settings(get_settings())
    return _stripe if isinstance(_stripe, StripeGateway) else None


def use_stripe(gateway: StripeGateway | None) -> None:
    """Swap the Stripe gateway (tests point it at a local fake Stripe)."""
    global _stripe
    _stripe = gateway


def use_redis(client: aioredis.Redis | None) -> None:
    """Swap the Redis client (tests use their own event loop's client)."""
    global _redis
    _redis = client


async def _notify(org_id: str) -> None:
    """Evict the org's cached entitlements in every gateway process."""
    await _client().publish(CHANNEL, org_id)


def _settle() -> timedelta:
    return timedelta(seconds=get_settings().billing_close_delay_seconds)


@actor("billing.close_period", max_retries=5, time_limit=300_000)
async def close_period(
    session: AsyncSession, enqueued_at: float, org_id: str | None = None
) -> None:
    """Without an org: queue a close for each org whose period ended (and the Stripe work whose
    job was lost). With one: close it."""
    now = datetime.fromtimestamp(enqueued_at, UTC)
    collect = _gateway() is not None
    if org_id is None:
        await invoices.schedule_closes(session, now=now, settle=_settle(), collect=collect)
        await stripe_sync.requeue_unhandled(session, now=now)
        return
    await invoices.close_org(
        session,
        org_id,
        RedisQuotaBackend(_client()),
        now=now,
        settle=_settle(),
        collect=collect,
        notify=_notify,
    )


@actor("billing.sync_invoice", max_retries=10, time_limit=120_000)
async def sync_invoice(session: AsyncSession, org_id: str, invoice_id: str) -> None:
    """Mirror one invoice in Stripe (idempotent, resumable)."""
    gateway = _gateway()
    if gateway is None:
        return
    context = await system_context(session, org_id, stripe_sync.STRIPE_ACTOR)
    if await stripe_sync.record_remote_invoice(session, context, gateway, invoice_id):
        # The draft's id must outlive whatever fails next (an item, the finalize): rolled back,
        # a retry past Stripe's 24 h idempotency window would make and charge a second invoice.
        await session.commit()
        context = await system_context(session, org_id, stripe_sync.STRIPE_ACTOR)
    await stripe_sync.sync_invoice(session, context, gateway, invoice_id)


@actor("billing.handle_stripe_event", max_retries=10, time_limit=120_000)
async def handle_stripe_event(session: AsyncSession, event_id: str) -> None:
    """Apply one stored Stripe event (once)."""
    await stripe_sync.handle_event(session, event_id, gateway=_gateway(), notify=_notify)


@actor("billing.enforce_dunning", max_retries=3, time_limit=120_000)
async def enforce_dunning(session: AsyncSession, enqueued_at: float) -> None:
    """Suspend ingestion of orgs past due for longer than the grace period."""
    await dunning.suspend_overdue(
        session,
        now=datetime.fromtimestamp(enqueued_at, UTC),
        grace=timedelta(days=get_settings().billing_grace_days),
        notify=_notify,
    )
