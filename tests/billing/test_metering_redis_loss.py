"""A total Redis loss: quota counters are rebuilt from the ledger, the ledger is never lowered,
and what is lost is bounded by the flush interval (the counts not yet flushed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis

from api.resources import Resources
from billing import subscriptions
from billing.quotas.base import Category, Reason, Scope
from infra.db import unit_of_work
from tenancy.authz import operator_context
from tests.billing.support import KEY, admit, flush, ledger, new_tenant, org_session
from tests.billing.test_metering import Usage, drive, items, refusals, usage
from workers.scheduler import SCHEDULE

M, L, T = Category.METRICS, Category.LOGS, Category.TRACES


@pytest.fixture
async def traffic(resources: Resources) -> Usage:
    return await drive(resources, await new_tenant(resources), datetime.now(UTC))


class TestRedisLossRebuildsQuotasFromTheLedger:
    async def test_used_counts_are_rebuilt_from_usage_hourly(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        traffic: Usage,
    ) -> None:
        tenant = traffic.tenant
        await flush(resources)
        await redis_client.flushdb()
        response = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
        assert response.status_code == 200, response.text
        categories = response.json()["categories"]
        assert categories["metrics"] == {
            "included": 1_000_000,
            "used": 150,
            "remaining": 999_850,
            "overage": 0,
            "hard_cap": True,
        }
        assert (categories["logs"]["used"], categories["traces"]["used"]) == (2_000, 9_000)
        async with org_session(resources, tenant.org_id) as (session, context):
            period = (await subscriptions.entitlements(session, context)).period(traffic.at)
        assert await resources.quotas.period_usage(tenant.org_id, period.id) == {
            M: 150,
            L: 2_000,
            T: 9_000,
            Category.SPANS: 0,
        }

    @pytest.mark.parametrize("rebuilt_by", ["quotas endpoint", "next admission"])
    async def test_a_free_org_at_its_hard_cap_stays_refused(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        rebuilt_by: str,
    ) -> None:
        tenant = await new_tenant(resources)
        start = datetime.now(UTC)
        # 5,000 points/s with a 50,000 burst: 50,000 every 10 s reaches the 1,000,000 cap
        for i in range(20):
            at = start + timedelta(seconds=10 * i)
            assert (await admit(resources, tenant, {M: 50_000}, at=at)).accepted, i
        past_cap = start + timedelta(seconds=200)
        refused = await admit(resources, tenant, {M: 1}, at=past_cap)
        assert refusals(refused.refusals) == [(M, Scope.ORG, Reason.QUOTA_EXCEEDED)]

        await flush(resources, start)
        await redis_client.flushdb()

        if rebuilt_by == "quotas endpoint":
            response = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
            metrics = response.json()["categories"]["metrics"]
            assert (metrics["used"], metrics["remaining"]) == (1_000_000, 0)
        decision = await admit(resources, tenant, {M: 1}, at=past_cap + timedelta(seconds=10))
        assert not decision.accepted
        assert refusals(decision.refusals) == [(M, Scope.ORG, Reason.QUOTA_EXCEEDED)]

    async def test_the_next_admission_is_checked_against_the_rebuilt_count(
        self, client: httpx.AsyncClient, resources: Resources, redis_client: aioredis.Redis
    ) -> None:
        tenant = await new_tenant(resources)
        # an operator lowers the included metrics so the cap is near
        async with unit_of_work(resources.session_factory) as session:
            context = await operator_context(session, tenant.org_id, None)
            await subscriptions.set_overrides(session, context, {"metrics": 1_000}, {})
        now = datetime.now(UTC)
        assert (await admit(resources, tenant, {M: 990}, at=now)).accepted
        await flush(resources, now)
        await redis_client.flushdb()
        response = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
        assert response.json()["categories"]["metrics"]["remaining"] == 10
        assert not (await admit(resources, tenant, {M: 11}, at=now)).accepted
        assert (await admit(resources, tenant, {M: 10}, at=now)).accepted
        assert not (await admit(resources, tenant, {M: 1}, at=now)).accepted


class TestRedisLossMidHourNeverLowersTheLedger:
    async def test_counts_after_a_loss_add_to_those_already_flushed(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        traffic: Usage,
    ) -> None:
        tenant, hour = traffic.tenant, traffic.hour
        await flush(resources)
        await redis_client.flushdb()  # the hour's counters are gone; the hour goes on
        assert (await admit(resources, tenant, {M: 25}, at=traffic.at)).accepted
        await flush(resources)
        await flush(resources)  # still idempotent across generations
        extra = (hour, tenant.project_id, KEY, "metrics", "accepted", 25)
        assert await ledger(resources, tenant.org_id) == traffic.rows() | {extra}

        found = items(
            await usage(
                client, tenant, hour, hour + timedelta(hours=1), group_by="key,category,outcome"
            )
        )
        accepted = {
            (i["key_id"], i["category"]): i["quantity"] for i in found if i["outcome"] == "accepted"
        }
        assert accepted[(KEY, "metrics")] == 125
        quotas = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
        assert quotas.json()["categories"]["metrics"]["used"] == 175

    async def test_each_generation_is_set_not_added(
        self, resources: Resources, redis_client: aioredis.Redis, traffic: Usage
    ) -> None:
        tenant = traffic.tenant
        await flush(resources)
        await redis_client.flushdb()
        assert (await admit(resources, tenant, {M: 25}, at=traffic.at)).accepted
        await flush(resources)
        assert (await admit(resources, tenant, {M: 5}, at=traffic.at)).accepted
        await flush(resources)
        rows = await ledger(resources, tenant.org_id)
        metrics = sorted(
            n
            for _, _, key, category, outcome, n in rows
            if (key, category, outcome) == (KEY, "metrics", "accepted")
        )
        assert metrics == [30, 100]


class TestTheLossIsBoundedByTheFlushInterval:
    def test_the_flush_runs_at_least_every_ten_seconds(self) -> None:
        (periodic,) = [job for job in SCHEDULE if job.actor == "metering.flush"]
        assert periodic.every <= 10.0

    async def test_only_the_counts_since_the_last_flush_are_lost(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        traffic: Usage,
    ) -> None:
        tenant = traffic.tenant
        await flush(resources)
        assert (await admit(resources, tenant, {M: 25}, at=traffic.at)).accepted  # not flushed
        await redis_client.flushdb()  # Redis is lost between two flushes
        quotas = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
        assert quotas.json()["categories"]["metrics"]["used"] == 150  # the 25 are the loss
        assert await ledger(resources, tenant.org_id) == traffic.rows()
        # metering goes on from the rebuilt counters, beside the rows already flushed
        assert (await admit(resources, tenant, {M: 5}, at=traffic.at)).accepted
        await flush(resources)
        extra = (traffic.hour, tenant.project_id, KEY, "metrics", "accepted", 5)
        assert await ledger(resources, tenant.org_id) == traffic.rows() | {extra}
        quotas = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
        assert quotas.json()["categories"]["metrics"]["used"] == 155
