"""Pick the log/trace store the settings describe: OpenSearch when configured, else PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.opensearch import OpenSearchIndices
from infra.pg_stores import PgTelemetryStorage
from infra.settings import Settings
from telemetry.search.opensearch import OpenSearchTelemetryStore
from telemetry.search.postgres import PostgresTelemetryStore
from telemetry.stores import TelemetryStore


def open_telemetry_store(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> TelemetryStore:
    """The store for logs and spans; close it at shutdown."""
    if settings.log_store_backend == "opensearch":
        return OpenSearchTelemetryStore(OpenSearchIndices(settings.opensearch_url))
    return PostgresTelemetryStore(PgTelemetryStorage(sessions))
