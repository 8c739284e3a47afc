"""Dashboard rules: create, update with optimistic concurrency, versions, restore, delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from infra.errors import AppError, ConflictError, NotFoundError
from infra.ids import looks_like_id, new_id
from telemetry.dashboards import limits
from telemetry.dashboards.model import DashboardSpec, spec_from_builtins, to_builtins, validate
from telemetry.dashboards.repository import DashboardRepository
from telemetry.dashboards.tables import Dashboard, DashboardVersion
from tenancy import audit
from tenancy.context import TenantContext

ID_PREFIX = "dsh"


class DashboardLimitError(AppError):
    """The project holds as many dashboards as it may."""

    status_code = 403
    code = "plan_limit"
    title = "Limit reached"


def repository(
    session: AsyncSession, context: TenantContext, project_id: str
) -> DashboardRepository:
    """The dashboards of one project of the context's org."""
    return DashboardRepository(session, context, project_id)


async def get(repo: DashboardRepository, dashboard_id: str, *, lock: bool = False) -> Dashboard:
    """A dashboard of the project; 404 for anything else (another tenant's included)."""
    if not looks_like_id(dashboard_id, ID_PREFIX):
        raise NotFoundError("Dashboard not found")
    found = await repo.get(dashboard_id, for_update=lock)
    if found is None:
        raise NotFoundError("Dashboard not found")
    return found


async def create(repo: DashboardRepository, spec: DashboardSpec) -> Dashboard:
    """A new dashboard at version 1; audited."""
    validate(spec)
    if await repo.count() >= limits.MAX_DASHBOARDS_PER_PROJECT:
        raise DashboardLimitError(
            f"A project holds at most {limits.MAX_DASHBOARDS_PER_PROJECT} dashboards",
            limit=limits.MAX_DASHBOARDS_PER_PROJECT,
        )
    now = datetime.now(UTC)
    dashboard = Dashboard(
        id=new_id(ID_PREFIX),
        title=spec.title,
        version=1,
        spec=to_builtins(spec),
        created_by=repo.context.actor.id,
        created_at=now,
        updated_at=now,
    )
    await repo.add(dashboard)
    await audit.record(
        repo.session, repo.context, "dashboard.created", "dashboard", dashboard.id, title=spec.title
    )
    return dashboard


async def _replace(repo: DashboardRepository, dashboard: Dashboard, spec: DashboardSpec) -> None:
    """Keep the current spec as a version, then store `spec` as the next one."""
    await repo.keep_version(
        DashboardVersion(
            id=new_id("dsv"),
            dashboard_id=dashboard.id,
            version=dashboard.version,
            spec=dashboard.spec,
            created_by=dashboard.created_by,
            created_at=dashboard.updated_at,
        )
    )
    dashboard.version += 1
    dashboard.spec = to_builtins(spec)
    dashboard.title = spec.title
    dashboard.updated_at = datetime.now(UTC)
    dashboard.created_by = repo.context.actor.id
    await repo.session.flush()


async def update(
    repo: DashboardRepository, dashboard_id: str, spec: DashboardSpec, version: int
) -> Dashboard:
    """Replace the spec if `version` is the current one (409 otherwise); the old one is kept."""
    validate(spec)
    dashboard = await get(repo, dashboard_id, lock=True)
    if version != dashboard.version:
        raise ConflictError(
            f"version: the dashboard is at version {dashboard.version}, not {version}; "
            "reload it and apply your change again",
            field="version",
            current_version=dashboard.version,
        )
    await _replace(repo, dashboard, spec)
    await audit.record(
        repo.session,
        repo.context,
        "dashboard.updated",
        "dashboard",
        dashboard.id,
        version=dashboard.version,
    )
    return dashboard


async def restore(repo: DashboardRepository, dashboard_id: str, number: int) -> Dashboard:
    """Make an earlier version's spec the newest version (history is never rewritten)."""
    dashboard = await get(repo, dashboard_id, lock=True)
    earlier = await repo.version(dashboard.id, number)
    if earlier is None:
        raise NotFoundError("Dashboard version not found")
    await _replace(repo, dashboard, spec_from_builtins(earlier.spec))
    await audit.record(
        repo.session,
        repo.context,
        "dashboard.restored",
        "dashboard",
        dashboard.id,
        version=dashboard.version,
        restored=number,
    )
    return dashboard


async def versions(repo: DashboardRepository, dashboard_id: str) -> Sequence[DashboardVersion]:
    """Earlier versions of a dashboard, newest first (at most MAX_VERSIONS_LISTED)."""
    dashboard = await get(repo, dashboard_id)
    return await repo.versions(dashboard.id, limits.MAX_VERSIONS_LISTED)


async def delete(repo: DashboardRepository, dashboard_id: str) -> None:
    """Delete a dashboard, its versions and its share links; audited."""
    dashboard = await get(repo, dashboard_id)
    await repo.delete(dashboard)
    await audit.record(repo.session, repo.context, "dashboard.deleted", "dashboard", dashboard_id)
