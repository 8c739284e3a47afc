"""Queries of org webhook endpoints and their delivery log (tenant-owned, scoped by context)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import any_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.context import TenantContext
from tenancy.models import WebhookDelivery, WebhookEndpoint

ALL_EVENTS = "*"


class WebhookRepository:
    """Webhook endpoints and deliveries of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        """An endpoint of this org."""
        return await self.session.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == self.context.org_id
            )
        )

    async def page(self, after: str | None, limit: int) -> Sequence[WebhookEndpoint]:
        """Endpoints oldest first, after the cursor id."""
        query = select(WebhookEndpoint).where(WebhookEndpoint.org_id == self.context.org_id)
        if after:
            query = query.where(WebhookEndpoint.id > after)
        return (await self.session.scalars(query.order_by(WebhookEndpoint.id).limit(limit))).all()

    async def subscribed(self, event_type: str) -> Sequence[WebhookEndpoint]:
        """Enabled endpoints that want this event type."""
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == self.context.org_id,
            WebhookEndpoint.disabled.is_(False),
            or_(
                literal(event_type) == any_(WebhookEndpoint.event_types),
                literal(ALL_EVENTS) == any_(WebhookEndpoint.event_types),
            ),
        )
        return (await self.session.scalars(query.order_by(WebhookEndpoint.id))).all()

    async def already_sent(self, event_type: str, data: dict[str, str]) -> bool:
        """Whether an event of this type whose data holds `data` was recorded for delivery."""
        query = select(WebhookDelivery.id).where(
            WebhookDelivery.org_id == self.context.org_id,
            WebhookDelivery.event_type == event_type,
            WebhookDelivery.payload.contains({"data": data}),
        )
        return (await self.session.scalar(query.limit(1))) is not None

    async def add(self, endpoint: WebhookEndpoint) -> None:
        """Insert an endpoint of this org."""
        endpoint.org_id = self.context.org_id
        self.session.add(endpoint)
        await self.session.flush()

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        """Delete an endpoint and its delivery log."""
        await self.session.delete(endpoint)
        await self.session.flush()

    async def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Insert deliveries of this org."""
        for delivery in deliveries:
            delivery.org_id = self.context.org_id
        self.session.add_all(deliveries)
        await self.session.flush()

    async def delivery_for_update(self, delivery_id: str) -> WebhookDelivery | None:
        """A delivery of this org, locked so two runs of its job cannot both send it."""
        return await self.session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.org_id == self.context.org_id)
            .with_for_update()
        )

    async def deliveries_page(
        self, endpoint_id: str, before: str | None, limit: int
    ) -> Sequence[WebhookDelivery]:
        """An endpoint's deliveries newest first, older than the cursor id."""
        query = select(WebhookDelivery).where(
            WebhookDelivery.org_id == self.context.org_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
        if before:
            query = query.where(WebhookDelivery.id < before)
        return (
            await self.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
        ).all()
