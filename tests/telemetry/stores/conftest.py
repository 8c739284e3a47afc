"""Both log/trace store backends behind one `store` fixture, and document builders.

PostgreSQL runs for real through the app's non-owner role inside the test's rolled-back
transaction; OpenSearch is osmem-server (or `OPENSEARCH_URL`), each test under its own index
prefix, deleted afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.opensearch import TIERS, OpenSearchIndices
from infra.pg_stores import PgTelemetryStorage
from infra.settings import Tier
from telemetry.documents import LogRecord, Span
from telemetry.search.opensearch import OpenSearchTelemetryStore
from telemetry.search.postgres import PostgresTelemetryStore
from telemetry.stores import Scope, TelemetryStore
from tests.support.osmem import opensearch_url

__all__ = ["opensearch_url"]

# One instant per test session; documents are placed relative to it.
NOW = datetime.now(UTC)


@pytest.fixture
async def pg_store(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[TelemetryStore]:
    """The PostgreSQL store inside the test's transaction."""
    store = PostgresTelemetryStore(PgTelemetryStorage(session_factory))
    yield store
    await store.close()


@pytest.fixture
async def os_store(opensearch_url: str) -> AsyncIterator[TelemetryStore]:
    """The OpenSearch store under an index prefix of this test's own."""
    prefix = f"t{secrets.token_hex(4)}-"
    indices = OpenSearchIndices(opensearch_url, prefix=prefix, replicas=0, refresh="wait_for")
    store = OpenSearchTelemetryStore(indices)
    yield store
    await store.close()
    async with httpx.AsyncClient(base_url=opensearch_url, timeout=10) as http:
        await http.delete(f"/{prefix}*", params={"expand_wildcards": "all"})
        for kind in ("logs", "spans"):
            for tier in TIERS:
                await http.delete(f"/_index_template/{prefix}tollgate-{kind}-{tier}")
            await http.delete(f"/_component_template/{prefix}tollgate-{kind}")


@pytest.fixture(params=["postgres", "opensearch"])
def store(request: pytest.FixtureRequest) -> TelemetryStore:
    """Each backend in turn: the contract is the same."""
    fixture = "pg_store" if request.param == "postgres" else "os_store"
    result: TelemetryStore = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def scope() -> Scope:
    """A fresh org and project in the short tier."""
    return Scope(f"org_{secrets.token_hex(6)}", f"prj_{secrets.token_hex(6)}", Tier.SHORT)


def log(
    n: int,
    body: str = "",
    *,
    ago: timedelta = timedelta(minutes=0),
    **fields: Any,
) -> LogRecord:
    """Log record `n`, `n` seconds (plus `ago`) before NOW."""
    return LogRecord(
        id=f"r{n:04d}",
        tenant="ignored",
        project="ignored",
        time=NOW - ago - timedelta(seconds=n),
        body=body or f"record {n}",
        **fields,
    )


def span(
    trace: str,
    span_id: str,
    *,
    parent: str | None = None,
    service: str = "web",
    name: str = "GET /",
    start_ms: int = 0,
    duration_ms: int = 10,
    status: str = "unset",
    ago: timedelta = timedelta(minutes=5),
) -> Span:
    """A span `start_ms` after (NOW - ago)."""
    start = NOW - ago + timedelta(milliseconds=start_ms)
    return Span(
        tenant="ignored",
        project="ignored",
        trace_id=trace,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        service=service,
        start_time=start,
        end_time=start + timedelta(milliseconds=duration_ms),
        duration_ns=duration_ms * 1_000_000,
        status=status,  # type: ignore[arg-type]
    )
