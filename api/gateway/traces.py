"""Trace reads: one trace as a tree, its analysis and logs, trace search, services, topology."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from api.deps import AppResources
from api.gateway.access import read_scope
from api.params import DurationMs
from infra.errors import NotFoundError, ValidationError
from telemetry import queries
from telemetry.documents import Span, SpanStatus
from telemetry.stores import LogSearch, TraceSearch
from telemetry.traces import analyze, build_tree
from tenancy.roles import Scope


def _duration_ns(value: float | None, name: str) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise ValidationError(f"{name} cannot be negative", field=name)
    return int(value * queries.NS_PER_MS)


async def _trace(
    request: Request[Any, Any, Any], resources: AppResources, project_id: str, trace_id: str
) -> list[Span]:
    """Every span of one trace of the project; 404 when there is none."""
    now = datetime.now(UTC)
    scope = await read_scope(request, resources, project_id, Scope.TRACES_READ, now)
    spans = await resources.telemetry.get_trace(scope, queries.trace_id(trace_id))
    if not spans:
        raise NotFoundError("Trace not found")
    return spans


class TracesController(Controller):
    """A project's traces: find them, read one as a span tree, analyze it."""

    path = "/p/{project_id:str}"
    tags = ["data plane"]

    @get("/traces", operation_id="find_traces")
    async def find(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        resources: AppResources,
        service: FromQuery[str | None] = None,
        operation: FromQuery[str | None] = None,
        min_duration_ms: DurationMs = None,
        max_duration_ms: DurationMs = None,
        status: FromQuery[SpanStatus | None] = None,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 20,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Traces with a span matching every filter, newest first (durations in milliseconds)."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.TRACES_READ, now)
        first, last = queries.window(start, end, scope.tier, now)
        search = TraceSearch(
            start=first,
            end=last,
            service=service,
            operation=operation,
            min_duration_ns=_duration_ns(min_duration_ms, "min_duration_ms"),
            max_duration_ns=_duration_ns(max_duration_ms, "max_duration_ms"),
            status=status,
            limit=limit,
            cursor=cursor,
        )
        page = await resources.telemetry.find_traces(scope, search)
        return {
            "items": [queries.summary_json(t) for t in page.items],
            "next_cursor": page.next_cursor,
        }

    @get("/traces/{trace_id:str}", operation_id="get_trace")
    async def get_trace(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        trace_id: FromPath[str],
        resources: AppResources,
    ) -> dict[str, Any]:
        """Every span of the trace: as a tree (roots and children by start time) and as a list."""
        spans = await _trace(request, resources, project_id, trace_id)
        return {
            "trace_id": spans[0].trace_id,
            "span_count": len(spans),
            "roots": [queries.tree_json(root) for root in build_tree(spans)],
            "spans": [queries.span_json(span) for span in spans],
        }

    @get("/traces/{trace_id:str}/analysis", operation_id="analyze_trace")
    async def analysis(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        trace_id: FromPath[str],
        resources: AppResources,
    ) -> dict[str, Any]:
        """Critical path, self time per service and errors of one trace."""
        spans = await _trace(request, resources, project_id, trace_id)
        result: dict[str, Any] = queries.to_builtins(analyze(spans))
        return result

    @get("/traces/{trace_id:str}/logs", operation_id="trace_logs")
    async def logs(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        trace_id: FromPath[str],
        resources: AppResources,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """The log records of one trace, newest first (needs the logs:read scope)."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.LOGS_READ, now)
        first, last = queries.window(None, None, scope.tier, now)
        search = LogSearch(
            start=first,
            end=last,
            trace_id=queries.trace_id(trace_id),
            limit=limit,
            cursor=cursor,
        )
        page = await resources.telemetry.search_logs(scope, search)
        return {"items": [queries.log_json(r) for r in page.items], "next_cursor": page.next_cursor}

    @get("/services", operation_id="list_services")
    async def services(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        resources: AppResources,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
    ) -> dict[str, Any]:
        """Span counts, errors and duration percentiles per service."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.TRACES_READ, now)
        first, last = queries.window(start, end, scope.tier, now)
        found = await resources.telemetry.services(scope, first, last)
        return {"items": [queries.service_json(s) for s in found]}

    @get("/topology", operation_id="service_topology")
    async def topology(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        resources: AppResources,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
    ) -> dict[str, Any]:
        """Calls between services: parent service → child service, with errors and latency."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.TRACES_READ, now)
        first, last = queries.window(start, end, scope.tier, now)
        edges = await resources.telemetry.service_edges(scope, first, last)
        return {"edges": [queries.edge_json(e) for e in edges]}
