"""Data-plane reads: the key of the request and the store scope it may read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request

from api.gateway.protocol import key_from
from api.resources import Resources
from telemetry.stores import Scope as StoreScope
from tenancy.authz import authenticate_ingest
from tenancy.roles import Scope


async def read_scope(
    request: Request[Any, Any, Any],
    resources: Resources,
    project_id: str,
    signal: Scope,
    now: datetime,
) -> StoreScope:
    """The project (in its plan's tier) a key holding `signal` may read; 401/403/404 otherwise."""
    key = await authenticate_ingest(
        resources.key_lookup, key_from(request), project_id, signal, now
    )
    # Through the admission cache: a dashboard's reads must not each cost a database query.
    entitlements = await resources.admission.entitlements(key.org_id, now)
    return StoreScope(key.org_id, project_id, entitlements.plan.tier)
