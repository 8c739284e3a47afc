"""Notification channels, escalation policies, silences and deliveries.

All four tables are tenant-owned with RLS like 0002/0007 (grants from 0001's default privileges).
`tg_notification_orgs()` lists the orgs with an enabled channel, so the periodic escalation and
repeat sweep can find its work without reading across tenants.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql as pg

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = (
    "notification_channels",
    "escalation_policies",
    "silences",
    "notification_deliveries",
)


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _project_fk(nullable: bool) -> sa.Column[str]:
    return sa.Column(
        "project_id", ID, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=nullable
    )


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "notification_channels",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("config", pg.JSONB(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary()),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "escalation_policies",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("steps", pg.JSONB(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "silences",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _project_fk(nullable=False),
        sa.Column("matchers", pg.JSONB(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("comment", sa.String(1000), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_silences_project_id_ends_at", "silences", ["project_id", "ends_at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _project_fk(nullable=True),
        # NULL for test sends; the log goes with its incident, channel, project or org.
        sa.Column("incident_id", ID, sa.ForeignKey("alert_incidents.id", ondelete="CASCADE")),
        sa.Column("group_key", sa.String(64)),
        sa.Column(
            "channel_id",
            ID,
            sa.ForeignKey("notification_channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", pg.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(500)),
        sa.Column("scheduled_at", TS, nullable=False, server_default=now),
        sa.Column("next_attempt_at", TS),
        sa.Column("delivered_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_index(
        "ix_notification_deliveries_incident", "notification_deliveries", ["incident_id", "id"]
    )
    op.create_index(
        "ix_notification_deliveries_group",
        "notification_deliveries",
        ["group_key", "kind", "scheduled_at"],
    )
    # One escalation message per (incident, step, channel), however often the sweep runs.
    op.create_index(
        "uq_notification_deliveries_escalation",
        "notification_deliveries",
        ["incident_id", "step", "channel_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'escalate'"),
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )
    op.execute(
        """CREATE FUNCTION tg_notification_orgs() RETURNS SETOF text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT DISTINCT org_id::text FROM notification_channels WHERE enabled
        $$"""
    )
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    op.execute("REVOKE ALL ON FUNCTION tg_notification_orgs() FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION tg_notification_orgs() TO "{role}"')


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tg_notification_orgs()")
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
