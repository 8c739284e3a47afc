"""Share links: `/share/{token}` serves one dashboard and its data, read-only, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from api.auth import client_ip
from api.deps import AppResources, DbSession
from api.routes.dashboards import (
    MaxPoints,
    dashboard_json,
    load_data,
    store_scope,
    usage_reader,
)
from telemetry.dashboards import limits, service, share
from telemetry.dashboards.model import spec_from_builtins
from telemetry.dashboards.repository import ShareRecord
from telemetry.dashboards.tables import Dashboard
from tenancy.authz import share_link_context
from tenancy.context import TenantContext


async def _shared(
    request: Request[Any, Any, Any], db_session: DbSession, token: str
) -> tuple[ShareRecord, TenantContext, Dashboard]:
    found = await share.open_link(db_session, token, datetime.now(UTC))
    context = await share_link_context(db_session, found.org_id, found.id, client_ip(request))
    # The link names one dashboard: the repository of its project, asked for that id only.
    repo = service.repository(db_session, context, found.project_id)
    return found, context, await service.get(repo, found.dashboard_id)


class SharedDashboardController(Controller):
    """What a share link opens."""

    path = "/share/{token:str}"
    tags = ["dashboards"]

    @get("/", operation_id="get_shared_dashboard")
    async def get_shared(
        self, request: Request[Any, Any, Any], token: FromPath[str], db_session: DbSession
    ) -> dict[str, Any]:
        """The shared dashboard (404 once the link expired or was revoked)."""
        _, _, dashboard = await _shared(request, db_session, token)
        return {**dashboard_json(dashboard), "read_only": True}

    @get("/data", operation_id="get_shared_dashboard_data")
    async def get_shared_data(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db_session: DbSession,
        resources: AppResources,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
        to: Annotated[str | None, QueryParameter(max_length=40)] = None,
        max_data_points: MaxPoints = limits.DEFAULT_MAX_DATA_POINTS,
    ) -> dict[str, Any]:
        """The shared dashboard's data, as `…/dashboards/{id}/data` answers it."""
        found, context, dashboard = await _shared(request, db_session, token)
        store = await store_scope(resources, found.org_id, found.project_id)
        spec = spec_from_builtins(dashboard.spec)
        # Usage panels show only if whoever shared could read the org's usage.
        usage = usage_reader(db_session, context, resources) if found.usage_allowed else None
        return await load_data(request, resources, spec, store, usage, from_, to, max_data_points)
