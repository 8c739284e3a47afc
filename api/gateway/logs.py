"""Log reads: search, stats over time, the errors view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.deps import AppResources
from api.gateway.access import read_scope
from api.params import BucketSeconds
from telemetry import queries
from telemetry.search import parse
from telemetry.stores import LogSearch
from tenancy.roles import Scope

ERRORS_QUERY = parse(" OR ".join(f"level:{level}" for level in queries.ERROR_LEVELS))


class LogsController(Controller):
    """Search a project's logs with the query language; counts by level and service."""

    path = "/p/{project_id:str}/logs"
    tags = ["data plane"]

    @post("/search", operation_id="search_logs", status_code=200)
    async def search(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        data: JSONBody[queries.LogSearchBody],
        resources: AppResources,
    ) -> dict[str, Any]:
        """Records matching the query and filters, newest first, cursor-paginated."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.LOGS_READ, now)
        page = await resources.telemetry.search_logs(
            scope, queries.log_search(data, scope.tier, now)
        )
        return {"items": [queries.log_json(r) for r in page.items], "next_cursor": page.next_cursor}

    @get("/stats", operation_id="log_stats")
    async def stats(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        resources: AppResources,
        query_string: Annotated[str, QueryParameter(name="query", max_length=4096)] = "",
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        bucket: BucketSeconds = None,
    ) -> dict[str, Any]:
        """Record counts per time bucket, level and service (buckets in seconds, oldest first)."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.LOGS_READ, now)
        first, last = queries.window(start, end, scope.tier, now)
        width = queries.stats_bucket(first, last, bucket)
        query = parse(query_string)
        buckets = await resources.telemetry.log_stats(scope, first, last, width, query)
        return {"bucket_seconds": width, "items": queries.stats_json(buckets)}

    @get("/errors", operation_id="log_errors")
    async def errors(
        self,
        request: Request[Any, Any, Any],
        project_id: FromPath[str],
        resources: AppResources,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        service: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """ERROR and FATAL records, newest first, with their count per service in the window."""
        now = datetime.now(UTC)
        scope = await read_scope(request, resources, project_id, Scope.LOGS_READ, now)
        first, last = queries.window(start, end, scope.tier, now)
        search = LogSearch(
            start=first,
            end=last,
            levels=queries.ERROR_LEVELS,
            services=queries.services(service),
            limit=limit,
            cursor=cursor,
        )
        page = await resources.telemetry.search_logs(scope, search)
        width = int((last - first).total_seconds()) + 1  # one bucket: totals for the window
        counts: dict[str, int] = {}
        rows = await resources.telemetry.log_stats(scope, first, last, width, ERRORS_QUERY)
        for row in rows:
            if service is None or row.service == service:
                counts[row.service] = counts.get(row.service, 0) + row.count
        return {
            "items": [queries.log_json(r) for r in page.items],
            "next_cursor": page.next_cursor,
            "by_service": counts,
        }
