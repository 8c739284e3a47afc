"""Jobs are outbox rows of their transaction: gone on rollback, relayed after commit, sent once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers.main  # noqa: F401  (declares every actor, as a worker process does)
from infra import jobs, outbox
from infra.db import unit_of_work
from infra.outbox import OutboxJob
from tests.support.jobs import RecordingSender, age_outbox, broken_broker, committed
from workers.broker import DramatiqJobSender, broker

PROBE = "system.heartbeat"

__all__ = ["committed"]


@pytest.fixture
def recording() -> Iterator[RecordingSender]:
    sender = RecordingSender()
    jobs.install_sender(sender)
    yield sender
    jobs.install_sender(None)


@pytest.fixture
def broken() -> Iterator[None]:
    jobs.install_sender(DramatiqJobSender(broken_broker()))
    yield
    jobs.install_sender(None)


async def pending(session: AsyncSession) -> list[tuple[str, list[object]]]:
    rows = await session.execute(select(OutboxJob.actor, OutboxJob.args).order_by(OutboxJob.id))
    return [(actor, args) for actor, args in rows.all()]


class TestOutboxRows:
    async def test_a_job_is_a_row_of_its_transaction_until_the_commit(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        async with unit_of_work(session_factory) as session:
            jobs.enqueue(session, PROBE, 1.0)
            await session.flush()
            assert await pending(session) == [(PROBE, [1.0])]
            assert recording.sent == []
        assert recording.sent == [jobs.Job(PROBE, (1.0,), {})]
        async with session_factory() as session:
            assert await pending(session) == []  # sent, then deleted

    async def test_a_unit_of_work_with_more_jobs_than_a_batch_sends_them_all_at_once(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        count = outbox.RELAY_BATCH * 2 + 50
        async with unit_of_work(session_factory) as session:
            for n in range(count):
                jobs.enqueue(session, PROBE, float(n))
        assert [job.args for job in recording.sent] == [(float(n),) for n in range(count)]
        async with session_factory() as session:
            assert await pending(session) == []

    async def test_a_rolled_back_transaction_leaves_no_row(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        with pytest.raises(RuntimeError, match="handler failed"):
            async with unit_of_work(session_factory) as session:
                jobs.enqueue(session, PROBE, 1.0)
                await session.flush()
                raise RuntimeError("handler failed")
        async with session_factory() as session:
            assert await pending(session) == []
        assert recording.sent == []

    async def test_a_job_of_a_rolled_back_savepoint_is_not_sent(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        async with unit_of_work(session_factory) as session:
            jobs.enqueue(session, PROBE, 1.0)
            savepoint = await session.begin_nested()
            jobs.enqueue(session, PROBE, 2.0)
            await session.flush()
            await savepoint.rollback()
        assert recording.sent == [jobs.Job(PROBE, (1.0,), {})]

    async def test_a_delay_is_honoured_by_the_relay(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        async with unit_of_work(session_factory) as session:
            jobs.enqueue_later(session, timedelta(minutes=1), PROBE, 1.0)
        [job] = recording.sent
        assert job.delay is not None
        assert timedelta(seconds=55) < job.delay <= timedelta(minutes=1)

    async def test_a_late_relay_sends_only_what_is_left_of_the_delay(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        async with session_factory() as session:
            outbox.add(session, jobs.Job(PROBE, (1.0,), {}, timedelta(minutes=1)))
            outbox.add(session, jobs.Job(PROBE, (2.0,), {}, timedelta(seconds=10)))
            await session.flush()
            await age_outbox(session, timedelta(seconds=30))
            assert await outbox.relay(session, recording) == 2
        first, second = recording.sent
        assert first.delay is not None
        assert timedelta(seconds=25) < first.delay <= timedelta(seconds=30)
        assert second.delay is None  # already due: runs at once

    async def test_the_broker_receives_a_delayed_message_on_its_delay_queue(
        self, session_factory: async_sessionmaker[AsyncSession], redis_url: str
    ) -> None:
        broker.flush_all()
        jobs.install_sender(DramatiqJobSender(broker))
        try:
            async with unit_of_work(session_factory) as session:
                jobs.enqueue_later(session, timedelta(minutes=1), PROBE, 1.0)
        finally:
            jobs.install_sender(None)
        assert broker.client.llen(f"{broker.namespace}:default.DQ") == 1
        assert broker.client.llen(f"{broker.namespace}:default") == 0


class TestBrokerDown:
    async def test_a_send_error_after_commit_is_not_raised_and_the_row_stays(
        self, session_factory: async_sessionmaker[AsyncSession], broken: None
    ) -> None:
        async with unit_of_work(session_factory) as session:
            await session.execute(text("CREATE TEMP TABLE committed_change (id int)"))
            jobs.enqueue(session, PROBE, 1.0)
        async with session_factory() as session:
            await session.execute(text("SELECT * FROM committed_change"))  # the change is kept
            assert await pending(session) == [(PROBE, [1.0])]

    async def test_a_failed_callback_does_not_stop_the_others(
        self, session_factory: async_sessionmaker[AsyncSession], recording: RecordingSender
    ) -> None:
        ran: list[str] = []

        async def failing() -> None:
            raise ConnectionError("redis is down")

        async def working() -> None:
            ran.append("working")

        async with unit_of_work(session_factory) as session:
            jobs.after_commit(session, failing)
            jobs.after_commit(session, working)
            jobs.enqueue(session, PROBE, 1.0)
        assert ran == ["working"]
        assert len(recording.sent) == 1

    async def test_the_first_failed_send_keeps_it_and_every_later_row(
        self, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        class FailsSecond(RecordingSender):
            def send(self, job: jobs.Job) -> None:
                if len(self.sent) == 1:
                    raise ConnectionError("broker went away")
                super().send(job)

        sender = FailsSecond()
        async with session_factory() as session:
            for n in range(3):
                outbox.add(session, jobs.Job(PROBE, (float(n),)))
            await session.commit()
            assert await outbox.relay(session, sender) == 1
            await session.commit()
            assert [job.args for job in sender.sent] == [(0.0,)]
            assert await pending(session) == [(PROBE, [1.0]), (PROBE, [2.0])]


async def write_rows(factory: async_sessionmaker[AsyncSession], count: int) -> None:
    async with factory() as session:
        for n in range(count):
            outbox.add(session, jobs.Job(PROBE, (float(n),)))
        await session.commit()


class TestConcurrentRelays:
    async def test_a_row_claimed_by_one_relay_is_skipped_by_another(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        await write_rows(committed, 3)
        first, second = RecordingSender(), RecordingSender()
        async with committed() as holding, committed() as other:
            assert await outbox.relay(holding, first) == 3  # sent and deleted, not committed yet
            assert await outbox.relay(other, second) == 0  # locked rows are skipped, not awaited
            await holding.commit()
            assert await outbox.relay(other, second) == 0
            await other.commit()
        assert (len(first.sent), second.sent) == (3, [])

    async def test_two_relays_at_once_send_each_row_once(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        await write_rows(committed, 60)
        senders = RecordingSender(), RecordingSender()

        async def run(sender: RecordingSender) -> None:
            async with committed() as session:
                while await outbox.relay(session, sender, limit=4):
                    await session.commit()
                    await asyncio.sleep(0)

        await asyncio.gather(*(run(sender) for sender in senders))
        sent = [job.args[0] for sender in senders for job in sender.sent]
        assert sorted(sent) == [float(n) for n in range(60)]
        assert all(sender.sent for sender in senders), "the relays did not overlap"
        async with committed() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxJob).where(OutboxJob.actor == PROBE)
            )
        assert count == 0
