"""Org webhooks: endpoints (signing secret encrypted at rest) and the delivery log.

Both tables are tenant-owned with RLS like 0002/0005; the runtime role gets its table grants from
the default privileges of 0001.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ("webhook_endpoints", "webhook_deliveries")


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", pg.ARRAY(sa.String(64)), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column(
            "endpoint_id",
            ID,
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", pg.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(500)),
        sa.Column("next_attempt_at", TS),
        sa.Column("delivered_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_id", "webhook_deliveries", ["endpoint_id", "id"]
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
