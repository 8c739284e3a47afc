"""The check alert rules make of the channels and escalation policy they name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import ValidationError
from telemetry.notifications import channels, policies
from telemetry.notifications.models import CHANNEL_TYPES
from telemetry.notifications.repository import NotificationRepository
from tenancy.context import TenantContext


async def resolve_types(
    session: AsyncSession, context: TenantContext, names: Sequence[str], field: str
) -> list[str]:
    """Channel ids for `names`, a type name (seed 000's `"slack"`) standing for every enabled
    channel of that type the org has now; 422 naming the field when it has none."""
    repo = NotificationRepository(session, context)
    resolved: list[str] = []
    for name in names:
        if name not in CHANNEL_TYPES:
            resolved.append(name)
            continue
        found = await repo.enabled_channels_of_type(name)
        if not found:
            raise ValidationError(
                f"{field}: this organization has no enabled {name} channel", field=field
            )
        resolved.extend(found)
    return list(dict.fromkeys(resolved))


async def validate(
    session: AsyncSession,
    context: TenantContext,
    channel_ids: Sequence[str],
    escalation_policy: str | None,
    field: str = "channels",
) -> list[str]:
    """The channel ids (type names mapped to the org's channels of that type); 422 naming
    `field` or `escalation_policy` unless each is the org's."""
    ids = await resolve_types(session, context, channel_ids, field)
    await channels.check_ids(session, context, ids, field)
    if escalation_policy and await policies.find(session, context, escalation_policy) is None:
        raise ValidationError(
            f"escalation_policy: no escalation policy {escalation_policy[:40]!r} in this "
            "organization",
            field="escalation_policy",
        )
    return ids
