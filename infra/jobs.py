"""After-commit job buffer: jobs queued in a unit of work leave only when it commits.

The buffer lives on the session (`session.info`), not in a context variable: frameworks may
run a dependency's setup and teardown in different contexts, but the session is the unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

AfterCommit = Callable[[], Awaitable[None]]
_KEY = "tollgate_job_buffer"


@dataclass(frozen=True)
class Job:
    """One background job: an actor name and its JSON-serializable arguments."""

    actor: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    delay: timedelta | None = None  # run no sooner than this long after the commit


@dataclass
class Buffer:
    """What a unit of work releases only after it commits."""

    jobs: list[Job] = field(default_factory=list)
    callbacks: list[AfterCommit] = field(default_factory=list)


class JobSender(Protocol):
    """Something that hands jobs to the queue (the Dramatiq broker in production)."""

    def send(self, job: Job) -> None:
        """Put one job on its queue."""


class NoJobSenderError(RuntimeError):
    """A unit of work committed jobs but no sender was installed in this process."""


_sender: JobSender | None = None


def install_sender(sender: JobSender | None) -> None:
    """Set the process-wide sender used when a buffer is flushed."""
    global _sender
    _sender = sender


def open_buffer(session: AsyncSession) -> Buffer:
    """Attach a fresh buffer to a unit of work's session."""
    buffer = Buffer()
    session.info[_KEY] = buffer
    return buffer


def _buffer(session: AsyncSession) -> Buffer:
    buffer = session.info.get(_KEY)
    if not isinstance(buffer, Buffer):
        raise RuntimeError("jobs need a unit of work: they leave only after its commit")
    return buffer


def enqueue(session: AsyncSession, actor: str, *args: Any, **kwargs: Any) -> None:
    """Queue a job to leave when the session's unit of work commits."""
    _buffer(session).jobs.append(Job(actor, args, kwargs))


def enqueue_later(
    session: AsyncSession, delay: timedelta, actor: str, *args: Any, **kwargs: Any
) -> None:
    """Queue a job to leave when the session's unit of work commits, and run `delay` later."""
    _buffer(session).jobs.append(Job(actor, args, kwargs, delay))


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run a coroutine function once the unit of work has committed (e.g. a publish)."""
    _buffer(session).callbacks.append(callback)


def drop(session: AsyncSession) -> None:
    """Forget everything buffered (the unit of work rolled back)."""
    session.info.pop(_KEY, None)


async def flush(session: AsyncSession) -> None:
    """Send every buffered job and run the callbacks; called only after a successful commit."""
    buffer = session.info.pop(_KEY, None)
    if not isinstance(buffer, Buffer):
        return
    if buffer.jobs:
        if _sender is None:
            raise NoJobSenderError(f"{len(buffer.jobs)} job(s) committed with no sender installed")
        for job in buffer.jobs:
            _sender.send(job)
    for callback in buffer.callbacks:
        await callback()
