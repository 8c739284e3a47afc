"""The telemetry part of an org's export: log records, spans and metric series, streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

import httpx

from infra.settings import Tier
from infra.victoriametrics import export_lines, tenant_matcher
from telemetry.stores import LogStore, Scope, TraceStore


async def log_records(
    store: LogStore, org_id: str, project_ids: Sequence[str], tier: Tier
) -> AsyncGenerator[object, None]:
    """Every log record of the org's projects within its tier's retention, project by project."""
    for project_id in project_ids:
        # Each page is a request of its own: nothing is held open between batches.
        async for batch in store.iter_logs(Scope(org_id, project_id, tier)):
            for record in batch:
                yield record


async def spans(
    store: TraceStore, org_id: str, project_ids: Sequence[str], tier: Tier
) -> AsyncGenerator[object, None]:
    """Every span of the org's projects within its tier's retention, project by project."""
    for project_id in project_ids:
        async for batch in store.iter_spans(Scope(org_id, project_id, tier)):
            for span in batch:
                yield span


async def metric_series(
    http: httpx.AsyncClient, read_url: str, org_id: str
) -> AsyncGenerator[object, None]:
    """Every series of the org in its tier's VictoriaMetrics, as its JSON lines export writes
    them (`{"metric": {labels}, "values": […], "timestamps": [ms…]}`), already encoded.

    The HTTP response stays open while the lines are read: closing this generator closes it."""
    async with aclosing(export_lines(http, read_url, tenant_matcher(org_id))) as lines:
        async for series in lines:
            yield series
