"""Jobs of a unit of work: outbox rows of its transaction, relayed to the queue after it commits.

`enqueue` writes the job into the session's transaction (see `infra.outbox`), so it exists
exactly when the change does. After the commit the unit of work relays its own rows at once;
whatever that relay could not send (broker down, process killed) the periodic relay sends later.
The buffer on the session (`session.info`, not a context variable: frameworks may run a
dependency's setup and teardown in different contexts) remembers which rows are this unit's and
holds after-commit callbacks, which are best-effort: use them only for what may be lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from infra import outbox
from infra.logging import get_logger
from infra.outbox import Job, JobSender

log = get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_KEY = "tollgate_job_buffer"

__all__ = [
    "AfterCommit",
    "Buffer",
    "Job",
    "JobSender",
    "NoJobSenderError",
    "after_commit",
    "drop",
    "enqueue",
    "enqueue_later",
    "flush",
    "install_sender",
    "installed_sender",
    "open_buffer",
]


@dataclass
class Buffer:
    """What a unit of work wrote to the outbox, and what it runs after it commits."""

    rows: list[outbox.OutboxJob] = field(default_factory=list)
    callbacks: list[AfterCommit] = field(default_factory=list)


class NoJobSenderError(RuntimeError):
    """A relay was asked to send jobs but no sender was installed in this process."""


_sender: JobSender | None = None


def install_sender(sender: JobSender | None) -> None:
    """Set the process-wide sender the relays hand jobs to."""
    global _sender
    _sender = sender


def installed_sender() -> JobSender:
    """The process-wide sender; refused when none was installed."""
    if _sender is None:
        raise NoJobSenderError("no job sender is installed in this process")
    return _sender


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
    """Write a job into the session's transaction; it leaves once that commits."""
    _buffer(session).rows.append(outbox.add(session, Job(actor, args, kwargs)))


def enqueue_later(
    session: AsyncSession, delay: timedelta, actor: str, *args: Any, **kwargs: Any
) -> None:
    """Write a job into the session's transaction, to run `delay` after it is committed."""
    _buffer(session).rows.append(outbox.add(session, Job(actor, args, kwargs, delay)))


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run a coroutine function after the commit (best-effort: e.g. a cache invalidation)."""
    _buffer(session).callbacks.append(callback)


def drop(session: AsyncSession) -> None:
    """Forget the buffer (the unit of work rolled back, and its outbox rows with it)."""
    session.info.pop(_KEY, None)


async def flush(session: AsyncSession) -> None:
    """Relay this unit of work's rows and run its callbacks; called only after a commit.

    Never raises: the change is committed, so its caller must see success. A row that could not
    be sent stays in the outbox for the periodic relay; a failed callback is logged.
    """
    buffer = session.info.pop(_KEY, None)
    if not isinstance(buffer, Buffer):
        return
    # The identity survives expiry and needs no load; rows of a rolled-back savepoint have none.
    identities = (inspect(row).identity for row in buffer.rows)
    ids = [identity[0] for identity in identities if identity is not None]
    if ids:
        await _relay_now(session, ids)
    for callback in buffer.callbacks:
        try:
            await callback()
        except Exception:
            log.warning("after_commit.failed", callback=_name(callback), exc_info=True)


async def _relay_now(session: AsyncSession, ids: list[int]) -> None:
    if _sender is None:
        log.warning("outbox.no_sender", pending=len(ids))  # the periodic relay sends them
        return
    try:
        # In committed batches, so a unit of work that made many jobs sends all of them now.
        for start in range(0, len(ids), outbox.RELAY_BATCH):
            batch = ids[start : start + outbox.RELAY_BATCH]
            sent = await outbox.relay(session, _sender, ids=batch, durable=False)
            await session.commit()
            if sent < len(batch):  # the broker failed: the periodic relay sends the rest
                break
    except Exception:
        log.warning("outbox.relay_failed", pending=len(ids), exc_info=True)
        try:
            await session.rollback()
        except Exception:  # the connection is gone; closing the session discards it
            log.warning("outbox.rollback_failed", exc_info=True)


def _name(callback: AfterCommit) -> str:
    return getattr(callback, "__qualname__", type(callback).__name__)
