"""Actors run in a unit of work; their jobs leave only after commit. A real worker runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis as sync_redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import jobs
from infra.settings import Settings
from workers import runtime
from workers.actor import actor, run_inline
from workers.actors.system import HEARTBEAT_KEY
from workers.broker import DramatiqJobSender, broker, queue_depth


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
    def test_worker_process_runs_a_job_sent_through_redis(self, settings: Settings) -> None:
        client = sync_redis.Redis.from_url(settings.redis_url)
        client.delete(HEARTBEAT_KEY)
        broker.flush_all()
        DramatiqJobSender(broker).send(jobs.Job("system.heartbeat", (time.time(),)))
        assert queue_depth(broker) == 1
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "workers.main",
                "--processes",
                "1",
                "--threads",
                "1",
            ],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not client.exists(HEARTBEAT_KEY):
                time.sleep(0.2)
            beat = client.hgetall(HEARTBEAT_KEY)
        finally:
            worker.terminate()
            worker.wait(20)
        assert beat, "the worker never processed the heartbeat job"
        assert float(beat[b"lag"]) >= 0
        assert worker.returncode == 0
