"""Billing tables: plan versions, subscriptions, overrides, the usage ledger, plan changes,
invoices, billing accounts (Stripe customer and payment method) and the Stripe event inbox."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base
from tenancy.models import TenantOwned

Timestamp = DateTime(timezone=True)


class PlanRow(Base):
    """One version of a plan; never edited once subscriptions point at it."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_plans_code_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), server_default="usd")
    included: Mapped[dict[str, Any]] = mapped_column(JSONB)
    overage: Mapped[dict[str, Any]] = mapped_column(JSONB)
    rates: Mapped[dict[str, Any]] = mapped_column(JSONB)
    tier: Mapped[str] = mapped_column(String(16))
    alerts: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class Subscription(TenantOwned, Base):
    """An org's plan version, status, period anchor and spend cap.

    `current_period_*` is the earliest period not yet invoiced: the period close moves it on
    (and applies `scheduled_plan_id`, a downgrade waiting for the period end).
    Status: active, past_due (a payment failed, since `past_due_since`), suspended.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_current_period_end", "current_period_end"),)

    org_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    anchor: Mapped[datetime] = mapped_column(Timestamp)
    spend_cap: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    current_period_start: Mapped[datetime] = mapped_column(Timestamp)
    current_period_end: Mapped[datetime] = mapped_column(Timestamp)
    scheduled_plan_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("plans.id"))
    past_due_since: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class OrgOverrides(TenantOwned, Base):
    """Operator overrides of included units and rate limits; they win over the plan."""

    __tablename__ = "org_overrides"

    org_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    included: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    rate_limits: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class UsageHourly(TenantOwned, Base):
    """Units per (project, key, category, outcome, hour); written with SET semantics."""

    __tablename__ = "usage_hourly"

    org_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(24), primary_key=True)
    # When the Redis counters were created: a hash re-created after a loss gets a row of its own.
    generation: Mapped[str] = mapped_column(String(32), primary_key=True, server_default="")
    quantity: Mapped[int] = mapped_column(BigInteger)


class PlanChange(TenantOwned, Base):
    """A plan change: an upgrade (immediate, prorated) or a downgrade (at a period start)."""

    __tablename__ = "plan_changes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(Timestamp)
    from_plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id"))
    to_plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id"))


class Invoice(TenantOwned, Base):
    """A closed period's invoice; a period closes once (unique org and period start)."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("org_id", "period_start", name="uq_invoices_org_period"),
        UniqueConstraint("stripe_invoice_id", name="uq_invoices_stripe_invoice"),
        CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
            name="ck_invoices_status",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(Timestamp)
    period_end: Mapped[datetime] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3), server_default="usd")
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id"))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    paid_at: Mapped[datetime | None] = mapped_column(Timestamp)
    payment_failed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    stripe_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class InvoiceLine(TenantOwned, Base):
    """One line of an invoice, as rated at close (amount rounded to the cent)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("invoices.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(30, 10))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(30, 12))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class BillingAccount(TenantOwned, Base):
    """An org's Stripe customer and the payment method on file."""

    __tablename__ = "billing_accounts"
    __table_args__ = (
        UniqueConstraint("stripe_customer_id", name="uq_billing_accounts_stripe_customer"),
    )

    org_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    payment_method_id: Mapped[str | None] = mapped_column(String(64))
    payment_method_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class StripeEvent(Base):
    """A verified Stripe webhook event (global inbox, not tenant-owned): stored once by id."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index(
            "ix_stripe_events_unhandled",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(Timestamp)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    result: Mapped[str | None] = mapped_column(String(200))


class HubProductPrice(Base):
    """The operator's price of one metric of a hub product (global): a Decimal per unit, and the
    units each plan includes per period (`{"pro": 1000}`; a plan not named includes none)."""

    __tablename__ = "hub_product_prices"

    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(30, 12))
    included: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class HubUsageEvent(TenantOwned, Base):
    """One usage event a sibling product reported for an org; unique per (product, event_id)."""

    __tablename__ = "hub_usage_events"
    __table_args__ = (
        UniqueConstraint("product", "event_id", name="uq_hub_usage_events_product_event"),
        Index("ix_hub_usage_events_org_at", "org_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    product: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(Numeric(30, 10))
    at: Mapped[datetime] = mapped_column(Timestamp)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    received_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
