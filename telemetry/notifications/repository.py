"""Queries of channels, escalation policies, silences and deliveries (scoped by context)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.notifications.models import (
    EscalationPolicy,
    NotificationChannel,
    NotificationDelivery,
    Silence,
)
from tenancy.context import TenantContext

Owned = TypeVar("Owned", NotificationChannel, EscalationPolicy, Silence, NotificationDelivery)


class NotificationRepository:
    """Notification rows of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def add(self, row: Any) -> None:
        """Insert a row of this org."""
        row.org_id = self.context.org_id
        self.session.add(row)
        await self.session.flush()

    async def delete(self, row: Any) -> None:
        """Delete a row."""
        await self.session.delete(row)
        await self.session.flush()

    async def get(self, model: type[Owned], row_id: str) -> Owned | None:
        """A row of this org by id."""
        return await self.session.scalar(
            select(model).where(model.id == row_id, model.org_id == self.context.org_id)
        )

    async def page(self, model: type[Owned], after: str | None, limit: int) -> Sequence[Owned]:
        """Rows oldest first after the cursor id."""
        query = select(model).where(model.org_id == self.context.org_id)
        if after:
            query = query.where(model.id > after)
        return (await self.session.scalars(query.order_by(model.id).limit(limit))).all()

    async def count(self, model: type[Owned]) -> int:
        """How many rows of this org."""
        query = select(func.count()).select_from(model).where(model.org_id == self.context.org_id)
        return int(await self.session.scalar(query) or 0)

    async def channels(self, ids: Sequence[str]) -> Sequence[NotificationChannel]:
        """The org's channels among these ids, in id order."""
        if not ids:
            return []
        query = select(NotificationChannel).where(
            NotificationChannel.org_id == self.context.org_id,
            NotificationChannel.id.in_(list(ids)),
        )
        return (await self.session.scalars(query.order_by(NotificationChannel.id))).all()

    async def enabled_channels_of_type(self, kind: str) -> list[str]:
        """The ids of the org's enabled channels of this type, in id order."""
        query = select(NotificationChannel.id).where(
            NotificationChannel.org_id == self.context.org_id,
            NotificationChannel.type == kind,
            NotificationChannel.enabled.is_(True),
        )
        return list((await self.session.scalars(query.order_by(NotificationChannel.id))).all())

    async def silences_page(
        self, project_id: str, after: str | None, limit: int
    ) -> Sequence[Silence]:
        """A project's silences oldest first after the cursor id."""
        query = select(Silence).where(
            Silence.org_id == self.context.org_id, Silence.project_id == project_id
        )
        if after:
            query = query.where(Silence.id > after)
        return (await self.session.scalars(query.order_by(Silence.id).limit(limit))).all()

    async def active_silences(self, project_id: str, at: datetime) -> Sequence[Silence]:
        """A project's silences in force at `at`."""
        query = select(Silence).where(
            Silence.org_id == self.context.org_id,
            Silence.project_id == project_id,
            Silence.starts_at <= at,
            Silence.ends_at > at,
        )
        return (await self.session.scalars(query.order_by(Silence.id))).all()

    async def delivery_for_update(self, delivery_id: str) -> NotificationDelivery | None:
        """A delivery of this org, locked so two runs of its job cannot both send it."""
        return await self.session.scalar(
            select(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.org_id == self.context.org_id,
            )
            .with_for_update()
        )

    async def incident_deliveries(
        self, incident_id: str, after: str | None, limit: int
    ) -> Sequence[NotificationDelivery]:
        """An incident's deliveries oldest first after the cursor id."""
        query = select(NotificationDelivery).where(
            NotificationDelivery.org_id == self.context.org_id,
            NotificationDelivery.incident_id == incident_id,
        )
        if after:
            query = query.where(NotificationDelivery.id > after)
        return (
            await self.session.scalars(query.order_by(NotificationDelivery.id).limit(limit))
        ).all()

    async def last_group_send(self, group_key: str) -> datetime | None:
        """When the newest trigger of this group was (or is) due to go out."""
        query = select(func.max(NotificationDelivery.scheduled_at)).where(
            NotificationDelivery.org_id == self.context.org_id,
            NotificationDelivery.group_key == group_key,
            NotificationDelivery.kind == "trigger",
        )
        return await self.session.scalar(query)

    async def notified_channels(self, incident_id: str) -> list[str]:
        """Channels that were sent (or are due) a trigger or escalation about the incident."""
        query = (
            select(NotificationDelivery.channel_id)
            .where(
                NotificationDelivery.org_id == self.context.org_id,
                NotificationDelivery.incident_id == incident_id,
                NotificationDelivery.kind.in_(("trigger", "escalate")),
                NotificationDelivery.status != "skipped",
            )
            .distinct()
        )
        return sorted((await self.session.scalars(query)).all())

    async def last_trigger(self, incident_id: str) -> datetime | None:
        """When the newest trigger of this incident was due."""
        query = select(func.max(NotificationDelivery.scheduled_at)).where(
            NotificationDelivery.org_id == self.context.org_id,
            NotificationDelivery.incident_id == incident_id,
            NotificationDelivery.kind == "trigger",
        )
        return await self.session.scalar(query)

    async def escalated_steps(self, incident_id: str) -> set[int]:
        """Escalation steps already queued for the incident."""
        query = select(NotificationDelivery.step).where(
            NotificationDelivery.org_id == self.context.org_id,
            NotificationDelivery.incident_id == incident_id,
            NotificationDelivery.kind == "escalate",
        )
        return {step for step in (await self.session.scalars(query)).all() if step is not None}


class GlobalNotificationRepository:
    """Cross-tenant question of the periodic sweep (a SECURITY DEFINER function, ids only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def orgs_with_channels(self) -> list[str]:
        """Orgs that have at least one enabled channel."""
        result = await self.session.scalars(text("SELECT * FROM tg_notification_orgs()"))
        return sorted(str(org_id) for org_id in result.all())
