"""Invoices: the upcoming one (rated live), period close (idempotent), reading, marking paid.

A period closes in one transaction: the invoice and its lines are inserted, the subscription
moves to the next period (applying a scheduled downgrade), and the jobs that follow (Stripe
sync, cache eviction) leave after the commit. A crash before the commit leaves nothing behind;
the unique (org, period start) makes a concurrent or repeated close a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing import dunning, metering, sibling
from billing.errors import InvoiceStateError
from billing.events import invoice_event
from billing.models import Invoice, InvoiceLine, PlanChange, Subscription
from billing.plans import Period, Plan, period_at
from billing.quotas.base import Category, QuotaBackend
from billing.rating import Line, LineKind, Rating, Upgrade, rate
from billing.repository import (
    GlobalBillingRepository,
    InvoiceRepository,
    PlanRepository,
    SubscriptionRepository,
)
from billing.subscriptions import (
    DOWNGRADE,
    UPGRADE,
    current_subscription,
    plan_id_at,
    queue_tier_move,
)
from infra import jobs
from infra.cursors import id_cursor
from infra.errors import NotFoundError
from infra.ids import new_id
from tenancy import audit, webhooks
from tenancy.authz import system_context
from tenancy.context import Actor, TenantContext

Notify = Callable[[str], Awaitable[None]]
"""Tells every gateway that an org's entitlements changed (after commit)."""

SYNC_ACTOR = "billing.sync_invoice"
CLOSE_ACTOR = Actor("system", "billing.close_period")
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RatedPeriod:
    """A period rated from the ledger: its lines, and the plan it ends on."""

    rating: Rating
    plan_id: str
    plan: Plan


async def rate_period(
    session: AsyncSession,
    context: TenantContext,
    backend: QuotaBackend,
    subscription: Subscription,
    period: Period,
    pending: PlanChange | None = None,
) -> RatedPeriod:
    """Rate a period: the plan in effect at its start, upgrades inside it, and overage at the
    plan it ends on (with the operator's included-unit overrides). `pending` is an upgrade not
    stored, rated as if it had just been made (the preview of a plan change)."""
    repo = SubscriptionRepository(session, context)
    plans = PlanRepository(session)
    later: Sequence[PlanChange] = await repo.changes(period.start, FAR_FUTURE)
    plan_now = subscription.plan_id
    if pending is not None:
        later, plan_now = [*later, pending], pending.to_plan_id
    base_id = plan_id_at(later, plan_now, period.start)
    # the plan in effect at the period's last instant: the one the first change at or after its
    # end moved away from (an upgrade after a lagging close, a downgrade applied at the end)
    end_id = next((c.from_plan_id for c in later if c.at >= period.end), plan_now)
    upgrades = []
    for change in later:
        if change.kind == UPGRADE and period.start < change.at < period.end:
            upgrades.append(
                Upgrade(
                    change.at,
                    await plans.by_id(change.from_plan_id),
                    await plans.by_id(change.to_plan_id),
                )
            )
    plan = await plans.by_id(end_id)
    overrides = await repo.overrides()
    included = {
        c: int((overrides.included if overrides else {}).get(c.value, plan.included[c]))
        for c in Category
    }
    used = await metering.period_used(session, context, backend, period)
    rating = rate(
        period,
        base_plan=await plans.by_id(base_id),
        plan=plan,
        included=included,
        used=used,
        upgrades=upgrades,
        extra=await sibling.lines(session, context, period, plan),
    )
    return RatedPeriod(rating, end_id, plan)


async def upcoming(
    session: AsyncSession, context: TenantContext, backend: QuotaBackend
) -> RatedPeriod:
    """The next invoice as it stands: the period not yet closed, rated from usage so far."""
    subscription = await current_subscription(session, context)
    period = Period(subscription.current_period_start, subscription.current_period_end)
    return await rate_period(session, context, backend, subscription, period)


def _lines(rating: Rating) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            id=new_id("inl"),
            position=position,
            kind=line.kind.value,
            category=line.category.value if line.category else None,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            details=dict(line.details),
        )
        for position, line in enumerate(rating.lines)
    ]


async def close_period(
    session: AsyncSession,
    context: TenantContext,
    backend: QuotaBackend,
    *,
    now: datetime,
    settle: timedelta = timedelta(0),
    collect: bool = False,
    notify: Notify | None = None,
) -> Invoice | None:
    """Close the org's current period if it ended `settle` ago or more; None if not due.

    Issues the invoice (`paid` at once when it is zero, else `open`), moves the subscription to
    the next period and applies a scheduled downgrade. With `collect`, a Stripe sync job leaves
    after the commit.
    """
    repo = SubscriptionRepository(session, context)
    subscription = await repo.get(for_update=True)
    if subscription is None or subscription.current_period_end > now - settle:
        return None
    period = Period(subscription.current_period_start, subscription.current_period_end)
    invoices = InvoiceRepository(session, context)
    invoice = await invoices.by_period(period.start)
    if invoice is None:
        rated = await rate_period(session, context, backend, subscription, period)
        total = rated.rating.total
        invoice = Invoice(
            id=new_id("inv"),
            period_start=period.start,
            period_end=period.end,
            status="paid" if total == 0 else "open",
            currency="usd",
            plan_id=rated.plan_id,
            subtotal=rated.rating.subtotal,
            total=total,
            issued_at=now,
            paid_at=now if total == 0 else None,
        )
        await invoices.add(invoice, _lines(rated.rating))
        await audit.record(
            session,
            context,
            "invoice.finalized",
            "invoice",
            invoice.id,
            period_start=period.start.isoformat(),
            total=str(total),
            status=invoice.status,
        )
        await webhooks.emit(session, context, "invoice.finalized", invoice_event(invoice))
        if collect and total > 0:
            jobs.enqueue(session, SYNC_ACTOR, context.org_id, invoice.id)
    await _advance(session, context, subscription, period, now)
    if notify is not None:
        org_id = context.org_id
        jobs.after_commit(session, lambda: notify(org_id))
    return invoice


async def _advance(
    session: AsyncSession,
    context: TenantContext,
    subscription: Subscription,
    closed: Period,
    now: datetime,
) -> None:
    """Move the subscription to the period after `closed`, applying a scheduled downgrade."""
    following = period_at(subscription.anchor, closed.end)
    subscription.current_period_start = following.start
    subscription.current_period_end = following.end
    if subscription.scheduled_plan_id is not None:
        scheduled = subscription.scheduled_plan_id
        await SubscriptionRepository(session, context).add_change(
            PlanChange(
                id=new_id("pch"),
                kind=DOWNGRADE,
                at=following.start,
                from_plan_id=subscription.plan_id,
                to_plan_id=scheduled,
            )
        )
        await audit.record(
            session,
            context,
            "subscription.downgraded",
            "subscription",
            context.org_id,
            from_plan_id=subscription.plan_id,
            to_plan_id=scheduled,
        )
        plans = PlanRepository(session)
        before, after = await plans.by_id(subscription.plan_id), await plans.by_id(scheduled)
        queue_tier_move(session, context, before, after)
        subscription.plan_id = scheduled
        subscription.scheduled_plan_id = None
    subscription.updated_at = now
    await session.flush()


async def list_invoices(
    session: AsyncSession, context: TenantContext, cursor: str | None, limit: int
) -> tuple[list[tuple[Invoice, Sequence[InvoiceLine]]], str | None]:
    """A page of invoices, newest first, with their lines; the next cursor if there is more."""
    repo = InvoiceRepository(session, context)
    found = await repo.page(id_cursor(cursor, "inv"), limit + 1)
    page = [(invoice, await repo.lines(invoice.id)) for invoice in found[:limit]]
    return page, (page[-1][0].id if len(found) > limit else None)


async def get_invoice(
    session: AsyncSession, context: TenantContext, invoice_id: str
) -> tuple[Invoice, Sequence[InvoiceLine]]:
    """One invoice with its lines; 404 when it is not this org's."""
    repo = InvoiceRepository(session, context)
    invoice = await repo.get(invoice_id)
    if invoice is None:
        raise NotFoundError("Invoice not found")
    return invoice, await repo.lines(invoice.id)


async def mark_paid(
    session: AsyncSession,
    context: TenantContext,
    invoice_id: str,
    *,
    now: datetime | None = None,
    collect: bool = False,
    notify: Notify | None = None,
) -> Invoice:
    """Record an invoice as paid (by the operator, or on Stripe's word); audited; lifts dunning
    once no failed invoice is left. Paying a paid invoice changes nothing."""
    now = now or datetime.now(UTC)
    repo = InvoiceRepository(session, context)
    invoice = await repo.get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFoundError("Invoice not found")
    if invoice.status == "paid":
        return invoice
    if invoice.status not in ("open", "uncollectible"):
        raise InvoiceStateError(f"A {invoice.status} invoice cannot be paid")
    invoice.status = "paid"
    invoice.paid_at = now
    await session.flush()
    await audit.record(
        session, context, "invoice.paid", "invoice", invoice.id, total=str(invoice.total)
    )
    if collect and invoice.stripe_invoice_id and invoice.stripe_status not in ("paid", "void"):
        jobs.enqueue(session, SYNC_ACTOR, context.org_id, invoice.id)
    await dunning.recover(session, context, now=now, notify=notify)
    return invoice


def line_of(row: InvoiceLine) -> Line:
    """A stored line as a rating line (for the API and the Stripe mirror)."""
    return Line(
        kind=LineKind(row.kind),
        description=row.description,
        quantity=row.quantity,
        unit_price=row.unit_price,
        amount=row.amount,
        category=Category(row.category) if row.category else None,
        details=dict(row.details),
    )


CLOSE_ACTOR_NAME = "billing.close_period"
MAX_ORGS_PER_SWEEP = 1000
MAX_PERIODS_PER_RUN = 36


async def schedule_closes(
    session: AsyncSession, *, now: datetime, settle: timedelta, collect: bool
) -> int:
    """Queue a close for every org whose period ended `settle` ago, and (with `collect`) a
    Stripe sync for every open invoice not yet finalized there; returns the closes queued."""
    globals_ = GlobalBillingRepository(session)
    due = await globals_.due_closes(now - settle, MAX_ORGS_PER_SWEEP)
    for org_id in due:
        jobs.enqueue(session, CLOSE_ACTOR_NAME, now.timestamp(), org_id)
    if collect:
        for org_id, invoice_id in await globals_.unsynced_invoices(MAX_ORGS_PER_SWEEP):
            jobs.enqueue(session, SYNC_ACTOR, org_id, invoice_id)
    return len(due)


async def close_org(
    session: AsyncSession,
    org_id: str,
    backend: QuotaBackend,
    *,
    now: datetime,
    settle: timedelta = timedelta(0),
    collect: bool = False,
    notify: Notify | None = None,
) -> list[Invoice]:
    """Close every ended period of one org, oldest first (several if the closer was down)."""
    context = await system_context(session, org_id, CLOSE_ACTOR)
    closed = []
    for _ in range(MAX_PERIODS_PER_RUN):
        invoice = await close_period(
            session, context, backend, now=now, settle=settle, collect=collect, notify=notify
        )
        if invoice is None:
            break
        closed.append(invoice)
    return closed
