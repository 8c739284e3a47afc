"""Moving an org's telemetry into the storage tier of its new plan (§6).

Metrics: VictoriaMetrics native export from the old tier (series of `{tenant="<org>"}`, samples
inside the new tier's retention) streamed into the new tier's import, then `delete_series` of the
org on the old tier. Log records and spans: the store's `move_tenant`, batch by batch. Whatever
is older than the new tier's retention is not copied and is deleted: a shorter tier keeps less.

Every step is idempotent (a sample or document copied twice is stored once; what was moved is
gone from the old tier), so the job is retried whole until every store has answered. The move
converges on the tier the org is on when the job runs, taking data from every other tier: two
plan changes in quick succession, or their jobs running out of order, still end with all of the
org's data in one tier.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import httpx

from infra.logging import get_logger
from infra.settings import Settings, Tier
from infra.victoriametrics import copy_native, delete_series, tenant_matcher
from telemetry.retention import PartialFailureError
from telemetry.stores import TelemetryStore, retention_floor

log = get_logger(__name__)


@dataclass
class MoveReport:
    """What one run moved, per source tier."""

    target: Tier
    since: datetime
    documents: dict[Tier, int] = field(default_factory=dict)
    metric_bytes: dict[Tier, int] = field(default_factory=dict)


def source_tiers(first: Tier, target: Tier) -> list[Tier]:
    """The tiers to empty into `target`: the one the change left first, then every other."""
    return [tier for tier in dict.fromkeys([first, *Tier]) if tier is not target]


def shares_metrics_store(settings: Settings, one: Tier, other: Tier) -> bool:
    """Whether two tiers are one VictoriaMetrics (then there is nothing to move, and deleting
    the "old" tier's series would delete the new one's)."""
    return any(
        url(one).rstrip("/") == url(other).rstrip("/")
        for url in (settings.vm_read_url, settings.vm_write_url)
    )


async def move_metrics(
    http: httpx.AsyncClient,
    settings: Settings,
    org_id: str,
    from_tier: Tier,
    to_tier: Tier,
    since: datetime,
) -> int:
    """Copy the org's series from `since` on into the new tier, then delete them from the old."""
    if shares_metrics_store(settings, from_tier, to_tier):
        return 0
    matcher = tenant_matcher(org_id)
    moved = await copy_native(
        http,
        settings.vm_read_url(from_tier),
        settings.vm_write_url(to_tier),
        matcher,
        start=int(since.timestamp()),
    )
    # Only once the import has acknowledged everything: a failed copy leaves the old tier whole.
    await delete_series(http, settings.vm_read_url(from_tier), matcher)
    return moved


async def move_tenant(
    store: TelemetryStore,
    http: httpx.AsyncClient,
    settings: Settings,
    org_id: str,
    from_tier: Tier,
    to_tier: Tier,
    now: datetime,
) -> MoveReport:
    """Move the org's metrics, log records and spans from every other tier into `to_tier`.

    Each store and source tier is tried even when another fails; the failures are raised
    together afterwards (`PartialFailureError`), so the job is retried until all are done.
    """
    report = MoveReport(to_tier, retention_floor(to_tier, now))
    failures: list[Exception] = []

    async def attempt(what: str, source: Tier, step: Callable[[], Awaitable[int]]) -> int:
        try:
            return await step()
        except Exception as exc:
            log.warning(
                "telemetry.tier_move.failed",
                org_id=org_id,
                step=what,
                from_tier=source.value,
                to_tier=to_tier.value,
                error=f"{type(exc).__name__}: {exc}",
            )
            failures.append(exc)
            return 0

    for source in source_tiers(from_tier, to_tier):
        report.metric_bytes[source] = await attempt(
            "metrics",
            source,
            partial(move_metrics, http, settings, org_id, source, to_tier, report.since),
        )
        report.documents[source] = await attempt(
            "documents", source, partial(store.move_tenant, org_id, source, to_tier, report.since)
        )
    if failures:
        raise PartialFailureError(f"tier move: {len(failures)} step(s) failed", failures)
    log.info(
        "telemetry.tier_moved",
        org_id=org_id,
        to_tier=to_tier.value,
        since=report.since.isoformat(),
        documents={tier.value: n for tier, n in report.documents.items()},
        metric_bytes={tier.value: n for tier, n in report.metric_bytes.items()},
    )
    return report
