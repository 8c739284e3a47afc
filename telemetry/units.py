"""The billed units of decoded documents (ARCHITECTURE §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from telemetry.documents import LogRecord, Span, stored_size


class TraceUnits(NamedTuple):
    """Root spans (billed traces) and all spans (metered against the fair-use cap)."""

    traces: int
    spans: int


def log_units(records: Iterable[LogRecord]) -> int:
    """Bytes of the stored log documents: what `logs` bills."""
    return sum(stored_size(record) for record in records)


def trace_units(spans: Iterable[Span]) -> TraceUnits:
    """How many traces (spans without a parent) and spans a batch holds."""
    traces = count = 0
    for span in spans:
        count += 1
        traces += span.parent_span_id is None
    return TraceUnits(traces, count)
