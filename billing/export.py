"""The billing part of an org's export: subscription, plan changes, invoices, usage ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Invoice, InvoiceLine, PlanChange, Subscription, UsageHourly
from billing.repository import (
    InvoiceRepository,
    PlanRepository,
    SubscriptionRepository,
    UsageKey,
    UsageRepository,
)
from tenancy.context import TenantContext
from tenancy.export import Section, Sessions, paged, whole

_SUBSCRIPTION_FIELDS: Final = (
    "plan_id",
    "status",
    "anchor",
    "spend_cap",
    "current_period_start",
    "current_period_end",
    "scheduled_plan_id",
    "past_due_since",
    "created_at",
    "updated_at",
)
_INVOICE_FIELDS: Final = (
    "id",
    "period_start",
    "period_end",
    "status",
    "currency",
    "plan_id",
    "subtotal",
    "total",
    "issued_at",
    "paid_at",
    "payment_failed_at",
    "stripe_invoice_id",
    "created_at",
)
_LINE_FIELDS: Final = (
    "position",
    "kind",
    "category",
    "description",
    "quantity",
    "unit_price",
    "amount",
    "details",
)
_USAGE_FIELDS: Final = (
    "hour",
    "project_id",
    "key_id",
    "category",
    "outcome",
    "generation",
    "quantity",
)


async def _subscription(session: AsyncSession, context: TenantContext) -> list[dict[str, Any]]:
    subscription: Subscription | None = await SubscriptionRepository(session, context).get()
    if subscription is None:
        return []
    row = {name: getattr(subscription, name) for name in _SUBSCRIPTION_FIELDS}
    row["plan"] = (await PlanRepository(session).by_id(subscription.plan_id)).code.value
    return [row]


async def _plan_changes(session: AsyncSession, context: TenantContext) -> list[dict[str, Any]]:
    # A few a year: one page holds them all.
    fields = ("id", "kind", "at", "from_plan_id", "to_plan_id")
    history: Sequence[PlanChange] = await SubscriptionRepository(session, context).history()
    return [{name: getattr(change, name) for name in fields} for change in history]


async def _invoices(
    session: AsyncSession, context: TenantContext, before: str | None, size: int
) -> list[tuple[Invoice, Sequence[InvoiceLine]]]:
    repo = InvoiceRepository(session, context)
    return [(invoice, await repo.lines(invoice.id)) for invoice in await repo.page(before, size)]


def _invoice(row: tuple[Invoice, Sequence[InvoiceLine]]) -> dict[str, Any]:
    invoice, lines = row
    rendered = {name: getattr(invoice, name) for name in _INVOICE_FIELDS}
    rendered["lines"] = [{name: getattr(item, name) for name in _LINE_FIELDS} for item in lines]
    return rendered


def _usage(row: UsageHourly) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _USAGE_FIELDS}


def _usage_key(row: UsageHourly) -> UsageKey:
    return (row.hour, row.project_id, row.key_id, row.category, row.outcome, row.generation)


def billing_sections(sessions: Sessions, context: TenantContext) -> list[Section]:
    """The subscription, plan changes, invoices (newest first, with lines) and the usage ledger."""
    return [
        Section("subscription", whole(sessions, context, lambda s: _subscription(s, context))),
        Section("plan_change", whole(sessions, context, lambda s: _plan_changes(s, context))),
        Section(
            "invoice",
            paged(
                sessions,
                context,
                lambda s, before, n: _invoices(s, context, before, n),
                _invoice,
                lambda row: row[0].id,
                size=50,
            ),
        ),
        Section(
            "usage_hourly",
            paged(
                sessions,
                context,
                lambda s, after, n: UsageRepository(s, context).page(after, n),
                _usage,
                _usage_key,
                size=2000,
            ),
        ),
    ]
