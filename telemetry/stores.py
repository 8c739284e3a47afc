"""The log and trace store interfaces, with the query and result value objects they speak.

Every call takes a `Scope` (org, project, tier): the backend pins its filter outside the user's
query, and never reads before `retention_floor(tier, now)`. Two backends implement both
protocols with one class: PostgreSQL (`telemetry.search.postgres`) and OpenSearch
(`telemetry.search.opensearch`); `telemetry.search.backend.open_telemetry_store` picks one.

Topology comes two ways: `service_edges` aggregates in the store (PostgreSQL: one self-join;
OpenSearch: a bounded scan of span projections plus a parent lookup), which scales to any
window; `spans_for_topology` returns whole spans for `telemetry.traces.topology` to fold.

A store that cannot be reached raises `infra.errors.UnavailableError` (503 with Retry-After) from
the OpenSearch backend, and SQLAlchemy's connection errors from PostgreSQL (the app's database).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, NamedTuple, Protocol, TypeVar

from infra.cursors import InvalidCursorError as InvalidCursorError
from infra.cursors import decode_cursor
from infra.cursors import encode_cursor as encode_cursor
from infra.errors import ValidationError
from infra.settings import TIER_RETENTION_DAYS, Tier
from infra.timeparse import EARLIEST, LATEST
from telemetry.documents import LEVEL_NUMBERS, LogRecord, Span, SpanStatus
from telemetry.search.ast import Node

D = TypeVar("D", LogRecord, Span)
MAX_PAGE: Final = 1000
MAX_STATS_BUCKETS: Final = 10_000
_SPAN_STATUSES: Final = ("unset", "ok", "error")
_LATEST_MICROS: Final = (LATEST - EARLIEST) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Scope:
    """One project of one org, in the tier its plan stores data in."""

    org_id: str
    project_id: str
    tier: Tier

    def __post_init__(self) -> None:
        if not self.org_id or not self.project_id:
            raise ValueError("a scope needs an org and a project")


def retention_floor(tier: Tier, now: datetime) -> datetime:
    """The oldest instant a query of this tier may see."""
    return now - timedelta(days=TIER_RETENTION_DAYS[tier])


def expired_before(tier: Tier, now: datetime) -> date:
    """Whole days strictly before this one are past retention and may be dropped."""
    return now.date() - timedelta(days=TIER_RETENTION_DAYS[tier])


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("start and end must carry a timezone", field="start")
    if start >= end:
        raise ValidationError("start must be before end", field="start")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")


@dataclass(frozen=True, slots=True)
class LogSearch:
    """A page of log records in `[start, end)` matching every given filter, newest first."""

    start: datetime
    end: datetime
    query: Node | None = None
    levels: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    trace_id: str | None = None
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        _check_window(self.start, self.end)
        _check_limit(self.limit)
        unknown = [level for level in self.levels if level not in LEVEL_NUMBERS]
        if unknown:
            raise ValidationError(f"unknown level {unknown[0]!r}", field="level")


class LogPage(NamedTuple):
    """Records newest first (time, then id, descending); `next_cursor` is None on the last page."""

    items: list[LogRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LogStatsBucket:
    """How many records of one level and service fell in one time bucket."""

    bucket_start: datetime
    level: str
    service: str
    count: int


def check_stats_window(start: datetime, end: datetime, bucket_seconds: int) -> None:
    """Refuse a stats request that would produce too many buckets."""
    _check_window(start, end)
    if bucket_seconds < 1:
        raise ValidationError("bucket must be at least one second", field="bucket")
    if (end - start).total_seconds() / bucket_seconds > MAX_STATS_BUCKETS:
        raise ValidationError(f"more than {MAX_STATS_BUCKETS} buckets requested", field="bucket")


@dataclass(frozen=True, slots=True)
class TraceSearch:
    """Traces with at least one span in `[start, end)` matching every given filter."""

    start: datetime
    end: datetime
    service: str | None = None
    operation: str | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: SpanStatus | None = None
    limit: int = 20
    cursor: str | None = None

    def __post_init__(self) -> None:
        _check_window(self.start, self.end)
        _check_limit(self.limit)
        if self.status is not None and self.status not in _SPAN_STATUSES:
            raise ValidationError(f"unknown status {self.status!r}", field="status")
        low, high = self.min_duration_ns, self.max_duration_ns
        if (low is not None and low < 0) or (high is not None and high < 0):
            raise ValidationError("durations cannot be negative", field="min_duration")
        if low is not None and high is not None and low > high:
            raise ValidationError("min_duration is above max_duration", field="min_duration")


class TraceSummary(NamedTuple):
    """One trace at a glance; the root is the span without a parent (else the earliest)."""

    trace_id: str
    root_service: str
    root_name: str
    start: datetime
    duration_ns: int
    span_count: int
    error_count: int


class TracePage(NamedTuple):
    """Traces ordered by their earliest matching span, newest first."""

    items: list[TraceSummary]
    next_cursor: str | None


class ServiceSummary(NamedTuple):
    """Spans of one service in a window (durations in nanoseconds)."""

    name: str
    span_count: int
    error_count: int
    p50_duration_ns: float
    p95_duration_ns: float


class ServiceEdge(NamedTuple):
    """Calls from spans of one service to child spans of another.

    Percentiles are of the child spans' durations, by nearest rank (an actual duration), as
    `telemetry.traces.topology` computes them.
    """

    parent_service: str
    child_service: str
    calls: int
    errors: int
    p50_duration_ns: int
    p95_duration_ns: int


class _Lifecycle(Protocol):
    async def delete_tenant(self, org_id: str, project_id: str | None = None) -> None:
        """Delete every document of an org (or of one of its projects) in every tier."""

    async def drop_expired(self, tier: Tier, now: datetime) -> list[str]:
        """Drop whole days past the tier's retention; the names of what was dropped."""

    async def move_tenant(
        self, org_id: str, from_tier: Tier, to_tier: Tier, since: datetime
    ) -> int:
        """Move an org's log records and spans from `since` on into another tier, in batches;
        delete its older ones from the old tier. Returns how many documents moved.

        Resumable and idempotent: what was moved is gone from the old tier, a document copied
        twice is stored once, so a rerun after a crash finishes the move and a second run
        finds nothing to do.
        """

    async def ping(self) -> None:
        """Raise if the store cannot answer (for /ready)."""

    async def close(self) -> None:
        """Release connections the store opened itself."""


class LogStore(_Lifecycle, Protocol):
    """Where log records are written and searched."""

    async def write_logs(self, scope: Scope, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Store records under the scope (their own tenant/project are overridden).

        Returns the records stored by this call, what is billed: a record whose id (and time)
        is already stored, or repeats an earlier one of the batch, is kept as it was and left
        out, so a retried request is stored and billed once.
        """

    async def search_logs(self, scope: Scope, search: LogSearch) -> LogPage:
        """One page of matching records, newest first."""

    async def log_stats(
        self,
        scope: Scope,
        start: datetime,
        end: datetime,
        bucket_seconds: int,
        query: Node | None = None,
    ) -> list[LogStatsBucket]:
        """Counts per (bucket, level, service), buckets aligned to the epoch, oldest first."""

    def iter_logs(self, scope: Scope, batch_size: int = 1000) -> AsyncIterator[list[LogRecord]]:
        """Every record of the scope within retention, oldest first (time, then id), in
        batches read one keyset page at a time: memory stays flat whatever the volume."""


class TraceStore(_Lifecycle, Protocol):
    """Where spans are written and traces are read."""

    async def write_spans(self, scope: Scope, spans: Sequence[Span]) -> list[Span]:
        """Store spans under the scope (their own tenant/project are overridden).

        Returns the spans stored by this call; one already stored (same trace and span id) or
        repeated in the batch is kept as it was and left out, as in `write_logs`.
        """

    async def get_trace(self, scope: Scope, trace_id: str) -> list[Span]:
        """Every span of a trace, by start time; empty when unknown (or another tenant's)."""

    async def find_traces(self, scope: Scope, search: TraceSearch) -> TracePage:
        """Summaries of matching traces, newest first."""

    async def services(self, scope: Scope, start: datetime, end: datetime) -> list[ServiceSummary]:
        """Span counts, errors and duration percentiles per service, by name."""

    async def service_edges(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 50_000
    ) -> list[ServiceEdge]:
        """Cross-service parent → child call edges of spans starting in the window.

        `limit` bounds the child spans folded, newest first (parents are found anywhere
        within retention).
        """

    async def spans_for_topology(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 10_000
    ) -> list[Span]:
        """The newest `limit` spans starting in the window (for `telemetry.traces.topology`)."""

    def iter_spans(self, scope: Scope, batch_size: int = 1000) -> AsyncIterator[list[Span]]:
        """Every span of the scope within retention, oldest first (start, trace id, span id),
        in batches read one keyset page at a time."""


class TelemetryStore(LogStore, TraceStore, Protocol):
    """A backend that stores both logs and spans."""


def newly_stored(
    documents: Sequence[D], inserted: Iterable[Hashable], key_of: Callable[[D], Hashable]
) -> list[D]:
    """The documents whose key a store reports as inserted now, the first one of each key."""
    fresh = set(inserted)
    out: list[D] = []
    for document in documents:
        key = key_of(document)
        if key in fresh:
            fresh.discard(key)
            out.append(document)
    return out


def decode_position(cursor: str) -> tuple[int, str]:
    """A cursor holding (microseconds since the epoch, id): the usual newest-first position."""
    micros, last_id = decode_cursor(cursor, (int, str))
    return int(micros), str(last_id)


def position_time(micros: int) -> datetime:
    """The instant of a cursor's microseconds; a forged one outside 1970..2262 is refused."""
    if not 0 <= micros <= _LATEST_MICROS:  # beyond, the conversion to a datetime overflows
        raise InvalidCursorError()
    return EARLIEST + timedelta(microseconds=micros)
