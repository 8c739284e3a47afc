"""Transactional outbox for jobs that must leave after commit.

The table is global (no RLS): a row is written in the transaction of whichever tenant's change
made it, and the relays read it across tenants. The runtime role gets its table grants (and the
identity sequence's) from the default privileges of 0001.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "job_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("args", JSONB(), nullable=False),
        sa.Column("kwargs", JSONB(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("run_at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_job_outbox_created_at", "job_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_outbox_created_at", table_name="job_outbox")
    op.drop_table("job_outbox")
