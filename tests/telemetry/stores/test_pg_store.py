"""PostgreSQL-only walls behind the store: RLS, partition privileges, retention guard, indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.pg_stores import BODY_TSVECTOR, PgTelemetryStorage
from telemetry.search.postgres import PostgresTelemetryStore
from telemetry.stores import Scope
from tests.telemetry.stores.conftest import log


@pytest.fixture
def store(session_factory: async_sessionmaker[AsyncSession]) -> PostgresTelemetryStore:
    return PostgresTelemetryStore(PgTelemetryStorage(session_factory))


async def _bound(session: AsyncSession, org: str) -> None:
    await session.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": org})


class TestRowLevelSecurity:
    async def test_the_app_role_sees_only_the_bound_org(
        self, store: PostgresTelemetryStore, scope: Scope, db_session: AsyncSession
    ) -> None:
        other = Scope("org_other", "prj_other", scope.tier)
        await store.write_logs(scope, [log(1), log(2)])
        await store.write_logs(other, [log(1)])
        await _bound(db_session, scope.org_id)
        tenants = (await db_session.execute(text("SELECT tenant FROM log_records"))).scalars()
        assert sorted(tenants) == [scope.org_id, scope.org_id]
        await _bound(db_session, "")
        assert (await db_session.execute(text("SELECT count(*) FROM log_records"))).scalar() == 0

    async def test_the_app_role_cannot_write_for_another_org(
        self, store: PostgresTelemetryStore, scope: Scope, db_session: AsyncSession
    ) -> None:
        await store.write_logs(scope, [log(1)])  # creates today's partition
        await _bound(db_session, scope.org_id)
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db_session.begin_nested():
                await db_session.execute(
                    text(
                        "INSERT INTO log_records (tier, tenant, project, time, id, service, level,"
                        " severity_number, body, size) VALUES ('short', 'org_other', 'p', now(),"
                        " 'x', 's', 'INFO', 9, 'b', 1)"
                    )
                )

    async def test_day_partitions_are_reachable_only_through_the_parent(
        self, store: PostgresTelemetryStore, scope: Scope, db_session: AsyncSession
    ) -> None:
        await store.write_logs(scope, [log(1)])
        day = f"{datetime.now(UTC):%Y%m%d}"
        for table in ("log_records_short", f"log_records_short_p{day}"):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with db_session.begin_nested():
                    await db_session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608


class TestPartitionFunctions:
    async def test_retention_never_drops_a_day_inside_the_tier(
        self, store: PostgresTelemetryStore, scope: Scope, db_session: AsyncSession
    ) -> None:
        await store.write_logs(scope, [log(1), log(2, ago=timedelta(days=6))])
        future = (datetime.now(UTC) + timedelta(days=400)).date()
        dropped = await db_session.execute(
            text("SELECT tg_drop_expired_telemetry('short', :day)"), {"day": future}
        )
        assert dropped.scalars().all() == []

    @pytest.mark.parametrize("tier", ["nope", "short; DROP TABLE spans", "SHORT"])
    async def test_the_tier_is_checked_before_it_names_anything(
        self, db_session: AsyncSession, tier: str
    ) -> None:
        with pytest.raises(DBAPIError, match="unknown tier"):
            async with db_session.begin_nested():
                await db_session.execute(
                    text("SELECT tg_ensure_telemetry_partitions(:tier, current_date)"),
                    {"tier": tier},
                )


class TestIndexes:
    async def test_the_compiled_body_expression_is_the_indexed_one(
        self, db_session: AsyncSession
    ) -> None:
        definition = (
            await db_session.execute(
                text("SELECT pg_get_indexdef('ix_log_records_body'::regclass)")
            )
        ).scalar_one()
        compiled = str(BODY_TSVECTOR.compile(dialect=postgresql.dialect()))
        normalized = compiled.replace("log_records.body", "body").replace("left(", '"left"(')
        assert f"USING gin ({normalized})" in definition

    async def test_search_functions_are_leakproof_so_rls_keeps_the_gin_indexes(
        self, db_session: AsyncSession
    ) -> None:
        leakproof = await db_session.execute(
            text(
                "SELECT count(*) FROM pg_proc WHERE proleakproof AND oid IN ("
                " 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure,"
                " 'pg_catalog.to_tsvector(regconfig, text)'::regprocedure,"
                " 'pg_catalog.left(text, integer)'::regprocedure,"
                " 'pg_catalog.jsonb_contains(jsonb, jsonb)'::regprocedure)"
            )
        )
        assert leakproof.scalar() == 4
