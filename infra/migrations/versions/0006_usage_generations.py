"""Usage ledger rows per Redis counter generation, so a Redis that lost its counters mid-hour
can never overwrite a persisted total with a smaller one; also index the Stripe event sweep.

Each Redis outcome hour carries a generation (the instant its hash was created). The flush
upserts (hour, …, generation) with SET semantics; a re-created hash after a loss has a new
generation and lands in a row of its own, so the hour's total is the sum of its generations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PK = ["org_id", "hour", "project_id", "key_id", "category", "outcome"]


def upgrade() -> None:
    op.add_column(
        "usage_hourly",
        sa.Column("generation", sa.String(32), nullable=False, server_default=""),
    )
    op.drop_constraint("pk_usage_hourly", "usage_hourly", type_="primary")
    op.create_primary_key("pk_usage_hourly", "usage_hourly", [*PK, "generation"])
    op.create_index(
        "ix_stripe_events_unhandled",
        "stripe_events",
        ["received_at"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_stripe_events_unhandled", table_name="stripe_events")
    # Fold generations back into one row per hour before the narrower key returns.
    op.execute(
        """CREATE TEMP TABLE usage_folded ON COMMIT DROP AS
        SELECT org_id, hour, project_id, key_id, category, outcome, sum(quantity) AS quantity
        FROM usage_hourly GROUP BY org_id, hour, project_id, key_id, category, outcome"""
    )
    op.execute("DELETE FROM usage_hourly")
    op.drop_constraint("pk_usage_hourly", "usage_hourly", type_="primary")
    op.drop_column("usage_hourly", "generation")
    op.execute(
        """INSERT INTO usage_hourly (org_id, hour, project_id, key_id, category, outcome, quantity)
        SELECT org_id, hour, project_id, key_id, category, outcome, quantity FROM usage_folded"""
    )
    op.create_primary_key("pk_usage_hourly", "usage_hourly", PK)
