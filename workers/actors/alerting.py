"""Alerting actors: vmalert file rendering and batched reloads, rule state, log rules, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.errors import NotFoundError
from infra.local import vmalert
from infra.logging import get_logger
from infra.settings import Tier, get_settings
from telemetry.alerting import incidents, log_rules, rules, sync, vmalert_files
from telemetry.alerting.repository import GlobalAlertingRepository
from tenancy.authz import system_context
from tenancy.context import Actor
from workers import runtime
from workers.actor import actor

log = get_logger(__name__)
ALERTING_ACTOR = Actor("system", "alerting")
RELOAD_ACTOR = "alerting.reload_shard"
LOG_RULE_ACTOR = "alerting.evaluate_log_rule"
MAX_DUE = 500
STALE_PENDING = timedelta(minutes=1)


def _queue_reloads(session: AsyncSession, shards: list[tuple[Tier, int]]) -> None:
    settings = get_settings()
    for tier, shard in sorted(set(shards)):
        delay = vmalert_files.reload_delay(settings, tier, shard)
        if delay is not None:
            jobs.enqueue_later(session, timedelta(seconds=delay), RELOAD_ACTOR, tier.value, shard)


@actor("alerting.render_project", max_retries=10)
async def render_project(session: AsyncSession, org_id: str, project_id: str) -> None:
    """Re-render one project's vmalert file from PostgreSQL and queue its shard's reload."""
    try:
        context = await system_context(session, org_id, ALERTING_ACTOR)
        settings = get_settings()
        changed = await sync.render_project(
            session, context, settings, vmalert.find_binary(settings), project_id
        )
    except NotFoundError:
        return  # the org is gone; the full sync removes its files
    _queue_reloads(session, changed)


@actor(RELOAD_ACTOR, max_retries=5)
async def reload_shard(session: AsyncSession, tier: str, shard: int) -> None:
    """Ask one vmalert to re-read its files (at most about every 5 s, see vmalert_files)."""
    settings = get_settings()
    vmalert_files.mark_reloading(settings, Tier(tier), shard)
    url = vmalert.VmalertInstance.url_of(settings, Tier(tier), shard)
    try:
        await runtime.http_client().get(f"{url}/-/reload", timeout=5.0)
    except httpx.HTTPError as exc:
        # vmalert reads its files when it starts, so a down shard loses nothing
        log.warning("vmalert reload failed", extra={"url": url, "error": type(exc).__name__})


@actor("alerting.sync_all", max_retries=0, time_limit=600_000)
async def sync_all(session: AsyncSession, enqueued_at: float) -> None:
    """Re-render every project with metric rules, remove files of others, reload what changed."""
    settings = get_settings()
    binary = vmalert.find_binary(settings)
    projects = await GlobalAlertingRepository(session).metric_projects()
    changed: list[tuple[Tier, int]] = []
    for org_id, project_id in projects:
        context = await system_context(session, org_id, ALERTING_ACTOR)
        changed += await sync.render_project(session, context, settings, binary, project_id)
    for path in vmalert_files.stale_files(settings, {p for _, p in projects}):
        path.unlink(missing_ok=True)
        tier = Tier(path.parent.parent.name)
        changed.append((tier, int(path.parent.name.removeprefix("shard-"))))
    now = datetime.now(UTC).timestamp()
    for instance in vmalert.instances_from_settings(settings):
        marker = instance.rules_dir / vmalert_files.PENDING_MARKER
        if marker.exists() and now - marker.stat().st_mtime > STALE_PENDING.total_seconds():
            marker.unlink(missing_ok=True)  # its reload job was lost
            changed.append((instance.tier, instance.shard))
    _queue_reloads(session, changed)


@actor("alerting.poll_vmalert", max_retries=0)
async def poll_vmalert(session: AsyncSession, enqueued_at: float) -> None:
    """Copy every vmalert's rule state, last evaluation and last error onto the rules."""
    for instance in vmalert.instances_from_settings(get_settings()):
        try:
            found = await sync.fetch_states(runtime.http_client(), instance.url)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("vmalert state read failed", extra={"url": instance.url, "error": str(exc)})
            continue
        for org_id, states in sorted(found.items()):
            context = await system_context(session, org_id, ALERTING_ACTOR)
            await sync.store_states(session, context, states)


@actor("alerting.evaluate_log_rules", max_retries=0)
async def evaluate_log_rules(session: AsyncSession, enqueued_at: float) -> None:
    """Queue one evaluation per log rule whose interval has passed."""
    now = datetime.fromtimestamp(enqueued_at, UTC)
    for org_id, rule_id in await GlobalAlertingRepository(session).due_log_rules(now, MAX_DUE):
        jobs.enqueue(session, LOG_RULE_ACTOR, org_id, rule_id)


@actor(LOG_RULE_ACTOR, max_retries=3)
async def evaluate_log_rule(session: AsyncSession, org_id: str, rule_id: str) -> None:
    """Evaluate one log rule now (a no-op if it is not due)."""
    try:
        context = await system_context(session, org_id, ALERTING_ACTOR)
    except NotFoundError:
        return
    await log_rules.evaluate(
        session, context, runtime.telemetry_store(), rule_id, datetime.now(UTC)
    )


@actor("alerting.expire_incidents", max_retries=0)
async def expire_incidents(session: AsyncSession, enqueued_at: float) -> None:
    """Resolve incidents whose vmalert `endsAt` passed without a renewal (vmalert went away)."""
    now = datetime.now(UTC)
    for org_id, incident_id in await GlobalAlertingRepository(session).expired_incidents(
        now, MAX_DUE
    ):
        context = await system_context(session, org_id, ALERTING_ACTOR)
        await incidents.resolve_expired(session, context, incident_id, now)


@actor("alerting.enforce_rule_limit", max_retries=10)
async def enforce_rule_limit(session: AsyncSession, org_id: str) -> None:
    """After a plan or override change: disable rules beyond the limit (or re-enable them)."""
    try:
        context = await system_context(session, org_id, ALERTING_ACTOR)
        await rules.enforce_limit(session, context)
    except NotFoundError:
        return  # the org was deleted after the change queued this job: nothing to enforce
