"""Log and trace reads as the API takes them: request bodies, defaults, and the JSON they answer.

A read without a time range covers everything the plan retains, up to a day ahead (clients'
clocks drift; the ingest path stores records up to a day ahead too). Stats choose their bucket
so that a window holds at most about a hundred of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

import msgspec

from infra.errors import ValidationError
from infra.settings import Tier
from infra.timeparse import optional_utc_instant
from telemetry.decode.normalize import level_from_text
from telemetry.documents import LogRecord, Span
from telemetry.documents_ingest import FUTURE_SLACK
from telemetry.search import parse
from telemetry.stores import (
    LogSearch,
    LogStatsBucket,
    ServiceEdge,
    ServiceSummary,
    TraceSummary,
    retention_floor,
)
from telemetry.traces import SpanNode

TRACE_ID: Final = re.compile(r"^[0-9a-fA-F]{32}$")
BUCKET_STEPS: Final = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
TARGET_BUCKETS: Final = 100
ERROR_LEVELS: Final = ("ERROR", "FATAL")
NS_PER_MS: Final = 1_000_000

MAX_FILTER_VALUES: Final = 100
NoNul = Annotated[str, msgspec.Meta(max_length=1024, pattern=r"^[^\x00]*$")]
FilterList = Annotated[list[NoNul], msgspec.Meta(max_length=MAX_FILTER_VALUES)]


class LogSearchBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /p/{p}/logs/search`: a query string and filters, newest first, one page."""

    query: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    start: datetime | None = None
    end: datetime | None = None
    level: NoNul | FilterList | None = None
    service: NoNul | FilterList | None = None
    trace_id: NoNul | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    cursor: NoNul | None = None


def window(
    start: datetime | None, end: datetime | None, tier: Tier, now: datetime
) -> tuple[datetime, datetime]:
    """The time range of a read: what was asked, else all the plan retains (to a day ahead)."""
    start, end = optional_utc_instant(start, "start"), optional_utc_instant(end, "end")
    return start or retention_floor(tier, now), end or now + FUTURE_SLACK


def trace_id(value: str) -> str:
    """A trace id as stored (32 lower-case hex digits); 400 otherwise."""
    if not TRACE_ID.match(value):
        raise ValidationError("trace_id must be 32 hex digits", field="trace_id")
    return value.lower()


def levels(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Canonical level names of a `level` filter (`warning` is WARN); 400 for an unknown one."""
    names = [value] if isinstance(value, str) else list(value or ())
    found = []
    for name in names:
        level = level_from_text(name) if name.strip() else None
        if level is None:
            raise ValidationError(
                f"unknown level {name!r}: use TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
                field="level",
            )
        found.append(level)
    return tuple(dict.fromkeys(found))


def services(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The services of a `service` filter."""
    return (value,) if isinstance(value, str) else tuple(value or ())


def log_search(body: LogSearchBody, tier: Tier, now: datetime) -> LogSearch:
    """The store's search for a request body (the query parsed by our parser, never raw)."""
    start, end = window(body.start, body.end, tier, now)
    return LogSearch(
        start=start,
        end=end,
        query=parse(body.query),
        levels=levels(body.level),
        services=services(body.service),
        trace_id=trace_id(body.trace_id) if body.trace_id else None,
        limit=body.limit,
        cursor=body.cursor,
    )


def stats_bucket(start: datetime, end: datetime, bucket: int | None) -> int:
    """The bucket width asked for, else the smallest usual step giving ≤ ~100 buckets."""
    if bucket is not None:
        return bucket
    seconds = max((end - start).total_seconds(), 1.0)
    for step in BUCKET_STEPS:
        if seconds / step <= TARGET_BUCKETS:
            return step
    return int(timedelta(days=1).total_seconds())


# --- answers -------------------------------------------------------------------------------


def log_json(record: LogRecord) -> dict[str, Any]:
    """A log record as the API shows it."""
    document: dict[str, Any] = msgspec.to_builtins(record)
    return document


def span_json(span: Span) -> dict[str, Any]:
    """A span as the API shows it."""
    document: dict[str, Any] = msgspec.to_builtins(span)
    return document


def tree_json(node: SpanNode) -> dict[str, Any]:
    """A span with its children, recursively (iteratively: traces can be deep)."""
    root = {**span_json(node.span), "orphan": node.orphan, "children": []}
    stack: list[tuple[SpanNode, dict[str, Any]]] = [(node, root)]
    while stack:
        current, document = stack.pop()
        for child in current.children:
            child_document = {**span_json(child.span), "orphan": child.orphan, "children": []}
            document["children"].append(child_document)
            stack.append((child, child_document))
    return root


def stats_json(buckets: Sequence[LogStatsBucket]) -> list[dict[str, Any]]:
    """Stats rows as the API shows them."""
    return [
        {"start": b.bucket_start, "level": b.level, "service": b.service, "count": b.count}
        for b in buckets
    ]


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    """A trace summary as the API shows it."""
    return summary._asdict()


def service_json(service: ServiceSummary) -> dict[str, Any]:
    """A service summary as the API shows it."""
    return service._asdict()


def edge_json(edge: ServiceEdge) -> dict[str, Any]:
    """A topology edge as the API shows it, with its error rate."""
    return {**edge._asdict(), "error_rate": edge.errors / edge.calls if edge.calls else 0.0}


def to_builtins(value: object) -> Any:
    """Any answer value object as JSON-ready builtins."""
    return msgspec.to_builtins(value)
