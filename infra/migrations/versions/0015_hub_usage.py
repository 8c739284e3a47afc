"""Hub sibling usage events, product prices and event subscriptions.

`hub_usage_events` is tenant-owned with RLS like 0002/0005; its unique (product, event_id) is
what makes a replayed batch count as duplicates (a unique index is checked across every row,
whatever RLS lets a session see). Prices, subscriptions and their deliveries are global: a hub
product's subscription spans every org it provisioned. The runtime role gets its table grants
from the default privileges of 0001.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "hub_product_prices",
        sa.Column("product", sa.String(64), primary_key=True),
        sa.Column("metric", sa.String(64), primary_key=True),
        sa.Column("unit_price", sa.Numeric(30, 12), nullable=False),
        sa.Column("included", pg.JSONB(), nullable=False, server_default="{}"),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "hub_usage_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Numeric(30, 10), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("properties", pg.JSONB(), nullable=False, server_default="{}"),
        sa.Column("received_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("product", "event_id", name="uq_hub_usage_events_product_event"),
    )
    op.create_index("ix_hub_usage_events_org_at", "hub_usage_events", ["org_id", "at"])
    op.execute("ALTER TABLE hub_usage_events ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON hub_usage_events "
        f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
    )
    op.create_table(
        "hub_subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("product", sa.String(64), nullable=False, index=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", pg.ARRAY(sa.String(64)), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", ID),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "hub_deliveries",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "subscription_id",
            ID,
            sa.ForeignKey("hub_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", pg.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(500)),
        sa.Column("next_attempt_at", TS),
        sa.Column("delivered_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_hub_deliveries_event"),
    )
    op.create_index(
        "ix_hub_deliveries_subscription_id_id", "hub_deliveries", ["subscription_id", "id"]
    )
    op.create_index("ix_hub_deliveries_org_id", "hub_deliveries", ["org_id"])


def downgrade() -> None:
    op.drop_table("hub_deliveries")
    op.drop_table("hub_subscriptions")
    op.drop_table("hub_usage_events")
    op.drop_table("hub_product_prices")
