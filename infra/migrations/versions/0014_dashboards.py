"""Dashboards, their versions and share links.

All three tables are tenant-owned with RLS like 0002/0007. A share link is opened before any
tenant is known, so its lookup by token hash is a SECURITY DEFINER function (as tg_lookup_key).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql as pg

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ("dashboards", "dashboard_versions", "dashboard_shares")
LOOKUP = "tg_lookup_dashboard_share(h bytea)"


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _dashboard_fk() -> sa.Column[str]:
    return sa.Column(
        "dashboard_id",
        ID,
        sa.ForeignKey("dashboards.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "dashboards",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column(
            "project_id",
            ID,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", pg.JSONB(), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "dashboard_versions",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _dashboard_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", pg.JSONB(), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("dashboard_id", "version", name="uq_dashboard_versions_version"),
    )
    op.create_table(
        "dashboard_shares",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _dashboard_fk(),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        # Whether whoever shared could read the org's usage: a link never shows more.
        sa.Column("usage_allowed", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    op.execute(
        f"""CREATE FUNCTION {LOOKUP} RETURNS TABLE (id text, org_id text, project_id text,
        dashboard_id text, expires_at timestamptz, revoked_at timestamptz, usage_allowed boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT id, org_id, project_id, dashboard_id, expires_at, revoked_at, usage_allowed
          FROM dashboard_shares WHERE token_hash = h
        $$"""
    )
    op.execute(f"REVOKE ALL ON FUNCTION {LOOKUP} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {LOOKUP} TO "{role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {LOOKUP}")
    op.drop_table("dashboard_shares")
    op.drop_table("dashboard_versions")
    op.drop_table("dashboards")
