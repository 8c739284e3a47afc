"""Actors run in a unit of work; their jobs leave only after commit. A real worker runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis as sync_redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import jobs, outbox
from infra.settings import Settings
from tests.support.jobs import age_outbox, commit_without_relay, committed
from workers import runtime
from workers.actor import actor, run_inline
from workers.actors.system import HEARTBEAT_KEY
from workers.broker import DramatiqJobSender, broker, queue_depth

__all__ = ["committed"]


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)


@actor("tests.enqueue_then", max_retries=0)
async def enqueue_then(session: AsyncSession, fail: bool) -> None:
    """Enqueue a follow-up job, then succeed or fail."""
    await session.execute(text("SELECT 1"))
    jobs.enqueue(session, "system.heartbeat", 0.0)
    if fail:
        raise RuntimeError("actor failed")


@pytest.fixture
def recording(session_factory: async_sessionmaker[AsyncSession]) -> Iterator[RecordingSender]:
    sender = RecordingSender()
    jobs.install_sender(sender)
    runtime.use_session_factory(session_factory)
    yield sender
    runtime.use_session_factory(None)
    jobs.install_sender(None)


class TestActorDecorator:
    async def test_jobs_from_an_actor_leave_after_its_commit(
        self, recording: RecordingSender
    ) -> None:
        await run_inline("tests.enqueue_then", fail=False)
        assert [job.actor for job in recording.sent] == ["system.heartbeat"]

    async def test_jobs_from_a_failed_actor_are_dropped(self, recording: RecordingSender) -> None:
        with pytest.raises(RuntimeError):
            await run_inline("tests.enqueue_then", fail=True)
        assert recording.sent == []

    def test_actor_is_declared_under_its_namespaced_name(self) -> None:
        assert broker.get_actor("tests.enqueue_then") is enqueue_then


class TestRealWorker:
    async def test_worker_process_relays_a_stranded_job_and_runs_it(
        self, settings: Settings, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        client = sync_redis.Redis.from_url(settings.redis_url)
        client.delete(HEARTBEAT_KEY)
        broker.flush_all()
        await commit_without_relay(committed, time.time())  # only the outbox holds the job
        async with committed() as session:
            await age_outbox(session, outbox.RELAY_GRACE)
            await session.commit()
        # What the scheduler sends: the worker's periodic relay, through Redis.
        DramatiqJobSender(broker).send(jobs.Job("system.relay_outbox", (time.time(),)))
        assert queue_depth(broker) == 1
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dramatiq",
            "workers.main",
            "--processes",
            "1",
            "--threads",
            "1",
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):  # 20 s
                if client.exists(HEARTBEAT_KEY):
                    break
                await asyncio.sleep(0.2)
            beat = client.hgetall(HEARTBEAT_KEY)
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 20)
        assert beat, "the worker never ran the job the outbox held"
        assert float(beat[b"lag"]) >= 0
        assert worker.returncode == 0
        async with committed() as session:
            assert await session.scalar(text("SELECT count(*) FROM job_outbox")) == 0
