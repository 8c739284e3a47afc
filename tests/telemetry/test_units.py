"""Billed units of decoded logs and spans."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.documents import LogRecord, Span, stored_size
from telemetry.units import TraceUnits, log_units, trace_units

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def log(body: str, **fields: object) -> LogRecord:
    return LogRecord(id="log_1", tenant="org_1", project="prj_1", time=T0, body=body, **fields)  # type: ignore[arg-type]


def span(span_id: str, parent: str | None) -> Span:
    return Span(
        tenant="org_1",
        project="prj_1",
        trace_id="a" * 32,
        span_id=span_id,
        parent_span_id=parent,
        name="n",
        start_time=T0,
        end_time=T0,
        duration_ns=0,
    )


class TestLogUnits:
    def test_units_are_the_bytes_of_the_stored_json(self) -> None:
        record = log("héllo", attributes={"k": "v"})
        encoded = msgspec.json.encode(record)
        assert json.loads(encoded)["body"] == "héllo"
        assert log_units([record]) == len(encoded) == stored_size(record)

    def test_units_add_up_over_records(self) -> None:
        records = [log("a"), log("bb", level="ERROR", severity_number=17)]
        assert log_units(records) == stored_size(records[0]) + stored_size(records[1])
        assert log_units([]) == 0

    def test_defaults_are_not_billed(self) -> None:
        assert log_units([log("x")]) < log_units([log("x", scope="s")])

    @settings(max_examples=50, deadline=None)
    @given(bodies=st.lists(st.text(max_size=50), max_size=5))
    def test_units_are_the_sum_of_stored_sizes(self, bodies: list[str]) -> None:
        records = [log(body) for body in bodies]
        assert log_units(records) == sum(len(msgspec.json.encode(one)) for one in records)


class TestTraceUnits:
    def test_traces_are_root_spans(self) -> None:
        batch = [span("1" * 16, None), span("2" * 16, "1" * 16), span("3" * 16, None)]
        assert trace_units(batch) == TraceUnits(traces=2, spans=3)

    def test_orphans_in_a_batch_are_not_traces(self) -> None:
        # The root arrived in an earlier request, or never: only parentless spans are billed.
        assert trace_units([span("2" * 16, "1" * 16)]) == TraceUnits(0, 1)

    def test_empty(self) -> None:
        assert trace_units(iter([])) == (0, 0)
