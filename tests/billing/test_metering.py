"""Metering: exact usage from Redis and the ledger, an idempotent flush, rebuilds after Redis loss.

Usage goes through the real Redis quota kernel with the org's real policies; the flush runs in
its own unit of work, as the `metering.flush` actor does, so after-commit deletions really run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from api.resources import Resources
from billing import metering
from billing.quotas.base import Category, Outcome, Reason, Refusal, Scope, hour_start
from billing.quotas.redis import PENDING_ORGS_KEY, RedisQuotaBackend
from infra.db import unit_of_work
from tests.billing.support import KEY, admit, flush, ledger, new_tenant
from tests.support.tenants import Tenant

M, L, T = Category.METRICS, Category.LOGS, Category.TRACES
OTHER_KEY = "key_b"


def refusals(found: Iterable[Refusal]) -> list[tuple[Category, Scope, Reason]]:
    return [(r.category, r.scope, r.reason) for r in found]


def iso(at: datetime) -> str:
    return at.isoformat()


def items(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    return [item | {"start": datetime.fromisoformat(item["start"])} for item in body["items"]]


async def usage(
    client: httpx.AsyncClient, tenant: Tenant, start: datetime, end: datetime, **params: str
) -> httpx.Response:
    return await client.get(
        f"/v1/orgs/{tenant.org_id}/usage",
        params={"from": iso(start), "to": iso(end), **params},
        headers=tenant.auth,
    )


@dataclass(frozen=True)
class Usage:
    """One org's traffic in one hour: two keys, three categories, an invalid batch, a refusal."""

    tenant: Tenant
    at: datetime

    @property
    def hour(self) -> datetime:
        return hour_start(self.at)

    def rows(self) -> set[tuple[datetime, str, str, str, str, int]]:
        """What usage_hourly must hold for this traffic."""
        project, hour = self.tenant.project_id, self.hour
        return {
            (hour, project, KEY, "metrics", "accepted", 100),
            (hour, project, KEY, "logs", "accepted", 2_000),
            (hour, project, OTHER_KEY, "metrics", "accepted", 50),
            (hour, project, KEY, "metrics", "invalid", 7),
            (hour, project, KEY, "traces", "accepted", 9_000),
            (hour, project, KEY, "traces", "rate_limited", 1_001),
        }


async def drive(resources: Resources, tenant: Tenant, at: datetime) -> Usage:
    assert (await admit(resources, tenant, {M: 100, L: 2_000}, at=at)).accepted
    assert (await admit(resources, tenant, {M: 50}, at=at, key_id=OTHER_KEY)).accepted
    # free: 1,000 root spans/s with a 10 s burst; 9,000 leave 1,000, so 1,001 is refused whole
    assert (await admit(resources, tenant, {T: 9_000}, at=at)).accepted
    refused = await admit(resources, tenant, {T: 1_001}, at=at)
    assert refusals(refused.refusals) == [(T, Scope.PROJECT, Reason.RATE_LIMITED)]
    await resources.quotas.record_outcome(
        tenant.org_id, tenant.project_id, KEY, M, Outcome.INVALID, 7, at
    )
    return Usage(tenant, at)


@pytest.fixture
async def traffic(resources: Resources) -> Usage:
    tenant = await new_tenant(resources)
    return await drive(resources, tenant, datetime.now(UTC))


async def pending(resources: Resources, org_id: str) -> dict[datetime, dict[Any, int]]:
    return {h.hour: dict(h.counts) for h in await resources.quotas.pending_outcomes(org_id)}


class TestUsageIsExactBeforeAnyFlush:
    async def test_every_outcome_is_reported_before_a_flush(
        self, client: httpx.AsyncClient, traffic: Usage
    ) -> None:
        hour, project = traffic.hour, traffic.tenant.project_id
        response = await usage(client, traffic.tenant, hour, hour + timedelta(hours=1))
        assert response.json()["granularity"] == "hour"
        row = {"start": hour, "project_id": project}
        assert items(response) == [
            row | {"category": "logs", "outcome": "accepted", "quantity": 2_000},
            row | {"category": "metrics", "outcome": "accepted", "quantity": 150},
            row | {"category": "metrics", "outcome": "invalid", "quantity": 7},
            row | {"category": "traces", "outcome": "accepted", "quantity": 9_000},
            row | {"category": "traces", "outcome": "rate_limited", "quantity": 1_001},
        ]

    @pytest.mark.parametrize(
        ("group_by", "expected"),
        [
            (
                "category",
                [
                    ({"category": "logs"}, 2_000),
                    ({"category": "metrics"}, 157),
                    ({"category": "traces"}, 10_001),
                ],
            ),
            (
                "outcome",
                [
                    ({"outcome": "accepted"}, 11_150),
                    ({"outcome": "invalid"}, 7),
                    ({"outcome": "rate_limited"}, 1_001),
                ],
            ),
            (
                "key,category",
                [
                    ({"key_id": KEY, "category": "logs"}, 2_000),
                    ({"key_id": KEY, "category": "metrics"}, 107),
                    ({"key_id": KEY, "category": "traces"}, 10_001),
                    ({"key_id": OTHER_KEY, "category": "metrics"}, 50),
                ],
            ),
            ("", [({}, 12_158)]),
        ],
        ids=["category", "outcome", "key-category", "nothing"],
    )
    async def test_usage_is_grouped_as_asked(
        self,
        client: httpx.AsyncClient,
        traffic: Usage,
        group_by: str,
        expected: list[tuple[dict[str, str], int]],
    ) -> None:
        hour = traffic.hour
        response = await usage(
            client, traffic.tenant, hour, hour + timedelta(hours=1), group_by=group_by
        )
        assert items(response) == [
            {"start": hour, **dims, "quantity": quantity} for dims, quantity in expected
        ]

    async def test_hours_and_days(self, client: httpx.AsyncClient, resources: Resources) -> None:
        tenant = await new_tenant(resources)
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=3
        )
        for at, n in [
            (day + timedelta(hours=10, minutes=5), 10),
            (day + timedelta(hours=10, minutes=55), 20),
            (day + timedelta(hours=11, minutes=30), 300),
            (day + timedelta(days=1, hours=3), 4_000),
        ]:
            assert (await admit(resources, tenant, {M: n}, at=at)).accepted
        start, end = day, day + timedelta(days=2)
        hourly = await usage(client, tenant, start, end, group_by="category")
        assert [(i["start"], i["quantity"]) for i in items(hourly)] == [
            (day + timedelta(hours=10), 30),
            (day + timedelta(hours=11), 300),
            (day + timedelta(days=1, hours=3), 4_000),
        ]
        daily = await usage(client, tenant, start, end, group_by="category", granularity="day")
        assert daily.json()["granularity"] == "day"
        assert items(daily) == [
            {"start": day, "category": "metrics", "quantity": 330},
            {"start": day + timedelta(days=1), "category": "metrics", "quantity": 4_000},
        ]

    async def test_the_range_is_half_open(self, client: httpx.AsyncClient, traffic: Usage) -> None:
        hour = traffic.hour
        before = await usage(client, traffic.tenant, hour - timedelta(hours=1), hour)
        assert items(before) == []
        after = await usage(
            client, traffic.tenant, hour + timedelta(hours=1), hour + timedelta(hours=2)
        )
        assert items(after) == []

    async def test_another_org_s_usage_is_not_counted(
        self, client: httpx.AsyncClient, resources: Resources, traffic: Usage
    ) -> None:
        other = await new_tenant(resources, "other")
        hour = traffic.hour
        response = await usage(client, other, hour, hour + timedelta(hours=1))
        assert items(response) == []


class TestUsageParameters:
    @pytest.fixture
    async def tenant(self, resources: Resources) -> Tenant:
        return await new_tenant(resources)

    async def problem(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        params: dict[str, str],
        status: int = 400,
    ) -> dict[str, Any]:
        response = await client.get(
            f"/v1/orgs/{tenant.org_id}/usage", params=params, headers=tenant.auth
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        return body

    @pytest.mark.parametrize("group_by", ["project,region", "category,,quantity"])
    async def test_an_unknown_dimension_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant, group_by: str
    ) -> None:
        body = await self.problem(client, tenant, {"group_by": group_by})
        assert "group_by" in body["detail"]

    @pytest.mark.parametrize("name", ["from", "to"])
    async def test_a_time_without_a_timezone_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant, name: str
    ) -> None:
        now = datetime.now(UTC)
        params = {"from": iso(now - timedelta(days=1)), "to": iso(now)}
        params[name] = "2026-11-01T00:00:00"
        # Well-formed but breaking a rule (a time must carry its zone): 422 naming the field.
        body = await self.problem(client, tenant, params, status=422)
        assert name in body["detail"]

    async def test_granularity_is_hour_or_day(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await self.problem(client, tenant, {"granularity": "week"})

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"),
        ],
        ids=["reversed", "too-long"],
    )
    async def test_a_bad_range_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant, start: str, end: str
    ) -> None:
        await self.problem(client, tenant, {"from": start, "to": end})


class TestFlushWritesTheLedger:
    async def test_every_counter_becomes_a_row(self, resources: Resources, traffic: Usage) -> None:
        assert await flush(resources) == 6
        assert await ledger(resources, traffic.tenant.org_id) == traffic.rows()

    async def test_an_open_hour_stays_in_redis(self, resources: Resources, traffic: Usage) -> None:
        before = await pending(resources, traffic.tenant.org_id)
        await flush(resources)
        assert await pending(resources, traffic.tenant.org_id) == before != {}

    async def test_flushing_twice_gives_the_same_table(
        self, resources: Resources, traffic: Usage
    ) -> None:
        await flush(resources)
        await flush(resources)
        assert await ledger(resources, traffic.tenant.org_id) == traffic.rows()

    async def test_a_later_flush_sets_the_hour_total_instead_of_adding(
        self, resources: Resources, traffic: Usage
    ) -> None:
        await flush(resources)
        assert (await admit(resources, traffic.tenant, {M: 25}, at=traffic.at)).accepted
        await flush(resources)
        rows = await ledger(resources, traffic.tenant.org_id)
        hour, project = traffic.hour, traffic.tenant.project_id
        assert (hour, project, KEY, "metrics", "accepted", 125) in rows
        assert rows - {(hour, project, KEY, "metrics", "accepted", 125)} == traffic.rows() - {
            (hour, project, KEY, "metrics", "accepted", 100)
        }

    async def test_a_crash_before_commit_then_a_rerun_gives_the_same_table(
        self, resources: Resources, traffic: Usage
    ) -> None:
        org = traffic.tenant.org_id
        later = traffic.at + timedelta(hours=2)  # the hour is closed: it would be deleted
        held = await pending(resources, org)
        with pytest.raises(RuntimeError, match="worker died"):
            async with unit_of_work(resources.session_factory) as session:
                assert await metering.flush(session, resources.quotas, later) == 6
                raise RuntimeError("worker died")
        assert await ledger(resources, org) == set()
        assert await pending(resources, org) == held  # nothing left Redis for a rolled-back write
        await flush(resources, later)
        assert await ledger(resources, org) == traffic.rows()
        assert await pending(resources, org) == {}

    async def test_a_crash_after_commit_before_deletion_then_a_rerun_gives_the_same_table(
        self, resources: Resources, traffic: Usage
    ) -> None:
        org = traffic.tenant.org_id
        later = traffic.at + timedelta(hours=2)
        # the deletion runs after the commit: its failure is logged (or raised), never undoes it
        with contextlib.suppress(ConnectionError):
            async with unit_of_work(resources.session_factory) as session:
                await metering.flush(session, FailingDeletes(resources.quotas), later)
        assert await ledger(resources, org) == traffic.rows()
        assert await pending(resources, org) != {}
        await flush(resources, later)
        assert await ledger(resources, org) == traffic.rows()
        assert await pending(resources, org) == {}

    async def test_only_orgs_with_pending_hours_are_touched(
        self, resources: Resources, traffic: Usage
    ) -> None:
        idle = await new_tenant(resources, "idle")
        await flush(resources)
        assert await ledger(resources, idle.org_id) == set()
        assert await ledger(resources, traffic.tenant.org_id) == traffic.rows()


class FailingDeletes:
    """The real backend, except that deleting flushed hours fails (Redis gone mid-flush)."""

    def __init__(self, backend: RedisQuotaBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    async def delete_hours(self, org_id: str, hours: Iterable[datetime], **_: Any) -> None:
        raise ConnectionError("redis went away")


class TestClosedHoursLeaveRedisAfterTheCommit:
    async def test_closed_hours_are_deleted_only_once_committed(
        self, resources: Resources, redis_client: aioredis.Redis, traffic: Usage
    ) -> None:
        org = traffic.tenant.org_id
        held = await pending(resources, org)
        async with unit_of_work(resources.session_factory) as session:
            await metering.flush(session, resources.quotas, traffic.at + timedelta(hours=2))
            assert await pending(resources, org) == held
        assert await pending(resources, org) == {}
        assert org.encode() not in await redis_client.smembers(PENDING_ORGS_KEY)

    async def test_an_hour_is_not_closed_until_its_grace_has_passed(
        self, resources: Resources, traffic: Usage
    ) -> None:
        grace_not_over = traffic.hour + timedelta(hours=1, minutes=14)
        await flush(resources, grace_not_over)
        assert traffic.hour in await pending(resources, traffic.tenant.org_id)

    async def test_usage_is_still_exact_from_the_ledger(
        self, client: httpx.AsyncClient, resources: Resources, traffic: Usage
    ) -> None:
        hour = traffic.hour
        params = {"group_by": "project,key,category,outcome"}
        window = (hour, hour + timedelta(hours=1))
        before = items(await usage(client, traffic.tenant, *window, **params))
        await flush(resources, traffic.at + timedelta(hours=2))
        assert await pending(resources, traffic.tenant.org_id) == {}
        after = items(await usage(client, traffic.tenant, *window, **params))
        assert after == before
        assert {(i["key_id"], i["category"], i["outcome"], i["quantity"]) for i in after} == {
            (key, category, outcome, n) for _, _, key, category, outcome, n in traffic.rows()
        }

    async def test_quotas_are_still_exact(
        self, client: httpx.AsyncClient, resources: Resources, traffic: Usage
    ) -> None:
        await flush(resources, traffic.at + timedelta(hours=2))
        quotas = await client.get(
            f"/v1/orgs/{traffic.tenant.org_id}/quotas", headers=traffic.tenant.auth
        )
        categories = quotas.json()["categories"]
        assert (categories["metrics"]["used"], categories["logs"]["used"]) == (150, 2_000)
        assert categories["traces"]["used"] == 9_000  # refused units are never used


class TestFlushActor:
    @pytest.fixture
    async def inline_worker(self, resources: Resources) -> AsyncIterator[None]:
        from workers import runtime
        from workers.actors import metering as actor_module

        runtime.use_session_factory(resources.session_factory)
        try:
            yield
        finally:
            runtime.use_session_factory(None)
            if actor_module._redis is not None:
                await actor_module._redis.aclose()
                actor_module._redis = None

    async def test_the_actor_flushes_pending_hours_into_the_ledger(
        self, resources: Resources, traffic: Usage, inline_worker: None
    ) -> None:
        from workers.actor import run_inline

        await run_inline("metering.flush", 0.0)
        await run_inline("metering.flush", 0.0)
        assert await ledger(resources, traffic.tenant.org_id) == traffic.rows()
