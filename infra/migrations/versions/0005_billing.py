"""Billing: periods on subscriptions, plan changes, invoices and lines, billing accounts, and the
Stripe event inbox.

Invoices, lines, plan changes and billing accounts are tenant-owned with RLS like 0003. The
Stripe event inbox is global (events arrive before their org is known) and holds only what
Stripe sent. The workers find due work across orgs through SECURITY DEFINER functions that
answer one question each and return org ids only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ("plan_changes", "invoices", "invoice_lines", "billing_accounts")


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _add_months(anchor: datetime, months: int) -> datetime:
    # a frozen copy of billing.plans.add_months: migrations never import app code
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def _current_period(anchor: datetime, at: datetime) -> tuple[datetime, datetime]:
    anchor, at = anchor.astimezone(UTC), at.astimezone(UTC)
    months = max((at.year - anchor.year) * 12 + (at.month - anchor.month), 0)
    while months > 0 and _add_months(anchor, months) > at:
        months -= 1
    while _add_months(anchor, months + 1) <= at:
        months += 1
    return _add_months(anchor, months), _add_months(anchor, months + 1)


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    now = sa.text("now()")
    op.add_column("subscriptions", sa.Column("current_period_start", TS))
    op.add_column("subscriptions", sa.Column("current_period_end", TS))
    op.add_column("subscriptions", sa.Column("scheduled_plan_id", ID, sa.ForeignKey("plans.id")))
    op.add_column("subscriptions", sa.Column("past_due_since", TS))
    # existing subscriptions start invoicing with the period they are in now
    bind = op.get_bind()
    at = datetime.now(UTC)
    for org_id, anchor in bind.execute(sa.text("SELECT org_id, anchor FROM subscriptions")).all():
        start, end = _current_period(anchor, at)
        bind.execute(
            sa.text(
                "UPDATE subscriptions SET current_period_start = :s, current_period_end = :e "
                "WHERE org_id = :o"
            ),
            {"s": start, "e": end, "o": org_id},
        )
    op.alter_column("subscriptions", "current_period_start", nullable=False)
    op.alter_column("subscriptions", "current_period_end", nullable=False)
    op.create_index("ix_subscriptions_current_period_end", "subscriptions", ["current_period_end"])

    op.create_table(
        "plan_changes",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("to_plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
    )
    op.create_table(
        "invoices",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="usd"),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("subtotal", sa.Numeric(14, 2), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("paid_at", TS),
        sa.Column("payment_failed_at", TS),
        sa.Column("stripe_invoice_id", sa.String(64)),
        sa.Column("stripe_status", sa.String(32)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("org_id", "period_start", name="uq_invoices_org_period"),
        sa.UniqueConstraint("stripe_invoice_id", name="uq_invoices_stripe_invoice"),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
            name="ck_invoices_status",
        ),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column(
            "invoice_id", ID, sa.ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16)),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Numeric(30, 10), nullable=False),
        sa.Column("unit_price", sa.Numeric(30, 12), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("details", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_position"),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stripe_customer_id", sa.String(64)),
        sa.Column("payment_method_id", sa.String(64)),
        sa.Column("payment_method_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("stripe_customer_id", name="uq_billing_accounts_stripe_customer"),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("payload", pg.JSONB(), nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=now),
        sa.Column("processed_at", TS),
        sa.Column("result", sa.String(200)),
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )
    # the inbox is append-and-mark only: events are never deleted by the app
    op.execute(f'REVOKE DELETE ON stripe_events FROM "{role}"')
    for signature, body in _FUNCTIONS:
        op.execute(
            f"CREATE FUNCTION {signature} LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = public, pg_temp AS $$ {body} $$"
        )
        name = signature.split(" RETURNS")[0]
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {name} TO "{role}"')


_FUNCTIONS = (
    (
        "tg_billing_due_closes(cutoff timestamptz, max_orgs integer) RETURNS SETOF text",
        """SELECT org_id FROM subscriptions WHERE current_period_end <= cutoff
           ORDER BY current_period_end LIMIT max_orgs""",
    ),
    (
        "tg_billing_overdue(cutoff timestamptz) RETURNS SETOF text",
        "SELECT org_id FROM subscriptions WHERE status = 'past_due' AND past_due_since <= cutoff",
    ),
    (
        "tg_billing_unsynced_invoices(max_rows integer) "
        "RETURNS TABLE (org_id text, invoice_id text)",
        """SELECT org_id, id FROM invoices
           WHERE status = 'open' AND total > 0
             AND (stripe_status IS NULL OR stripe_status = 'draft')
           ORDER BY issued_at LIMIT max_rows""",
    ),
    (
        "tg_org_by_stripe_customer(c text) RETURNS text",
        "SELECT org_id FROM billing_accounts WHERE stripe_customer_id = c",
    ),
)


def downgrade() -> None:
    for signature, _ in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature.split(' RETURNS')[0]}")
    for table in ("stripe_events", "billing_accounts", "invoice_lines", "invoices", "plan_changes"):
        op.drop_table(table)
    op.drop_index("ix_subscriptions_current_period_end", "subscriptions")
    for column in (
        "past_due_since",
        "scheduled_plan_id",
        "current_period_end",
        "current_period_start",
    ):
        op.drop_column("subscriptions", column)
