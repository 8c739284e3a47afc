"""Tenancy: users, orgs, memberships, projects, keys, sessions, invites, SSO, audit; RLS.

Row-level security is the second wall behind the ORM backstop: the app role only sees rows of
the org in `app.org_id` (and, for orgs and memberships, those of the user in `app.user_id`).
The few lookups that must run before a tenant is known are SECURITY DEFINER functions that
answer one exact question each (a key by its hash, an invite by its token hash …).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
USER = "current_setting('app.user_id', true)"
TENANT_TABLES = ("projects", "api_keys", "invites", "sso_connections", "audit_events")


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    now = sa.text("now()")
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text()),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "orgs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_memberships_org_id", "memberships", ["org_id"])
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "projects",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("project_id", ID, sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("previous_hash", sa.LargeBinary(32), unique=True),
        sa.Column("previous_valid_until", TS),
        sa.Column("scopes", pg.ARRAY(sa.String(32)), nullable=False),
        sa.Column("rate_limits", pg.JSONB()),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS),
        sa.Column("created_by", ID),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "user_id",
            ID,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("csrf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(300)),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "invites",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("accepted_at", TS),
        sa.Column("created_by", ID),
        sa.Column("created_at", TS, nullable=False, server_default=now),
    )
    op.create_table(
        "sso_connections",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("discovery_url", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(300), nullable=False),
        sa.Column("client_secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("domains", pg.ARRAY(sa.String(253)), nullable=False),
        sa.Column("enforce", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("default_role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.Column("updated_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("org_id", name="uq_sso_connections_org"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64)),
        sa.Column("ip", sa.String(64)),
        sa.Column("data", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("at", TS, nullable=False, server_default=now),
    )
    op.create_index("ix_audit_events_org_id_id", "audit_events", ["org_id", "id"])

    for table in ("orgs", "memberships", *TENANT_TABLES):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"""CREATE POLICY tenant_isolation ON orgs
        USING (id = {ORG} OR id IN (SELECT org_id FROM memberships WHERE user_id = {USER}))
        WITH CHECK (id = {ORG})"""
    )
    op.execute(
        f"""CREATE POLICY tenant_isolation ON memberships
        USING (org_id = {ORG} OR user_id = {USER}) WITH CHECK (org_id = {ORG})"""
    )
    for table in TENANT_TABLES:
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )

    for signature, body in _FUNCTIONS:
        op.execute(
            f"CREATE FUNCTION {signature} LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = public, pg_temp AS $$ {body} $$"
        )
        name = signature.split(" RETURNS")[0]
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {name} TO "{role}"')
    op.execute(
        """CREATE FUNCTION tg_touch_keys(ids text[], used timestamptz[]) RETURNS void
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.used)
          FROM unnest(ids, used) AS u(id, used) WHERE k.id = u.id
        $$"""
    )
    op.execute("REVOKE ALL ON FUNCTION tg_touch_keys(text[], timestamptz[]) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION tg_touch_keys(text[], timestamptz[]) TO "{role}"')


_FUNCTIONS = (
    (
        "tg_lookup_key(h bytea) RETURNS TABLE (id text, org_id text, project_id text, kind text, "
        "scopes text[], rate_limits jsonb, expires_at timestamptz, revoked_at timestamptz, "
        "is_previous boolean, previous_valid_until timestamptz, org_status text)",
        """SELECT k.id, k.org_id, k.project_id, k.kind, k.scopes::text[], k.rate_limits,
                  k.expires_at, k.revoked_at, k.previous_hash = h, k.previous_valid_until,
                  o.status
           FROM api_keys k JOIN orgs o ON o.id = k.org_id
           WHERE k.secret_hash = h OR k.previous_hash = h""",
    ),
    (
        "tg_lookup_invite(h bytea) RETURNS TABLE (id text, org_id text, email text, role text, "
        "expires_at timestamptz, accepted_at timestamptz)",
        "SELECT id, org_id, email, role, expires_at, accepted_at FROM invites WHERE token_hash = h",
    ),
    (
        "tg_org_by_slug(s text) RETURNS TABLE (id text, slug text, status text)",
        "SELECT id, slug, status FROM orgs WHERE slug = s",
    ),
    (
        "tg_sso_for_domain(d text) RETURNS TABLE (org_id text, org_slug text, enforce boolean)",
        """SELECT c.org_id, o.slug, c.enforce FROM sso_connections c JOIN orgs o ON o.id = c.org_id
           WHERE d = ANY (c.domains) ORDER BY c.enforce DESC, c.created_at LIMIT 1""",
    ),
    (
        "tg_project_org(p text) RETURNS text",
        "SELECT org_id FROM projects WHERE id = p",
    ),
)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tg_touch_keys(text[], timestamptz[])")
    for signature, _ in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature.split(' RETURNS')[0]}")
    for table in (
        "audit_events",
        "sso_connections",
        "invites",
        "user_sessions",
        "api_keys",
        "projects",
        "memberships",
        "orgs",
        "users",
    ):
        op.drop_table(table)
