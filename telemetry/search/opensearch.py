"""The OpenSearch log/trace store: documents ⇄ daily indices of `infra.opensearch`.

Every search is `bool.filter: [tenant, project, time range ≥ retention floor, …, user clause]`
over the explicit daily indices of the window, so the user's compiled clause only ever narrows.
Document ids are namespaced by tenant and project (`org:project:id`) and written with `create`,
so a retried bulk conflicts on its own documents (reported as not new, never billed twice) and
can never touch another tenant's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from infra.opensearch import Kind, OpenSearchIndices
from infra.settings import Tier
from telemetry.documents import LogRecord, Span
from telemetry.search.ast import Node
from telemetry.search.dsl import Clause, to_opensearch
from telemetry.stores import (
    LogPage,
    LogSearch,
    LogStatsBucket,
    Scope,
    ServiceEdge,
    ServiceSummary,
    TracePage,
    TraceSearch,
    TraceSummary,
    check_stats_window,
    decode_position,
    encode_cursor,
    expired_before,
    retention_floor,
)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
PAGE: Final = 5000
MOVE_PAGE: Final = 1000  # documents per page of a tier move
# The sort of a tier move: time first, then what makes a document unique within the tenant.
_MOVE_SORT: Final[dict[Kind, tuple[str, ...]]] = {
    "logs": ("time", "project", "id"),
    "spans": ("start_time", "project", "trace_id", "span_id"),
}
_EDGE_SOURCE: Final = ["trace_id", "span_id", "parent_span_id", "service", "status", "duration_ns"]


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def nearest_rank(values: Sequence[int], percent: int) -> int:
    """The ceil(p/100 * n)-th smallest value, as PostgreSQL's percentile_disc."""
    ordered = sorted(values)
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


class OpenSearchTelemetryStore:
    """Logs and spans in daily OpenSearch indices per tier."""

    def __init__(
        self,
        indices: OpenSearchIndices,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._indices = indices
        self._clock = clock

    async def close(self) -> None:
        """Close the client."""
        await self._indices.close()

    # -- writes -------------------------------------------------------------------------------

    async def write_logs(self, scope: Scope, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Index records under the scope; the ones stored now (ids are deterministic, so a
        retried record conflicts and is left out)."""
        documents = []
        for record in records:
            # Every field, defaults included: `level: INFO` must be indexed to be found.
            document = msgspec.structs.asdict(record)
            document["tenant"], document["project"] = scope.org_id, scope.project_id
            index = self._indices.index(
                "logs", scope.tier.value, record.time.astimezone(UTC).date()
            )
            documents.append((index, f"{scope.org_id}:{scope.project_id}:{record.id}", document))
        created = await self._indices.bulk_create(documents)
        return [record for record, new in zip(records, created, strict=True) if new]

    async def write_spans(self, scope: Scope, spans: Sequence[Span]) -> list[Span]:
        """Index spans under the scope; the ones stored now (as `write_logs`)."""
        documents = []
        for span in spans:
            document = msgspec.structs.asdict(span)
            start_us = _micros(span.start_time)
            document.update(
                tenant=scope.org_id,
                project=scope.project_id,
                root=int(span.parent_span_id is None),
                start_us=start_us,
                end_us=start_us + span.duration_ns // 1000,
            )
            index = self._indices.index(
                "spans", scope.tier.value, span.start_time.astimezone(UTC).date()
            )
            doc_id = f"{scope.org_id}:{scope.project_id}:{span.trace_id}:{span.span_id}"
            documents.append((index, doc_id, document))
        created = await self._indices.bulk_create(documents)
        return [span for span, new in zip(spans, created, strict=True) if new]

    # -- shared -------------------------------------------------------------------------------

    def _window(
        self, scope: Scope, start: datetime | None, end: datetime
    ) -> tuple[datetime, datetime]:
        floor = retention_floor(scope.tier, self._clock())
        return (floor if start is None else max(start, floor)), end

    def _filters(self, scope: Scope, field: str, start: datetime, end: datetime) -> list[Clause]:
        return [
            {"term": {"tenant": scope.org_id}},
            {"term": {"project": scope.project_id}},
            {"range": {field: {"gte": _iso(start), "lt": _iso(end)}}},
        ]

    async def _scan(
        self,
        indices: list[str],
        query: Clause,
        sort: list[Clause],
        limit: int,
        source: list[str] | bool = True,
    ) -> list[dict[str, Any]]:
        """Up to `limit` hits in sort order, paged with search_after."""
        hits: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while len(hits) < limit:
            body: dict[str, Any] = {
                "query": query,
                "sort": sort,
                "size": min(PAGE, limit - len(hits)),
                "_source": source,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            page = (await self._indices.search(indices, body))["hits"]["hits"]
            hits.extend(page)
            if len(page) < body["size"]:
                break
            after = page[-1]["sort"]
        return hits

    async def _pages(
        self, indices: list[str], filters: list[Clause], sort: list[Clause], size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every hit in sort order, `size` at a time, paged with search_after."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"bool": {"filter": filters}},
                "sort": sort,
                "size": size,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            page = (await self._indices.search(indices, body))["hits"]["hits"]
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1]["sort"]

    def _tenant_since(self, scope: Scope, field: str) -> list[Clause]:
        floor = retention_floor(scope.tier, self._clock())
        return [
            {"term": {"tenant": scope.org_id}},
            {"term": {"project": scope.project_id}},
            {"range": {field: {"gte": _iso(floor)}}},
        ]

    # -- logs ---------------------------------------------------------------------------------

    async def search_logs(self, scope: Scope, search: LogSearch) -> LogPage:
        """One page of matching records, newest first (time, then id), via search_after."""
        start, end = self._window(scope, search.start, search.end)
        if start >= end:
            return LogPage([], None)
        filters = self._filters(scope, "time", start, end)
        if search.levels:
            filters.append({"terms": {"level": list(search.levels)}})
        if search.services:
            filters.append({"terms": {"service": list(search.services)}})
        if search.trace_id:
            filters.append({"term": {"trace_id": search.trace_id.lower()}})
        if search.query is not None:
            filters.append(to_opensearch(search.query))
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"time": "desc"}, {"id": "desc"}],
            "size": search.limit + 1,
            "track_total_hits": False,
        }
        if search.cursor:
            body["search_after"] = list(decode_position(search.cursor))
        indices = self._indices.indices_between("logs", scope.tier.value, start, end)
        hits = (await self._indices.search(indices, body))["hits"]["hits"]
        items = [self._log_record(scope, hit["_source"]) for hit in hits[: search.limit]]
        cursor = None
        if len(hits) > search.limit:
            cursor = encode_cursor(hits[search.limit - 1]["sort"])
        return LogPage(items, cursor)

    @staticmethod
    def _log_record(scope: Scope, source: dict[str, Any]) -> LogRecord:
        source.update(tenant=scope.org_id, project=scope.project_id)
        return msgspec.convert(source, LogRecord)

    async def log_stats(
        self,
        scope: Scope,
        start: datetime,
        end: datetime,
        bucket_seconds: int,
        query: Node | None = None,
    ) -> list[LogStatsBucket]:
        """Counts per (bucket, level, service) from a paged composite aggregation."""
        check_stats_window(start, end, bucket_seconds)
        start, end = self._window(scope, start, end)
        if start >= end:
            return []
        filters = self._filters(scope, "time", start, end)
        if query is not None:
            filters.append(to_opensearch(query))
        sources = [
            {
                "bucket": {
                    "date_histogram": {"field": "time", "fixed_interval": f"{bucket_seconds}s"}
                }
            },
            {"level": {"terms": {"field": "level"}}},
            {"service": {"terms": {"field": "service"}}},
        ]
        indices = self._indices.indices_between("logs", scope.tier.value, start, end)
        out: list[LogStatsBucket] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": 1000, "sources": sources}
            if after is not None:
                composite["after"] = after
            body = {
                "query": {"bool": {"filter": filters}},
                "size": 0,
                "aggs": {"stats": {"composite": composite}},
            }
            answer = await self._indices.search(indices, body)
            aggregation = answer.get("aggregations", {}).get("stats", {})
            buckets = aggregation.get("buckets", [])
            for bucket in buckets:
                key = bucket["key"]
                moment = EPOCH + timedelta(milliseconds=int(key["bucket"]))
                out.append(
                    LogStatsBucket(moment, key["level"], key["service"], bucket["doc_count"])
                )
            after = aggregation.get("after_key")
            if len(buckets) < 1000 or after is None:
                return out

    async def iter_logs(
        self, scope: Scope, batch_size: int = 1000
    ) -> AsyncIterator[list[LogRecord]]:
        """Every record within retention, oldest first (time, then id), via search_after."""
        async for hits in self._pages(
            [self._indices.pattern("logs", scope.tier.value)],
            self._tenant_since(scope, "time"),
            [{"time": "asc"}, {"id": "asc"}],
            batch_size,
        ):
            yield [self._log_record(scope, hit["_source"]) for hit in hits]

    # -- traces -------------------------------------------------------------------------------

    def _span_indices(self, scope: Scope, start: datetime, end: datetime) -> list[str]:
        return self._indices.indices_between("spans", scope.tier.value, start, end)

    def _retention_window(self, scope: Scope) -> tuple[datetime, datetime]:
        now = self._clock()
        # Spans may start a little in the future of this clock (client clock skew).
        return retention_floor(scope.tier, now), now + timedelta(days=2)

    @staticmethod
    def _span(scope: Scope, source: dict[str, Any]) -> Span:
        source.update(tenant=scope.org_id, project=scope.project_id)
        return msgspec.convert(source, Span)

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
            _EDGE_SOURCE,
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

    # -- lifecycle ----------------------------------------------------------------------------

    async def delete_tenant(self, org_id: str, project_id: str | None = None) -> None:
        """Delete an org's (or a project's) documents from every tier's indices."""
        filters: list[Clause] = [{"term": {"tenant": org_id}}]
        if project_id is not None:
            filters.append({"term": {"project": project_id}})
        kinds: tuple[Kind, ...] = ("logs", "spans")
        await self._indices.delete_by_query(
            [self._indices.pattern(kind) for kind in kinds], {"bool": {"filter": filters}}
        )

    async def drop_expired(self, tier: Tier, now: datetime) -> list[str]:
        """Delete the daily indices wholly past the tier's retention."""
        before = expired_before(tier, now)
        expired: list[str] = []
        kinds: tuple[Kind, ...] = ("logs", "spans")
        for kind in kinds:
            days = await self._indices.daily_indices(kind, tier.value)
            expired.extend(sorted(name for name, day in days.items() if day < before))
        await self._indices.delete_indices(expired)
        return expired

    async def move_tenant(
        self, org_id: str, from_tier: Tier, to_tier: Tier, since: datetime
    ) -> int:
        """Copy the org's documents page by page into the new tier's daily indices (same ids,
        so a copy repeated after a crash overwrites itself), deleting each page from the old
        tier once copied; then delete the org's older documents there."""
        if from_tier is to_tier:
            return 0
        moved = 0
        tenant: Clause = {"term": {"tenant": org_id}}
        kinds: tuple[Kind, ...] = ("logs", "spans")
        for kind in kinds:
            field = _MOVE_SORT[kind][0]
            old = [self._indices.pattern(kind, from_tier.value)]
            query = {"bool": {"filter": [tenant, {"range": {field: {"gte": _iso(since)}}}]}}
            after: list[Any] | None = None
            while True:
                body: dict[str, Any] = {
                    "query": query,
                    "sort": [{name: "asc"} for name in _MOVE_SORT[kind]],
                    "size": MOVE_PAGE,
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                hits = (await self._indices.search(old, body))["hits"]["hits"]
                if not hits:
                    break
                await self._indices.bulk_index(
                    [
                        (
                            self._indices.in_tier(hit["_index"], to_tier.value),
                            hit["_id"],
                            hit["_source"],
                        )
                        for hit in hits
                    ]
                )
                await self._indices.bulk_delete([(hit["_index"], hit["_id"]) for hit in hits])
                moved += len(hits)
                if len(hits) < MOVE_PAGE:
                    break
                after = hits[-1]["sort"]
            older = {"bool": {"filter": [tenant, {"range": {field: {"lt": _iso(since)}}}]}}
            await self._indices.delete_by_query(old, older)
        return moved

    async def ping(self) -> None:
        """Raise unless the cluster answers."""
        await self._indices.ping()
