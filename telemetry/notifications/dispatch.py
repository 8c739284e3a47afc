"""Who hears about an incident and when: grouping, silences, ack, resolution, escalation.

Grouping is per rule (Alertmanager's timers): the first trigger of a quiet rule waits
`group_wait`, so incidents firing together go out together; later ones go out on the rule's
`group_interval` ticks; a still-firing, unacknowledged incident is re-announced every
`repeat_interval`. Each incident is its own message (PagerDuty needs one event per dedup_key);
grouping decides when messages leave, not how many. The rule model has no timer fields, so the
timers are the module's `GROUPING` (tests replace it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.alerting.models import AlertIncident, AlertRule
from telemetry.notifications import delivery, policies
from telemetry.notifications.models import NotificationChannel, NotificationDelivery
from telemetry.notifications.repository import NotificationRepository
from telemetry.notifications.silences import silencing
from tenancy.context import TenantContext


@dataclass(frozen=True)
class Grouping:
    """Alertmanager-style timers of one rule."""

    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)


GROUPING = Grouping()
SWEEP_BATCH = 500


def grouping_for(rule: AlertRule) -> Grouping:
    """The rule's timers (the defaults: rules carry none of their own yet)."""
    return GROUPING


def send_time(last: datetime | None, now: datetime, timers: Grouping) -> datetime:
    """When a new trigger of a group whose newest trigger is due at `last` goes out."""
    if last is None or last + timers.group_interval <= now:
        return now + timers.group_wait  # a quiet group: wait for its companions
    if last >= now:
        return last  # a batch is waiting: join it
    return last + timers.group_interval  # sent lately: the next tick


def facts(incident: AlertIncident, rule: AlertRule | None, **extra: Any) -> dict[str, Any]:
    """The incident as messages describe it."""
    return {
        "incident_id": incident.id,
        "project_id": incident.project_id,
        "rule_id": incident.rule_id,
        "rule_name": rule.name if rule else "",
        "status": incident.status,
        "severity": incident.severity,
        "labels": dict(incident.labels or {}),
        "annotations": dict(incident.annotations or {}),
        "value": incident.value,
        "started_at": incident.started_at.isoformat() if incident.started_at else None,
        **extra,
    }


async def _enabled(
    session: AsyncSession, context: TenantContext, ids: Sequence[str]
) -> Sequence[NotificationChannel]:
    found = await NotificationRepository(session, context).channels(list(ids))
    return [channel for channel in found if channel.enabled]


async def _trigger(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    rule: AlertRule,
    now: datetime,
) -> int:
    """Queue a trigger for every channel of the rule at the group's next send time."""
    targets = await _enabled(session, context, rule.channels or [])
    if not targets:
        return 0
    last = await NotificationRepository(session, context).last_group_send(rule.id)
    at = send_time(last, now, grouping_for(rule))
    for channel in targets:
        delivery.queue(
            session,
            context,
            channel,
            "trigger",
            facts(incident, rule),
            at=at,
            now=now,
            incident=incident,
            group_key=rule.id,
        )
    await session.flush()
    return len(targets)


async def _skip_unsent(
    session: AsyncSession, context: TenantContext, incident_id: str, what: str
) -> None:
    """Announcements not yet attempted are moot once the incident is acknowledged or resolved."""
    await session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.org_id == context.org_id,
            NotificationDelivery.incident_id == incident_id,
            NotificationDelivery.kind.in_(("trigger", "escalate")),
            NotificationDelivery.status == "pending",
            NotificationDelivery.attempts == 0,
        )
        .values(
            status="skipped",
            last_error=f"the incident was {what} before it was sent",
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )


async def incident_changed(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    event_kind: str,
    now: datetime | None = None,
) -> None:
    """Queue the notifications an incident event calls for (they leave after commit)."""
    now = now or datetime.now(UTC)
    rule = await session.get(AlertRule, incident.rule_id)
    repository = NotificationRepository(session, context)
    if event_kind in ("fired", "reopened"):
        if rule is None:
            return
        silence = await silencing(session, context, incident.project_id, incident.labels, now)
        if silence is not None:
            await delivery.timeline(
                session, context, incident, "silenced", {"silence_id": silence.id}, now
            )
            return
        await _trigger(session, context, incident, rule, now)
    elif event_kind == "acknowledged":
        await _skip_unsent(session, context, incident.id, "acknowledged")
        notified = await _enabled(session, context, await repository.notified_channels(incident.id))
        for channel in notified:
            if channel.type == "pagerduty":
                delivery.queue(
                    session,
                    context,
                    channel,
                    "acknowledge",
                    facts(incident, rule, acknowledged_by=incident.acknowledged_by),
                    at=now,
                    now=now,
                    incident=incident,
                )
    elif event_kind == "resolved":
        await _skip_unsent(session, context, incident.id, "resolved")
        notified = await _enabled(session, context, await repository.notified_channels(incident.id))
        resolution = (
            f"resolved by {incident.resolved_by}"
            if incident.resolved_by
            else "the condition cleared"
        )
        for channel in notified:
            delivery.queue(
                session,
                context,
                channel,
                "resolve",
                facts(incident, rule, resolution=resolution),
                at=now,
                now=now,
                incident=incident,
            )
    await session.flush()


async def _escalate(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    rule: AlertRule,
    now: datetime,
) -> int:
    policy = await policies.find(session, context, rule.escalation_policy)
    if policy is None:
        return 0
    done = await NotificationRepository(session, context).escalated_steps(incident.id)
    queued = 0
    for index, step in enumerate(policy.steps):
        due = incident.started_at + timedelta(minutes=int(step["after_minutes"]))
        if index in done or due > now:
            continue
        targets = await _enabled(session, context, step["channels"])
        for channel in targets:
            delivery.queue(
                session,
                context,
                channel,
                "escalate",
                facts(incident, rule, step=index),
                at=now,
                now=now,
                incident=incident,
                step=index,
            )
        await delivery.timeline(
            session,
            context,
            incident,
            "escalated",
            {"step": index, "policy_id": policy.id, "channels": [c.id for c in targets]},
            now,
        )
        queued += len(targets)
    return queued


async def sweep(session: AsyncSession, context: TenantContext, now: datetime) -> int:
    """Escalate and re-announce the org's firing, unacknowledged incidents; how many queued.

    Each incident row is locked while it is looked at, so two sweeps cannot both escalate it.
    """
    query = (
        select(AlertIncident, AlertRule)
        .join(AlertRule, AlertRule.id == AlertIncident.rule_id)
        .where(AlertIncident.org_id == context.org_id, AlertIncident.status == "firing")
        .order_by(AlertIncident.id)
        .limit(SWEEP_BATCH)
        .with_for_update(of=AlertIncident, skip_locked=True)
    )
    repository = NotificationRepository(session, context)
    queued = 0
    for incident, rule in (await session.execute(query)).all():
        queued += await _escalate(session, context, incident, rule, now)
        last = await repository.last_trigger(incident.id)
        timers = grouping_for(rule)
        due = last is None or last + timers.repeat_interval <= now
        if not due or not rule.channels:
            continue
        if await silencing(session, context, incident.project_id, incident.labels, now):
            continue
        # Never announced (silenced when it fired, or channels added since) or due a repeat.
        queued += await _trigger(session, context, incident, rule, now)
    await session.flush()
    return queued
