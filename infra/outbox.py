"""Transactional outbox: jobs are rows of the transaction that made them, relayed to the queue.

A row is written with the change it belongs to, so a job exists exactly when its change was
committed. A relay claims rows by deleting them (`DELETE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED)`: two relays never hold the same row), hands them to the queue, then commits the delete.
A crash between the send and that commit sends the row again later: delivery is at least once,
so actors must be idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, delete, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from infra.logging import get_logger
from infra.orm import Base

log = get_logger(__name__)

# Rows claimed and sent per relay transaction: bounds the locks held and the work redone on a crash.
RELAY_BATCH = 200
# The periodic relay leaves rows younger than this to the relay of the unit of work that wrote them.
RELAY_GRACE = timedelta(seconds=5)


@dataclass(frozen=True)
class Job:
    """One background job: an actor name and its JSON-serializable arguments."""

    actor: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    delay: timedelta | None = None  # run no sooner than this long after the commit


class JobSender(Protocol):
    """Something that hands jobs to the queue (the Dramatiq broker in production)."""

    def send(self, job: Job) -> None:
        """Put one job on its queue."""


class OutboxJob(Base):
    """A committed job not yet handed to the queue (global: relays serve every tenant)."""

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSONB)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the job may run, fixed when the row is flushed (at the latest by the commit), so a row
    # relayed late by the periodic relay still runs when it was asked to, not later.
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def add(session: AsyncSession, job: Job) -> OutboxJob:
    """Write a job into the session's transaction (flushed with it, gone if it rolls back)."""
    row = OutboxJob(actor=job.actor, args=list(job.args), kwargs=dict(job.kwargs))
    if job.delay is not None and job.delay > timedelta(0):
        # clock time, not now(): a long unit of work must not have used up the delay already.
        row.run_at = func.clock_timestamp() + job.delay
    session.add(row)
    return row


async def relay(
    session: AsyncSession,
    sender: JobSender,
    *,
    ids: Sequence[int] | None = None,
    min_age: timedelta | None = None,
    limit: int = RELAY_BATCH,
    durable: bool = True,
) -> int:
    """Claim up to `limit` rows, send them; returns how many were sent. The caller commits.

    `ids` restricts the claim to one unit of work's rows, `min_age` to rows at least that old.
    The claim deletes the rows in this transaction and holds their locks until the commit, so a
    relay running meanwhile skips them. The first failed send stops the batch (the broker is
    likely down): the transaction is rolled back and only the rows already sent are deleted.
    With `durable=False` the commit does not wait for the WAL flush: a delete lost in a database
    crash only means the job is sent again, and the request is spared a second disk flush.
    """
    if not durable:
        await session.execute(text("SET LOCAL synchronous_commit = off"))
    now = func.clock_timestamp()
    claim = select(OutboxJob.id)
    if ids is not None:
        claim = claim.where(OutboxJob.id.in_(ids))
    if min_age is not None:
        claim = claim.where(OutboxJob.created_at <= now - min_age)
    claim = claim.order_by(OutboxJob.id).limit(limit).with_for_update(skip_locked=True)
    wait = func.greatest(OutboxJob.run_at - now, timedelta(0))
    claimed = await session.execute(
        delete(OutboxJob)
        .where(OutboxJob.id.in_(claim.scalar_subquery()))
        .returning(OutboxJob.id, OutboxJob.actor, OutboxJob.args, OutboxJob.kwargs, wait)
    )
    sent: list[int] = []
    for row_id, actor, args, kwargs, remaining in sorted(claimed.all()):
        try:
            sender.send(Job(actor, tuple(args), dict(kwargs), remaining or None))
        except Exception as exc:  # an outage, not a bug: one line, no traceback
            log.warning("outbox.send_failed", actor=actor, outbox_id=row_id, error=repr(exc))
            await session.rollback()  # every claimed row is back, unlocked
            if sent:
                await session.execute(delete(OutboxJob).where(OutboxJob.id.in_(sent)))
            break
        sent.append(row_id)
    return len(sent)


async def relay_pending(
    session: AsyncSession, sender: JobSender, *, min_age: timedelta = RELAY_GRACE
) -> int:
    """Relay every row older than `min_age`, one committed batch at a time (the periodic repair)."""
    total = 0
    while True:
        sent = await relay(session, sender, min_age=min_age)
        await session.commit()
        total += sent
        if sent < RELAY_BATCH:
            break
    if total:
        log.info("outbox.relayed", jobs=total)
    return total
