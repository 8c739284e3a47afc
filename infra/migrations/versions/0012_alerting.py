"""Alert rules, incidents and their timeline.

All three tables are tenant-owned with RLS like 0002/0007; the runtime role gets its table grants
from the default privileges of 0001. One open incident per (rule, fingerprint) is a partial unique
index, so two receivers racing on the same alert cannot open two.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql as pg

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ("alert_rules", "alert_incidents", "incident_events")


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _project_fk() -> sa.Column[str]:
    return sa.Column(
        "project_id",
        ID,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    now = sa.text("now()")
    empty = sa.text("'{}'::jsonb")
    op.create_table(
        "alert_rules",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("expr", sa.Text(), nullable=False),
        sa.Column("threshold", pg.JSONB()),
        sa.Column("for_seconds", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("interval_seconds", sa.Integer(), nullable=False, server_default="60"),
        sa.Column("severity", sa.String(16), nullable=False, server_default="warning"),
        sa.Column("labels", pg.JSONB(), nullable=False, server_default=empty),
        sa.Column("annotations", pg.JSONB(), nullable=False, server_default=empty),
        sa.Column("channels", pg.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("escalation_policy", sa.String(64)),
        sa.Column("no_data", sa.String(16), nullable=False, server_default="ok"),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("disabled_reason", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False, server_default="inactive"),
        sa.Column("pending_since", TS),
        sa.Column("last_evaluation", TS),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("generated_by", sa.String(64)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_alert_rules_org_id_created_at", "alert_rules", ["org_id", "created_at"])
    op.create_table(
        "alert_incidents",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _project_fk(),
        sa.Column(
            "rule_id", ID, sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("labels", pg.JSONB(), nullable=False, server_default=empty),
        sa.Column("annotations", pg.JSONB(), nullable=False, server_default=empty),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_fired_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_by", sa.String(64)),
        # vmalert's endsAt: a firing alert not renewed by then is resolved by the sweep.
        sa.Column("ends_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_alert_incidents_project_id_id", "alert_incidents", ["project_id", "id"])
    op.create_index(
        "ix_alert_incidents_rule_id_fingerprint", "alert_incidents", ["rule_id", "fingerprint"]
    )
    op.create_index(
        "uq_alert_incidents_open",
        "alert_incidents",
        ["rule_id", "fingerprint"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        _project_fk(),
        sa.Column(
            "incident_id",
            ID,
            sa.ForeignKey("alert_incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("detail", pg.JSONB(), nullable=False, server_default=empty),
        sa.Column("at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_incident_events_incident_id_id", "incident_events", ["incident_id", "id"])
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    for signature, body in _FUNCTIONS:
        op.execute(
            f"CREATE FUNCTION {signature} LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = public, pg_temp AS $$ {body} $$"
        )
        name = signature.split(" RETURNS")[0]
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {name} TO "{role}"')


# The workers find alerting work across orgs through these (ids only; the work itself runs in
# each org's own context).
_FUNCTIONS = (
    (
        "tg_alert_rule_org(rule text) RETURNS text",
        "SELECT org_id FROM alert_rules WHERE id = rule",
    ),
    (
        "tg_alert_metric_projects() RETURNS TABLE (org_id text, project_id text)",
        """SELECT DISTINCT org_id, project_id FROM alert_rules
           WHERE kind = 'metric' ORDER BY org_id, project_id""",
    ),
    (
        "tg_alert_due_log_rules(at timestamptz, max_rows integer) "
        "RETURNS TABLE (org_id text, rule_id text)",
        """SELECT org_id, id FROM alert_rules
           WHERE kind = 'log' AND enabled
             AND (last_evaluation IS NULL
                  OR last_evaluation + make_interval(secs => interval_seconds) <= at)
           ORDER BY last_evaluation NULLS FIRST LIMIT max_rows""",
    ),
    (
        "tg_alert_expired_incidents(at timestamptz, max_rows integer) "
        "RETURNS TABLE (org_id text, incident_id text)",
        """SELECT org_id, id FROM alert_incidents
           WHERE status <> 'resolved' AND ends_at IS NOT NULL AND ends_at < at
           ORDER BY ends_at LIMIT max_rows""",
    ),
)


def downgrade() -> None:
    for signature, _ in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature.split(' RETURNS')[0]}")
    op.drop_table("incident_events")
    op.drop_table("alert_incidents")
    op.drop_table("alert_rules")
