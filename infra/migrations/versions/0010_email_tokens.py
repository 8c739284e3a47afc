"""Email verification and password reset tokens.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the change that owns this revision.
    _ = (sa, op)


def downgrade() -> None:
    _ = (sa, op)
