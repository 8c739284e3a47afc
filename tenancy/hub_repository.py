"""Every SQL query of the hub integration. Both tables are global: they are read before a tenant
is known, to authenticate a hub key and to decide which orgs it may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.models import HubKey, HubOrg


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
