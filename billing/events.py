"""The `data` of billing webhook events (JSON: ids, codes and decimal strings)."""

from __future__ import annotations

from typing import Any

from billing.models import Invoice, Subscription
from billing.plans import Plan


def invoice_event(invoice: Invoice) -> dict[str, Any]:
    """`invoice.finalized` and `payment.failed`."""
    return {
        "id": invoice.id,
        "status": invoice.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "currency": invoice.currency,
        "total": str(invoice.total),
    }


def subscription_event(
    subscription: Subscription, plan: Plan, scheduled: Plan | None
) -> dict[str, Any]:
    """`subscription.changed`: the plan now, a downgrade waiting for the period end, the cap."""
    cap = subscription.spend_cap
    return {
        "plan": plan.code.value,
        "scheduled_plan": scheduled.code.value if scheduled is not None else None,
        "spend_cap": None if cap is None else str(cap),
        "status": subscription.status,
    }
