"""Trace reads of the OpenSearch store: one trace, trace search, services and their edges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Final

from telemetry.documents import Span
from telemetry.search.opensearch_base import EPOCH, OpenSearchBase, nearest_rank
from telemetry.stores import (
    Scope,
    ServiceEdge,
    ServiceSummary,
    TracePage,
    TraceSearch,
    TraceSummary,
    decode_position,
    encode_cursor,
)

EDGE_SOURCE: Final = ["trace_id", "span_id", "parent_span_id", "service", "status", "duration_ns"]


class OpenSearchTraceQueries(OpenSearchBase):
    """Trace, service and topology reads over the daily span indices."""

    async def get_trace(self, scope: Scope, trace_id: str) -> list[Span]:
        """Every span of the trace within retention, by start time."""
        start, end = self._retention_window(scope)
        filters = self._filters(scope, "start_time", start, end)
        filters.append({"term": {"trace_id": trace_id.lower()}})
        hits = await self._scan(
            [self._indices.pattern("spans", scope.tier.value)],
            {"bool": {"filter": filters}},
            [{"start_time": "asc"}, {"span_id": "asc"}],
            limit=100_000,
        )
        return [self._span(scope, hit["_source"]) for hit in hits]

    async def find_traces(self, scope: Scope, search: TraceSearch) -> TracePage:
        """Traces with a matching span, ordered by their earliest matching span, newest first."""
        start, end = self._window(scope, search.start, search.end)
        if start >= end:
            return TracePage([], None)
        filters = self._filters(scope, "start_time", start, end)
        if search.service is not None:
            filters.append({"term": {"service": search.service}})
        if search.operation is not None:
            filters.append({"term": {"name": search.operation}})
        duration: dict[str, int] = {}
        if search.min_duration_ns is not None:
            duration["gte"] = search.min_duration_ns
        if search.max_duration_ns is not None:
            duration["lte"] = search.max_duration_ns
        if duration:
            filters.append({"range": {"duration_ns": duration}})
        if search.status is not None:
            filters.append({"term": {"status": search.status}})
        position: tuple[int, str] | None = None
        if search.cursor:
            position = decode_position(search.cursor)
            # A trace's earliest matching span is unchanged by dropping later spans.
            filters.append({"range": {"start_us": {"lte": position[0]}}})
        body = {
            "query": {"bool": {"filter": filters}},
            "size": 0,
            "aggs": {
                "traces": {
                    "terms": {
                        "field": "trace_id",
                        # Room for the ties at the cursor's instant that were already served.
                        "size": 2 * search.limit + 1,
                        "order": [{"first": "desc"}, {"_key": "desc"}],
                    },
                    "aggs": {"first": {"min": {"field": "start_us"}}},
                }
            },
        }
        answer = await self._indices.search(self._span_indices(scope, start, end), body)
        ranked = [
            (int(bucket["first"]["value"]), bucket["key"])
            for bucket in answer.get("aggregations", {}).get("traces", {}).get("buckets", [])
        ]
        if position is not None:
            ranked = [entry for entry in ranked if entry < position]
        page = ranked[: search.limit]
        if not page:
            return TracePage([], None)
        summaries = await self._summaries(scope, [trace_id for _, trace_id in page])
        items = [summaries[trace_id] for _, trace_id in page if trace_id in summaries]
        cursor = encode_cursor(list(page[-1])) if len(ranked) > search.limit else None
        return TracePage(items, cursor)

    async def _summaries(self, scope: Scope, trace_ids: list[str]) -> dict[str, TraceSummary]:
        start, end = self._retention_window(scope)
        filters = self._filters(scope, "start_time", start, end)
        filters.append({"terms": {"trace_id": trace_ids}})
        body = {
            "query": {"bool": {"filter": filters}},
            "size": 0,
            "aggs": {
                "traces": {
                    "terms": {"field": "trace_id", "size": len(trace_ids)},
                    "aggs": {
                        "first": {"min": {"field": "start_us"}},
                        "last": {"max": {"field": "end_us"}},
                        "longest": {"max": {"field": "duration_ns"}},
                        "errors": {"filter": {"term": {"status": "error"}}},
                        "root": {
                            "top_hits": {
                                "size": 1,
                                "sort": [{"root": "desc"}, {"start_us": "asc"}],
                                "_source": ["service", "name"],
                            }
                        },
                    },
                }
            },
        }
        indices = [self._indices.pattern("spans", scope.tier.value)]
        answer = await self._indices.search(indices, body)
        out: dict[str, TraceSummary] = {}
        for bucket in answer.get("aggregations", {}).get("traces", {}).get("buckets", []):
            first, last = int(bucket["first"]["value"]), int(bucket["last"]["value"])
            root = bucket["root"]["hits"]["hits"][0]["_source"]
            out[bucket["key"]] = TraceSummary(
                bucket["key"],
                root["service"],
                root["name"],
                EPOCH + timedelta(microseconds=first),
                # Exact when the longest span covers the trace, else to the microsecond.
                max((last - first) * 1000, int(bucket["longest"]["value"])),
                bucket["doc_count"],
                bucket["errors"]["doc_count"],
            )
        return out

    async def services(self, scope: Scope, start: datetime, end: datetime) -> list[ServiceSummary]:
        """Per service: spans, errors and duration percentiles (OpenSearch's estimates)."""
        start, end = self._window(scope, start, end)
        if start >= end:
            return []
        body = {
            "query": {"bool": {"filter": self._filters(scope, "start_time", start, end)}},
            "size": 0,
            "aggs": {
                "services": {
                    "terms": {"field": "service", "size": 10_000},
                    "aggs": {
                        "errors": {"filter": {"term": {"status": "error"}}},
                        "durations": {
                            "percentiles": {"field": "duration_ns", "percents": [50, 95]}
                        },
                    },
                }
            },
        }
        answer = await self._indices.search(self._span_indices(scope, start, end), body)
        out = []
        for bucket in answer.get("aggregations", {}).get("services", {}).get("buckets", []):
            values = {float(k): v for k, v in bucket["durations"]["values"].items()}
            out.append(
                ServiceSummary(
                    bucket["key"],
                    bucket["doc_count"],
                    bucket["errors"]["doc_count"],
                    float(values[50.0]),
                    float(values[95.0]),
                )
            )
        return sorted(out)

    async def service_edges(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 50_000
    ) -> list[ServiceEdge]:
        """Edges folded from the newest `limit` child spans and their parents (no joins here)."""
        start, end = self._window(scope, start, end)
        if start >= end:
            return []
        filters = self._filters(scope, "start_time", start, end)
        filters.append({"exists": {"field": "parent_span_id"}})
        children = await self._scan(
            self._span_indices(scope, start, end),
            {"bool": {"filter": filters}},
            [{"start_us": "desc"}, {"trace_id": "asc"}, {"span_id": "asc"}],
            limit,
            EDGE_SOURCE,
        )
        services = await self._parent_services(scope, children)
        calls: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for hit in children:
            child = hit["_source"]
            parent = services.get((child["trace_id"], child["parent_span_id"]))
            if parent is not None and parent != child["service"]:
                calls.setdefault((parent, child["service"]), []).append(child)
        edges = []
        for (parent, child_service), spans in sorted(calls.items()):
            durations = [int(span["duration_ns"]) for span in spans]
            errors = sum(1 for span in spans if span.get("status") == "error")
            edges.append(
                ServiceEdge(
                    parent,
                    child_service,
                    len(spans),
                    errors,
                    nearest_rank(durations, 50),
                    nearest_rank(durations, 95),
                )
            )
        return edges

    async def spans_for_topology(
        self, scope: Scope, start: datetime, end: datetime, limit: int = 10_000
    ) -> list[Span]:
        """The newest `limit` spans starting in the window."""
        start, end = self._window(scope, start, end)
        if start >= end:
            return []
        hits = await self._scan(
            self._span_indices(scope, start, end),
            {"bool": {"filter": self._filters(scope, "start_time", start, end)}},
            [{"start_us": "desc"}, {"trace_id": "asc"}, {"span_id": "asc"}],
            limit,
        )
        return [self._span(scope, hit["_source"]) for hit in hits]

    async def iter_spans(self, scope: Scope, batch_size: int = 1000) -> AsyncIterator[list[Span]]:
        """Every span within retention, oldest first (start, trace id, span id), via
        search_after."""
        async for hits in self._pages(
            [self._indices.pattern("spans", scope.tier.value)],
            self._tenant_since(scope, "start_time"),
            [{"start_us": "asc"}, {"trace_id": "asc"}, {"span_id": "asc"}],
            batch_size,
        ):
            yield [self._span(scope, hit["_source"]) for hit in hits]

    async def _parent_services(
        self, scope: Scope, children: list[dict[str, Any]]
    ) -> dict[tuple[str, str], str]:
        """The service of each (trace_id, span_id) that is a parent of one of the children."""
        wanted = {(h["_source"]["trace_id"], h["_source"]["parent_span_id"]) for h in children}
        known = {
            (h["_source"]["trace_id"], h["_source"]["span_id"]): h["_source"]["service"]
            for h in children
        }
        found = {key: known[key] for key in wanted if key in known}
        missing = sorted(wanted - found.keys())
        start, end = self._retention_window(scope)
        for offset in range(0, len(missing), 1000):
            chunk = missing[offset : offset + 1000]
            filters = self._filters(scope, "start_time", start, end)
            filters.append({"terms": {"span_id": sorted({span_id for _, span_id in chunk})}})
            filters.append({"terms": {"trace_id": sorted({trace_id for trace_id, _ in chunk})}})
            hits = await self._scan(
                [self._indices.pattern("spans", scope.tier.value)],
                {"bool": {"filter": filters}},
                [{"trace_id": "asc"}, {"span_id": "asc"}],
                10 * len(chunk),
                ["trace_id", "span_id", "service"],
            )
            for hit in hits:
                key = (hit["_source"]["trace_id"], hit["_source"]["span_id"])
                if key in wanted:
                    found[key] = hit["_source"]["service"]
        return found
