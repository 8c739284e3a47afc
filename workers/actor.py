"""The actor decorator: every actor runs in a unit of work with a session and a job buffer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from infra.db import unit_of_work
from workers import runtime
from workers.broker import broker

P = ParamSpec("P")
ActorBody = Callable[Concatenate[AsyncSession, P], Awaitable[None]]

# Dramatiq runs coroutine actors on its own event-loop thread; these are the coroutines themselves,
# for running an actor inline in an event loop of our own (tests, one-off commands).
_RUNNERS: dict[str, Callable[..., Awaitable[None]]] = {}


async def run_inline(name: str, *args: Any, **kwargs: Any) -> None:
    """Run an actor's unit of work in the current event loop, as a worker would."""
    await _RUNNERS[name](*args, **kwargs)


def actor(
    name: str, *, queue: str = "default", **options: Any
) -> Callable[[ActorBody[P]], dramatiq.Actor[P, Awaitable[None]]]:
    """Declare an actor named `domain.verb` whose body receives a session first.

    The session commits when the body returns; jobs the body enqueued leave only then.
    """

    def decorate(body: ActorBody[P]) -> dramatiq.Actor[P, Awaitable[None]]:
        async def run(*args: P.args, **kwargs: P.kwargs) -> None:
            async with unit_of_work(runtime.session_factory()) as session:
                await body(session, *args, **kwargs)

        _RUNNERS[name] = run
        run.__name__ = body.__name__
        run.__qualname__ = body.__qualname__
        run.__doc__ = body.__doc__
        declared: dramatiq.Actor[P, Awaitable[None]] = dramatiq.actor(
            actor_name=name, queue_name=queue, broker=broker, **options
        )(run)
        return declared

    return decorate
