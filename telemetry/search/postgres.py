"""The PostgreSQL log/trace store: documents ⇄ rows of `infra.pg_stores`, queries as SELECTs.

Every SELECT names the tier (partition pruning), the tenant and the project, and a lower time
bound no older than the tier's retention, before the user's compiled condition is ANDed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import msgspec
from msgspec.structs import astuple
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    cast,
    extract,
    func,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.types import Text

from infra.pg_stores import PgTelemetryStorage, TableName, log_records
from infra.pg_stores import spans as span_rows
from infra.settings import Tier
from telemetry.documents import LogRecord, Span, SpanEvent, stored_size
from telemetry.search.ast import Node
from telemetry.search.sql import to_sql
from telemetry.stores import (
    LogPage,
    LogSearch,
    LogStatsBucket,
    Scope,
    ServiceEdge,
    ServiceSummary,
    TracePage,
    TraceSearch,
    TraceSummary,
    check_stats_window,
    decode_position,
    encode_cursor,
    expired_before,
    newly_stored,
    position_time,
    retention_floor,
)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MOVE_BATCH: Final = 1000  # rows per transaction of a tier move
_json = msgspec.json.Encoder()
_LOG_FIELDS: Final = (
    "id",
    "time",
    "observed_time",
    "service",
    "level",
    "severity_number",
    "body",
    "trace_id",
    "span_id",
    "attributes",
    "resource",
    "scope",
)
_SPAN_FIELDS: Final = tuple(
    column.name for column in span_rows.columns if column.name not in ("tier", "tenant", "project")
)


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    return position_time(micros)  # refuses a forged cursor's out-of-range time


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# Rows travel as JSON arrays in the documents' own field order (msgspec's astuple, encoded in
# C); the document's tenant and project are replaced by the scope's, so they are skipped.
_LOG_POSITIONS: Final = tuple(
    name if name not in ("tenant", "project") else f"_{name}"
    for name in (*LogRecord.__struct_fields__, "size")
)
_SPAN_POSITIONS: Final = tuple(
    name if name not in ("tenant", "project") else f"_{name}" for name in Span.__struct_fields__
)


def _constants(scope: Scope) -> dict[str, str]:
    return {"tier": scope.tier.value, "tenant": scope.org_id, "project": scope.project_id}


class PostgresTelemetryStore:
    """Logs and spans in PostgreSQL, one partition per tier and UTC day."""

    def __init__(
        self,
        storage: PgTelemetryStorage,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._clock = clock

    # -- writes -------------------------------------------------------------------------------

    async def write_logs(self, scope: Scope, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Insert records under the scope; a record already stored (same id and time) is kept.

        Returns the records inserted now (the primary key tells a retry from a new record).
        """
        if not records:
            return []
        rows = [(*astuple(r), stored_size(r)) for r in records]
        days = {_utc_day(r.time) for r in records}
        inserted = await self._storage.insert(
            scope.org_id,
            "log_records",
            scope.tier.value,
            days,
            _constants(scope),
            _LOG_POSITIONS,
            _json.encode(rows).decode(),
            returning=("id", "time"),
        )
        return newly_stored(records, inserted, lambda r: (r.id, r.time))

    async def write_spans(self, scope: Scope, spans: Sequence[Span]) -> list[Span]:
        """Insert spans under the scope; a span already stored (same ids and start) is kept.

        Returns the spans inserted now.
        """
        if not spans:
            return []
        days = {_utc_day(s.start_time) for s in spans}
        inserted = await self._storage.insert(
            scope.org_id,
            "spans",
            scope.tier.value,
            days,
            _constants(scope),
            _SPAN_POSITIONS,
            _json.encode([astuple(s) for s in spans]).decode(),
            returning=("trace_id", "span_id", "start_time"),
        )
        return newly_stored(spans, inserted, lambda s: (s.trace_id, s.span_id, s.start_time))

    # -- logs ---------------------------------------------------------------------------------

    def _log_scope(self, scope: Scope, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        t = log_records.c
        floor = max(start, retention_floor(scope.tier, self._clock()))
        return [
            t.tier == scope.tier.value,
            t.tenant == scope.org_id,
            t.project == scope.project_id,
            t.time >= floor,
            t.time < end,
        ]

    async def search_logs(self, scope: Scope, search: LogSearch) -> LogPage:
        """One page of matching records, newest first, with a keyset cursor."""
        t = log_records.c
        conditions = self._log_scope(scope, search.start, search.end)
        if search.levels:
            conditions.append(t.level.in_(search.levels))
        if search.services:
            conditions.append(t.service.in_(search.services))
        if search.trace_id:
            conditions.append(t.trace_id == search.trace_id.lower())
        if search.cursor:
            micros, last_id = decode_position(search.cursor)
            conditions.append(tuple_(t.time, t.id) < tuple_(_from_micros(micros), last_id))
        if search.query is not None:
            conditions.append(to_sql(search.query))
        statement = (
            select(*(t[name] for name in _LOG_FIELDS))
            .where(and_(*conditions))
            .order_by(t.time.desc(), t.id.desc())
            .limit(search.limit + 1)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        items = [self._log_record(scope, row) for row in rows[: search.limit]]
        cursor = None
        if len(rows) > search.limit:
            last = items[-1]
            cursor = encode_cursor([_micros(last.time), last.id])
        return LogPage(items, cursor)

    @staticmethod
    def _log_record(scope: Scope, row: Any) -> LogRecord:
        fields = {name: row[name] for name in _LOG_FIELDS if row[name] is not None}
        return LogRecord(tenant=scope.org_id, project=scope.project_id, **fields)

    async def log_stats(
        self,
        scope: Scope,
        start: datetime,
        end: datetime,
        bucket_seconds: int,
        query: Node | None = None,
    ) -> list[LogStatsBucket]:
        """Counts per (bucket, level, service); buckets aligned to the Unix epoch."""
        check_stats_window(start, end, bucket_seconds)
        t = log_records.c
        conditions = self._log_scope(scope, start, end)
        if query is not None:
            conditions.append(to_sql(query))
        bucket = func.date_bin(timedelta(seconds=bucket_seconds), t.time, EPOCH).label("bucket")
        statement = (
            select(bucket, t.level, t.service, func.count().label("n"))
            .where(and_(*conditions))
            .group_by(bucket, t.level, t.service)
            .order_by(bucket, t.level, t.service)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        return [LogStatsBucket(r["bucket"], r["level"], r["service"], r["n"]) for r in rows]

    async def iter_logs(
        self, scope: Scope, batch_size: int = 1000
    ) -> AsyncIterator[list[LogRecord]]:
        """Every record within retention, oldest first, one keyset page (transaction) a time."""
        t = log_records.c
        floor = retention_floor(scope.tier, self._clock())
        after: tuple[datetime, str] | None = None
        while True:
            conditions = [
                t.tier == scope.tier.value,
                t.tenant == scope.org_id,
                t.project == scope.project_id,
                t.time >= floor,
            ]
            if after is not None:
                conditions.append(tuple_(t.time, t.id) > tuple_(*after))
            statement = (
                select(*(t[name] for name in _LOG_FIELDS))
                .where(and_(*conditions))
                .order_by(t.time, t.id)
                .limit(batch_size)
            )
            rows = await self._storage.fetch(scope.org_id, statement)
            if rows:
                yield [self._log_record(scope, row) for row in rows]
            if len(rows) < batch_size:
                return
            after = (rows[-1]["time"], rows[-1]["id"])

    # -- traces -------------------------------------------------------------------------------

    def _span_scope(
        self, scope: Scope, start: datetime | None = None, end: datetime | None = None
    ) -> list[ColumnElement[bool]]:
        s = span_rows.c
        floor = retention_floor(scope.tier, self._clock())
        conditions = [
            s.tier == scope.tier.value,
            s.tenant == scope.org_id,
            s.project == scope.project_id,
            s.start_time >= (floor if start is None else max(start, floor)),
        ]
        if end is not None:
            conditions.append(s.start_time < end)
        return conditions

    @staticmethod
    def _span(scope: Scope, row: Any) -> Span:
        fields = {name: row[name] for name in _SPAN_FIELDS if row[name] is not None}
        fields["events"] = msgspec.convert(fields.get("events", []), list[SpanEvent])
        return Span(tenant=scope.org_id, project=scope.project_id, **fields)

    async def get_trace(self, scope: Scope, trace_id: str) -> list[Span]:
        """Every span of the trace within retention, by start time."""
        s = span_rows.c
        statement = (
            select(*(s[name] for name in _SPAN_FIELDS))
            .where(and_(*self._span_scope(scope), s.trace_id == trace_id.lower()))
            .order_by(s.start_time, s.span_id)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        return [self._span(scope, row) for row in rows]

    async def find_traces(self, scope: Scope, search: TraceSearch) -> TracePage:
        """Traces with a matching span, ordered by their earliest matching span, newest first."""
        s = span_rows.c
        conditions = self._span_scope(scope, search.start, search.end)
        if search.service is not None:
            conditions.append(s.service == search.service)
        if search.operation is not None:
            conditions.append(s.name == search.operation)
        if search.min_duration_ns is not None:
            conditions.append(s.duration_ns >= search.min_duration_ns)
        if search.max_duration_ns is not None:
            conditions.append(s.duration_ns <= search.max_duration_ns)
        if search.status is not None:
            conditions.append(s.status == search.status)
        first = func.min(s.start_time)
        matched = (
            select(s.trace_id, first.label("first"))
            .where(and_(*conditions))
            .group_by(s.trace_id)
            .order_by(first.desc(), s.trace_id.desc())
            .limit(search.limit + 1)
        )
        if search.cursor:
            micros, last_id = decode_position(search.cursor)
            position = tuple_(_from_micros(micros), last_id)
            matched = matched.having(tuple_(first, s.trace_id) < position)
        rows = await self._storage.fetch(scope.org_id, matched)
        page = rows[: search.limit]
        if not page:
            return TracePage([], None)
        summaries = await self._summaries(scope, [row["trace_id"] for row in page])
        items = [summaries[row["trace_id"]] for row in page]
        cursor = None
        if len(rows) > search.limit:
            cursor = encode_cursor([_micros(page[-1]["first"]), page[-1]["trace_id"]])
        return TracePage(items, cursor)

    async def _summaries(self, scope: Scope, trace_ids: list[str]) -> dict[str, TraceSummary]:
        s = span_rows.c
        t0 = func.min(s.start_time).over(partition_by=s.trace_id).label("t0")
        inner = (
            select(s.trace_id, s.start_time, s.duration_ns, s.service, s.name, s.status, t0)
            .add_columns(s.parent_span_id)
            .where(and_(*self._span_scope(scope), s.trace_id.in_(trace_ids)))
            .subquery()
        )
        offset_us = cast(extract("epoch", inner.c.start_time - inner.c.t0) * 1_000_000, BigInteger)
        end_ns = offset_us * 1000 + inner.c.duration_ns
        root_order = (inner.c.parent_span_id.isnot(None), inner.c.start_time)
        statement: Select[Any] = select(
            inner.c.trace_id,
            func.min(inner.c.t0).label("start"),
            func.max(end_ns).label("duration"),
            func.count().label("spans"),
            func.count().filter(inner.c.status == "error").label("errors"),
            func.array_agg(aggregate_order_by(inner.c.service, *root_order), type_=ARRAY(Text))[
                1
            ].label("root_service"),
            func.array_agg(aggregate_order_by(inner.c.name, *root_order), type_=ARRAY(Text))[
                1
            ].label("root_name"),
        ).group_by(inner.c.trace_id)
        rows = await self._storage.fetch(scope.org_id, statement)
        return {
            r["trace_id"]: TraceSummary(
                r["trace_id"],
                r["root_service"],
                r["root_name"],
                r["start"],
                int(r["duration"]),
                r["spans"],
                r["errors"],
            )
            for r in rows
        }

    async def services(self, scope: Scope, start: datetime, end: datetime) -> list[ServiceSummary]:
        """Per service: spans, errors and duration percentiles (continuous, interpolated)."""
        s = span_rows.c
        statement = (
            select(
                s.service,
                func.count().label("spans"),
                func.count().filter(s.status == "error").label("errors"),
                func.percentile_cont(0.5).within_group(s.duration_ns).label("p50"),
                func.percentile_cont(0.95).within_group(s.duration_ns).label("p95"),
            )
            .where(and_(*self._span_scope(scope, start, end)))
            .group_by(s.service)
            .order_by(s.service)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        return [
            ServiceSummary(r["service"], r["spans"], r["errors"], float(r["p50"]), float(r["p95"]))
            for r in rows
        ]

    async def service_edges(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 50_000
    ) -> list[ServiceEdge]:
        """Parent → child edges across services, from the newest `limit` spans in the window."""
        s = span_rows.c
        children = (
            select(s.trace_id, s.parent_span_id, s.service, s.status, s.duration_ns)
            .where(and_(*self._span_scope(scope, start, end), s.parent_span_id.isnot(None)))
            .order_by(s.start_time.desc())
            .limit(limit)
            .subquery("child")
        )
        parent = span_rows.alias("parent")
        p = parent.c
        statement = (
            select(
                p.service.label("parent"),
                children.c.service.label("child"),
                func.count().label("calls"),
                func.count().filter(children.c.status == "error").label("errors"),
                func.percentile_disc(0.5).within_group(children.c.duration_ns).label("p50"),
                func.percentile_disc(0.95).within_group(children.c.duration_ns).label("p95"),
            )
            .join_from(
                children,
                parent,
                and_(
                    p.tier == scope.tier.value,
                    p.tenant == scope.org_id,
                    p.project == scope.project_id,
                    p.trace_id == children.c.trace_id,
                    p.span_id == children.c.parent_span_id,
                    p.start_time >= retention_floor(scope.tier, self._clock()),
                ),
            )
            .where(p.service != children.c.service)
            .group_by(p.service, children.c.service)
            .order_by(p.service, children.c.service)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        return [
            ServiceEdge(r["parent"], r["child"], r["calls"], r["errors"], r["p50"], r["p95"])
            for r in rows
        ]

    async def spans_for_topology(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 10_000
    ) -> list[Span]:
        """The newest `limit` spans starting in the window."""
        s = span_rows.c
        statement = (
            select(*(s[name] for name in _SPAN_FIELDS))
            .where(and_(*self._span_scope(scope, start, end)))
            .order_by(s.start_time.desc(), s.trace_id, s.span_id)
            .limit(limit)
        )
        rows = await self._storage.fetch(scope.org_id, statement)
        return [self._span(scope, row) for row in rows]

    async def iter_spans(self, scope: Scope, batch_size: int = 1000) -> AsyncIterator[list[Span]]:
        """Every span within retention, oldest first, one keyset page (transaction) a time."""
        s = span_rows.c
        after: tuple[datetime, str, str] | None = None
        while True:
            conditions = self._span_scope(scope)
            if after is not None:
                conditions.append(tuple_(s.start_time, s.trace_id, s.span_id) > tuple_(*after))
            statement = (
                select(*(s[name] for name in _SPAN_FIELDS))
                .where(and_(*conditions))
                .order_by(s.start_time, s.trace_id, s.span_id)
                .limit(batch_size)
            )
            rows = await self._storage.fetch(scope.org_id, statement)
            if rows:
                yield [self._span(scope, row) for row in rows]
            if len(rows) < batch_size:
                return
            after = (rows[-1]["start_time"], rows[-1]["trace_id"], rows[-1]["span_id"])

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""

    async def delete_tenant(self, org_id: str, project_id: str | None = None) -> None:
        """Delete an org's (or a project's) logs and spans in every tier."""
        await self._storage.delete_tenant(org_id, project_id)

    async def drop_expired(self, tier: Tier, now: datetime) -> list[str]:
        """Drop day partitions wholly past the tier's retention."""
        return await self._storage.drop_expired(tier.value, expired_before(tier, now))

    async def move_tenant(
        self, org_id: str, from_tier: Tier, to_tier: Tier, since: datetime
    ) -> int:
        """Move the org's rows batch by batch (each one transaction), then drop the older ones."""
        moved = 0
        if from_tier is not to_tier:
            tables: tuple[TableName, ...] = ("log_records", "spans")
            for table in tables:
                while taken := await self._storage.move_batch(
                    org_id, table, from_tier.value, to_tier.value, since, MOVE_BATCH
                ):
                    moved += taken
            await self._storage.delete_before(org_id, from_tier.value, since)
        return moved

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers."""
        await self._storage.ping()
