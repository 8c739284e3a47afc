"""Incidents: one per (rule, label set) while it fires, with a timeline of every change.

A (rule, fingerprint) that fires again within `REOPEN_WINDOW` of being resolved reopens the same
incident instead of opening a new one (flap dampening). Every change writes its timeline row and
then tells the notification side, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from telemetry.alerting import notify
from telemetry.alerting.errors import IncidentStateError
from telemetry.alerting.models import INCIDENT_STATUSES, AlertIncident, AlertRule, IncidentEvent
from telemetry.alerting.repository import IncidentRepository
from tenancy import audit
from tenancy.context import TenantContext
from tenancy.projects import get_project

REOPEN_WINDOW: Final = timedelta(minutes=5)
# Labels that name the rule and its tenant rather than the alerting series.
NOT_FINGERPRINTED: Final = frozenset(
    {"tenant", "project", "alertname", "alertgroup", "tollgate_rule_id"}
)


def fingerprint(labels: Mapping[str, str]) -> str:
    """SHA-256 hex of the sorted label set that identifies the alerting series."""
    kept = sorted((k, v) for k, v in labels.items() if k not in NOT_FINGERPRINTED)
    return hashlib.sha256(json.dumps(kept, separators=(",", ":")).encode()).hexdigest()


async def _event(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    kind: str,
    at: datetime,
    **detail: Any,
) -> None:
    await IncidentRepository(session, context).add_event(
        IncidentEvent(
            id=new_id("iev"),
            org_id=incident.org_id,
            project_id=incident.project_id,
            incident_id=incident.id,
            kind=kind,
            detail=detail,
            at=at,
        )
    )
    await notify.incident_changed(session, context, incident, kind)


async def fire(
    session: AsyncSession,
    context: TenantContext,
    rule: AlertRule,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    value: float | None,
    now: datetime,
    ends_at: datetime | None = None,
) -> AlertIncident:
    """Record that a (rule, label set) fires now: renew, reopen or open its incident."""
    repo = IncidentRepository(session, context)
    print_ = fingerprint(labels)
    incident = await repo.latest(rule.id, print_)
    if incident is not None and incident.status != "resolved":
        incident.last_fired_at, incident.ends_at = now, ends_at
        incident.value, incident.annotations = value, dict(annotations)
        await session.flush()
        return incident
    if (
        incident is not None
        and incident.resolved_at is not None
        and now - incident.resolved_at <= REOPEN_WINDOW
    ):
        incident.status, incident.resolved_at, incident.resolved_by = "firing", None, None
        incident.acknowledged_at = incident.acknowledged_by = None
        incident.last_fired_at, incident.ends_at, incident.value = now, ends_at, value
        await session.flush()
        await _event(session, context, incident, "reopened", now, value=value)
        return incident
    incident = AlertIncident(
        id=new_id("inc"),
        org_id=rule.org_id,
        project_id=rule.project_id,
        rule_id=rule.id,
        fingerprint=print_,
        labels=dict(labels),
        annotations=dict(annotations),
        severity=rule.severity,
        status="firing",
        value=value,
        started_at=now,
        last_fired_at=now,
        ends_at=ends_at,
    )
    await repo.add(incident)
    await _event(session, context, incident, "fired", now, value=value, rule=rule.name)
    return incident


async def resolve_series(
    session: AsyncSession,
    context: TenantContext,
    rule: AlertRule,
    labels: Mapping[str, str],
    now: datetime,
    reason: str,
) -> AlertIncident | None:
    """Resolve the open incident of a (rule, label set), if any."""
    incident = await IncidentRepository(session, context).latest(rule.id, fingerprint(labels))
    if incident is None or incident.status == "resolved":
        return None
    await _resolve(session, context, incident, now, None, reason)
    return incident


async def _resolve(
    session: AsyncSession,
    context: TenantContext,
    incident: AlertIncident,
    now: datetime,
    by: str | None,
    reason: str,
    comment: str | None = None,
) -> None:
    incident.status, incident.resolved_at, incident.resolved_by = "resolved", now, by
    incident.ends_at = None
    await session.flush()
    await _event(session, context, incident, "resolved", now, reason=reason, by=by, comment=comment)


async def resolve_expired(
    session: AsyncSession, context: TenantContext, incident_id: str, now: datetime
) -> bool:
    """Resolve an incident whose vmalert `endsAt` passed without renewal; idempotent."""
    incident = await IncidentRepository(session, context).get(None, incident_id, for_update=True)
    if incident is None or incident.status == "resolved" or incident.ends_at is None:
        return False
    if incident.ends_at >= now:
        return False
    await _resolve(session, context, incident, now, None, "expired")
    return True


async def resolve_rule(
    session: AsyncSession, context: TenantContext, rule: AlertRule, now: datetime, reason: str
) -> int:
    """Resolve every open incident of a rule (disabled, deleted, or no longer matching)."""
    found = await IncidentRepository(session, context).open_of_rule(rule.id)
    for incident in found:
        await _resolve(session, context, incident, now, None, reason)
    return len(found)


async def _incident(
    session: AsyncSession, context: TenantContext, project_id: str, incident_id: str
) -> AlertIncident:
    if not looks_like_id(incident_id, "inc"):
        raise NotFoundError("Incident not found")
    found = await IncidentRepository(session, context).get(project_id, incident_id, for_update=True)
    if found is None:
        raise NotFoundError("Incident not found")
    return found


async def acknowledge(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    incident_id: str,
    comment: str | None = None,
) -> AlertIncident:
    """Acknowledge a firing incident (stops escalation); again is a no-op; audited."""
    incident = await _incident(session, context, project_id, incident_id)
    if incident.status == "acknowledged":
        return incident
    if incident.status == "resolved":
        raise IncidentStateError("A resolved incident cannot be acknowledged")
    now = datetime.now(UTC)
    incident.status, incident.acknowledged_at = "acknowledged", now
    incident.acknowledged_by = context.actor.id
    await session.flush()
    await audit.record(
        session, context, "incident.acknowledged", "incident", incident.id, project_id=project_id
    )
    await _event(
        session, context, incident, "acknowledged", now, by=context.actor.id, comment=comment
    )
    return incident


async def resolve(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    incident_id: str,
    comment: str | None = None,
) -> AlertIncident:
    """Resolve an incident by hand; again is a no-op; audited (a series still firing reopens it)."""
    incident = await _incident(session, context, project_id, incident_id)
    if incident.status == "resolved":
        return incident
    await audit.record(
        session, context, "incident.resolved", "incident", incident.id, project_id=project_id
    )
    await _resolve(
        session, context, incident, datetime.now(UTC), context.actor.id, "manual", comment
    )
    return incident


def check_status(status: str | None) -> str | None:
    """A `status` filter; 400 naming it when unknown."""
    if status is not None and status not in INCIDENT_STATUSES:
        raise ValidationError(f"status: one of {', '.join(INCIDENT_STATUSES)}", field="status")
    return status


async def list_incidents(
    session: AsyncSession,
    context: TenantContext,
    project_id: str,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[AlertIncident]:
    """A page of the project's incidents, newest first."""
    await get_project(session, context, project_id)
    return await IncidentRepository(session, context).page(
        project_id, check_status(status), id_cursor(cursor, "inc"), limit
    )


async def get_incident(
    session: AsyncSession, context: TenantContext, project_id: str, incident_id: str
) -> tuple[AlertIncident, Sequence[IncidentEvent]]:
    """One incident with its timeline; 404 when it is not this project's."""
    if not looks_like_id(incident_id, "inc"):
        raise NotFoundError("Incident not found")
    repo = IncidentRepository(session, context)
    incident = await repo.get(project_id, incident_id)
    if incident is None:
        raise NotFoundError("Incident not found")
    return incident, await repo.timeline(incident.id)
