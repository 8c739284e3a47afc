"""Retention and tenant purges across every tier: the log/trace store and VictoriaMetrics.

Both operations are idempotent, so a retried job repeats them whole. Each store and tier is
tried even when another fails (an unreachable tier must not hold back the others); the
failures are raised together afterwards, so the job is retried until every one has answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

import httpx

from infra.logging import get_logger
from infra.settings import Settings, Tier
from infra.victoriametrics import delete_series, tenant_matcher
from telemetry.stores import TelemetryStore

log = get_logger(__name__)
Step = tuple[str, Callable[[], Awaitable[object]]]


class PartialFailureError(ExceptionGroup[Exception]):
    """Some stores or tiers failed; the ones that answered are done."""


def metrics_admin_urls(settings: Settings) -> list[str]:
    """Each tier's VictoriaMetrics base URL for `delete_series`, once (tiers may share one).

    Single-node VictoriaMetrics serves it on its one port, read URL and write URL alike. A
    cluster's vmselect serves it under `/delete/<account>/prometheus` instead, which these
    URLs would not reach.
    """
    return list(dict.fromkeys(settings.vm_read_url(tier).rstrip("/") for tier in Tier))


async def _each(steps: Sequence[Step], what: str) -> None:
    failures: list[Exception] = []
    for target, step in steps:
        try:
            await step()
        except Exception as exc:
            log.warning(f"{what}.failed", target=target, error=f"{type(exc).__name__}: {exc}")
            failures.append(exc)
    if failures:
        raise PartialFailureError(f"{what}: {len(failures)} of {len(steps)} failed", failures)


async def purge_tenant(
    store: TelemetryStore,
    http: httpx.AsyncClient,
    settings: Settings,
    org_id: str,
    project_id: str | None = None,
) -> None:
    """Delete an org's (or one project's) logs, spans and metric series in every tier."""
    matcher = tenant_matcher(org_id, project_id)
    steps: list[Step] = [("log_store", partial(store.delete_tenant, org_id, project_id))]
    steps += [
        (url, partial(delete_series, http, url, matcher)) for url in metrics_admin_urls(settings)
    ]
    await _each(steps, "telemetry.purge")
    log.info("telemetry.purged", org_id=org_id, project_id=project_id)


async def drop_expired(store: TelemetryStore, now: datetime) -> dict[Tier, list[str]]:
    """Drop the log/trace store's days past each tier's retention; what went, by tier.

    VictoriaMetrics needs no help: each tier's instance runs with its own `-retentionPeriod`.
    """
    dropped: dict[Tier, list[str]] = {}

    def tier_step(tier: Tier) -> Callable[[], Awaitable[None]]:
        async def drop() -> None:
            dropped[tier] = await store.drop_expired(tier, now)
            log.info("telemetry.expired_dropped", tier=tier.value, dropped=dropped[tier])

        return drop

    await _each([(tier.value, tier_step(tier)) for tier in Tier], "telemetry.drop_expired")
    return dropped
