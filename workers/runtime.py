"""Per-process resources of a worker: the engine and session factory, made lazily."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.db import create_engine, create_session_factory
from infra.redis import create_redis
from infra.settings import get_settings

_factory: async_sessionmaker[AsyncSession] | None = None


def session_factory() -> async_sessionmaker[AsyncSession]:
    """The worker's session factory (made on first use, inside the worker's event loop)."""
    global _factory
    if _factory is None:
        _factory = create_session_factory(create_engine(get_settings()))
    return _factory


def use_session_factory(factory: async_sessionmaker[AsyncSession] | None) -> None:
    """Swap the session factory (tests bind it to a rolled-back connection)."""
    global _factory
    _factory = factory


__all__ = ["create_redis", "session_factory", "use_session_factory"]
