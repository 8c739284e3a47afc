"""PostgreSQL side of the log/trace store: tables, tenant-bound transactions, partitions, writes.

Domain-agnostic on purpose (infra imports no domain package): rows go in as column arrays and
come out as mappings; `telemetry.search.postgres` maps them to and from documents and builds the
SELECTs over the tables declared here. Every statement runs in a transaction that first sets
`app.org_id`, so the RLS policy of migration 0004 is the second wall behind the `tenant` filter.

Writes are one `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT DO NOTHING` per batch:
COPY is refused on a table with row-level security for a non-owner, and the array insert is one
round trip whatever the batch size (measured in bench/log_search_bench.py). The primary key makes
a retried batch a no-op. Day partitions are created by the owner-run
`tg_ensure_telemetry_partitions` in a short transaction of their own, before the write, so the
partition DDL's lock on the tier table is never held while rows are written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Executable,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

metadata = MetaData()
TS = DateTime(timezone=True)

log_records = Table(
    "log_records",
    metadata,
    Column("tier", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("time", TS, nullable=False),
    Column("id", Text, nullable=False),
    Column("observed_time", TS),
    Column("service", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("severity_number", SmallInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("trace_id", Text),
    Column("span_id", Text),
    Column("attributes", JSONB, nullable=False),
    Column("resource", JSONB, nullable=False),
    Column("scope", Text),
    Column("size", Integer, nullable=False),
)

spans = Table(
    "spans",
    metadata,
    Column("tier", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("trace_id", Text, nullable=False),
    Column("span_id", Text, nullable=False),
    Column("parent_span_id", Text),
    Column("name", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("start_time", TS, nullable=False),
    Column("end_time", TS, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_message", Text),
    Column("attributes", JSONB, nullable=False),
    Column("resource", JSONB, nullable=False),
    Column("events", JSONB, nullable=False),
    Column("scope", Text),
)

TableName = Literal["log_records", "spans"]

# The PostgreSQL array type of each column, in insert order (jsonb travels as text).
LOG_COLUMNS: Final = {
    "tier": "text",
    "tenant": "text",
    "project": "text",
    "time": "timestamptz",
    "id": "text",
    "observed_time": "timestamptz",
    "service": "text",
    "level": "text",
    "severity_number": "smallint",
    "body": "text",
    "trace_id": "text",
    "span_id": "text",
    "attributes": "jsonb",
    "resource": "jsonb",
    "scope": "text",
    "size": "integer",
}
SPAN_COLUMNS: Final = {
    "tier": "text",
    "tenant": "text",
    "project": "text",
    "trace_id": "text",
    "span_id": "text",
    "parent_span_id": "text",
    "name": "text",
    "service": "text",
    "kind": "text",
    "start_time": "timestamptz",
    "end_time": "timestamptz",
    "duration_ns": "bigint",
    "status": "text",
    "status_message": "text",
    "attributes": "jsonb",
    "resource": "jsonb",
    "events": "jsonb",
    "scope": "text",
}
_COLUMNS: Final[dict[str, Mapping[str, str]]] = {"log_records": LOG_COLUMNS, "spans": SPAN_COLUMNS}

# Must match the expression of ix_log_records_body (migration 0004) for the index to be used.
BODY_TSVECTOR: Final[ColumnElement[Any]] = func.to_tsvector(
    literal_column("'simple'::regconfig"), func.left(log_records.c.body, literal_column("65536"))
)
TS_CONFIG: Final[ColumnElement[Any]] = literal_column("'simple'::regconfig")


def _insert_sql(table: TableName) -> str:
    columns = _COLUMNS[table]
    names = ", ".join(f'"{name}"' for name in columns)
    arrays = ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]"
        for i, kind in enumerate(columns.values(), start=1)
    )
    casts = ", ".join(
        f'"{name}"::jsonb' if kind == "jsonb" else f'"{name}"' for name, kind in columns.items()
    )
    # Fixed table and column names; every value is a bound array.
    head = f"INSERT INTO {table} ({names}) SELECT {casts}"
    return f"{head} FROM unnest({arrays}) AS u({names}) ON CONFLICT DO NOTHING"


_INSERT_SQL: Final = {table: _insert_sql(table) for table in _COLUMNS}  # type: ignore[arg-type]
_BIND: Final = text(
    "SELECT set_config('app.org_id', :org, true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_NO_PARTITION = "23514"  # check_violation: "no partition of relation … found for row"


class PgTelemetryStorage:
    """Tenant-bound access to the partitioned `log_records` and `spans` tables."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._partitions: set[tuple[str, date]] = set()

    @asynccontextmanager
    async def bound(self, org_id: str) -> AsyncIterator[AsyncConnection]:
        """A transaction whose RLS scope is one org; committed when the block succeeds.

        Its statements are planned for their own parameters: a cached generic plan cannot tell a
        rare search term (use the full-text index) from a common one (walk the newest-first key).
        """
        async with self._sessions() as session, session.begin():
            await session.execute(_BIND, {"org": org_id})
            yield await session.connection()

    async def ensure_partitions(self, tier: str, days: Iterable[date]) -> None:
        """Create the day partitions of a tier that this process has not seen yet."""
        missing = sorted({day for day in days if (tier, day) not in self._partitions})
        if not missing:
            return
        async with self._sessions() as session, session.begin():
            for day in missing:
                await session.execute(
                    text("SELECT tg_ensure_telemetry_partitions(:tier, :day)"),
                    {"tier": tier, "day": day},
                )
        self._partitions.update((tier, day) for day in missing)

    async def insert(
        self,
        org_id: str,
        table: TableName,
        tier: str,
        days: Iterable[date],
        columns: Mapping[str, Sequence[Any]],
    ) -> None:
        """Insert rows given as one sequence per column (every column of the table, in order)."""
        days = set(days)
        arrays = [columns[name] for name in _COLUMNS[table]]
        await self.ensure_partitions(tier, days)
        try:
            await self._insert(org_id, table, arrays)
        except Exception as exc:
            # Retention dropped a day this process had cached as present: recreate, retry once.
            if getattr(exc, "sqlstate", None) != _NO_PARTITION:
                raise
            self._partitions.difference_update((tier, day) for day in days)
            await self.ensure_partitions(tier, days)
            await self._insert(org_id, table, arrays)

    async def _insert(self, org_id: str, table: TableName, arrays: list[Sequence[Any]]) -> None:
        async with self.bound(org_id) as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if raw is None:  # pragma: no cover - a checked-out connection has its driver
                raise RuntimeError("no driver connection")
            await raw.execute(_INSERT_SQL[table], *arrays)

    async def fetch(self, org_id: str, statement: Executable) -> Sequence[Any]:
        """The rows of one SELECT run under the org's RLS scope."""
        async with self.bound(org_id) as conn:
            await conn.execute(
                text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
            )
            result = await conn.execute(statement)
            return result.mappings().all()

    async def delete_tenant(self, org_id: str, project_id: str | None = None) -> None:
        """Delete an org's (or one project's) rows from every tier and day."""
        async with self.bound(org_id) as conn:
            for table in ("log_records", "spans"):
                condition = "tenant = :org" + (" AND project = :project" if project_id else "")
                await conn.execute(
                    text(f"DELETE FROM {table} WHERE {condition}"),  # noqa: S608 - fixed names
                    {"org": org_id, "project": project_id},
                )

    async def drop_expired(self, tier: str, before: date) -> list[str]:
        """Drop the tier's day partitions older than `before` (never one inside retention)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                text("SELECT tg_drop_expired_telemetry(:tier, :before)"),
                {"tier": tier, "before": before},
            )
            dropped = [str(name) for name in result.scalars().all()]
        self._partitions = {(t, day) for t, day in self._partitions if t != tier or day >= before}
        return dropped

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers."""
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))
