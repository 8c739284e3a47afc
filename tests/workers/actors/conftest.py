"""Actors run inline on the test's transaction, against real stores of both log/trace backends.

The store fixtures are the store contract's (PostgreSQL in the test's transaction, OpenSearch as
osmem-server under a prefix of the test's own); VictoriaMetrics is this session's three tiers.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers.main  # noqa: F401  (declares every actor, as a worker process does)
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings, Tier
from infra.victoriametrics import import_prometheus, tenant_labels
from telemetry.stores import TelemetryStore
from tests.support.gateway import flush
from tests.support.tenancy import use_fast_password_hashing
from tests.telemetry.stores.conftest import opensearch_url, os_store, pg_store, store
from workers import runtime
from workers.actor import run_inline
from workers.broker import broker

__all__ = ["opensearch_url", "os_store", "pg_store", "store"]

PROBE = "tollgate_purge_probe"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests here sign tenants up through the API; keep each hash cheap."""
    use_fast_password_hashing(monkeypatch)


@pytest.fixture
async def worker_runtime(
    session_factory: async_sessionmaker[AsyncSession], store: TelemetryStore
) -> AsyncIterator[TelemetryStore]:
    """The worker's process resources bound to the test: its transaction and its store."""
    runtime.use_session_factory(session_factory)
    runtime.use_telemetry_store(store)
    yield store
    await runtime.close()  # the HTTP client the actors opened; the store is the fixture's
    runtime.use_telemetry_store(None)
    runtime.use_session_factory(None)


async def write_series(
    http: httpx.AsyncClient, settings: Settings, org_id: str, project_id: str
) -> None:
    """One sample of a probe metric for the project, in every tier."""
    body = f"{PROBE} 1 {int(time.time() * 1000)}\n".encode()
    for tier in Tier:
        await import_prometheus(
            http, settings.vm_write_url(tier), body, tenant_labels(org_id, project_id)
        )


async def stored_series(
    http: httpx.AsyncClient, vm_stores: list[VmInstance]
) -> dict[Tier, set[tuple[str, str]]]:
    """(tenant, project) of every probe series each tier holds, after flushing its index."""
    await flush(vm_stores)
    found: dict[Tier, set[tuple[str, str]]] = {}
    for instance in vm_stores:
        response = await http.get(
            f"{instance.url}/api/v1/series",
            params={"match[]": PROBE, "start": str(int(time.time()) - 3600)},
        )
        response.raise_for_status()
        found[instance.tier] = {
            (labels["tenant"], labels["project"]) for labels in response.json()["data"]
        }
    return found


def waiting_messages(queue: str) -> list[dict[str, Any]]:
    """Every message on a Dramatiq queue (`default`, or `default.DQ` for delayed ones)."""
    client, prefix = broker.client, f"{broker.namespace}:{queue}"
    return [
        json.loads(client.hget(f"{prefix}.msgs", message_id))
        for message_id in client.lrange(prefix, 0, -1)
    ]


async def run_purges(vm_stores: list[VmInstance]) -> list[str]:
    """Run the purge jobs on the queue inline, as a worker would, then the sweeps they delayed.

    Before the sweeps, VictoriaMetrics is flushed, as the sweep's delay would have let it do.
    """
    ran = []
    for message in waiting_messages("default"):
        if message["actor_name"].startswith("tenancy.purge_"):
            await run_inline(message["actor_name"], *message["args"], **message["kwargs"])
            ran.append(message["actor_name"])
    sweeps = waiting_messages("default.DQ")
    assert [(m["actor_name"], m["kwargs"]) for m in sweeps] == [(n, {"final": True}) for n in ran]
    assert all(m["options"]["eta"] >= time.time() * 1000 + 50_000 for m in sweeps)
    await flush(vm_stores)
    for message in sweeps:
        await run_inline(message["actor_name"], *message["args"], **message["kwargs"])
    return ran
