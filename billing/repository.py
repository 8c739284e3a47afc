"""Every SQL query of billing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import (
    BillingAccount,
    Invoice,
    InvoiceLine,
    OrgOverrides,
    PlanChange,
    PlanRow,
    StripeEvent,
    Subscription,
    UsageHourly,
)
from billing.plans import Plan, PlanCode, plan_from_row
from tenancy.context import TenantContext

# (hour, project_id, key_id, category, outcome, generation): a ledger row's key in its org.
UsageKey = tuple[datetime, str, str, str, str, str]


def _plan(row: PlanRow) -> Plan:
    return plan_from_row({c.name: getattr(row, c.key) for c in PlanRow.__table__.columns})


class PlanRepository:
    """The public plan catalog (not tenant-owned)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self) -> list[tuple[str, Plan]]:
        """The active version of every plan, cheapest first."""
        rows = await self.session.scalars(
            select(PlanRow).where(PlanRow.active.is_(True)).order_by(PlanRow.price)
        )
        return [(row.id, _plan(row)) for row in rows]

    async def current_by_code(self, code: PlanCode) -> tuple[str, Plan] | None:
        """The active version of one plan."""
        row = await self.session.scalar(
            select(PlanRow)
            .where(PlanRow.code == code.value, PlanRow.active.is_(True))
            .order_by(PlanRow.version.desc())
        )
        return (row.id, _plan(row)) if row else None

    async def by_id(self, plan_id: str) -> Plan:
        """A plan version by id (subscriptions keep the version they are on)."""
        row = await self.session.get(PlanRow, plan_id)
        if row is None:
            raise LookupError(f"unknown plan version {plan_id}")
        return _plan(row)


class SubscriptionRepository:
    """The context org's subscription and overrides."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self, *, for_update: bool = False) -> Subscription | None:
        """The org's subscription."""
        query = select(Subscription).where(Subscription.org_id == self.context.org_id)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def add(self, subscription: Subscription) -> Subscription:
        """Insert the org's subscription unless one exists; the one that stands.

        An org's first concurrent requests may all find no subscription and open one: the
        first insert wins and the others read it, instead of failing on the primary key.
        """
        values = {
            column.key: value
            for column in Subscription.__table__.columns
            if (value := getattr(subscription, column.key)) is not None
        }
        values["org_id"] = self.context.org_id
        await self.session.execute(
            insert(Subscription).values(values).on_conflict_do_nothing(index_elements=["org_id"])
        )
        stored = await self.get()  # inserted now, or by the concurrent request that won
        if stored is None:
            raise RuntimeError(f"no subscription after opening one for {self.context.org_id}")
        return stored

    async def changes(self, start: datetime, end: datetime) -> Sequence[PlanChange]:
        """Plan changes with `at` in [start, end), oldest first."""
        result = await self.session.scalars(
            select(PlanChange)
            .where(PlanChange.org_id == self.context.org_id)
            .where(PlanChange.at >= start, PlanChange.at < end)
            .order_by(PlanChange.at, PlanChange.id)
        )
        return result.all()

    async def history(self) -> Sequence[PlanChange]:
        """Every plan change of the org, oldest first."""
        result = await self.session.scalars(
            select(PlanChange)
            .where(PlanChange.org_id == self.context.org_id)
            .order_by(PlanChange.at, PlanChange.id)
        )
        return result.all()

    async def add_change(self, change: PlanChange) -> None:
        """Record a plan change."""
        change.org_id = self.context.org_id
        self.session.add(change)
        await self.session.flush()

    async def overrides(self) -> OrgOverrides | None:
        """Operator overrides, if any."""
        return await self.session.scalar(
            select(OrgOverrides).where(OrgOverrides.org_id == self.context.org_id)
        )

    async def save_overrides(self, overrides: OrgOverrides) -> None:
        """Insert or update the overrides."""
        overrides.org_id = self.context.org_id
        self.session.add(overrides)
        await self.session.flush()


class UsageRepository:
    """The hourly usage ledger of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def set_hours(self, rows: Sequence[dict[str, object]]) -> None:
        """Upsert full hourly totals (SET, not add: re-running a flush changes nothing)."""
        if not rows:
            return
        statement = insert(UsageHourly).values(
            [dict(row, org_id=self.context.org_id) for row in rows]
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                constraint="pk_usage_hourly", set_={"quantity": statement.excluded.quantity}
            )
        )

    async def rows(self, start: datetime, end: datetime) -> Sequence[UsageHourly]:
        """Every ledger row with hour in [start, end)."""
        result = await self.session.scalars(
            select(UsageHourly)
            .where(UsageHourly.org_id == self.context.org_id)
            .where(UsageHourly.hour >= start, UsageHourly.hour < end)
        )
        return result.all()

    async def page(self, after: UsageKey | None, limit: int) -> Sequence[UsageHourly]:
        """Ledger rows in primary-key order (hour first), after the cursor row's key."""
        u = UsageHourly
        key = tuple_(u.hour, u.project_id, u.key_id, u.category, u.outcome, u.generation)
        query = select(u).where(u.org_id == self.context.org_id)
        if after is not None:
            query = query.where(key > tuple_(*after))
        result = await self.session.scalars(query.order_by(*key.clauses).limit(limit))
        return result.all()

    async def accepted_by_category(self, start: datetime, end: datetime) -> dict[str, int]:
        """Accepted units per category with hour in [start, end)."""
        result = await self.session.execute(
            select(UsageHourly.category, func.sum(UsageHourly.quantity))
            .where(UsageHourly.org_id == self.context.org_id, UsageHourly.outcome == "accepted")
            .where(UsageHourly.hour >= start, UsageHourly.hour < end)
            .group_by(UsageHourly.category)
        )
        return {category: int(total) for category, total in result.all()}

    async def persisted_hours(self, start: datetime, end: datetime) -> set[datetime]:
        """Hours in [start, end) that have rows in the ledger."""
        result = await self.session.scalars(
            select(UsageHourly.hour)
            .where(UsageHourly.org_id == self.context.org_id)
            .where(UsageHourly.hour >= start, UsageHourly.hour < end)
            .distinct()
        )
        return set(result.all())


class InvoiceRepository:
    """The context org's invoices and their lines."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    def _query(self) -> Any:
        return select(Invoice).where(Invoice.org_id == self.context.org_id)

    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        """An invoice of this org."""
        query = self._query().where(Invoice.id == invoice_id)
        if for_update:
            query = query.with_for_update()
        found: Invoice | None = await self.session.scalar(query)
        return found

    async def by_period(self, period_start: datetime) -> Invoice | None:
        """The invoice of the period starting at `period_start`."""
        found: Invoice | None = await self.session.scalar(
            self._query().where(Invoice.period_start == period_start)
        )
        return found

    async def by_stripe_id(self, stripe_invoice_id: str) -> Invoice | None:
        """The invoice Stripe mirrors under this id."""
        found: Invoice | None = await self.session.scalar(
            self._query().where(Invoice.stripe_invoice_id == stripe_invoice_id).with_for_update()
        )
        return found

    async def page(self, before: str | None, limit: int) -> Sequence[Invoice]:
        """Invoices newest first, strictly older than the cursor id."""
        query = self._query()
        if before:
            query = query.where(Invoice.id < before)
        result = await self.session.scalars(query.order_by(Invoice.id.desc()).limit(limit))
        return result.all()

    async def lines(self, invoice_id: str) -> Sequence[InvoiceLine]:
        """An invoice's lines in order."""
        result = await self.session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.org_id == self.context.org_id)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
        return result.all()

    async def add(self, invoice: Invoice, lines: Sequence[InvoiceLine]) -> None:
        """Insert an invoice with its lines."""
        invoice.org_id = self.context.org_id
        self.session.add(invoice)
        await self.session.flush()
        for line in lines:
            line.org_id = self.context.org_id
            line.invoice_id = invoice.id
            self.session.add(line)
        await self.session.flush()

    async def failed_open_count(self) -> int:
        """Open invoices whose payment failed (they keep an org past due)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.org_id == self.context.org_id, Invoice.status == "open")
            .where(Invoice.payment_failed_at.is_not(None))
        )
        return int(count or 0)


class BillingAccountRepository:
    """The context org's billing account (Stripe customer, payment method)."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self, *, for_update: bool = False) -> BillingAccount | None:
        """The org's account, if one was made."""
        query = select(BillingAccount).where(BillingAccount.org_id == self.context.org_id)
        if for_update:
            query = query.with_for_update()
        found: BillingAccount | None = await self.session.scalar(query)
        return found

    async def get_or_create(self) -> BillingAccount:
        """The org's account, locked for update (made on first use)."""
        await self.session.execute(
            insert(BillingAccount)
            .values(org_id=self.context.org_id)
            .on_conflict_do_nothing(index_elements=["org_id"])
        )
        account = await self.get(for_update=True)
        assert account is not None  # noqa: S101 (inserted just above)
        return account


class GlobalBillingRepository:
    """Cross-tenant questions of the billing workers (SECURITY DEFINER functions, ids only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due_closes(self, cutoff: datetime, limit: int) -> list[str]:
        """Orgs whose current period ended at or before `cutoff`, oldest first."""
        result = await self.session.scalars(
            text("SELECT * FROM tg_billing_due_closes(:c, :n)"), {"c": cutoff, "n": limit}
        )
        return [str(org_id) for org_id in result.all()]

    async def overdue(self, cutoff: datetime) -> list[str]:
        """Orgs past due since at or before `cutoff`."""
        result = await self.session.scalars(
            text("SELECT * FROM tg_billing_overdue(:c)"), {"c": cutoff}
        )
        return [str(org_id) for org_id in result.all()]

    async def unsynced_invoices(self, limit: int) -> list[tuple[str, str]]:
        """(org, invoice) of open invoices not yet finalized in Stripe."""
        result = await self.session.execute(
            text("SELECT org_id, invoice_id FROM tg_billing_unsynced_invoices(:n)"), {"n": limit}
        )
        return [(str(org), str(invoice)) for org, invoice in result.all()]

    async def org_by_stripe_customer(self, customer_id: str) -> str | None:
        """The org a Stripe customer belongs to."""
        value = await self.session.scalar(
            text("SELECT tg_org_by_stripe_customer(:c)"), {"c": customer_id}
        )
        return str(value) if value else None


class GlobalStripeEventRepository:
    """The Stripe event inbox (global: an event's org is known only once it is read)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_if_new(self, event: StripeEvent) -> bool:
        """Store an event unless its id was seen before; True if it is new."""
        result = await self.session.execute(
            insert(StripeEvent)
            .values(id=event.id, type=event.type, created=event.created, payload=event.payload)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(StripeEvent.id)
        )
        return result.first() is not None

    async def unhandled(self, received_before: datetime, limit: int) -> list[str]:
        """Ids of events stored before `received_before` and never handled, oldest first."""
        result = await self.session.scalars(
            select(StripeEvent.id)
            .where(StripeEvent.processed_at.is_(None), StripeEvent.received_at < received_before)
            .order_by(StripeEvent.received_at)
            .limit(limit)
        )
        return list(result.all())

    async def get(self, event_id: str, *, for_update: bool = False) -> StripeEvent | None:
        """An event by id."""
        query = select(StripeEvent).where(StripeEvent.id == event_id)
        if for_update:
            query = query.with_for_update()
        found: StripeEvent | None = await self.session.scalar(query)
        return found
