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
from sqlalchemy.orm import DeclarativeBase

from infra import jobs
from infra.settings import Settings


class Base(DeclarativeBase):
    """Declarative base of every ORM model."""


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
    """Commit on success and then send buffered jobs; roll back and drop them on error.

    A failed commit is re-raised, never swallowed, so the caller sees the real outcome.
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
