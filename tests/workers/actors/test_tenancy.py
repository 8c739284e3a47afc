"""Deleting a project or an org purges its telemetry in every tier and store, and no one else's.

The deletions go through the API; the purge job they leave on the queue after commit is then
run inline, as a worker would, against the real log/trace store and VictoriaMetrics tiers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis

from billing.quotas.base import Category, Outcome
from billing.quotas.redis import RedisQuotaBackend, bucket_key
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings, Tier
from telemetry.retention import PartialFailureError
from telemetry.stores import LogSearch, Scope, TelemetryStore
from tests.support.tenants import Tenant, sign_up
from tests.telemetry.stores.conftest import NOW, log, span
from tests.workers.actors.conftest import run_purges, stored_series, write_series
from workers.actor import run_inline
from workers.actors import tenancy as tenancy_actors
from workers.broker import broker

TRACE = "ab" * 16
DOCUMENT_TIERS = (Tier.SHORT, Tier.LONG)
SEEDED = dict.fromkeys(DOCUMENT_TIERS, 2)  # one log record and one span per tier
PURGED = dict.fromkeys(DOCUMENT_TIERS, 0)


async def seed(
    store: TelemetryStore, http: httpx.AsyncClient, settings: Settings, org_id: str, project: str
) -> None:
    """A log record and a span in two tiers, and a series in every tier, for one project."""
    for tier in DOCUMENT_TIERS:
        scope = Scope(org_id, project, tier)
        await store.write_logs(scope, [log(1)])
        await store.write_spans(scope, [span(TRACE, "s1")])
    await write_series(http, settings, org_id, project)


async def documents(store: TelemetryStore, org_id: str, project: str) -> dict[Tier, int]:
    """How many log records and spans of the project each tier still holds."""
    window = LogSearch(start=NOW - timedelta(hours=1), end=NOW + timedelta(minutes=1))
    counts = {}
    for tier in DOCUMENT_TIERS:
        scope = Scope(org_id, project, tier)
        records = (await store.search_logs(scope, window)).items
        counts[tier] = len(records) + len(await store.get_trace(scope, TRACE))
    return counts


async def new_project(client: httpx.AsyncClient, tenant: Tenant, name: str) -> str:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/projects", json={"name": name}, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


@pytest.fixture
async def acme(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "acme")


@pytest.fixture
async def globex(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "globex")


class TestPurgeAfterDeletion:
    async def test_deleting_a_project_purges_its_telemetry_and_not_its_siblings(
        self,
        client: httpx.AsyncClient,
        worker_runtime: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
        acme: Tenant,
        globex: Tenant,
    ) -> None:
        store = worker_runtime
        doomed = await new_project(client, acme, "Doomed")
        tenants = [(acme.org_id, acme.project_id), (acme.org_id, doomed)]
        tenants.append((globex.org_id, globex.project_id))
        for org_id, project in tenants:
            await seed(store, http, settings, org_id, project)
        assert all(
            set(tenants) <= found for found in (await stored_series(http, vm_stores)).values()
        )

        response = await client.delete(f"/v1/projects/{doomed}", headers=acme.auth)
        assert response.status_code == 204, response.text
        assert await run_purges(vm_stores) == ["tenancy.purge_project_telemetry"]

        assert await documents(store, acme.org_id, doomed) == PURGED
        assert await documents(store, acme.org_id, acme.project_id) == SEEDED
        assert await documents(store, globex.org_id, globex.project_id) == SEEDED
        series = await stored_series(http, vm_stores)
        for tier in Tier:
            assert (acme.org_id, doomed) not in series[tier], tier
            assert {tenants[0], tenants[2]} <= series[tier], tier

    async def test_deleting_an_org_purges_all_of_its_telemetry_and_nothing_of_another_org(
        self,
        client: httpx.AsyncClient,
        worker_runtime: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
        acme: Tenant,
        globex: Tenant,
    ) -> None:
        store = worker_runtime
        second = await new_project(client, acme, "Second")
        doomed = [(acme.org_id, acme.project_id), (acme.org_id, second)]
        # The other org has a project of the same id as one of acme's, in case a filter
        # forgot the org.
        kept = [(globex.org_id, globex.project_id), (globex.org_id, acme.project_id)]
        for org_id, project in doomed + kept:
            await seed(store, http, settings, org_id, project)

        response = await client.delete(f"/v1/orgs/{acme.org_id}", headers=acme.auth)
        assert response.status_code == 204, response.text
        assert await run_purges(vm_stores) == ["tenancy.purge_org_telemetry"]
        # Idempotent: a redelivered or retried message finds nothing more to do.
        await run_inline("tenancy.purge_org_telemetry", acme.org_id, final=True)

        for org_id, project in doomed:
            assert await documents(store, org_id, project) == PURGED
        for org_id, project in kept:
            assert await documents(store, org_id, project) == SEEDED
        series = await stored_series(http, vm_stores)
        for tier in Tier:
            assert not {pair for pair in series[tier] if pair[0] == acme.org_id}, tier
            assert set(kept) <= series[tier], tier


class TestPurgeFailure:
    async def test_an_unreachable_tier_fails_the_job_and_the_others_are_purged_anyway(
        self,
        worker_runtime: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        store, org_id, project = worker_runtime, "org_unreachable_tier", "prj_a"
        await seed(store, http, settings, org_id, project)
        assert all(
            (org_id, project) in found for found in (await stored_series(http, vm_stores)).values()
        )
        closed_port = settings.model_copy(update={"vm_long_read_url": "http://127.0.0.1:9"})
        monkeypatch.setattr(tenancy_actors, "get_settings", lambda: closed_port)

        with pytest.raises(PartialFailureError) as failed:
            await run_inline("tenancy.purge_project_telemetry", org_id, project, final=True)

        assert len(failed.value.exceptions) == 1
        assert await documents(store, org_id, project) == PURGED
        series = await stored_series(http, vm_stores)
        assert [(org_id, project) in series[tier] for tier in Tier] == [False, False, True]

        monkeypatch.undo()  # the retry, once the tier is back
        await run_inline("tenancy.purge_project_telemetry", org_id, project, final=True)
        series = await stored_series(http, vm_stores)
        assert not any((org_id, project) in series[tier] for tier in Tier)

    @pytest.mark.parametrize(
        "name", ["tenancy.purge_org_telemetry", "tenancy.purge_project_telemetry"]
    )
    def test_a_failed_purge_is_retried(self, name: str) -> None:
        assert broker.get_actor(name).options["max_retries"] >= 10


class TestPurgeForgetsTheOrgInRedis:
    async def test_its_counters_buckets_and_outcome_hours_go_and_no_one_else_s(
        self,
        worker_runtime: TelemetryStore,
        redis_client: aioredis.Redis,
        vm_stores: list[VmInstance],
    ) -> None:
        quotas, now = RedisQuotaBackend(redis_client), datetime.now(UTC)
        for org in ("org_purged", "org_kept"):
            await quotas.seed_period(org, "p1", {Category.METRICS: 5}, period_end=now)
            await quotas.record_outcome(
                org, "prj_a", "key_a", Category.METRICS, Outcome.INVALID, 3, now
            )
            await redis_client.hset(
                bucket_key(org, "prj_a", Category.METRICS, "key_a"), mapping={"tokens": 1}
            )
        await run_inline("tenancy.purge_org_telemetry", "org_purged", final=True)
        assert [k async for k in redis_client.scan_iter(match="tg:{org_purged}:*")] == []
        assert len([k async for k in redis_client.scan_iter(match="tg:{org_kept}:*")]) == 4
        assert await quotas.pending_orgs() == ["org_kept"]
