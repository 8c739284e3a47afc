"""Metering: the hourly ledger in PostgreSQL, fed from the Redis outcome counters.

Redis holds the cumulative count of every (project, key, category, outcome) of each hour; the
flush upserts those totals into `usage_hourly` with SET semantics, and only after that commit
deletes closed hours from Redis. Re-running a flush, or running it after a crash half-way,
writes the same table. Reads merge both: an hour still in Redis is taken from Redis.
Each Redis hour has a generation (when its hash was created): if Redis loses the counters
mid-hour, the re-created hash has a new generation and is persisted in rows of its own, beside
the totals already flushed, never over them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.entitlements import Entitlements
from billing.plans import Period
from billing.quotas.base import Category, Outcome, QuotaBackend
from billing.repository import UsageRepository
from infra import jobs
from infra.logging import get_logger
from tenancy.authz import system_context
from tenancy.context import Actor, TenantContext
from tenancy.repository import OrgRepository

log = get_logger(__name__)

FLUSH_ACTOR = Actor("system", "metering.flush")


async def flush(
    session: AsyncSession,
    backend: QuotaBackend,
    now: datetime,
    after_org: Callable[[AsyncSession, TenantContext], Awaitable[None]] | None = None,
) -> int:
    """Persist every pending outcome hour of every org; delete closed hours after commit.

    Each org is written in a savepoint of its own, so one org's failure (a row the ledger
    refuses, counters that cannot be read) is logged, leaves that org's hours in Redis for the
    next run, and never blocks another org. An org that no longer exists is not billed: its
    Redis state is discarded (its ledger went with it). `after_org` runs for each org flushed,
    in a savepoint of its own after the org's rows (threshold webhooks); its failure is logged
    and does not undo the rows. Returns the number of ledger rows written."""
    written = 0
    for org_id in await backend.pending_orgs():
        try:
            written += await _flush_org(session, backend, org_id, now, after_org)
        except Exception:
            # one org's failure must not stop the others; its hours stay for the next run
            log.exception("metering.flush_org_failed", org_id=org_id)
    return written


async def _flush_org(
    session: AsyncSession,
    backend: QuotaBackend,
    org_id: str,
    now: datetime,
    after_org: Callable[[AsyncSession, TenantContext], Awaitable[None]] | None,
) -> int:
    hours = await backend.pending_outcomes(org_id, now=now)
    if not hours:
        return 0
    # Bound outside the savepoint: rolling the savepoint back must not revert the tenant binding
    # (the existence check below would then run under the previous org's RLS scope).
    context = await system_context(session, org_id, FLUSH_ACTOR)
    rows: list[dict[str, object]] = [
        {
            "hour": hour.hour,
            "project_id": key.project_id,
            "key_id": key.key_id,
            "category": key.category.value,
            "outcome": key.outcome.value,
            "generation": hour.generation,
            "quantity": count,
        }
        for hour in hours
        for key, count in hour.counts.items()
    ]
    try:
        async with session.begin_nested():
            await UsageRepository(session, context).set_hours(rows)
    except SQLAlchemyError:
        if await OrgRepository(session, context).get() is not None:
            raise
        await discard_org(backend, org_id)
        return 0
    if after_org is not None:
        try:
            async with session.begin_nested():
                await after_org(session, context)
        except Exception:
            log.exception("metering.after_org_failed", org_id=org_id)
    closed = [hour.hour for hour in hours if hour.closed]
    if closed:
        jobs.after_commit(session, _deleter(backend, org_id, closed, now))
    return len(rows)


async def discard_org(backend: QuotaBackend, org_id: str) -> int:
    """Drop a deleted org's pending usage and quota state from Redis; returns the keys removed.

    Deliberate: deleting an org deletes its ledger and invoices with it, so its unflushed hours
    have nothing to be billed against. Idempotent (the purge job runs it on each pass)."""
    discarded = await backend.discard_org(org_id)
    log.info("metering.org_state_discarded", org_id=org_id, keys=discarded)
    return discarded


def _deleter(
    backend: QuotaBackend, org_id: str, hours: list[datetime], now: datetime
) -> jobs.AfterCommit:
    async def delete() -> None:
        await backend.delete_hours(org_id, hours, now=now)

    return delete


@dataclass(frozen=True)
class UsageRow:
    """One ledger cell: units of a category and outcome in one hour of one project and key."""

    hour: datetime
    project_id: str
    key_id: str
    category: str
    outcome: str
    quantity: int


async def merged_rows(
    session: AsyncSession,
    context: TenantContext,
    backend: QuotaBackend,
    start: datetime,
    end: datetime,
) -> list[UsageRow]:
    """Ledger rows in [start, end), with hours still held in Redis taken from Redis (exact)."""
    pending = [h for h in await backend.pending_outcomes(context.org_id) if start <= h.hour < end]
    # Redis is fresher than the ledger for the same counters; earlier generations add up.
    in_redis = {(h.hour, h.generation) for h in pending}
    rows = [
        UsageRow(r.hour, r.project_id, r.key_id, r.category, r.outcome, r.quantity)
        for r in await UsageRepository(session, context).rows(start, end)
        if (r.hour, r.generation) not in in_redis
    ]
    rows += [
        UsageRow(h.hour, k.project_id, k.key_id, k.category.value, k.outcome.value, n)
        for h in pending
        for k, n in h.counts.items()
    ]
    return rows


def aggregate(
    rows: Iterable[UsageRow], granularity: str, group_by: Iterable[str]
) -> list[dict[str, object]]:
    """Sum rows into buckets of an hour or a day, grouped by the chosen dimensions."""
    dims = tuple(group_by)
    totals: dict[tuple[object, ...], int] = defaultdict(int)
    for row in rows:
        if not row.quantity:
            continue  # a refunded hour keeps a zero counter; it says nothing
        start = row.hour if granularity == "hour" else row.hour.replace(hour=0)
        key = (start, *(getattr(row, d) for d in dims))
        totals[key] += row.quantity
    items = []
    for key, quantity in sorted(totals.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        item: dict[str, object] = {"start": key[0]}
        item.update(zip(dims, key[1:], strict=True))
        item["quantity"] = quantity
        items.append(item)
    return items


async def period_used(
    session: AsyncSession, context: TenantContext, backend: QuotaBackend, period: Period
) -> dict[Category, int]:
    """Accepted units per category in a period, exact (ledger merged with Redis)."""
    used: dict[Category, int] = dict.fromkeys(Category, 0)
    for row in await merged_rows(session, context, backend, period.start, period.end):
        if row.outcome == Outcome.ACCEPTED:
            used[Category(row.category)] += row.quantity
    return used


@dataclass(frozen=True)
class CategoryQuota:
    """Included, used and remaining units of one category in the current period."""

    included: int
    used: int
    remaining: int
    overage: int
    hard_cap: bool


async def quotas(
    session: AsyncSession,
    context: TenantContext,
    backend: QuotaBackend,
    ent: Entitlements,
    now: datetime | None = None,
) -> tuple[Period, Mapping[Category, CategoryQuota]]:
    """The current period's quota of every category."""
    period = ent.period(now or datetime.now(UTC))
    used = await backend.period_usage(context.org_id, period.id)
    if used is None:
        used = await period_used(session, context, backend, period)
        await backend.seed_period(context.org_id, period.id, used, period_end=period.end)
    result = {}
    for category in Category:
        included, n = ent.included(category), used.get(category, 0)
        result[category] = CategoryQuota(
            included=included,
            used=n,
            remaining=max(included - n, 0),
            overage=max(n - included, 0),
            hard_cap=ent.hard_capped(category),
        )
    return period, result


def hour_floor(at: datetime) -> datetime:
    """The start of the UTC hour containing `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
