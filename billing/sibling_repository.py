"""Every SQL query of sibling-product usage: the operator's price table (global) and the org's
usage events (tenant-owned, unique per product and event id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import HubProductPrice, HubUsageEvent
from tenancy.context import TenantContext


class GlobalHubPriceRepository:
    """Prices per (product, metric), managed by the operator."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_product(self, product: str) -> Sequence[HubProductPrice]:
        """A product's prices, by metric."""
        query = select(HubProductPrice).where(HubProductPrice.product == product)
        return (await self.session.scalars(query.order_by(HubProductPrice.metric))).all()

    async def of_products(self, products: Sequence[str]) -> Sequence[HubProductPrice]:
        """The prices of several products, by product and metric."""
        query = select(HubProductPrice).where(HubProductPrice.product.in_(products))
        order = (HubProductPrice.product, HubProductPrice.metric)
        return (await self.session.scalars(query.order_by(*order))).all()

    async def replace(self, product: str, prices: Sequence[HubProductPrice]) -> None:
        """Make the product's price table exactly `prices` (locks the product's rows)."""
        await self.session.execute(
            delete(HubProductPrice).where(HubProductPrice.product == product)
        )
        self.session.add_all(prices)
        await self.session.flush()


class HubUsageRepository:
    """The context org's sibling usage events."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
        """Insert events not seen before; the (product, event_id) of those inserted.

        ON CONFLICT DO NOTHING on the unique (product, event_id): a replay, also a concurrent
        one, inserts nothing and is counted as duplicates by the caller.
        """
        if not rows:
            return set()
        values = [{**row, "org_id": self.context.org_id} for row in rows]
        statement = (
            insert(HubUsageEvent)
            .values(values)
            .on_conflict_do_nothing(constraint="uq_hub_usage_events_product_event")
            .returning(HubUsageEvent.product, HubUsageEvent.event_id)
        )
        return {(p, e) for p, e in (await self.session.execute(statement)).all()}

    async def totals(self, start: datetime, end: datetime) -> dict[tuple[str, str], Decimal]:
        """Quantity per (product, metric) of events timestamped in [start, end)."""
        query = (
            select(HubUsageEvent.product, HubUsageEvent.metric, func.sum(HubUsageEvent.quantity))
            .where(
                HubUsageEvent.org_id == self.context.org_id,
                HubUsageEvent.at >= start,
                HubUsageEvent.at < end,
            )
            .group_by(HubUsageEvent.product, HubUsageEvent.metric)
        )
        return {(p, m): Decimal(q) for p, m, q in (await self.session.execute(query)).all()}

    async def buckets(
        self, start: datetime, end: datetime, unit: str
    ) -> list[tuple[datetime, str, str, Decimal]]:
        """Quantity per (hour or day, product, metric) of events in [start, end)."""
        bucket = func.date_trunc(unit, HubUsageEvent.at, "UTC").label("bucket")
        query = (
            select(
                bucket,
                HubUsageEvent.product,
                HubUsageEvent.metric,
                func.sum(HubUsageEvent.quantity),
            )
            .where(
                HubUsageEvent.org_id == self.context.org_id,
                HubUsageEvent.at >= start,
                HubUsageEvent.at < end,
            )
            .group_by(bucket, HubUsageEvent.product, HubUsageEvent.metric)
            .order_by(bucket, HubUsageEvent.product, HubUsageEvent.metric)
        )
        return [(b, p, m, Decimal(q)) for b, p, m, q in (await self.session.execute(query)).all()]
