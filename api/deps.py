"""Dependencies shared by controllers: resources and the per-request unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from api.resources import Resources
from infra import jobs
from infra.db import unit_of_work

_OPEN_SESSIONS = "tollgate_open_sessions"


def provide_resources(state: State) -> Resources:
    """The process's resources."""
    resources: Resources = state.resources
    return resources


async def provide_db_session(state: State, scope: Scope) -> AsyncIterator[AsyncSession]:
    """A session that commits when the handler succeeds (re-raising a failed commit).

    Hazard: Litestar never resumes this generator when a later dependency raises (a 401, 403 or
    404 from authz), so the session is registered on the request and `close_abandoned_sessions`
    rolls it back before the error response; otherwise its connection stays checked out, idle
    in transaction, until the garbage collector finalizes the generator.
    """
    resources: Resources = state.resources
    opened: list[AsyncSession] = scope.setdefault("state", {}).setdefault(_OPEN_SESSIONS, [])
    async with unit_of_work(resources.session_factory) as session:
        opened.append(session)
        try:
            yield session
        finally:
            if session in opened:
                opened.remove(session)


async def close_abandoned_sessions(exc: Exception, scope: Scope) -> None:
    """After-exception hook: roll back and close sessions whose dependency cleanup never ran."""
    opened: list[AsyncSession] = scope.get("state", {}).get(_OPEN_SESSIONS, [])
    while opened:
        session = opened.pop()
        jobs.drop(session)
        await session.close()


DbSession = NamedDependency[AsyncSession]
AppResources = NamedDependency[Resources]
