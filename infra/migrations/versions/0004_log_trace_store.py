"""Log records and spans: partitioned by tier (LIST), then by UTC day (RANGE), with RLS.

The app role is not the owner, so it never creates or drops a partition itself: it calls
`tg_ensure_telemetry_partitions(tier, day)` and `tg_drop_expired_telemetry(tier, before)`,
SECURITY DEFINER functions that take the tier from a fixed list (it becomes part of an
identifier) and refuse to drop a day still inside the tier's retention. Day partitions are
reachable only through their parent, whose RLS policy pins `tenant` to `app.org_id`.

Search indexes: the primary key (tenant, project, time, id, tier) serves the newest-first keyset
scan and makes a retried batch a no-op; a GIN full-text index on the body (the 'simple'
configuration: lower-cased words, no stemming or stop words, as OpenSearch's standard analyzer)
serves terms and phrases; a jsonb_path_ops GIN index serves attribute containment.
Search statements are planned per execution (`plan_cache_mode = force_custom_plan`, set by the
store), so a rare term gets the GIN index and a common one the newest-first keyset scan.
The body expression must stay identical to `infra.pg_stores.BODY_TSVECTOR`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ORG = "current_setting('app.org_id', true)"
TIERS = ("short", "standard", "long")
# Retention per tier in days, as infra.settings.TIER_RETENTION_DAYS at the time of writing; the
# drop function refuses anything younger, so a change there needs a migration here too.
RETENTION = {"short": 7, "standard": 30, "long": 90}
BODY_TSVECTOR = "to_tsvector('simple'::regconfig, left(body, 65536))"


# Under RLS, PostgreSQL only lets a search condition drive an index scan when every function
# applied to a column in it is LEAKPROOF; otherwise the full-text and attribute GIN indexes are
# ignored and every search filters all of the tenant's rows in the window (seconds at 1M rows).
# These four cannot raise a data-dependent error or have side effects for our inputs (the body
# is capped at 65,536 characters, far below to_tsvector's 1 MB limit), so marking them is safe.
# Only a superuser may; elsewhere searches stay correct but slower (see the warning). Flags on
# built-in functions are not carried by pg_dump: re-run this block after a restore.
LEAKPROOF_FUNCTIONS = (
    "pg_catalog.ts_match_vq(tsvector, tsquery)",
    "pg_catalog.to_tsvector(regconfig, text)",
    'pg_catalog."left"(text, integer)',
    "pg_catalog.jsonb_contains(jsonb, jsonb)",
)


def _leakproof(flag: str) -> str:
    alters = " ".join(f"ALTER FUNCTION {f} {flag};" for f in LEAKPROOF_FUNCTIONS)
    return f"""DO $$ BEGIN
      IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN {alters}
      ELSE RAISE WARNING 'not a superuser: full-text and attribute search will not use '
        'their GIN indexes under row-level security (see migration 0004)';
      END IF;
    END $$"""


def _role() -> str:
    return str(context.config.attributes.get("app_role", "tollgate_runtime"))


def upgrade() -> None:
    role = _role()
    op.execute(
        """CREATE TABLE log_records (
            tier text NOT NULL,
            tenant text NOT NULL,
            project text NOT NULL,
            time timestamptz NOT NULL,
            id text NOT NULL,
            observed_time timestamptz,
            service text NOT NULL,
            level text NOT NULL,
            severity_number smallint NOT NULL,
            body text NOT NULL,
            trace_id text,
            span_id text,
            attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
            resource jsonb NOT NULL DEFAULT '{}'::jsonb,
            scope text,
            size integer NOT NULL,
            CONSTRAINT pk_log_records PRIMARY KEY (tenant, project, time, id, tier)
        ) PARTITION BY LIST (tier)"""
    )
    # A 16 MiB pending list (default 4) batches full-text index maintenance: writes roughly
    # double in rate, autovacuum merges the list, and searches scan at most that much of it.
    op.execute(
        f"CREATE INDEX ix_log_records_body ON log_records USING gin ({BODY_TSVECTOR}) "
        "WITH (gin_pending_list_limit = 16384)"
    )
    op.execute(
        "CREATE INDEX ix_log_records_attributes ON log_records "
        "USING gin (attributes jsonb_path_ops)"
    )
    op.execute(
        "CREATE INDEX ix_log_records_trace ON log_records (tenant, project, trace_id) "
        "WHERE trace_id IS NOT NULL"
    )
    op.execute(
        """CREATE TABLE spans (
            tier text NOT NULL,
            tenant text NOT NULL,
            project text NOT NULL,
            trace_id text NOT NULL,
            span_id text NOT NULL,
            parent_span_id text,
            name text NOT NULL,
            service text NOT NULL,
            kind text NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz NOT NULL,
            duration_ns bigint NOT NULL,
            status text NOT NULL,
            status_message text,
            attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
            resource jsonb NOT NULL DEFAULT '{}'::jsonb,
            events jsonb NOT NULL DEFAULT '[]'::jsonb,
            scope text,
            CONSTRAINT pk_spans PRIMARY KEY (tenant, project, trace_id, span_id, start_time, tier)
        ) PARTITION BY LIST (tier)"""
    )
    op.execute("CREATE INDEX ix_spans_window ON spans (tenant, project, start_time)")
    op.execute("CREATE INDEX ix_spans_service ON spans (tenant, project, service, start_time)")

    for table in ("log_records", "spans"):
        column = "time" if table == "log_records" else "start_time"
        for tier in TIERS:
            op.execute(
                f"CREATE TABLE {table}_{tier} PARTITION OF {table} "
                f"FOR VALUES IN ('{tier}') PARTITION BY RANGE ({column})"
            )
            op.execute(f'REVOKE ALL ON {table}_{tier} FROM PUBLIC, "{role}"')
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant = {ORG}) WITH CHECK (tenant = {ORG})"
        )
        # Telemetry is immutable: the app inserts, reads and deletes (org deletion), never edits.
        op.execute(f'REVOKE ALL ON {table} FROM "{role}"')
        op.execute(f'GRANT SELECT, INSERT, DELETE ON {table} TO "{role}"')

    tier_list = ", ".join(f"'{tier}'" for tier in TIERS)
    retention = " ".join(f"WHEN '{tier}' THEN {days}" for tier, days in RETENTION.items())
    op.execute(
        f"""CREATE FUNCTION tg_ensure_telemetry_partitions(p_tier text, p_day date) RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
          parent text;
          part text;
        BEGIN
          IF p_tier IS NULL OR p_tier NOT IN ({tier_list}) THEN
            RAISE EXCEPTION 'unknown tier %', p_tier USING ERRCODE = '22023';
          END IF;
          IF p_day IS NULL OR p_day < date '2000-01-01' OR p_day > date '2999-12-31' THEN
            RAISE EXCEPTION 'day % out of range', p_day USING ERRCODE = '22023';
          END IF;
          FOREACH parent IN ARRAY ARRAY['log_records', 'spans'] LOOP
            part := format('%s_%s_p%s', parent, p_tier, to_char(p_day, 'YYYYMMDD'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            PERFORM pg_advisory_xact_lock(hashtext('tg_partition:' || part));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            EXECUTE format(
              'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
              part, parent || '_' || p_tier,
              p_day::timestamp AT TIME ZONE 'UTC', (p_day + 1)::timestamp AT TIME ZONE 'UTC');
            -- Only the parent (and its RLS policy) is the way in.
            EXECUTE format('REVOKE ALL ON %I FROM PUBLIC, %I', part, '{role}');
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
          END LOOP;
        END $$"""
    )
    op.execute(
        f"""CREATE FUNCTION tg_drop_expired_telemetry(p_tier text, p_before date)
        RETURNS SETOF text
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
          cutoff date;
          part text;
        BEGIN
          IF p_tier IS NULL OR p_tier NOT IN ({tier_list}) THEN
            RAISE EXCEPTION 'unknown tier %', p_tier USING ERRCODE = '22023';
          END IF;
          cutoff := least(
            p_before,
            (now() AT TIME ZONE 'UTC')::date - CASE p_tier {retention} END);
          FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN (format('log_records_%s', p_tier)::regclass,
                                  format('spans_%s', p_tier)::regclass)
              AND c.relname ~ '_p[0-9]{{8}}$'
              AND to_date(right(c.relname, 8), 'YYYYMMDD') < cutoff
            ORDER BY c.relname
          LOOP
            EXECUTE format('DROP TABLE %I', part);
            RETURN NEXT part;
          END LOOP;
        END $$"""
    )
    op.execute(_leakproof("LEAKPROOF"))
    for signature in (
        "tg_ensure_telemetry_partitions(text, date)",
        "tg_drop_expired_telemetry(text, date)",
    ):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{role}"')


def downgrade() -> None:
    op.execute(_leakproof("NOT LEAKPROOF"))
    op.execute("DROP FUNCTION IF EXISTS tg_drop_expired_telemetry(text, date)")
    op.execute("DROP FUNCTION IF EXISTS tg_ensure_telemetry_partitions(text, date)")
    op.execute("DROP TABLE IF EXISTS spans")
    op.execute("DROP TABLE IF EXISTS log_records")
