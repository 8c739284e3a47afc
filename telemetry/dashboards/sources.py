"""Where a dashboard's data comes from: one project's stores, every read pinned to it.

PromQL goes to the tier's VictoriaMetrics with the project's two `extra_label`s (the same pinning
as the Prometheus proxy; never unpinned), logs and traces to the store with the project's scope,
usage to Tollgate's ledger through a reader the caller supplies (None: not allowed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from infra import victoriametrics as vm
from infra.errors import AppError
from telemetry import queries
from telemetry.dashboards.model import TracesQuery
from telemetry.search import parse
from telemetry.stores import LogSearch, TelemetryStore, TraceSearch
from telemetry.stores import Scope as StoreScope

UsageReader = Callable[[datetime, datetime, Sequence[str]], Awaitable[list[dict[str, object]]]]
PINNED_LABELS = frozenset({"tenant", "project"})


class QueryFailedError(Exception):
    """One query of a panel failed; the rest of the dashboard still answers."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range query, labels without our pinning labels."""

    labels: dict[str, str]
    points: list[tuple[float, float | None]]


def _value(raw: Any) -> float | None:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class ProjectSources:
    """The stores of one project in its plan's tier."""

    http: httpx.AsyncClient
    read_url: str
    scope: StoreScope
    telemetry: TelemetryStore
    usage_reader: UsageReader | None

    def _pinned(self, args: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # Whatever the query says, the store ANDs these into every selector.
        return [*args, *vm.tenant_labels(self.scope.org_id, self.scope.project_id)]

    async def _vm(self, path: str, args: list[tuple[str, str]]) -> Any:
        try:
            answer = await vm.query(self.http, self.read_url, path, self._pinned(args))
        except vm.StoreUnavailableError as exc:
            raise QueryFailedError(f"the metrics store is unavailable ({exc})") from None
        try:
            body = answer.json()
        except json.JSONDecodeError:
            body = {}
        if answer.status_code >= 400 or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else None
            raise QueryFailedError(
                str(detail or f"the metrics store answered {answer.status_code}")[:500]
            )
        return body.get("data")

    async def label_values(
        self, label: str, match: str | None, start: datetime, end: datetime
    ) -> list[str]:
        """Values of a label in the project's series (matching `match`) within the window."""
        args = [("start", str(int(start.timestamp()))), ("end", str(int(end.timestamp())))]
        if match:
            args.append(("match[]", match))
        data = await self._vm(f"label/{label}/values", args)
        return [str(v) for v in data] if isinstance(data, list) else []

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step: int, max_series: int
    ) -> tuple[list[Series], bool]:
        """A PromQL range query: at most `max_series` series, and whether some were cut."""
        args = [
            ("query", expr),
            ("start", str(int(start.timestamp()))),
            ("end", str(int(end.timestamp()))),
            ("step", f"{step}s"),
        ]
        data = await self._vm("query_range", args)
        result = data.get("result", []) if isinstance(data, dict) else []
        if isinstance(data, dict) and data.get("resultType") == "scalar":
            result = [{"metric": {}, "values": [data.get("result")]}]
        series = []
        for item in result[:max_series]:
            labels = {
                k: str(v) for k, v in (item.get("metric") or {}).items() if k not in PINNED_LABELS
            }
            values = item.get("values") or ([item["value"]] if item.get("value") else [])
            points = [(float(t), _value(v)) for t, v in values]
            series.append(Series(labels, points))
        return series, len(result) > max_series

    async def logs(
        self, query: str, start: datetime, end: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The newest matching log records (our query language, parsed by our parser)."""
        try:
            node = parse(query) if query.strip() else None
        except AppError as exc:  # the parser's errors carry the position: show them on the panel
            raise QueryFailedError(str(exc)[:500]) from None
        page = await self.telemetry.search_logs(
            self.scope, LogSearch(start=start, end=end, query=node, limit=limit)
        )
        return [queries.log_json(r) for r in page.items]

    async def traces(
        self, search: TracesQuery, start: datetime, end: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The newest traces with a span matching the filters."""
        minimum = search.min_duration_ms
        page = await self.telemetry.find_traces(
            self.scope,
            TraceSearch(
                start=start,
                end=end,
                service=search.service,
                operation=search.operation,
                status=search.status,
                min_duration_ns=int(minimum * queries.NS_PER_MS) if minimum is not None else None,
                limit=limit,
            ),
        )
        return [queries.summary_json(t) for t in page.items]

    async def usage(
        self, start: datetime, end: datetime, group_by: Sequence[str]
    ) -> list[dict[str, object]]:
        """Hourly usage of the org from the ledger; fails when the reader may not see it."""
        if self.usage_reader is None:
            raise QueryFailedError("reading the org's usage needs the usage.read permission")
        return await self.usage_reader(start, end, group_by)
