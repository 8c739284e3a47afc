"""Day partitions of the log/trace tables created by several writers at once (several API workers
taking the first batch of a new day) never fail a write."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import date, timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.db import create_session_factory
from infra.pg_stores import PgTelemetryStorage
from infra.settings import Settings


@pytest.fixture
async def fresh_day(settings: Settings, migrated_database: str) -> AsyncIterator[date]:
    """A far-future day no partition exists for; its partitions are dropped afterwards."""
    day = date(2900, 1, 1) + timedelta(days=secrets.randbelow(30_000))
    yield day
    url = make_url(settings.database_admin_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        for table in ("log_records", "spans"):
            await conn.execute(f"DROP TABLE IF EXISTS {table}_long_p{day:%Y%m%d}")
    finally:
        await conn.close()


class TestEnsurePartitions:
    async def test_concurrent_writers_of_a_new_day_all_succeed(
        self, app_engine: AsyncEngine, fresh_day: date
    ) -> None:
        # One storage per writer: each is a process that has not seen the day yet.
        writers = [PgTelemetryStorage(create_session_factory(app_engine)) for _ in range(4)]

        results = await asyncio.gather(
            *(w.ensure_partitions("long", [fresh_day]) for w in writers), return_exceptions=True
        )

        assert results == [None] * 4
        url = app_engine.url.set(drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM pg_class WHERE relname = ANY($1::text[])",
                [f"{t}_long_p{fresh_day:%Y%m%d}" for t in ("log_records", "spans")],
            )
        finally:
            await conn.close()
        assert found == 2
