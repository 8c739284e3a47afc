"""PromQL out: the allow-listed Prometheus read API, proxied with the project's extra_label."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import HttpMethod, Request, Response, route
from litestar.params import FromPath

from api.deps import AppResources
from api.gateway.protocol import key_from
from infra import victoriametrics as vm
from infra.errors import UnavailableError, ValidationError
from infra.settings import Tier
from telemetry.promql import LABEL_NAME, QueryArgsError, scoped_args
from tenancy.authz import authenticate_ingest
from tenancy.roles import Scope

PREFIX = "/p/{project_id:str}/prometheus/api/v1"
FORM = "application/x-www-form-urlencoded"


async def _proxy(
    request: Request[Any, Any, Any], resources: AppResources, project_id: str, path: str
) -> Response[bytes]:
    key = await authenticate_ingest(
        resources.key_lookup, key_from(request), project_id, Scope.METRICS_READ, datetime.now(UTC)
    )
    body = None
    if request.method == "POST":
        body = await request.body()
        # An empty POST (no arguments, no Content-Type) is valid in Prometheus' API.
        media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if body and media_type != FORM:
            raise ValidationError(f"POST the arguments as {FORM}")
    try:
        args = scoped_args(request.scope["query_string"], body, key.org_id, project_id)
    except QueryArgsError as exc:
        raise ValidationError(str(exc)) from None
    tier = await _tier(resources, key.org_id)
    try:
        answer = await vm.query(resources.http, resources.settings.vm_read_url(tier), path, args)
    except vm.StoreUnavailableError as exc:
        raise UnavailableError(
            f"The metrics store is unavailable ({exc})", headers={"Retry-After": "2"}
        ) from None
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type", "application/json"),
    )


async def _tier(resources: AppResources, org_id: str) -> Tier:
    # Through the admission cache: a dashboard's queries must not each cost a database read.
    ent = await resources.admission.entitlements(org_id, datetime.now(UTC))
    return ent.plan.tier


@route(
    [f"{PREFIX}/query", f"{PREFIX}/query_range", f"{PREFIX}/series", f"{PREFIX}/labels"],
    http_method=[HttpMethod.GET, HttpMethod.POST],
    operation_id=lambda handler, method, parts: f"prometheus_{parts[-1]}_{method.lower()}",
    tags=["data plane"],
)
async def prometheus_read(
    request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
) -> Response[bytes]:
    """Prometheus HTTP API reads (a Grafana Prometheus data source), scoped to the project."""
    return await _proxy(request, resources, project_id, request.url.path.rsplit("/", 1)[1])


@route(
    f"{PREFIX}/label/{{name:str}}/values",
    http_method=[HttpMethod.GET, HttpMethod.POST],
    operation_id=lambda handler, method, parts: f"prometheus_label_values_{method.lower()}",
    tags=["data plane"],
)
async def prometheus_label_values(
    request: Request[Any, Any, Any],
    project_id: FromPath[str],
    name: FromPath[str],
    resources: AppResources,
) -> Response[bytes]:
    """Values of one label, scoped to the project."""
    if not LABEL_NAME.match(name):
        raise ValidationError(f"{name!r} is not a label name")
    return await _proxy(request, resources, project_id, f"label/{name}/values")
