"""Hub integration: operator-issued hub keys and the (product, external id) -> org mapping.

Both tables are global (no RLS): a hub key is found by its hash before any tenant is known, and
the mapping is what decides which org a hub key may see. The runtime role gets its table grants
from the default privileges of 0001.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "hub_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("revoked_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "hub_orgs",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("project_id", ID, sa.ForeignKey("projects.id", ondelete="SET NULL")),
        sa.Column("created_by", ID),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("product", "external_id", name="uq_hub_orgs_product_external_id"),
    )


def downgrade() -> None:
    op.drop_table("hub_orgs")
    op.drop_table("hub_keys")
