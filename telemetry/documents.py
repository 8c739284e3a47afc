"""The stored shape of a log record and of a span, shared by decoders, stores and queries.

Every document carries `tenant` (the org id) and `project`; stores index on them first and every
query ANDs them in. Times are timezone-aware UTC. Ids are lower-case hex (trace 32, span 16).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

AttributeValue = str | int | float | bool | list[str | int | float | bool] | None
Attributes = dict[str, AttributeValue]
Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
SpanStatus = Literal["unset", "ok", "error"]


class LogRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One log record as stored; its encoded JSON length is what `logs` units bill."""

    id: str
    tenant: str
    project: str
    time: datetime
    observed_time: datetime | None = None
    service: str = "unknown"
    level: Level = "INFO"
    severity_number: int = 9
    body: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    attributes: Attributes = {}
    resource: Attributes = {}
    scope: str | None = None


class SpanEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A timestamped event inside a span (e.g. an exception)."""

    time: datetime
    name: str
    attributes: Attributes = {}


class Span(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One span as stored; a span without a parent is a root span (a billed trace)."""

    tenant: str
    project: str
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str
    service: str = "unknown"
    kind: SpanKind = "unspecified"
    start_time: datetime
    end_time: datetime
    duration_ns: int
    status: SpanStatus = "unset"
    status_message: str | None = None
    attributes: Attributes = {}
    resource: Attributes = {}
    events: list[SpanEvent] = []
    scope: str | None = None

    @property
    def is_root(self) -> bool:
        """Whether this span starts a trace."""
        return self.parent_span_id is None


LEVEL_NUMBERS: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "ERROR": 17,
    "FATAL": 21,
}


def level_of(severity_number: int) -> Level:
    """The level of an OTLP severity number (1-24); 0 (unspecified) reads as INFO."""
    if severity_number <= 0:
        return "INFO"
    for name, floor in reversed(LEVEL_NUMBERS.items()):
        if severity_number >= floor:
            return name  # type: ignore[return-value]
    return "TRACE"


def stored_size(record: LogRecord) -> int:
    """Bytes of the stored (normalized JSON) document: the unit of `logs`."""
    return len(msgspec.json.encode(record))
