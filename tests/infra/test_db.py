"""The unit of work: commit then send jobs; roll back and drop them; re-raise failed commits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from infra import jobs
from infra.db import create_engine, create_session_factory, unit_of_work
from infra.settings import Settings


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[jobs.Job] = []

    def send(self, job: jobs.Job) -> None:
        self.sent.append(job)


@pytest.fixture
def sender() -> AsyncIterator[RecordingSender]:
    recording = RecordingSender()
    jobs.install_sender(recording)
    yield recording  # type: ignore[misc]
    jobs.install_sender(None)


@pytest.fixture
async def one_connection_engine(
    settings: Settings, migrated_database: str
) -> AsyncIterator[AsyncEngine]:
    """An engine with a single pooled connection, so a temp table outlives one session."""
    engine = create_engine(settings.model_copy(update={"database_pool_size": 1}))
    yield engine
    await engine.dispose()


class TestUnitOfWork:
    async def test_jobs_leave_after_commit(
        self, session_factory: async_sessionmaker[AsyncSession], sender: RecordingSender
    ) -> None:
        async with unit_of_work(session_factory) as session:
            await session.execute(text("SELECT 1"))
            jobs.enqueue(session, "system.heartbeat", 1.0)
            assert sender.sent == []
        assert sender.sent == [jobs.Job("system.heartbeat", (1.0,), {})]

    async def test_jobs_are_dropped_on_rollback(
        self, session_factory: async_sessionmaker[AsyncSession], sender: RecordingSender
    ) -> None:
        with pytest.raises(RuntimeError, match="handler failed"):
            async with unit_of_work(session_factory) as session:
                jobs.enqueue(session, "system.heartbeat", 1.0)
                raise RuntimeError("handler failed")
        assert sender.sent == []

    async def test_rollback_discards_writes(
        self, one_connection_engine: AsyncEngine, sender: RecordingSender
    ) -> None:
        factory = create_session_factory(one_connection_engine)
        async with unit_of_work(factory) as session:
            await session.execute(text("CREATE TEMP TABLE uow_probe (id int)"))
        with pytest.raises(RuntimeError):
            async with unit_of_work(factory) as session:
                await session.execute(text("INSERT INTO uow_probe VALUES (1)"))
                raise RuntimeError("boom")
        async with unit_of_work(factory) as session:
            assert await session.scalar(text("SELECT count(*) FROM uow_probe")) == 0

    async def test_failed_commit_is_reraised_and_drops_jobs(
        self, one_connection_engine: AsyncEngine, sender: RecordingSender
    ) -> None:
        factory = create_session_factory(one_connection_engine)
        async with unit_of_work(factory) as session:
            await session.execute(
                text(
                    "CREATE TEMP TABLE uow_deferred (id int, CONSTRAINT uow_unique UNIQUE (id) "
                    "DEFERRABLE INITIALLY DEFERRED)"
                )
            )
        with pytest.raises(IntegrityError):
            async with unit_of_work(factory) as session:
                await session.execute(text("INSERT INTO uow_deferred VALUES (1), (1)"))
                jobs.enqueue(session, "system.heartbeat", 2.0)
        assert sender.sent == []

    async def test_enqueue_outside_a_unit_of_work_is_refused(
        self, db_session: AsyncSession
    ) -> None:
        with pytest.raises(RuntimeError, match="need a unit of work"):
            jobs.enqueue(db_session, "system.heartbeat", 1.0)

    async def test_app_role_is_not_the_owner(self, db_session: AsyncSession) -> None:
        row = (
            await db_session.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
        assert tuple(row) == (False, False)
