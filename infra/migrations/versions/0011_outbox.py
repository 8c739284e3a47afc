"""Transactional outbox for jobs that must leave after commit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the change that owns this revision.
    _ = (sa, op)


def downgrade() -> None:
    _ = (sa, op)
