"""Trace analysis on stored spans: the span tree, self time, errors, the critical path, topology.

Pure functions; times are computed in nanoseconds, each span's interval being
[start, start + duration_ns). Clocks of different hosts disagree, so a child may stick out of its
parent: self time and the critical path clip children to their parent. Everything is iterative,
so a trace as deep as it is long can't exhaust the stack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from telemetry.decode.normalize import ns_from_datetime
from telemetry.documents import Span

_EXCEPTION_EVENT = "exception"
_PERCENTILES = (50, 95, 99)


class SpanNode(msgspec.Struct, kw_only=True):
    """A span and its children, ordered by start time.

    `orphan` marks a span whose parent is not among the spans (not yet arrived, or dropped); it
    is then a root of its own. A parent cycle is broken at its earliest span, marked orphan too.
    """

    span: Span
    children: list[SpanNode] = []
    orphan: bool = False


class SpanError(msgspec.Struct, kw_only=True, frozen=True):
    """A span that failed: status error, or an `exception` event."""

    span_id: str
    service: str
    name: str
    message: str | None = None


class PathStep(msgspec.Struct, kw_only=True, frozen=True):
    """A span on the critical path and how much of the path's time it spends itself."""

    span_id: str
    service: str
    name: str
    self_time_ns: int


class TraceAnalysis(msgspec.Struct, kw_only=True, frozen=True):
    """What a trace's spans say about where its time went and what failed."""

    trace_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_ns: int
    span_count: int
    orphan_count: int
    services: list[str]
    errors: list[SpanError]
    self_time_by_service: dict[str, int]
    critical_path: list[PathStep]


class Edge(msgspec.Struct, kw_only=True, frozen=True):
    """Calls from one service to another: the child spans whose parent is in `parent`.

    Percentiles are of the child spans' durations, by nearest rank (an actual duration).
    """

    parent: str
    child: str
    calls: int
    errors: int
    error_rate: float
    p50_ns: int
    p95_ns: int
    p99_ns: int


# --- the tree -------------------------------------------------------------------------------


def build_tree(spans: Iterable[Span]) -> list[SpanNode]:
    """The roots of the span trees, children and roots ordered by start time.

    Spans are matched by (trace_id, span_id); a duplicated span id keeps its first span as the
    parent of the children that name it.
    """
    nodes = [SpanNode(span=span) for span in spans]
    by_id: dict[tuple[str, str], SpanNode] = {}
    for node in nodes:
        by_id.setdefault((node.span.trace_id, node.span.span_id), node)
    roots: list[SpanNode] = []
    parents: dict[int, SpanNode] = {}
    for node in nodes:
        parent_id = node.span.parent_span_id
        if parent_id is None:
            roots.append(node)
            continue
        parent = by_id.get((node.span.trace_id, parent_id))
        if parent is None or parent is node:
            node.orphan = True
            roots.append(node)
        else:
            parent.children.append(node)
            parents[id(node)] = parent
    reached = _reach(roots, set())
    if len(reached) < len(nodes):
        # Only cycles are left: cut each at its earliest span.
        for node in sorted(nodes, key=_start_key):
            if id(node) not in reached:
                siblings = parents[id(node)].children
                siblings[:] = [sibling for sibling in siblings if sibling is not node]
                node.orphan = True
                roots.append(node)
                _reach([node], reached)
    for node in _walk(roots):
        node.children.sort(key=_start_key)
    roots.sort(key=_start_key)
    return roots


def _start_key(node: SpanNode) -> tuple[datetime, str]:
    return node.span.start_time, node.span.span_id


def _reach(roots: Iterable[SpanNode], reached: set[int]) -> set[int]:
    """Add the ids of every node under `roots` to `reached`."""
    for node in _walk(roots):
        reached.add(id(node))
    return reached


def _walk(roots: Iterable[SpanNode]) -> Iterable[SpanNode]:
    """Every node under `roots`, depth first."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


# --- analysis -------------------------------------------------------------------------------


def analyze(spans: Sequence[Span]) -> TraceAnalysis:
    """Duration, services, errors, self time per service and the critical path of one trace."""
    if not spans:
        return TraceAnalysis(
            trace_id=None,
            start_time=None,
            end_time=None,
            duration_ns=0,
            span_count=0,
            orphan_count=0,
            services=[],
            errors=[],
            self_time_by_service={},
            critical_path=[],
        )
    roots = build_tree(spans)
    intervals = {id(node): _interval(node.span) for node in _walk(roots)}
    start_ns = min(start for start, _ in intervals.values())
    end_ns = max(end for _, end in intervals.values())
    first = min(spans, key=lambda span: span.start_time)
    last = max(spans, key=lambda span: _interval(span)[1])
    return TraceAnalysis(
        trace_id=first.trace_id,
        start_time=first.start_time,
        end_time=last.end_time,
        duration_ns=end_ns - start_ns,
        span_count=len(spans),
        orphan_count=sum(root.orphan for root in roots),
        services=sorted({span.service for span in spans}),
        errors=[error for span in sorted(spans, key=_span_start) if (error := span_error(span))],
        self_time_by_service=_self_time_by_service(roots, intervals),
        critical_path=critical_path(roots, intervals),
    )


def _span_start(span: Span) -> datetime:
    return span.start_time


def _interval(span: Span) -> tuple[int, int]:
    """[start, end) in nanoseconds, the end exact from the duration."""
    start = ns_from_datetime(span.start_time)
    return start, start + max(span.duration_ns, 0)


def span_error(span: Span) -> SpanError | None:
    """The error a span reports, if any; the message from its status or exception event."""
    exception = next((event for event in span.events if event.name == _EXCEPTION_EVENT), None)
    if span.status != "error" and exception is None:
        return None
    message = span.status_message
    if not message and exception is not None:
        for key in ("exception.message", "exception.type"):
            value = exception.attributes.get(key)
            if value is not None and value != "":
                message = str(value)
                break
    return SpanError(span_id=span.span_id, service=span.service, name=span.name, message=message)


def _self_time_by_service(
    roots: list[SpanNode], intervals: dict[int, tuple[int, int]]
) -> dict[str, int]:
    """Per service, the time its spans spent with none of their children running."""
    totals: dict[str, int] = defaultdict(int)
    for node in _walk(roots):
        start, end = intervals[id(node)]
        busy = _union_length(
            (max(child_start, start), min(child_end, end))
            for child_start, child_end in (intervals[id(child)] for child in node.children)
        )
        totals[node.span.service] += end - start - busy
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def _union_length(intervals: Iterable[tuple[int, int]]) -> int:
    """The length covered by the union of intervals (empty ones ignored)."""
    total = 0
    current_start = current_end = None
    for start, end in sorted(interval for interval in intervals if interval[0] < interval[1]):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


def critical_path(
    roots: list[SpanNode], intervals: dict[int, tuple[int, int]] | None = None
) -> list[PathStep]:
    """The critical path from the main root, each span once, in the order it joins the path.

    The classic backward walk: from the end of a span, the child that finished last is what it
    waited for; the path descends into it, then continues, from that child's start, with the
    child that finished last before it, and so on; what no child covers is the span's own time.
    Children are clipped to their parent (dropped if outside it). The steps' self times add up to
    the main root's duration. The main root is the longest non-orphan root (else any root).
    """
    if not roots:
        return []
    if intervals is None:
        intervals = {id(node): _interval(node.span) for node in _walk(roots)}
    root = max(roots, key=lambda node: (not node.orphan, _length(intervals[id(node)])))
    # Each frame: node, its clipped interval, its clipped children by end (latest first),
    # the index of the next candidate child, the cursor (the path is known from it on).
    sections: list[tuple[SpanNode, int]] = []
    root_start, root_end = intervals[id(root)]
    stack = [_Frame(root, root_start, root_end, intervals)]
    while stack:
        frame = stack[-1]
        child = frame.next_child()
        if child is None:
            sections.append((frame.node, frame.cursor - frame.start))
            stack.pop()
            continue
        child_node, child_start, child_end = child
        sections.append((frame.node, frame.cursor - child_end))
        frame.cursor = child_start
        stack.append(_Frame(child_node, child_start, child_end, intervals))
    order: dict[int, SpanNode] = {}
    self_times: dict[int, int] = defaultdict(int)
    for node, length in reversed(sections):  # chronological
        order.setdefault(id(node), node)
        self_times[id(node)] += length
    return [
        PathStep(
            span_id=node.span.span_id,
            service=node.span.service,
            name=node.span.name,
            self_time_ns=self_times[key],
        )
        for key, node in order.items()
    ]


def _length(interval: tuple[int, int]) -> int:
    return interval[1] - interval[0]


class _Frame:
    """A span being walked backward by the critical path."""

    __slots__ = ("children", "cursor", "first", "index", "node", "start")

    def __init__(
        self, node: SpanNode, start: int, end: int, intervals: dict[int, tuple[int, int]]
    ) -> None:
        self.node = node
        self.start = start
        self.cursor = end
        self.first = True
        self.index = 0
        clipped = []
        for child in node.children:
            child_start, child_end = intervals[id(child)]
            child_start, child_end = max(child_start, start), min(child_end, end)
            if child_start <= child_end:
                clipped.append((child, child_start, child_end))
        clipped.sort(key=lambda item: item[2], reverse=True)
        self.children = clipped

    def next_child(self) -> tuple[SpanNode, int, int] | None:
        """The child that ends last before the cursor (at it, for the first), if any."""
        children, cursor = self.children, self.cursor
        while self.index < len(children):
            child = children[self.index]
            self.index += 1
            if child[2] < cursor or (self.first and child[2] == cursor):
                self.first = False
                return child
        return None


# --- topology -------------------------------------------------------------------------------


def topology(spans: Iterable[Span]) -> list[Edge]:
    """Service-to-service edges: calls, errors and latency of the child spans, by service pair."""
    spans = list(spans)
    service_of: dict[tuple[str, str], str] = {}
    for span in spans:
        service_of.setdefault((span.trace_id, span.span_id), span.service)
    calls: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for span in spans:
        if span.parent_span_id is None:
            continue
        parent_service = service_of.get((span.trace_id, span.parent_span_id))
        if parent_service is not None and parent_service != span.service:
            calls[parent_service, span.service].append(span)
    edges = []
    for (parent, child), children in sorted(calls.items()):
        durations = sorted(span.duration_ns for span in children)
        errors = sum(span.status == "error" for span in children)
        p50, p95, p99 = (nearest_rank(durations, p) for p in _PERCENTILES)
        edges.append(
            Edge(
                parent=parent,
                child=child,
                calls=len(children),
                errors=errors,
                error_rate=errors / len(children),
                p50_ns=p50,
                p95_ns=p95,
                p99_ns=p99,
            )
        )
    return edges


def nearest_rank(sorted_values: Sequence[int], percentile: int) -> int:
    """The nearest-rank percentile (1-100) of sorted values: the ceil(p/100 * n)-th smallest."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-percentile * len(sorted_values) // 100))
    return sorted_values[rank - 1]
