"""SQL of SSO domain proofs and (issuer, subject) links; scoped to the context's org."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.context import TenantContext
from tenancy.models import SsoDomain, SsoIdentity


class SsoDomainRepository:
    """The context's org claims on email domains and their proofs."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def all(self) -> Sequence[SsoDomain]:
        """Every claim of the org, by domain."""
        result = await self.session.scalars(
            select(SsoDomain)
            .where(SsoDomain.org_id == self.context.org_id)
            .order_by(SsoDomain.domain)
        )
        return result.all()

    async def get(self, domain: str, *, for_update: bool = False) -> SsoDomain | None:
        """The org's claim on one domain."""
        query = select(SsoDomain).where(
            SsoDomain.org_id == self.context.org_id, SsoDomain.domain == domain
        )
        return await self.session.scalar(query.with_for_update() if for_update else query)

    async def add(self, claim: SsoDomain) -> None:
        """Insert a claim."""
        claim.org_id = self.context.org_id
        self.session.add(claim)
        await self.session.flush()

    async def remove_except(self, keep: Sequence[str]) -> list[str]:
        """Drop the claims on domains not in `keep`; the domains dropped."""
        result = await self.session.execute(
            delete(SsoDomain)
            .where(SsoDomain.org_id == self.context.org_id, SsoDomain.domain.not_in(list(keep)))
            .returning(SsoDomain.domain)
        )
        return sorted(result.scalars().all())

    async def remove_all(self) -> None:
        """Drop every claim of the org."""
        await self.session.execute(delete(SsoDomain).where(SsoDomain.org_id == self.context.org_id))

    async def mark_verified(self, claim: SsoDomain, at: datetime) -> None:
        """Record the proof (callers hold the domain's lock and checked no other org has it)."""
        claim.verified_at = at
        claim.checked_at = at
        await self.session.flush()


class GlobalSsoDomainRepository:
    """Which org, if any, holds a domain verified (before or across tenants)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def verified_holder(self, domain: str) -> str | None:
        """The id of the org that proved this domain."""
        value = await self.session.scalar(text("SELECT tg_sso_domain_holder(:d)"), {"d": domain})
        return str(value) if value else None


class SsoIdentityRepository:
    """Accounts linked to the context's org's provider."""

    def __init__(self, session: AsyncSession, context: TenantContext) -> None:
        self.session = session
        self.context = context

    async def by_subject(self, issuer: str, subject: str) -> SsoIdentity | None:
        """The link of a provider's subject, if any."""
        return await self.session.scalar(
            select(SsoIdentity).where(
                SsoIdentity.org_id == self.context.org_id,
                SsoIdentity.issuer == issuer,
                SsoIdentity.subject == subject,
            )
        )

    async def add(self, identity: SsoIdentity) -> None:
        """Insert a link."""
        identity.org_id = self.context.org_id
        self.session.add(identity)
        await self.session.flush()
