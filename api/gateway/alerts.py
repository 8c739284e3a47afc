"""Prometheus' `/api/v1/rules` and `/api/v1/alerts` for a project (Grafana's alert views)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.params import FromPath

from api.deps import AppResources, DbSession
from api.gateway.protocol import key_from
from api.gateway.query import PREFIX
from telemetry.alerting import prometheus_api
from tenancy.authz import authenticate_ingest, system_context
from tenancy.context import Actor
from tenancy.roles import Scope

READER = Actor("system", "prometheus_api")


async def _context(
    request: Request[Any, Any, Any], resources: AppResources, db_session: DbSession, project: str
) -> Any:
    key = await authenticate_ingest(
        resources.key_lookup, key_from(request), project, Scope.METRICS_READ, datetime.now(UTC)
    )
    # The key was proven for this project (metrics:read); the read runs in its org only.
    return await system_context(db_session, key.org_id, READER)


@get(f"{PREFIX}/rules", operation_id="prometheus_rules", tags=["data plane"])
async def prometheus_rules(
    request: Request[Any, Any, Any],
    project_id: FromPath[str],
    resources: AppResources,
    db_session: DbSession,
) -> dict[str, Any]:
    """The project's alert rules and their state, in Prometheus' response shape."""
    context = await _context(request, resources, db_session, project_id)
    return await prometheus_api.rules_answer(db_session, context, project_id)


@get(f"{PREFIX}/alerts", operation_id="prometheus_alerts", tags=["data plane"])
async def prometheus_alerts(
    request: Request[Any, Any, Any],
    project_id: FromPath[str],
    resources: AppResources,
    db_session: DbSession,
) -> dict[str, Any]:
    """The project's firing alerts, in Prometheus' response shape."""
    context = await _context(request, resources, db_session, project_id)
    return await prometheus_api.alerts_answer(db_session, context, project_id)
