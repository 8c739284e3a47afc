"""`quota.warning` and `quota.exceeded` webhooks: announced from the flush, once per period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from api.resources import Resources
from billing import metering, quota_events
from billing.quotas.base import Category
from infra.db import unit_of_work
from tenancy.context import TenantContext
from tests.billing.conftest import RecordingSender
from tests.billing.support import admit, new_tenant
from tests.support.gateway import OPERATOR
from tests.support.tenants import Tenant

M = Category.METRICS


async def flush_and_announce(resources: Resources) -> None:
    """One run of the flush actor's body, thresholds included."""
    now = datetime.now(UTC)

    async def announce(session: Any, context: TenantContext) -> None:
        await quota_events.announce_thresholds(session, context, resources.quotas, now)

    async with unit_of_work(resources.session_factory) as session:
        await metering.flush(session, resources.quotas, now, announce)


async def subscribed_tenant(client: httpx.AsyncClient, resources: Resources) -> tuple[Tenant, str]:
    tenant = await new_tenant(resources, "thresholds")
    response = await client.put(
        f"/v1/admin/orgs/{tenant.org_id}/overrides",
        json={"included": {"metrics": 100}},
        headers=OPERATOR,
    )
    assert response.status_code == 200, response.text
    created = await client.post(
        f"/v1/orgs/{tenant.org_id}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["quota.warning", "quota.exceeded"]},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    return tenant, created.json()["id"]


async def announced(client: httpx.AsyncClient, tenant: Tenant, hook: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/orgs/{tenant.org_id}/webhooks/{hook}/deliveries", headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda item: item["event_type"])


class TestThresholds:
    async def test_each_threshold_is_announced_once_per_period(
        self, client: httpx.AsyncClient, resources: Resources, recording: RecordingSender
    ) -> None:
        tenant, hook = await subscribed_tenant(client, resources)
        assert (await admit(resources, tenant, {M: 79})).accepted
        await flush_and_announce(resources)
        assert await announced(client, tenant, hook) == []

        assert (await admit(resources, tenant, {M: 6})).accepted  # 85 of 100
        await flush_and_announce(resources)
        await flush_and_announce(resources)
        assert [d["event_type"] for d in await announced(client, tenant, hook)] == ["quota.warning"]

        assert (await admit(resources, tenant, {M: 15})).accepted  # 100 of 100
        await flush_and_announce(resources)
        await flush_and_announce(resources)
        found = await announced(client, tenant, hook)
        assert [d["event_type"] for d in found] == ["quota.exceeded", "quota.warning"]
        assert len(recording.named("webhooks.deliver")) == 2

    async def test_an_org_without_subscribers_costs_no_event(
        self, client: httpx.AsyncClient, resources: Resources, recording: RecordingSender
    ) -> None:
        tenant = await new_tenant(resources, "quiet")
        await client.put(
            f"/v1/admin/orgs/{tenant.org_id}/overrides",
            json={"included": {"metrics": 10}},
            headers=OPERATOR,
        )
        assert (await admit(resources, tenant, {M: 10})).accepted
        await flush_and_announce(resources)
        assert recording.named("webhooks.deliver") == []
