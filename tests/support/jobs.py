"""Job senders for tests: one that records, and a real broker whose Redis is unreachable."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from infra import jobs
from infra.db import create_session_factory, unit_of_work
from workers.broker import NAMESPACE, broker


class RecordingSender:
    """Collects the jobs a relay hands over."""

    def __init__(self) -> None:
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)


def broken_broker() -> dramatiq.Broker:
    """A real Dramatiq Redis broker pointed at a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # No retries: a production client retries for about 3.5 s before it gives up.
    client = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    target = RedisBroker(client=client, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    for declared in broker.actors.values():  # it knows every actor, as the real one does
        target.actors[declared.actor_name] = declared
    return target


async def age_outbox(session: AsyncSession, by: timedelta) -> None:
    """Pretend every outbox row was written `by` earlier (its unit of work died long ago)."""
    await session.execute(
        text(
            "UPDATE job_outbox SET created_at = created_at - CAST(:by AS interval), "
            "run_at = run_at - CAST(:by AS interval)"
        ),
        {"by": by},
    )


async def commit_without_relay(factory: async_sessionmaker[AsyncSession], *args: float) -> None:
    """A unit of work that commits heartbeat jobs, then dies before relaying them."""
    jobs.install_sender(None)  # no sender: its own relay sends nothing, as after a crash
    async with unit_of_work(factory) as session:
        for arg in args:
            jobs.enqueue(session, "system.heartbeat", arg)


@pytest.fixture
async def committed(app_engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit, each on its own connection; the outbox is emptied after."""
    factory = create_session_factory(app_engine)
    yield factory
    async with factory() as session:
        await session.execute(text("DELETE FROM job_outbox"))
        await session.commit()
