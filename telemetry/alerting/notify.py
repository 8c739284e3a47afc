"""Notifications of incident changes (channels, grouping, silences, escalation)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.alerting.models import AlertIncident
from tenancy.context import TenantContext


async def incident_changed(
    session: AsyncSession, context: TenantContext, incident: AlertIncident, event_kind: str
) -> None:
    """React to an incident that fired, reopened, was acknowledged or resolved.

    Called by the incident code after it wrote the `incident_events` row for `event_kind`, in the
    same transaction; deliveries must leave only after commit.
    """
    # Imported here so this module stays the alerting side's only contact point.
    from telemetry.notifications import dispatch

    await dispatch.incident_changed(session, context, incident, event_kind)


async def validate_targets(
    session: AsyncSession,
    context: TenantContext,
    channels: Sequence[str],
    escalation_policy: str | None,
    field: str = "channels",
) -> list[str]:
    """The rule's channel ids, a type name (`"slack"`) mapped to the org's enabled channels of
    that type; 422 naming the field unless every channel and the policy are this org's."""
    from telemetry.notifications import targets

    return await targets.validate(session, context, channels, escalation_policy, field)
