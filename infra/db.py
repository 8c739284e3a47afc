"""SQLAlchemy async engine, session factory and the unit of work (commit, then send jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from infra import jobs
from infra.orm import Base
from infra.settings import Settings

__all__ = ["Base", "create_engine", "create_session_factory", "unit_of_work"]


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """An asyncpg engine with explicit pool settings and timeouts."""
    return create_async_engine(
        url or settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit on success (jobs are outbox rows of this transaction), then relay them at once.

    A failed commit is re-raised, never swallowed, so the caller sees the real outcome; once the
    commit succeeded nothing after it raises (a job the relay could not send waits in the outbox).
    """
    async with factory() as session:
        jobs.open_buffer(session)
        try:
            yield session
        except BaseException:
            jobs.drop(session)
            await session.rollback()
            raise
        try:
            await session.commit()
        except BaseException:
            jobs.drop(session)
            raise
        await jobs.flush(session)
