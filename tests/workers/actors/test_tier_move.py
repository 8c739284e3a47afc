"""A plan change moves the org's metrics, logs and spans to the new plan's tier (§6).

The plan changes go through the API (upgrade) or the period close (downgrade); the move job they
leave on the queue after commit is run inline, as a worker would, against the real log/trace
store (each backend) and this session's VictoriaMetrics tiers; reads go through the gateway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from msgspec.structs import replace

from api.resources import Resources
from billing.plans import PlanCode
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings, Tier
from infra.victoriametrics import import_prometheus, tenant_labels
from telemetry import tier_move
from telemetry.retention import PartialFailureError
from telemetry.search import opensearch as os_backend
from telemetry.search import postgres as pg_backend
from telemetry.stores import LogSearch, Scope, TelemetryStore
from tests.billing.invoicing import close, set_plan
from tests.support import gateway as gw
from tests.support.tenants import Tenant, project_key, sign_up
from tests.telemetry.stores.conftest import NOW, log, span
from tests.workers.actors.conftest import waiting_messages
from workers.actor import run_inline

MOVE = "telemetry.move_tier"
TRACE = "cd" * 16
DAY = timedelta(days=1)
METRIC = "tollgate_move_probe"
RECORDS = 6  # log records seeded per org, besides one span tree of three spans
SEEDED = (RECORDS, 3, 2)  # (log records, spans, metric samples)
EMPTY = (0, 0, 0)


@pytest.fixture
def gateway_store(resources: Resources, worker_runtime: TelemetryStore) -> TelemetryStore:
    """The gateway reads the same store the worker moves data in (each backend in turn)."""
    resources.telemetry = worker_runtime
    return worker_runtime


async def writer(client: httpx.AsyncClient, name: str) -> gw.Writer:
    tenant = await sign_up(client, name)
    return gw.Writer(tenant, (await project_key(client, tenant))["key"])


async def seed(
    store: TelemetryStore, http: httpx.AsyncClient, settings: Settings, w: gw.Writer, tier: Tier
) -> None:
    """Log records (the oldest 5 days back), a trace, and a probe series with a sample now and
    one 2 days back, all in `tier`."""
    scope = Scope(w.org_id, w.project_id, tier)
    records = [log(n, ago=n * DAY if n < RECORDS - 1 else timedelta(0)) for n in range(RECORDS)]
    await store.write_logs(scope, records)
    await store.write_spans(
        scope,
        [
            span(TRACE, "s1", ago=2 * DAY),
            span(TRACE, "s2", parent="s1", service="db", ago=2 * DAY),
            span(TRACE, "s3", parent="s1", ago=2 * DAY),
        ],
    )
    now_ms = int(time.time() * 1000)
    body = f"{METRIC} 1 {now_ms - 2 * 86_400_000}\n{METRIC} 2 {now_ms - 5_000}\n".encode()
    await import_prometheus(
        http, settings.vm_write_url(tier), body, tenant_labels(w.org_id, w.project_id)
    )


async def stored(
    store: TelemetryStore, http: httpx.AsyncClient, vm_stores: Sequence[VmInstance], w: gw.Writer
) -> dict[Tier, tuple[int, int, int]]:
    """(log records, spans, metric samples) of the writer's project in each tier."""
    await gw.flush(vm_stores)
    found = {}
    for instance in vm_stores:
        scope = Scope(w.org_id, w.project_id, instance.tier)
        window = LogSearch(start=NOW - 90 * DAY, end=NOW + DAY, limit=1000)
        records = len((await store.search_logs(scope, window)).items)
        spans = len(await store.get_trace(scope, TRACE))
        response = await http.get(
            f"{instance.url}/api/v1/export",
            params={"match[]": f'{METRIC}{{tenant="{w.org_id}"}}', "start": "0"},
        )
        response.raise_for_status()
        samples = sum(len(line["values"]) for line in map(_json, response.text.splitlines()))
        found[instance.tier] = (records, spans, samples)
    return found


def _json(line: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def moves_queued() -> list[list[Any]]:
    return [m["args"] for m in waiting_messages("default") if m["actor_name"] == MOVE]


async def change_plan(client: httpx.AsyncClient, tenant: Tenant, plan: str) -> None:
    response = await client.put(
        f"/v1/orgs/{tenant.org_id}/subscription", json={"plan": plan}, headers=tenant.auth
    )
    assert response.status_code == 200, response.text


async def upgrade(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await change_plan(client, tenant, "pro")


async def read_through_gateway(client: httpx.AsyncClient, w: gw.Writer) -> tuple[int, int, float]:
    """(log records, spans of the trace, samples of the probe in 3 days) the tenant can read."""
    logs = await client.post(w.path("logs/search"), json={"limit": 1000}, headers=w.auth)
    assert logs.status_code == 200, logs.text
    trace = await client.get(w.path(f"traces/{TRACE}"), headers=w.auth)
    spans = trace.json()["span_count"] if trace.status_code == 200 else 0
    result = await gw.query(client, w, f"count_over_time({METRIC}[3d])")
    samples = sum(float(item["value"][1]) for item in result)
    return len(logs.json()["items"]), spans, samples


class TestUpgrade:
    async def test_an_upgrade_moves_metrics_logs_and_spans_to_the_new_tier_and_no_one_elses(
        self,
        client: httpx.AsyncClient,
        gateway_store: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
    ) -> None:
        store = gateway_store
        acme, globex = await writer(client, "acme"), await writer(client, "globex")
        for w in (acme, globex):
            await seed(store, http, settings, w, Tier.SHORT)
        await gw.flush(vm_stores)
        assert await read_through_gateway(client, acme) == SEEDED

        await upgrade(client, acme.tenant)
        assert moves_queued() == [[acme.org_id, "short", "standard"]]
        # Reads follow the plan at once: until the job has run, the older data is not there.
        assert await read_through_gateway(client, acme) == EMPTY

        await run_inline(MOVE, acme.org_id, "short", "standard")
        await gw.flush(vm_stores)
        assert await read_through_gateway(client, acme) == SEEDED
        assert await stored(store, http, vm_stores, acme) == {
            Tier.SHORT: EMPTY,
            Tier.STANDARD: SEEDED,
            Tier.LONG: EMPTY,
        }
        untouched = {Tier.SHORT: SEEDED, Tier.STANDARD: EMPTY, Tier.LONG: EMPTY}
        assert await stored(store, http, vm_stores, globex) == untouched
        assert await read_through_gateway(client, globex) == SEEDED

        # The sweep it queued, and any redelivery, find nothing more to do and change nothing.
        (sweep,) = [m for m in waiting_messages("default.DQ") if m["actor_name"] == MOVE]
        assert sweep["kwargs"] == {"final": True}
        await run_inline(MOVE, *sweep["args"], **sweep["kwargs"])
        await run_inline(MOVE, acme.org_id, "short", "standard")
        assert await read_through_gateway(client, acme) == SEEDED
        assert (await stored(store, http, vm_stores, acme))[Tier.STANDARD] == SEEDED

    async def test_a_crash_half_way_then_a_rerun_completes_the_move_once(
        self,
        client: httpx.AsyncClient,
        gateway_store: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
    ) -> None:
        store = gateway_store
        acme = await writer(client, "acme")
        await seed(store, http, settings, acme, Tier.SHORT)
        await upgrade(client, acme.tenant)
        await gw.flush(vm_stores)

        # Small batches, and a crash after the second batch of documents was written to the
        # new tier (OpenSearch: before its deletion from the old one), and after the metrics
        # were imported but before they were deleted from the old tier.
        async def lost_connection(*_: object) -> None:
            raise httpx.ConnectError("connection reset")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pg_backend, "MOVE_BATCH", 2)
            patch.setattr(os_backend, "MOVE_PAGE", 2)
            patch.setattr(tier_move, "delete_series", lost_connection)
            calls = _crash_on_second_call(patch, store)
            # The domain step itself: in tests the actor's rolled-back unit of work would also
            # undo the batches already committed (they share the test's connection).
            with pytest.raises(PartialFailureError):
                await tier_move.move_tenant(
                    store, http, settings, acme.org_id, Tier.SHORT, Tier.STANDARD, datetime.now(UTC)
                )
        assert calls[:2] == ["ok", "crash"]  # later calls: the empty long tier
        half = await stored(store, http, vm_stores, acme)
        assert 0 < half[Tier.STANDARD][0] < RECORDS
        assert half[Tier.SHORT][0] > 0
        assert half[Tier.SHORT][2] == half[Tier.STANDARD][2] == 2

        await run_inline(MOVE, acme.org_id, "short", "standard")
        await gw.flush(vm_stores)
        assert await stored(store, http, vm_stores, acme) == {
            Tier.SHORT: EMPTY,
            Tier.STANDARD: SEEDED,  # each sample and document once, though copied twice
            Tier.LONG: EMPTY,
        }
        assert await read_through_gateway(client, acme) == SEEDED


def _crash_on_second_call(monkeypatch: pytest.MonkeyPatch, store: TelemetryStore) -> list[str]:
    """Make the store's second move step raise, as a worker killed half-way would stop."""
    if isinstance(store, pg_backend.PostgresTelemetryStore):
        target: object = store._storage
        name = "move_batch"
    else:
        assert isinstance(store, os_backend.OpenSearchTelemetryStore)
        target, name = store._indices, "bulk_delete"
    original = getattr(target, name)
    calls: list[str] = []

    async def flaky(*args: object, **kwargs: object) -> object:
        calls.append("crash" if len(calls) == 1 else "ok")
        if calls[-1] == "crash":
            raise ConnectionError("worker lost")
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return calls


class TestDowngrade:
    async def test_a_downgrade_at_the_period_end_moves_what_the_shorter_tier_keeps(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        gateway_store: TelemetryStore,
        http: httpx.AsyncClient,
        settings: Settings,
        vm_stores: list[VmInstance],
    ) -> None:
        store = gateway_store
        acme = await writer(client, "acme")
        anchor = (datetime.now(UTC) - 40 * DAY).replace(microsecond=0)
        await set_plan(resources, acme.org_id, anchor, PlanCode.PRO)
        scope = Scope(acme.org_id, acme.project_id, Tier.STANDARD)
        # One record 20 days old: kept by standard (30 days), past what short keeps (7 days).
        await store.write_logs(scope, [replace(log(99), time=NOW - 20 * DAY)])
        await seed(store, http, settings, acme, Tier.STANDARD)
        await change_plan(client, acme.tenant, "free")  # scheduled for the period end
        assert moves_queued() == []

        notify = resources.admission.publish_invalidation
        await close(resources, acme.org_id, datetime.now(UTC), notify=notify)
        assert moves_queued() == [[acme.org_id, "standard", "short"]]
        await gw.flush(vm_stores)  # the samples just written, as a second's wait would
        await run_inline(MOVE, acme.org_id, "standard", "short")

        assert await stored(store, http, vm_stores, acme) == {
            Tier.SHORT: SEEDED,  # and not the 20-day-old record: short keeps 7 days
            Tier.STANDARD: EMPTY,
            Tier.LONG: EMPTY,
        }
        assert await read_through_gateway(client, acme) == SEEDED
