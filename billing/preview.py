"""The preview of a plan change: what the upcoming invoice would be if the change were made now.

It classifies the change and rates the period with the same code the real change and the
upcoming invoice use (`change_kind`, `rate_period` with the upgrade pending), and stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices import RatedPeriod, rate_period
from billing.models import PlanChange
from billing.plans import Period, Plan
from billing.quotas.base import QuotaBackend
from billing.repository import BillingAccountRepository, PlanRepository
from billing.subscriptions import UPGRADE, change_kind, current_subscription, target_plan
from tenancy.context import TenantContext

PREVIEW_CHANGE_ID = "pch_preview"


@dataclass(frozen=True)
class ChangePreview:
    """A plan change not made: its kind, when it would apply, and the invoices around it."""

    plan: Plan
    kind: str | None
    effective_at: datetime
    before: RatedPeriod
    after: RatedPeriod
    payment_method_required: bool


async def preview_change(
    session: AsyncSession,
    context: TenantContext,
    backend: QuotaBackend,
    plan_code: str,
    *,
    collects_payments: bool = False,
    now: datetime | None = None,
) -> ChangePreview:
    """Rate the current period as it stands and as it would stand after moving to `plan_code`
    now: an upgrade adds its proration and the new plan's quotas and prices, a downgrade changes
    nothing before the period end."""
    now = now or datetime.now(UTC)
    target_id, target = await target_plan(session, plan_code)
    subscription = await current_subscription(session, context, now)
    current = await PlanRepository(session).by_id(subscription.plan_id)
    kind = change_kind(subscription.plan_id, current, target_id, target)
    period = Period(subscription.current_period_start, subscription.current_period_end)
    before = await rate_period(session, context, backend, subscription, period)
    after = before
    needs_card = False
    if kind == UPGRADE:
        # never added to the session: the change exists only in this rating
        pending = PlanChange(
            id=PREVIEW_CHANGE_ID,
            kind=UPGRADE,
            at=now,
            from_plan_id=subscription.plan_id,
            to_plan_id=target_id,
        )
        after = await rate_period(session, context, backend, subscription, period, pending)
        if collects_payments and target.price > 0:
            account = await BillingAccountRepository(session, context).get()
            needs_card = account is None or account.payment_method_id is None
    return ChangePreview(
        plan=target,
        kind=kind,
        effective_at=period.end if kind is not None and kind != UPGRADE else now,
        before=before,
        after=after,
        payment_method_required=needs_card,
    )
