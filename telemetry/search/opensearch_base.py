"""What every OpenSearch store query shares: the indices, the clock, tenant filters, paging.

Every search is `bool.filter: [tenant, project, time range ≥ retention floor, …, user clause]`
over the explicit daily indices of the window, so the user's compiled clause only ever narrows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from infra.opensearch import OpenSearchIndices
from telemetry.documents import Span
from telemetry.search.dsl import Clause
from telemetry.stores import (
    Scope,
    retention_floor,
)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
PAGE: Final = 5000


def micros(moment: datetime) -> int:
    """Microseconds since the epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


def nearest_rank(values: Sequence[int], percent: int) -> int:
    """The ceil(p/100 * n)-th smallest value, as PostgreSQL's percentile_disc."""
    ordered = sorted(values)
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


class OpenSearchBase:
    """The indices and clock of an OpenSearch store, and the query helpers it shares."""

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
            {"range": {field: {"gte": iso(start), "lt": iso(end)}}},
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
            {"range": {field: {"gte": iso(floor)}}},
        ]

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
