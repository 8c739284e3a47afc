"""Dunning: a failed payment makes the org past due; after the grace period its ingestion is
suspended (the gateway answers 402 `org_suspended`); a payment makes it active again.

Every status change is audited and evicts the org's cached entitlements everywhere (after
commit), so the gateway sees it within one round trip of the pub/sub message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing.events import invoice_event
from billing.models import Invoice
from billing.repository import GlobalBillingRepository, InvoiceRepository, SubscriptionRepository
from infra import jobs
from tenancy import audit, webhooks
from tenancy.authz import system_context
from tenancy.context import Actor, TenantContext

Notify = Callable[[str], Awaitable[None]]

ACTIVE = "active"
PAST_DUE = "past_due"
SUSPENDED = "suspended"
DUNNING_ACTOR = Actor("system", "billing.dunning")


def _notify_after_commit(session: AsyncSession, org_id: str, notify: Notify | None) -> None:
    if notify is not None:
        jobs.after_commit(session, lambda: notify(org_id))


async def payment_failed(
    session: AsyncSession,
    context: TenantContext,
    invoice: Invoice,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> bool:
    """A payment of an open invoice failed: the org becomes past due (once); audited.

    A failure reported for an invoice that is already paid or void (a late or replayed event)
    changes nothing; returns whether anything changed.
    """
    if invoice.status != "open":
        return False
    first_failure = invoice.payment_failed_at is None
    if first_failure:
        invoice.payment_failed_at = now
    subscription = await SubscriptionRepository(session, context).get(for_update=True)
    became_past_due = subscription is not None and subscription.status == ACTIVE
    if subscription is not None and became_past_due:
        subscription.status = PAST_DUE
        subscription.past_due_since = now
        subscription.updated_at = now
    await session.flush()
    if first_failure:
        await audit.record(
            session, context, "payment.failed", "invoice", invoice.id, total=str(invoice.total)
        )
        await webhooks.emit(session, context, "payment.failed", invoice_event(invoice))
    if became_past_due:
        await audit.record(
            session, context, "subscription.past_due", "subscription", context.org_id,
            invoice_id=invoice.id,
        )  # fmt: skip
        _notify_after_commit(session, context.org_id, notify)
    return first_failure or became_past_due


async def suspend_overdue(
    session: AsyncSession, *, now: datetime, grace: timedelta, notify: Notify | None = None
) -> list[str]:
    """Suspend ingestion of every org past due for longer than the grace period."""
    suspended = []
    cutoff = now - grace
    for org_id in await GlobalBillingRepository(session).overdue(cutoff):
        context = await system_context(session, org_id, DUNNING_ACTOR)
        subscription = await SubscriptionRepository(session, context).get(for_update=True)
        if (
            subscription is None
            or subscription.status != PAST_DUE
            or subscription.past_due_since is None
            or subscription.past_due_since > cutoff
        ):
            continue  # paid in the meantime
        subscription.status = SUSPENDED
        subscription.updated_at = now
        await session.flush()
        await audit.record(
            session, context, "subscription.suspended", "subscription", org_id,
            past_due_since=subscription.past_due_since.isoformat(),
        )  # fmt: skip
        _notify_after_commit(session, org_id, notify)
        suspended.append(org_id)
    return suspended


async def recover(
    session: AsyncSession,
    context: TenantContext,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> bool:
    """Make a past-due or suspended org active once none of its failed invoices is unpaid."""
    subscription = await SubscriptionRepository(session, context).get(for_update=True)
    if subscription is None or subscription.status not in (PAST_DUE, SUSPENDED):
        return False
    if await InvoiceRepository(session, context).failed_open_count() > 0:
        return False
    before = subscription.status
    subscription.status = ACTIVE
    subscription.past_due_since = None
    subscription.updated_at = now
    await session.flush()
    await audit.record(
        session, context, "subscription.reactivated", "subscription", context.org_id,
        previous_status=before,
    )  # fmt: skip
    _notify_after_commit(session, context.org_id, notify)
    return True
