"""Every SQL query of the hub integration. Every table is global: keys and mappings are read
before a tenant is known, to authenticate a hub key and to decide which orgs it may see; a
product's subscriptions and their delivery log span every org it provisioned."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import any_, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.models import HubDelivery, HubKey, HubOrg, HubSubscription

ALL_EVENTS = "*"


class GlobalHubKeyRepository:
    """Hub keys, issued and revoked by the operator."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: HubKey) -> None:
        """Insert a key."""
        self.session.add(key)
        await self.session.flush()

    async def by_hash(self, secret_hash: bytes) -> HubKey | None:
        """The key whose secret has this hash, revoked or not."""
        return await self.session.scalar(select(HubKey).where(HubKey.secret_hash == secret_hash))

    async def get_for_update(self, key_id: str) -> HubKey | None:
        """A key by id, locked."""
        return await self.session.scalar(
            select(HubKey).where(HubKey.id == key_id).with_for_update()
        )

    async def all(self) -> Sequence[HubKey]:
        """Every key, oldest first."""
        return (await self.session.scalars(select(HubKey).order_by(HubKey.id))).all()


class GlobalHubOrgRepository:
    """Which org each (product, external id) was provisioned as."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, product: str, external_id: str) -> None:
        """Serialize provisioning of one external id until the transaction ends, so a concurrent
        call waits and then finds the mapping instead of failing on the unique constraint."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"tg:hub-provision:{product}:{external_id}"},
        )

    async def by_external_id(self, product: str, external_id: str) -> HubOrg | None:
        """The mapping of a product's external id."""
        return await self.session.scalar(
            select(HubOrg).where(HubOrg.product == product, HubOrg.external_id == external_id)
        )

    async def of_org(self, product: str, org_id: str) -> HubOrg | None:
        """The mapping of an org, if this product provisioned it."""
        return await self.session.scalar(
            select(HubOrg).where(HubOrg.org_id == org_id, HubOrg.product == product)
        )

    async def add(self, mapping: HubOrg) -> None:
        """Insert a mapping."""
        self.session.add(mapping)
        await self.session.flush()


class GlobalHubSubscriptionRepository:
    """Hub products' event subscriptions and their delivery log."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, subscription: HubSubscription) -> None:
        """Insert a subscription."""
        self.session.add(subscription)
        await self.session.flush()

    async def get(self, product: str, subscription_id: str) -> HubSubscription | None:
        """A subscription of this product."""
        return await self.session.scalar(
            select(HubSubscription).where(
                HubSubscription.id == subscription_id, HubSubscription.product == product
            )
        )

    async def by_id(self, subscription_id: str) -> HubSubscription | None:
        """A subscription by id (for its delivery job)."""
        return await self.session.get(HubSubscription, subscription_id)

    async def page(self, product: str, after: str | None, limit: int) -> Sequence[HubSubscription]:
        """A product's subscriptions oldest first, after the cursor id."""
        query = select(HubSubscription).where(HubSubscription.product == product)
        if after:
            query = query.where(HubSubscription.id > after)
        return (await self.session.scalars(query.order_by(HubSubscription.id).limit(limit))).all()

    async def delete(self, subscription: HubSubscription) -> None:
        """Delete a subscription and its delivery log."""
        await self.session.delete(subscription)
        await self.session.flush()

    async def subscribed(
        self, org_id: str, event_type: str
    ) -> Sequence[tuple[HubSubscription, str]]:
        """Subscriptions of the product that provisioned the org wanting this event type, each
        with the org's external id at that product."""
        query = (
            select(HubSubscription, HubOrg.external_id)
            .join(HubOrg, HubOrg.product == HubSubscription.product)
            .where(
                HubOrg.org_id == org_id,
                or_(
                    literal(event_type) == any_(HubSubscription.event_types),
                    literal(ALL_EVENTS) == any_(HubSubscription.event_types),
                ),
            )
            .order_by(HubSubscription.id)
        )
        return [(sub, ext) for sub, ext in (await self.session.execute(query)).all()]

    async def already_sent(self, org_id: str, event_type: str, data: dict[str, str]) -> bool:
        """Whether an event of this type for the org whose data holds `data` was recorded."""
        query = select(HubDelivery.id).where(
            HubDelivery.org_id == org_id,
            HubDelivery.event_type == event_type,
            HubDelivery.payload.contains({"data": data}),
        )
        return (await self.session.scalar(query.limit(1))) is not None

    async def add_deliveries(self, deliveries: Sequence[HubDelivery]) -> None:
        """Insert deliveries."""
        self.session.add_all(deliveries)
        await self.session.flush()

    async def delivery_for_update(self, delivery_id: str) -> HubDelivery | None:
        """A delivery, locked so two runs of its job cannot both send it."""
        return await self.session.scalar(
            select(HubDelivery).where(HubDelivery.id == delivery_id).with_for_update()
        )

    async def deliveries_page(
        self, subscription_id: str, before: str | None, limit: int
    ) -> Sequence[HubDelivery]:
        """A subscription's deliveries newest first, older than the cursor id."""
        query = select(HubDelivery).where(HubDelivery.subscription_id == subscription_id)
        if before:
            query = query.where(HubDelivery.id < before)
        return (
            await self.session.scalars(query.order_by(HubDelivery.id.desc()).limit(limit))
        ).all()
