"""Plans (versioned), subscriptions, operator overrides and the hourly usage ledger.

Plan rows are history: a price change adds a version and never edits one, so a past invoice
always rates against the version its subscription was on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
GB = 10**9

# §4 of ARCHITECTURE.md, version 1. Prices per unit: $0.10 / 1M points, $0.50 / GB, $0.01 / 1K.
PLANS_V1: list[dict[str, Any]] = [
    {
        "code": "free", "name": "Free", "price": "0", "tier": "short", "alerts": 10,
        "included": {"metrics": 1_000_000, "logs": GB, "traces": 100_000, "spans": 20_000_000},
        "overage": {"metrics": None, "logs": None, "traces": None, "spans": None},
        "rates": {"metrics": 5_000, "logs": 1_000_000, "traces": 1_000, "spans": 1_000},
    },
    {
        "code": "pro", "name": "Pro", "price": "50", "tier": "standard", "alerts": 100,
        "included": {
            "metrics": 10_000_000, "logs": 10 * GB, "traces": 1_000_000, "spans": 200_000_000,
        },
        "overage": {
            "metrics": "0.0000001", "logs": "0.0000000005", "traces": "0.00001", "spans": None,
        },
        "rates": {"metrics": 50_000, "logs": 5_000_000, "traces": 10_000, "spans": 10_000},
    },
    {
        "code": "scale", "name": "Scale", "price": "200", "tier": "long", "alerts": None,
        "included": {
            "metrics": 100_000_000, "logs": 100 * GB, "traces": 10_000_000,
            "spans": 2_000_000_000,
        },
        "overage": {
            "metrics": "0.0000001", "logs": "0.0000000005", "traces": "0.00001", "spans": None,
        },
        "rates": {"metrics": 200_000, "logs": 20_000_000, "traces": 50_000, "spans": 50_000},
    },
]  # fmt: skip


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="usd"),
        sa.Column("included", pg.JSONB(), nullable=False),
        sa.Column("overage", pg.JSONB(), nullable=False),
        sa.Column("rates", pg.JSONB(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("alerts", sa.Integer()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.UniqueConstraint("code", "version", name="uq_plans_code_version"),
    )
    op.bulk_insert(
        plans,
        [
            {
                "id": f"plan_{p['code']}_v1", "code": p["code"], "version": 1, "name": p["name"],
                "price": p["price"], "included": p["included"], "overage": p["overage"],
                "rates": p["rates"], "tier": p["tier"], "alerts": p["alerts"],
            }
            for p in PLANS_V1
        ],
    )  # fmt: skip
    op.create_table(
        "subscriptions",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("plan_id", ID, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("anchor", TS, nullable=False),
        sa.Column("spend_cap", sa.Numeric(12, 2)),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "org_overrides",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("included", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("rate_limits", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("hour", TS, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "hour", "project_id", "key_id", "category", "outcome",
            name="pk_usage_hourly",
        ),
    )  # fmt: skip
    for table in ("subscriptions", "org_overrides", "usage_hourly"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )
    # The catalog is public and never written by the app.
    op.execute(f'REVOKE INSERT, UPDATE, DELETE ON plans FROM "{_role()}"')
    # The operator names orgs by id or slug before any tenant is bound.
    op.execute(
        """CREATE FUNCTION tg_org_by_ref(r text) RETURNS TABLE (id text, slug text, status text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT id, slug, status FROM orgs WHERE id = r OR slug = r
        $$"""
    )
    op.execute("REVOKE ALL ON FUNCTION tg_org_by_ref(text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION tg_org_by_ref(text) TO "{_role()}"')


def _role() -> str:
    from alembic import context

    return str(context.config.attributes.get("app_role", "tollgate_runtime"))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tg_org_by_ref(text)")
    for table in ("usage_hourly", "org_overrides", "subscriptions", "plans"):
        op.drop_table(table)
