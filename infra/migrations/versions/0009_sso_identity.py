"""SSO domain proofs and (issuer, subject) account links.

- `sso_domains`: an org's claim on an email domain with its DNS TXT token; `verified_at` is set
  once `_tollgate.<domain>` carries `tollgate-verify=<token>`. Many orgs may claim a domain, one
  may hold it verified. Every domain of an existing connection becomes an unverified claim: it
  stops enforcing SSO and matching accounts until its org proves it.
- `sso_identities`: accounts linked to an org's provider by (issuer, subject).
- `users.email_verified_at` (NULL = unproven); existing accounts are taken as verified.
- `user_sessions.org_id`: an SSO login's session acts only in that org.
- `tg_sso_for_domain` (password login's enforcement, cross-org claim checks) sees verified
  claims only.

Both tables are tenant-owned with RLS like 0002/0007.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import context, op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(32)
ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ("sso_domains", "sso_identities")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_FUNCTION = "tg_sso_for_domain(d text) RETURNS TABLE (org_id text, org_slug text, enforce boolean)"
_VERIFIED_ONLY = """SELECT c.org_id, o.slug, c.enforce
           FROM sso_domains v
           JOIN sso_connections c ON c.org_id = v.org_id
           JOIN orgs o ON o.id = v.org_id
           WHERE v.domain = d AND v.verified_at IS NOT NULL AND d = ANY (c.domains)
           LIMIT 1"""
_ANY_CLAIM = """SELECT c.org_id, o.slug, c.enforce
           FROM sso_connections c JOIN orgs o ON o.id = c.org_id
           WHERE d = ANY (c.domains) ORDER BY c.enforce DESC, c.created_at LIMIT 1"""


def _org_fk() -> sa.Column[str]:
    return sa.Column(
        "org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _new_id(prefix: str) -> str:
    # Same shape as infra.ids.new_id (a migration does not import the app).
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    digits = []
    while value:
        value, rest = divmod(value, 62)
        digits.append(_BASE62[rest])
    return f"{prefix}_{''.join(reversed(digits)).rjust(22, '0')}"


_HOLDER = "tg_sso_domain_holder(d text) RETURNS text"
_HOLDER_BODY = "SELECT org_id FROM sso_domains WHERE domain = d AND verified_at IS NOT NULL"


def _replace_function(signature: str, body: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION {signature} LANGUAGE sql STABLE SECURITY DEFINER "
        f"SET search_path = public, pg_temp AS $$ {body} $$"
    )


def upgrade() -> None:
    now = sa.text("now()")
    op.add_column("users", sa.Column("email_verified_at", TS))
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.add_column(
        "user_sessions",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE")),
    )
    op.create_table(
        "sso_domains",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("verified_at", TS),
        sa.Column("checked_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("org_id", "domain", name="uq_sso_domains_org_domain"),
    )
    op.create_index(
        "uq_sso_domains_verified_domain",
        "sso_domains",
        ["domain"],
        unique=True,
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", ID, primary_key=True),
        _org_fk(),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column(
            "user_id",
            ID,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TS, nullable=False, server_default=now),
        sa.UniqueConstraint("org_id", "issuer", "subject", name="uq_sso_identities_subject"),
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
        )

    # Existing claims become unverified proofs (the migration runs as the owner: no RLS).
    connection = op.get_bind()
    claims = connection.execute(
        sa.text("SELECT DISTINCT org_id, unnest(domains) FROM sso_connections")
    ).all()
    domains = sa.table(
        "sso_domains",
        sa.column("id", sa.String),
        sa.column("org_id", sa.String),
        sa.column("domain", sa.String),
        sa.column("token", sa.String),
    )
    if claims:
        op.bulk_insert(
            domains,
            [
                {"id": _new_id("sdm"), "org_id": org, "domain": d, "token": secrets.token_hex(16)}
                for org, d in claims
            ],
        )
    _replace_function(_FUNCTION, _VERIFIED_ONLY)
    _replace_function(_HOLDER, _HOLDER_BODY)
    role = context.config.attributes.get("app_role", "tollgate_runtime")
    op.execute("REVOKE ALL ON FUNCTION tg_sso_domain_holder(text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION tg_sso_domain_holder(text) TO "{role}"')


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tg_sso_domain_holder(text)")
    _replace_function(_FUNCTION, _ANY_CLAIM)
    op.drop_table("sso_identities")
    op.drop_table("sso_domains")
    op.drop_column("user_sessions", "org_id")
    op.drop_column("users", "email_verified_at")
