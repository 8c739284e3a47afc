"""Trace analysis: the span tree, self time, errors, critical path and service topology."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.documents import Span, SpanEvent, SpanStatus
from telemetry.traces import (
    Edge,
    PathStep,
    SpanError,
    SpanNode,
    analyze,
    build_tree,
    critical_path,
    nearest_rank,
    topology,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000


def sid(name: str) -> str:
    """A 16-hex span id from a short name."""
    return name.encode().hex().rjust(16, "0")[:16]


def span(
    name: str,
    parent: str | None,
    start_ms: float,
    end_ms: float,
    service: str = "api",
    *,
    status: SpanStatus = "unset",
    events: list[SpanEvent] | None = None,
    trace_id: str = TRACE,
    status_message: str | None = None,
) -> Span:
    """A span named `name` (its id derived from the name) from start_ms to end_ms after T0."""
    start = T0 + timedelta(milliseconds=start_ms)
    duration_ns = round((end_ms - start_ms) * MS)
    return Span(
        tenant="org_1",
        project="prj_1",
        trace_id=trace_id,
        span_id=sid(name),
        parent_span_id=None if parent is None else sid(parent),
        name=name,
        service=service,
        start_time=start,
        end_time=start + timedelta(microseconds=duration_ns // 1000),
        duration_ns=duration_ns,
        status=status,
        status_message=status_message,
        events=events or [],
    )


def shape(nodes: list[SpanNode]) -> list[object]:
    """The tree as nested (name, orphan, children) tuples."""
    return [(node.span.name, node.orphan, shape(node.children)) for node in nodes]


EXCEPTION = SpanEvent(
    time=T0, name="exception", attributes={"exception.type": "TimeoutError", "x": 1}
)
# api 0-100 calls db 10-40 and cache 50-90; cache calls db 60-70, which raises.
TRACE_SPANS = [
    span("D", "C", 60, 70, "db", events=[EXCEPTION]),
    span("B", "A", 10, 40, "db"),
    span("A", None, 0, 100, "api"),
    span("C", "A", 50, 90, "cache"),
]


class TestBuildTree:
    def test_children_ordered_by_start(self) -> None:
        roots = build_tree(TRACE_SPANS)
        assert shape(roots) == [
            ("A", False, [("B", False, []), ("C", False, [("D", False, [])])]),
        ]

    def test_span_whose_parent_is_missing_is_an_orphan_root(self) -> None:
        roots = build_tree([span("A", None, 0, 10), span("X", "gone", 5, 6)])
        assert shape(roots) == [("A", False, []), ("X", True, [])]

    def test_parent_cycle_is_cut_at_its_earliest_span(self) -> None:
        spans = [span("P", "Q", 1, 5), span("Q", "P", 2, 4), span("S", "S", 0, 1)]
        assert shape(build_tree(spans)) == [("S", True, []), ("P", True, [("Q", False, [])])]

    def test_same_span_id_in_another_trace_is_not_a_parent(self) -> None:
        other = span("A", None, 0, 1, trace_id="f" * 32)
        roots = build_tree([other, span("B", "A", 0, 1)])
        assert shape(roots) == [("A", False, []), ("B", True, [])]

    def test_deep_trace_does_not_exhaust_the_stack(self) -> None:
        chain = [span("0", None, 0, 10_000)]
        chain += [span(str(i), str(i - 1), i, 10_000 - i) for i in range(1, 5000)]
        roots = build_tree(chain)
        assert len(roots) == 1
        analysis = analyze(chain)
        assert analysis.span_count == 5000
        assert len(analysis.critical_path) == 5000
        assert sum(step.self_time_ns for step in analysis.critical_path) == 10_000 * MS


class TestAnalyze:
    def test_summary_errors_and_self_time(self) -> None:
        analysis = analyze(TRACE_SPANS)
        assert analysis.trace_id == TRACE
        assert (analysis.start_time, analysis.end_time) == (T0, T0 + timedelta(milliseconds=100))
        assert (analysis.duration_ns, analysis.span_count, analysis.orphan_count) == (
            100 * MS,
            4,
            0,
        )
        assert analysis.services == ["api", "cache", "db"]
        assert analysis.errors == [
            SpanError(span_id=sid("D"), service="db", name="D", message="TimeoutError")
        ]
        # api: 100 - 30 - 40; db: 30 + 10; cache: 40 - 10.
        assert analysis.self_time_by_service == {"db": 40 * MS, "api": 30 * MS, "cache": 30 * MS}

    def test_critical_path_walks_back_from_the_end(self) -> None:
        # A waits for C (ends last), C for D; before C started, A waited for B.
        assert analyze(TRACE_SPANS).critical_path == [
            PathStep(span_id=sid("A"), service="api", name="A", self_time_ns=30 * MS),
            PathStep(span_id=sid("B"), service="db", name="B", self_time_ns=30 * MS),
            PathStep(span_id=sid("C"), service="cache", name="C", self_time_ns=30 * MS),
            PathStep(span_id=sid("D"), service="db", name="D", self_time_ns=10 * MS),
        ]

    def test_concurrent_child_that_ends_first_is_off_the_path(self) -> None:
        spans = [span("R", None, 0, 100), span("X", "R", 0, 80), span("Y", "R", 10, 90)]
        path = analyze(spans).critical_path
        assert [(step.name, step.self_time_ns) for step in path] == [("R", 20 * MS), ("Y", 80 * MS)]

    def test_child_sticking_out_of_its_parent_is_clipped(self) -> None:
        spans = [span("R", None, 0, 100), span("late", "R", 50, 150, "db")]
        analysis = analyze(spans)
        assert [(step.name, step.self_time_ns) for step in analysis.critical_path] == [
            ("R", 50 * MS),
            ("late", 50 * MS),
        ]
        assert analysis.self_time_by_service == {"db": 100 * MS, "api": 50 * MS}
        assert analysis.duration_ns == 150 * MS

    def test_overlapping_children_count_once_in_self_time(self) -> None:
        spans = [
            span("R", None, 0, 100),
            span("x", "R", 10, 60, "db"),
            span("y", "R", 40, 70, "db"),
        ]
        assert analyze(spans).self_time_by_service["api"] == 40 * MS

    def test_path_starts_at_the_main_root_not_an_orphan(self) -> None:
        spans = [span("orphan", "gone", 0, 500), span("R", None, 100, 200)]
        analysis = analyze(spans)
        assert [step.name for step in analysis.critical_path] == ["R"]
        assert (analysis.orphan_count, analysis.duration_ns) == (1, 500 * MS)

    def test_error_message_from_status_then_exception(self) -> None:
        failed = span("F", None, 0, 1, status="error", status_message="boom", events=[EXCEPTION])
        silent = span("G", None, 0, 1, status="error")
        message = SpanEvent(time=T0, name="exception", attributes={"exception.message": "m"})
        raised = span("H", None, 0, 1, status="ok", events=[message])
        errors = analyze([failed, silent, raised]).errors
        assert [(error.name, error.message) for error in errors] == [
            ("F", "boom"),
            ("G", None),
            ("H", "m"),
        ]

    def test_no_spans(self) -> None:
        analysis = analyze([])
        assert (analysis.trace_id, analysis.duration_ns, analysis.critical_path) == (None, 0, [])


class TestTopology:
    def test_edges_between_services_with_latency_percentiles(self) -> None:
        spans = [span("root", None, 0, 1000, "web")]
        for index in range(1, 11):
            status: SpanStatus = "error" if index > 8 else "ok"
            spans.append(span(f"c{index}", "root", 0, index, "db", status=status))
        spans.append(span("same", "root", 0, 5, "web"))  # same service: not an edge
        spans.append(span("lost", "gone", 0, 5, "cache"))  # parent unknown: not an edge
        assert topology(spans) == [
            Edge(
                parent="web",
                child="db",
                calls=10,
                errors=2,
                error_rate=0.2,
                p50_ns=5 * MS,
                p95_ns=10 * MS,
                p99_ns=10 * MS,
            )
        ]

    def test_edges_across_traces_add_up(self) -> None:
        spans = [
            span("a", None, 0, 10, "web", trace_id="1" * 32),
            span("b", "a", 0, 4, "db", trace_id="1" * 32),
            span("a", None, 0, 10, "web", trace_id="2" * 32),
            span("b", "a", 0, 6, "db", trace_id="2" * 32),
        ]
        (edge,) = topology(spans)
        assert (edge.calls, edge.p50_ns, edge.p99_ns) == (2, 4 * MS, 6 * MS)

    @pytest.mark.parametrize(
        ("percentile", "expected"), [(1, 1), (50, 50), (95, 95), (99, 99), (100, 100)]
    )
    def test_nearest_rank(self, percentile: int, expected: int) -> None:
        assert nearest_rank(list(range(1, 101)), percentile) == expected

    def test_nearest_rank_of_few_values(self) -> None:
        assert [nearest_rank([7, 9], p) for p in (50, 95)] == [7, 9]
        with pytest.raises(ValueError, match="no values"):
            nearest_rank([], 50)


SERVICES = st.sampled_from(["web", "api", "db", "cache"])


@st.composite
def traces(draw: st.DrawFn) -> list[Span]:
    """A random trace: a tree with children mostly inside their parent, some orphans."""
    count = draw(st.integers(1, 12))
    spans: list[Span] = []
    bounds: list[tuple[int, int]] = []
    for index in range(count):
        parent_index = draw(st.none() | st.integers(0, index - 1)) if index else None
        orphan = index > 0 and draw(st.integers(0, 9)) == 0
        if parent_index is None:
            low, high = 0, 10_000
        else:
            low, high = bounds[parent_index]
            # Clock skew: sometimes a child sticks out of its parent.
            low, high = (
                low - draw(st.sampled_from([0, 0, 0, 50])),
                high + draw(st.sampled_from([0, 0, 0, 50])),
            )
        start = draw(st.integers(max(low, 0), max(high, 0)))
        end = draw(st.integers(start, max(high, start)))
        bounds.append((start, end))
        parent = None if parent_index is None else f"s{parent_index}"
        if orphan:
            parent = "missing"
        status: SpanStatus = draw(st.sampled_from(["unset", "ok", "error"]))
        spans.append(
            span(f"s{index}", parent, start / 1000, end / 1000, draw(SERVICES), status=status)
        )
    return draw(st.permutations(spans))


class TestTraceProperties:
    @settings(max_examples=100, deadline=None)
    @given(spans=traces())
    def test_every_span_is_in_the_tree_once_under_its_parent(self, spans: list[Span]) -> None:
        seen: list[str] = []
        stack: list[tuple[SpanNode, SpanNode | None]] = [(node, None) for node in build_tree(spans)]
        while stack:
            node, parent = stack.pop()
            seen.append(node.span.span_id)
            if parent is None:
                assert node.span.parent_span_id is None or node.orphan
            else:
                assert node.span.parent_span_id == parent.span.span_id
            stack.extend((child, node) for child in node.children)
        assert sorted(seen) == sorted(one.span_id for one in spans)

    @settings(max_examples=100, deadline=None)
    @given(spans=traces())
    def test_critical_path_is_a_chain_inside_the_trace(self, spans: list[Span]) -> None:
        analysis = analyze(spans)
        path = analysis.critical_path
        by_id = {one.span_id: one for one in spans}
        ids = [step.span_id for step in path]
        assert path
        assert len(set(ids)) == len(ids)
        assert set(ids) <= set(by_id)
        # It starts at a root and every later span hangs off an earlier one.
        assert by_id[ids[0]].parent_span_id is None or by_id[ids[0]].parent_span_id not in by_id
        for position, span_id in enumerate(ids[1:], start=1):
            assert by_id[span_id].parent_span_id in ids[:position]
        assert all(step.self_time_ns >= 0 for step in path)
        assert sum(step.self_time_ns for step in path) == by_id[ids[0]].duration_ns
        assert sum(step.self_time_ns for step in path) <= analysis.duration_ns

    @settings(max_examples=100, deadline=None)
    @given(spans=traces())
    def test_self_time_per_service_fits_in_the_span_time(self, spans: list[Span]) -> None:
        self_times = analyze(spans).self_time_by_service
        assert set(self_times) == {one.service for one in spans}
        assert all(value >= 0 for value in self_times.values())
        assert sum(self_times.values()) <= sum(one.duration_ns for one in spans)

    @settings(max_examples=100, deadline=None)
    @given(spans=traces())
    def test_topology_counts_cross_service_calls(self, spans: list[Span]) -> None:
        by_id = {one.span_id: one for one in spans}
        pairs = [
            (by_id[one.parent_span_id].service, one.service)
            for one in spans
            if one.parent_span_id in by_id and by_id[one.parent_span_id].service != one.service
        ]
        edges = topology(spans)
        assert sum(edge.calls for edge in edges) == len(pairs)
        for edge in edges:
            assert edge.calls == pairs.count((edge.parent, edge.child))
            assert 0 <= edge.errors <= edge.calls
            assert edge.error_rate == edge.errors / edge.calls
            assert edge.p50_ns <= edge.p95_ns <= edge.p99_ns

    @settings(max_examples=30, deadline=None)
    @given(spans=traces())
    def test_critical_path_of_the_tree_equals_the_analysis(self, spans: list[Span]) -> None:
        assert critical_path(build_tree(spans)) == analyze(spans).critical_path
