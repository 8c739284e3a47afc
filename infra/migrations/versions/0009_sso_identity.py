"""SSO domain proofs and (issuer, subject) account links.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the change that owns this revision.
    _ = (sa, op)


def downgrade() -> None:
    _ = (sa, op)
