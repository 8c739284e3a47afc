"""The OpenSearch log/trace store: documents ⇄ daily indices of `infra.opensearch`.

Document ids are namespaced by tenant and project (`org:project:id`) and written with `create`,
so a retried bulk conflicts on its own documents (reported as not new, never billed twice) and
can never touch another tenant's. Shared query helpers live in `opensearch_base`, trace reads in
`opensearch_traces`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from infra.opensearch import Kind
from infra.settings import Tier
from telemetry.documents import LogRecord, Span
from telemetry.search.ast import Node
from telemetry.search.dsl import Clause, to_opensearch
from telemetry.search.opensearch_base import EPOCH, iso, micros
from telemetry.search.opensearch_traces import OpenSearchTraceQueries
from telemetry.stores import (
    LogPage,
    LogSearch,
    LogStatsBucket,
    Scope,
    check_stats_window,
    decode_position,
    encode_cursor,
    expired_before,
)

MOVE_PAGE: Final = 1000  # documents per page of a tier move
# The sort of a tier move: time first, then what makes a document unique within the tenant.
_MOVE_SORT: Final[dict[Kind, tuple[str, ...]]] = {
    "logs": ("time", "project", "id"),
    "spans": ("start_time", "project", "trace_id", "span_id"),
}


class OpenSearchTelemetryStore(OpenSearchTraceQueries):
    """Logs and spans in daily OpenSearch indices per tier."""

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
            start_us = micros(span.start_time)
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
            query = {"bool": {"filter": [tenant, {"range": {field: {"gte": iso(since)}}}]}}
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
            older = {"bool": {"filter": [tenant, {"range": {field: {"lt": iso(since)}}}]}}
            await self._indices.delete_by_query(old, older)
        return moved

    async def ping(self) -> None:
        """Raise unless the cluster answers."""
        await self._indices.ping()
