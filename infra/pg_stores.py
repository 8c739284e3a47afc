"""PostgreSQL side of the log/trace store: tables, tenant-bound transactions, partitions, writes.

Domain-agnostic on purpose (infra imports no domain package): rows go in as JSON arrays and
come out as mappings; `telemetry.search.postgres` maps them to and from documents and builds the
SELECTs over the tables declared here. Every statement runs in a transaction that first sets
`app.org_id`, so the RLS policy of migration 0004 is the second wall behind the `tenant` filter.

Writes are one `INSERT … SELECT FROM jsonb_array_elements($1::jsonb) ON CONFLICT DO NOTHING` per
batch: COPY is refused on a table with row-level security for a non-owner, and one JSON text,
encoded in C by msgspec, costs the API a third of the CPU of a driver-encoded array per column
(measured in bench/logs_ingest_bench.py), in one round trip whatever the batch size. The primary
key makes a retried batch a no-op, and `RETURNING` the key of each row actually inserted tells the
caller what was new (what to bill). Day partitions are created by the owner-run
`tg_ensure_telemetry_partitions` in a short transaction of their own, before the write, so the
partition DDL's lock on the tier table is never held while rows are written.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
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
    TextClause,
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

# The PostgreSQL type of each column, in insert order.
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


@functools.cache
def _insert_sql(
    table: TableName,
    constants: tuple[str, ...],
    positions: tuple[str, ...],
    returning: tuple[str, ...] = (),
) -> str:
    """An INSERT of rows sent as one JSON array of arrays, `positions` naming each element
    (a name starting with `_` is skipped), returning the `returning` columns of new rows.

    Constants come first as $2, $3 …; the rows are $1. One JSON text per batch is encoded in C
    by the caller and taken apart by PostgreSQL, instead of one driver-encoded array per column.
    """
    kinds = _COLUMNS[table]
    named = [name for name in positions if not name.startswith("_")]
    if sorted([*constants, *named]) != sorted(kinds):
        raise ValueError(f"every column of {table} must be given once")
    values = {name: f"${i}" for i, name in enumerate(constants, start=2)}
    for i, name in enumerate(positions):
        if name.startswith("_"):
            continue  # an element the caller sends but the table takes from elsewhere
        kind = kinds[name]
        values[name] = f"r->{i}" if kind == "jsonb" else f"(r->>{i})::{kind}"
    if any(name not in kinds for name in returning):
        raise ValueError(f"cannot return a column {table} does not have")
    names = ", ".join(f'"{name}"' for name in kinds)
    selected = ", ".join(values[name] for name in kinds)
    # A row that conflicts (stored before, or repeated in the batch) is skipped and not returned.
    returned = ", ".join(f'"{name}"' for name in returning)
    # Fixed table and column names; every value is bound.
    return (
        f"INSERT INTO {table} ({names}) SELECT {selected} "  # noqa: S608
        f"FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT DO NOTHING"
        + (f" RETURNING {returned}" if returning else "")
    )


# A row's identity within a tier and tenant, and the column its day partition is chosen by.
_MOVE_KEYS: Final[dict[TableName, tuple[str, ...]]] = {
    "log_records": ("project", "time", "id"),
    "spans": ("project", "trace_id", "span_id", "start_time"),
}
_TIME_COLUMN: Final[dict[TableName, str]] = {"log_records": "time", "spans": "start_time"}


def _move_sql(table: TableName) -> TextClause:
    keys, moment = _MOVE_KEYS[table], _TIME_COLUMN[table]
    kinds = _COLUMNS[table]
    arrays = ", ".join(f"CAST(:{key} AS {kinds[key]}[])" for key in keys)
    match = " AND ".join(f"r.{key} = b.{key}" for key in keys)
    names = ", ".join(f'"{name}"' for name in kinds)
    values = ", ".join("CAST(:to_tier AS text)" if n == "tier" else f'"{n}"' for n in kinds)
    # Fixed table and column names; the keys and tiers are bound.
    return text(
        f"WITH b AS (SELECT * FROM unnest({arrays}) AS b({', '.join(keys)})), "  # noqa: S608
        f"moved AS (DELETE FROM {table} AS r USING b WHERE r.tier = :from_tier "
        f"AND r.tenant = :org AND r.{moment} BETWEEN :lo AND :hi AND {match} RETURNING r.*) "
        f"INSERT INTO {table} ({names}) SELECT {values} FROM moved ON CONFLICT DO NOTHING"
    )


_MOVE_SQL: Final = {table: _move_sql(table) for table in _MOVE_KEYS}
_BIND: Final = text(
    "SELECT set_config('app.org_id', :org, true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_NO_PARTITION = "23514"  # check_violation: "no partition of relation … found for row"
_DUPLICATE_TABLE = "42P07"  # a concurrent writer's partition, committed after our check


def _driver_error(exc: BaseException) -> BaseException:
    """The asyncpg error behind SQLAlchemy's wrapper (raw driver calls raise it unwrapped)."""
    return getattr(exc, "orig", None) or exc


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
        try:
            await self._create_partitions(tier, missing)
        except Exception as exc:
            # Another writer created one of them first: the function's re-check after its lock
            # reads a catalog snapshot older than that commit, and CREATE fails. Once more, in a
            # new transaction, it sees the partition and skips it.
            if getattr(_driver_error(exc), "sqlstate", None) != _DUPLICATE_TABLE:
                raise
            await self._create_partitions(tier, missing)
        self._partitions.update((tier, day) for day in missing)

    async def _create_partitions(self, tier: str, days: Sequence[date]) -> None:
        async with self._sessions() as session, session.begin():
            for day in days:
                await session.execute(
                    text("SELECT tg_ensure_telemetry_partitions(:tier, :day)"),
                    {"tier": tier, "day": day},
                )

    async def insert(
        self,
        org_id: str,
        table: TableName,
        tier: str,
        days: Iterable[date],
        constants: Mapping[str, Any],
        positions: Sequence[str],
        rows_json: str,
        returning: Sequence[str] = (),
    ) -> list[tuple[Any, ...]]:
        """Insert rows given as a JSON array of arrays whose elements are the `positions`
        columns (`_name`: skipped), with `constants` the same for every row; every column of
        the table is named once. Returns the `returning` columns of each row inserted (a row
        whose key was already stored, or came earlier in the batch, is not)."""
        sql = _insert_sql(table, tuple(constants), tuple(positions), tuple(returning))
        args = [rows_json, *constants.values()]
        inserted: list[tuple[Any, ...]] = []

        async def write() -> None:
            inserted[:] = await self._insert(org_id, sql, args)

        await self._into_partitions(tier, set(days), write)
        return inserted

    async def _into_partitions(
        self, tier: str, days: set[date], write: Callable[[], Awaitable[object]]
    ) -> None:
        """Run a write into a tier's day partitions once they exist."""
        await self.ensure_partitions(tier, days)
        try:
            await write()
        except Exception as exc:
            # Retention dropped a day this process had cached as present: recreate, retry once.
            if getattr(_driver_error(exc), "sqlstate", None) != _NO_PARTITION:
                raise
            self._partitions.difference_update((tier, day) for day in days)
            await self.ensure_partitions(tier, days)
            await write()

    async def move_batch(
        self,
        org_id: str,
        table: TableName,
        from_tier: str,
        to_tier: str,
        since: datetime,
        limit: int,
    ) -> int:
        """Move up to `limit` of an org's rows from `since` on out of one tier into another.

        Each batch is one transaction (the rows are deleted from the old tier and inserted in
        the new one by a single statement), so a crash leaves every row in exactly one tier and
        a rerun carries on with what is left. Returns how many rows were taken (0: none left).
        """
        keys, moment = _MOVE_KEYS[table], _TIME_COLUMN[table]
        async with self.bound(org_id) as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT {', '.join(keys)} FROM {table} "  # noqa: S608 - fixed names
                        f"WHERE tier = :tier AND tenant = :org AND {moment} >= :since LIMIT :limit"
                    ),
                    {"tier": from_tier, "org": org_id, "since": since, "limit": limit},
                )
            ).all()
        if not rows:
            return 0
        batch = {key: [row[i] for row in rows] for i, key in enumerate(keys)}
        times: list[datetime] = batch[moment]
        params = {
            **batch,
            "from_tier": from_tier,
            "to_tier": to_tier,
            "org": org_id,
            "lo": min(times),
            "hi": max(times),
        }

        async def move() -> None:
            async with self.bound(org_id) as conn:
                await conn.execute(_MOVE_SQL[table], params)

        await self._into_partitions(to_tier, {t.astimezone(UTC).date() for t in times}, move)
        return len(rows)

    async def delete_before(self, org_id: str, tier: str, before: datetime) -> None:
        """Delete an org's rows of one tier older than `before` (both tables)."""
        async with self.bound(org_id) as conn:
            for table, moment in _TIME_COLUMN.items():
                await conn.execute(
                    text(
                        f"DELETE FROM {table} "  # noqa: S608 - fixed names
                        f"WHERE tier = :tier AND tenant = :org AND {moment} < :before"
                    ),
                    {"tier": tier, "org": org_id, "before": before},
                )

    async def _insert(self, org_id: str, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        async with self.bound(org_id) as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if raw is None:  # pragma: no cover - a checked-out connection has its driver
                raise RuntimeError("no driver connection")
            return [tuple(row) for row in await raw.fetch(sql, *args)]

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
