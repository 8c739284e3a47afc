"""The periodic relay sends what a unit of work could not; a request never fails for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import jobs, outbox
from infra.outbox import OutboxJob
from tests.support.jobs import RecordingSender, age_outbox, broken_broker, commit_without_relay
from tests.support.tenancy import queued_jobs, use_fast_password_hashing
from tests.support.tenants import sign_up
from workers import runtime
from workers.actor import run_inline
from workers.broker import DramatiqJobSender, InstallJobSender, broker
from workers.scheduler import OUTBOX_RELAY_SECONDS, SCHEDULE

RELAY = "system.relay_outbox"
PROBE = "system.heartbeat"


@pytest.fixture
def worker(session_factory: async_sessionmaker[AsyncSession]) -> Iterator[RecordingSender]:
    """Actors run inline on the test's transaction; what their relays send is recorded."""
    sender = RecordingSender()
    jobs.install_sender(sender)
    runtime.use_session_factory(session_factory)
    yield sender
    runtime.use_session_factory(None)
    jobs.install_sender(None)


async def rows(factory: async_sessionmaker[AsyncSession]) -> list[list[Any]]:
    async with factory() as session:
        return list((await session.scalars(select(OutboxJob.args).order_by(OutboxJob.id))).all())


class TestPeriodicRelay:
    async def test_a_crash_between_commit_and_send_is_repaired(
        self, session_factory: async_sessionmaker[AsyncSession], worker: RecordingSender
    ) -> None:
        await commit_without_relay(session_factory, 1.0, 2.0)
        jobs.install_sender(worker)
        async with session_factory() as session:
            await age_outbox(session, outbox.RELAY_GRACE)
            await session.commit()
        await run_inline(RELAY, time.time())
        assert worker.sent == [jobs.Job(PROBE, (1.0,)), jobs.Job(PROBE, (2.0,))]
        assert await rows(session_factory) == []
        await run_inline(RELAY, time.time())
        assert len(worker.sent) == 2  # deleted once sent: never sent again

    async def test_young_rows_are_left_to_their_own_unit_of_work(
        self, session_factory: async_sessionmaker[AsyncSession], worker: RecordingSender
    ) -> None:
        await commit_without_relay(session_factory, 1.0)
        jobs.install_sender(worker)
        await run_inline(RELAY, time.time())
        assert worker.sent == []
        assert await rows(session_factory) == [[1.0]]

    async def test_it_relays_more_rows_than_one_batch(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        worker: RecordingSender,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(outbox, "RELAY_BATCH", 2)
        await commit_without_relay(session_factory, 1.0, 2.0, 3.0, 4.0, 5.0)
        jobs.install_sender(worker)
        async with session_factory() as session:
            await age_outbox(session, timedelta(minutes=1))
            await session.commit()
        await run_inline(RELAY, time.time())
        assert [job.args for job in worker.sent] == [(float(n),) for n in range(1, 6)]

    def test_the_scheduler_runs_the_relay_every_few_seconds(self) -> None:
        [relay] = [job for job in SCHEDULE if job.actor == RELAY]
        assert relay.every == OUTBOX_RELAY_SECONDS <= outbox.RELAY_GRACE.total_seconds()

    def test_a_worker_process_installs_a_sender_at_boot(self) -> None:
        try:
            InstallJobSender().after_process_boot(broker)
            assert isinstance(jobs.installed_sender(), DramatiqJobSender)
        finally:
            jobs.install_sender(None)
        with pytest.raises(jobs.NoJobSenderError):
            jobs.installed_sender()


class TestRequestWithTheBrokerDown:
    async def test_the_request_succeeds_and_the_relay_delivers_its_job_later(
        self,
        client: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        use_fast_password_hashing(monkeypatch)
        owner = await sign_up(client)
        broker.flush_all()
        monkeypatch.setattr(jobs, "_sender", DramatiqJobSender(broken_broker()))
        response = await client.delete(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        assert response.status_code == 204, response.text
        assert (
            await client.get(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        ).status_code == 404  # committed
        assert queued_jobs() == []
        assert await rows(session_factory) == [[owner.org_id, owner.project_id]]

        monkeypatch.setattr(jobs, "_sender", DramatiqJobSender(broker))  # the broker is back
        runtime.use_session_factory(session_factory)
        try:
            async with session_factory() as session:
                await age_outbox(session, outbox.RELAY_GRACE)
                await session.commit()
            await run_inline(RELAY, time.time())
        finally:
            runtime.use_session_factory(None)
        assert queued_jobs() == [
            ("tenancy.purge_project_telemetry", [owner.org_id, owner.project_id])
        ]
        assert await rows(session_factory) == []
