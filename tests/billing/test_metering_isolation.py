"""Metering isolation: one org's failure never blocks another's flush; a deleted org is not billed.

Deletions go through the API; the flush runs in its own unit of work, as the actor does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from api.resources import Resources
from billing import metering
from billing.quotas.base import Category, Outcome
from billing.quotas.redis import PENDING_ORGS_KEY, outcome_hour_key
from infra.db import unit_of_work
from tenancy.context import TenantContext
from tests.billing.support import KEY, flush, ledger, new_tenant
from tests.billing.test_metering import Usage, drive, pending
from tests.support.tenants import Tenant

M = Category.METRICS
# check_id lets it into a Redis key, but the ledger's project_id column holds 32 characters
TOO_LONG_PROJECT = "prj_" + "x" * 40


async def org_keys(redis_client: aioredis.Redis, org_id: str) -> list[bytes]:
    return [key async for key in redis_client.scan_iter(match=f"tg:{{{org_id}}}:*")]


async def delete_org(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.delete(f"/v1/orgs/{tenant.org_id}", headers=tenant.auth)
    assert response.status_code == 204, response.text


@pytest.fixture
async def kept(resources: Resources) -> Usage:
    """Another org's traffic in the same hour: it must be flushed whatever happens to others."""
    return await drive(resources, await new_tenant(resources, "kept"), datetime.now(UTC))


class TestADeletedOrgIsNotBilledAndBlocksNoOne:
    @pytest.fixture
    async def doomed(self, resources: Resources, kept: Usage) -> Usage:
        return await drive(resources, await new_tenant(resources, "doomed"), kept.at)

    async def test_another_org_s_usage_still_flushes(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        kept: Usage,
        doomed: Usage,
    ) -> None:
        assert await org_keys(redis_client, doomed.tenant.org_id) != []
        await delete_org(client, doomed.tenant)
        assert await flush(resources) == 6  # kept's rows; doomed's foreign key no longer holds
        assert await ledger(resources, kept.tenant.org_id) == kept.rows()
        assert await ledger(resources, doomed.tenant.org_id) == set()

    async def test_its_redis_state_is_discarded_by_the_flush(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        redis_client: aioredis.Redis,
        kept: Usage,
        doomed: Usage,
    ) -> None:
        org = doomed.tenant.org_id
        await delete_org(client, doomed.tenant)
        await flush(resources)
        assert await org_keys(redis_client, org) == []  # counters, buckets, outcome hours
        assert org.encode() not in await redis_client.smembers(PENDING_ORGS_KEY)
        # a request admitted under a key still cached somewhere writes again: discarded again
        await resources.quotas.record_outcome(
            org, doomed.tenant.project_id, KEY, M, Outcome.INVALID, 3, kept.at
        )
        assert await flush(resources) == 6
        assert await org_keys(redis_client, org) == []

    async def test_the_other_org_s_closed_hours_still_leave_redis(
        self, client: httpx.AsyncClient, resources: Resources, kept: Usage, doomed: Usage
    ) -> None:
        await delete_org(client, doomed.tenant)
        await flush(resources, kept.at + timedelta(hours=2))
        assert await ledger(resources, kept.tenant.org_id) == kept.rows()
        assert await pending(resources, kept.tenant.org_id) == {}


class TestAPoisonedOrgBlocksOnlyItself:
    @pytest.fixture
    async def poisoned(self, resources: Resources, kept: Usage) -> Usage:
        return await drive(resources, await new_tenant(resources, "poisoned"), kept.at)

    async def test_a_row_the_ledger_refuses_leaves_the_others_flushed(
        self, resources: Resources, kept: Usage, poisoned: Usage
    ) -> None:
        org = poisoned.tenant.org_id
        await resources.quotas.record_outcome(
            org, TOO_LONG_PROJECT, KEY, M, Outcome.INVALID, 3, kept.at
        )
        held = await pending(resources, org)
        later = kept.at + timedelta(hours=2)  # closed: the others' hours are deleted
        assert await flush(resources, later) == 6
        assert await ledger(resources, kept.tenant.org_id) == kept.rows()
        assert await pending(resources, kept.tenant.org_id) == {}
        # the poisoned org keeps its hours for the next run (and the error log), nothing lost
        assert await ledger(resources, org) == set()
        assert await pending(resources, org) == held

    async def test_counters_that_cannot_be_read_leave_the_others_flushed(
        self, resources: Resources, redis_client: aioredis.Redis, kept: Usage, poisoned: Usage
    ) -> None:
        key = outcome_hour_key(poisoned.tenant.org_id, poisoned.hour)
        await redis_client.hset(key, "not|an|outcome", 1)
        assert await flush(resources) == 6
        assert await ledger(resources, kept.tenant.org_id) == kept.rows()
        assert await ledger(resources, poisoned.tenant.org_id) == set()

    async def test_a_failing_announcement_keeps_every_org_s_rows(
        self, resources: Resources, kept: Usage, poisoned: Usage
    ) -> None:
        announced: list[str] = []

        async def announce(session: AsyncSession, context: TenantContext) -> None:
            announced.append(context.org_id)
            if context.org_id == poisoned.tenant.org_id:
                raise RuntimeError("webhook table unavailable")

        async with unit_of_work(resources.session_factory) as session:
            assert await metering.flush(session, resources.quotas, kept.at, announce) == 12
        assert sorted(announced) == sorted([kept.tenant.org_id, poisoned.tenant.org_id])
        assert await ledger(resources, kept.tenant.org_id) == kept.rows()
        assert await ledger(resources, poisoned.tenant.org_id) == poisoned.rows()
