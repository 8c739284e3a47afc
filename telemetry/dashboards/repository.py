"""Queries of dashboards, their versions and share links (tenant-owned, scoped by context)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.dashboards.tables import Dashboard, DashboardShare, DashboardVersion
from tenancy.context import TenantContext


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A share link as found by its token hash, before any tenant is known."""

    id: str
    org_id: str
    project_id: str
    dashboard_id: str
    expires_at: datetime
    revoked_at: datetime | None
    usage_allowed: bool


async def find_share(session: AsyncSession, token_hash: bytes) -> ShareRecord | None:
    """The share link of a token hash (a SECURITY DEFINER lookup: RLS hides it otherwise)."""
    row = (
        await session.execute(
            text("SELECT * FROM tg_lookup_dashboard_share(:h)"), {"h": token_hash}
        )
    ).first()
    return ShareRecord(*row) if row is not None else None


class DashboardRepository:
    """Dashboards of one project of the context's org."""

    def __init__(self, session: AsyncSession, context: TenantContext, project_id: str) -> None:
        self.session = session
        self.context = context
        self.project_id = project_id

    def _mine(self) -> list[Any]:
        return [Dashboard.org_id == self.context.org_id, Dashboard.project_id == self.project_id]

    async def get(self, dashboard_id: str, *, for_update: bool = False) -> Dashboard | None:
        """A dashboard of this project (locked for a version bump when asked)."""
        query = select(Dashboard).where(Dashboard.id == dashboard_id, *self._mine())
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def page(self, after: str | None, limit: int) -> Sequence[Dashboard]:
        """Dashboards oldest first, after the cursor id."""
        query = select(Dashboard).where(*self._mine())
        if after:
            query = query.where(Dashboard.id > after)
        return (await self.session.scalars(query.order_by(Dashboard.id).limit(limit))).all()

    async def count(self) -> int:
        """How many dashboards the project has."""
        found = await self.session.scalar(
            select(func.count()).select_from(Dashboard).where(*self._mine())
        )
        return int(found or 0)

    async def add(self, dashboard: Dashboard) -> None:
        """Insert a dashboard of this project."""
        dashboard.org_id = self.context.org_id
        dashboard.project_id = self.project_id
        self.session.add(dashboard)
        await self.session.flush()

    async def keep_version(self, version: DashboardVersion) -> None:
        """Insert an earlier version of a dashboard of this org."""
        version.org_id = self.context.org_id
        self.session.add(version)
        await self.session.flush()

    async def delete(self, dashboard: Dashboard) -> None:
        """Delete a dashboard with its versions and share links."""
        await self.session.delete(dashboard)
        await self.session.flush()

    async def versions(self, dashboard_id: str, limit: int) -> Sequence[DashboardVersion]:
        """Earlier versions, newest first."""
        query = (
            select(DashboardVersion)
            .where(
                DashboardVersion.org_id == self.context.org_id,
                DashboardVersion.dashboard_id == dashboard_id,
            )
            .order_by(DashboardVersion.version.desc())
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def version(self, dashboard_id: str, number: int) -> DashboardVersion | None:
        """One earlier version."""
        return await self.session.scalar(
            select(DashboardVersion).where(
                DashboardVersion.org_id == self.context.org_id,
                DashboardVersion.dashboard_id == dashboard_id,
                DashboardVersion.version == number,
            )
        )

    async def add_share(self, share: DashboardShare) -> None:
        """Insert a share link of a dashboard of this project."""
        share.org_id = self.context.org_id
        share.project_id = self.project_id
        self.session.add(share)
        await self.session.flush()

    async def revoke_shares(self, dashboard_id: str, now: datetime) -> int:
        """Revoke every live share link of a dashboard; how many were live."""
        result = await self.session.execute(
            update(DashboardShare)
            .where(
                DashboardShare.org_id == self.context.org_id,
                DashboardShare.dashboard_id == dashboard_id,
                DashboardShare.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
