"""Deliveries: queued in the caller's transaction, sent after commit, retried with backoff.

Each job carries the attempt it is meant to make, as org webhooks do: a duplicate or stale
message finds the count moved on and sends nothing. Each sent message is logged on the
incident's timeline (`notified`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra.crypto import SecretBox
from infra.cursors import id_cursor
from infra.errors import NotFoundError
from infra.ids import new_id
from telemetry.alerting.models import AlertIncident, IncidentEvent
from telemetry.notifications import channels as channel_service
from telemetry.notifications import senders
from telemetry.notifications.models import NotificationChannel, NotificationDelivery
from telemetry.notifications.repository import NotificationRepository
from telemetry.notifications.silences import silencing
from tenancy.context import TenantContext
from tenancy.webhooks import retry_delay

DELIVER_ACTOR = "notifications.deliver"
MAX_PAGE = 200
MAX_ATTEMPTS = 6  # 10 s, 40 s, 160 s, ~11 min, ~43 min: about an hour in all
# Kinds that announce an open incident: not sent once it is resolved (or acknowledged, for
# triggers), nor while a silence matches it.
_ANNOUNCING = ("trigger", "escalate")


async def timeline(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    kind: str,
    detail: Mapping[str, Any],
    at: datetime | None = None,
) -> None:
    """Append an event to the incident's timeline."""
    session.add(
        IncidentEvent(
            id=new_id("iev"),
            org_id=context.org_id,
            project_id=incident.project_id,
            incident_id=incident.id,
            kind=kind,
            detail=dict(detail),
            at=at or datetime.now(UTC),
        )
    )
    await session.flush()


def queue(
    session: AsyncSession,
    context: TenantContext,
    channel: NotificationChannel,
    kind: str,
    facts: Mapping[str, Any],
    *,
    at: datetime,
    now: datetime,
    incident: AlertIncident | None = None,
    group_key: str | None = None,
    step: int | None = None,
) -> NotificationDelivery:
    """A pending delivery due at `at`; its job leaves after commit (delayed until `at`)."""
    delivery = NotificationDelivery(
        id=new_id("ntd"),
        org_id=context.org_id,
        project_id=incident.project_id if incident else None,
        incident_id=incident.id if incident else None,
        group_key=group_key,
        channel_id=channel.id,
        kind=kind,
        step=step,
        status="pending",
        payload=dict(facts),
        attempts=0,
        scheduled_at=at,
        next_attempt_at=at,
    )
    session.add(delivery)
    delay = max(at - now, timedelta(0))
    jobs.enqueue_later(session, delay, DELIVER_ACTOR, context.org_id, delivery.id, 1)
    return delivery


async def _stale_reason(
    session: AsyncSession, context: TenantContext, delivery: NotificationDelivery, now: datetime
) -> str | None:
    """Why an announcement queued earlier should no longer go out, if it should not."""
    if delivery.kind not in _ANNOUNCING or delivery.incident_id is None:
        return None
    incident = await session.get(AlertIncident, delivery.incident_id)
    if incident is None or incident.status == "resolved":
        return "the incident was resolved before it was sent"
    if incident.status == "acknowledged":
        return "the incident was acknowledged before it was sent"
    silence = await silencing(session, context, incident.project_id, incident.labels, now)
    if silence is not None:
        return f"silenced by {silence.id}"
    return None


async def attempt(
    session: AsyncSession,
    context: TenantContext,
    delivery: NotificationDelivery,
    channel: NotificationChannel,
    number: int,
    *,
    transport: senders.Transport,
    box: SecretBox,
    now: datetime,
) -> None:
    """Make attempt `number` of a locked delivery and record how it went."""
    outcome = await senders.send(
        transport,
        channel.type,
        channel.config,
        channel_service.secrets_of(channel, box),
        delivery.kind,
        delivery.payload,
        delivery.id,
        delivery.created_at,
    )
    delivery.attempts = number
    delivery.last_status, delivery.last_error = outcome.status, outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        if delivery.incident_id is not None:
            incident = await session.get(AlertIncident, delivery.incident_id)
            if incident is not None:
                detail = {"channel_id": channel.id, "channel_type": channel.type}
                await timeline(
                    session,
                    context,
                    incident,
                    "notified",
                    {**detail, "kind": delivery.kind, "delivery_id": delivery.id},
                    now,
                )
    elif number < MAX_ATTEMPTS and delivery.kind != "test":
        delay = retry_delay(number)
        delivery.next_attempt_at = now + delay
        jobs.enqueue_later(session, delay, DELIVER_ACTOR, context.org_id, delivery.id, number + 1)
    else:
        delivery.status, delivery.next_attempt_at = "failed", None  # the log keeps the answer
    await session.flush()


async def deliver(
    session: AsyncSession,
    context: TenantContext,
    delivery_id: str,
    number: int,
    *,
    transport: senders.Transport,
    box: SecretBox,
    now: datetime | None = None,
) -> None:
    """The job: make one attempt unless it was made, the channel went, or the news is stale.

    Hazard: the row stays locked during the send (at most the outbound timeout), so a duplicate
    job waits and then sees the attempt already made.
    """
    now = now or datetime.now(UTC)
    repository = NotificationRepository(session, context)
    delivery = await repository.delivery_for_update(delivery_id)
    if delivery is None or delivery.status != "pending" or delivery.attempts != number - 1:
        return
    channel = await repository.get(NotificationChannel, delivery.channel_id)
    assert channel is not None  # noqa: S101 (deliveries cascade with their channel)
    reason = "channel disabled" if not channel.enabled else None
    reason = reason or await _stale_reason(session, context, delivery, now)
    if reason is not None:
        delivery.status, delivery.last_error, delivery.next_attempt_at = "skipped", reason, None
        await session.flush()
        return
    await attempt(
        session, context, delivery, channel, number, transport=transport, box=box, now=now
    )


async def send_test(
    session: AsyncSession,
    context: TenantContext,
    channel: NotificationChannel,
    *,
    transport: senders.Transport,
    box: SecretBox,
) -> NotificationDelivery:
    """Send a test message now (one attempt, no retry) and log it; the answer is the result."""
    now = datetime.now(UTC)
    delivery = NotificationDelivery(
        id=new_id("ntd"),
        org_id=context.org_id,
        channel_id=channel.id,
        kind="test",
        status="pending",
        payload={"test": True, "channel_id": channel.id, "channel_name": channel.name},
        attempts=0,
        scheduled_at=now,
        next_attempt_at=None,
    )
    await NotificationRepository(session, context).add(delivery)
    await attempt(session, context, delivery, channel, 1, transport=transport, box=box, now=now)
    return delivery


async def incident_log(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    incident_id: str,
    after: str | None,
    limit: int,
) -> Sequence[NotificationDelivery]:
    """A page of an incident's deliveries, oldest first; 404 unless it is the project's."""
    # The id's prefix belongs to the incident code; a key longer than the column finds nothing.
    incident = await session.get(AlertIncident, incident_id) if len(incident_id) <= 32 else None
    if incident is None or incident.project_id != project_id or incident.org_id != context.org_id:
        raise NotFoundError("Incident not found")
    after = id_cursor(after, "ntd")
    return await NotificationRepository(session, context).incident_deliveries(
        incident.id, after, min(limit, MAX_PAGE)
    )
