"""The migrations build exactly the schema the ORM models describe, and downgrade cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import billing.models
import telemetry.alerting.models
import telemetry.dashboards.tables
import tenancy.models
from infra.db import Base
from infra.settings import Settings

MODELS = (billing.models, telemetry.alerting.models, telemetry.dashboards.tables, tenancy.models)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_object": lambda obj, name, kind, reflected, compare_to: (
                kind != "table" or name in Base.metadata.tables
            ),
        },
    )
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_migrated_schema_matches_the_models(
        self, settings: Settings, migrated_database: str
    ) -> None:
        engine = create_async_engine(settings.database_admin_url)
        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(_diff) == []
        finally:
            await engine.dispose()
