"""Alerting fixtures: jobs recorded and run inline, vmalert on this session's short tier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.resources import Resources
from infra import jobs
from infra.local import vmalert
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings, Tier
from telemetry.alerting import vmalert_files
from tests.support.receiver import Receiver, receiver
from tests.support.servers import free_port
from tests.support.tenancy import use_fast_password_hashing
from tests.support.tenants import Tenant, sign_up
from workers import runtime
from workers.actor import run_inline


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@dataclass
class Jobs:
    """The jobs units of work sent after commit; `run` runs the alerting ones inline."""

    sent: list[jobs.Job] = field(default_factory=list)

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)

    def named(self, actor: str) -> list[jobs.Job]:
        return [job for job in self.sent if job.actor == actor]

    async def run(self, actor: str) -> int:
        """Run (and forget) every recorded job of this actor; how many ran."""
        due = self.named(actor)
        self.sent = [job for job in self.sent if job.actor != actor]
        for job in due:
            await run_inline(job.actor, *job.args, **job.kwargs)
        return len(due)


@pytest.fixture
async def recorded(
    client: httpx.AsyncClient,
    resources: Resources,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Jobs]:
    """Jobs recorded (after the app's lifespan installed its sender); actors share the test's
    transaction and log store."""
    import workers.main  # noqa: F401 (declares the actors run_inline needs)

    recorder = Jobs()
    jobs.install_sender(recorder)
    runtime.use_session_factory(session_factory)
    runtime.use_telemetry_store(resources.telemetry)
    yield recorder
    await runtime.close()
    runtime.use_telemetry_store(None)
    runtime.use_session_factory(None)
    jobs.install_sender(None)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "alerts")


@dataclass(frozen=True)
class Vmalert:
    """A running vmalert for the short tier (shard 0) and the receiver it notifies."""

    instance: vmalert.VmalertInstance
    inbox: Receiver


@pytest.fixture
def vmalert_short(
    settings: Settings, vm_stores: list[VmInstance], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Vmalert]:
    """vmalert on the short tier's VictoriaMetrics, notifying a local receiver (the test hands
    what it got to the app's internal receiver, inside the test's transaction)."""
    binary = vmalert.find_binary(settings)
    assert binary is not None, (
        "the victoria-metrics package (with vmalert) is unpacked by vm_stores"
    )
    monkeypatch.setattr(settings, "vmalert_base_port", free_port())
    # A fresh shard: an earlier test may have left a reload claimed (its job never ran) or a
    # recent reload stamp, and either would batch this test's first reload away.
    shard = vmalert.shard_dir(settings, Tier.SHORT, 0)
    for marker in (vmalert_files.PENDING_MARKER, vmalert_files.DONE_MARKER):
        (shard / marker).unlink(missing_ok=True)
    with receiver() as inbox:
        instance = vmalert.VmalertInstance(
            tier=Tier.SHORT,
            shard=0,
            port=vmalert.shard_port(settings, Tier.SHORT, 0),
            rules_dir=vmalert.shard_dir(settings, Tier.SHORT, 0),
            datasource_url=settings.vm_read_url(Tier.SHORT),
            remote_url=settings.vm_write_url(Tier.SHORT),
            notifier_url=inbox.url,
            secret=vmalert.notifier_secret(settings),
        )
        vmalert.start(instance, binary)
        try:
            yield Vmalert(instance, inbox)
        finally:
            vmalert.stop(instance)


def receiver_auth(settings: Settings) -> dict[str, Any]:
    """The headers vmalert's notifier sends."""
    return {"Authorization": f"Bearer {vmalert.notifier_secret(settings)}"}
