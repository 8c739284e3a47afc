"""Dashboards of a project: CRUD with versions, Grafana import/export, the data call, sharing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Caller, Ctx, project_permission
from api.deps import AppResources, DbSession
from api.resources import Resources
from billing import metering
from infra.errors import ValidationError
from telemetry.dashboards import limits, service, share, templates
from telemetry.dashboards.data import dashboard_data, window
from telemetry.dashboards.grafana_export import export_grafana
from telemetry.dashboards.grafana_import import import_dashboard
from telemetry.dashboards.model import DashboardSpec, spec_from_builtins, to_builtins
from telemetry.dashboards.sources import ProjectSources, UsageReader
from telemetry.dashboards.tables import Dashboard, DashboardVersion
from telemetry.stores import Scope as StoreScope
from tenancy.authz import permissions_of
from tenancy.context import TenantContext
from tenancy.roles import Permission

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
MaxPoints = Annotated[int, QueryParameter(ge=10, le=limits.MAX_DATA_POINTS, name="max_data_points")]
VAR_PREFIX = "var."


class ShareCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`POST …/share`: when the link stops working (default 7 days, at most 365)."""

    expires_at: datetime | None = None


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """A dashboard as the API shows it: its spec with id, project and version."""
    return {
        "id": dashboard.id,
        "project_id": dashboard.project_id,
        "version": dashboard.version,
        "created_at": dashboard.created_at,
        "updated_at": dashboard.updated_at,
        **dashboard.spec,
    }


def _version_json(version: DashboardVersion) -> dict[str, Any]:
    return {"version": version.version, "created_at": version.created_at, **version.spec}


def _body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("body: a JSON object", field="body")
    return data


def _spec_of_create(data: dict[str, Any]) -> DashboardSpec:
    if "template" in data:
        extra = sorted(set(data) - {"template", "service", "title"})
        if extra:
            raise ValidationError(f"{extra[0]}: not allowed with template", field=extra[0])
        if not isinstance(data["template"], str) or not isinstance(data.get("service"), str | None):
            raise ValidationError(
                "template: a template id (see /v1/dashboard-templates)", field="template"
            )
        spec = templates.instantiate(data["template"], data.get("service"))
        if isinstance(data.get("title"), str) and data["title"].strip():
            spec = spec_from_builtins({**to_builtins(spec), "title": data["title"]})
        return spec
    return spec_from_builtins(data)


def asked_variables(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    """`var.<name>=…` query arguments (repeat one for several values of a multi variable)."""
    asked: dict[str, list[str]] = {}
    for key, values in request.query_params.dict().items():
        if key.startswith(VAR_PREFIX):
            if len(values) > limits.MAX_VARIABLE_VALUES:
                raise ValidationError(f"{key}: too many values", field=key)
            asked[key.removeprefix(VAR_PREFIX)] = [str(v) for v in values]
    return asked


def usage_reader(
    session: AsyncSession, context: TenantContext, resources: Resources
) -> UsageReader:
    """The org's hourly usage from the ledger (merged with Redis), as the usage route reads it."""

    async def read(
        start: datetime, end: datetime, group_by: Sequence[str]
    ) -> list[dict[str, object]]:
        rows = await metering.merged_rows(session, context, resources.quotas, start, end)
        return metering.aggregate(rows, "hour", group_by)

    return read


async def load_data(
    request: Request[Any, Any, Any],
    resources: Resources,
    spec: DashboardSpec,
    store: StoreScope,
    usage: UsageReader | None,
    start: str | None,
    end: str | None,
    max_points: int,
) -> dict[str, Any]:
    """The data call for a dashboard whose project (and what it may read) is already settled."""
    now = datetime.now(UTC)
    first, last = window(spec, start, end, now)
    sources = ProjectSources(
        http=resources.http,
        read_url=resources.settings.vm_read_url(store.tier),
        scope=store,
        telemetry=resources.telemetry,
        usage_reader=usage,
    )
    return await dashboard_data(
        spec, sources, start=first, end=last, max_points=max_points, asked=asked_variables(request)
    )


async def store_scope(resources: Resources, org_id: str, project_id: str) -> StoreScope:
    """The project's stores in its plan's tier (through the admission cache)."""
    entitlements = await resources.admission.entitlements(org_id, datetime.now(UTC))
    return StoreScope(org_id, project_id, entitlements.plan.tier)


class DashboardController(Controller):
    """A project's dashboards."""

    path = "/v1/projects/{project:str}/dashboards"
    tags = ["dashboards"]

    @get(
        "/",
        operation_id="list_dashboards",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_READ)},
    )
    async def list_dashboards(
        self,
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Dashboards of the project, oldest first (title, tags, version; no panels)."""
        rows = await service.repository(db_session, ctx, project).page(cursor, limit)
        items = [
            {
                "id": d.id,
                "title": d.title,
                "tags": d.spec.get("tags", []),
                "version": d.version,
                "updated_at": d.updated_at,
            }
            for d in rows
        ]
        return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}

    @post(
        "/",
        operation_id="create_dashboard",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def create_dashboard(
        self,
        data: JSONBody[dict[str, Any]],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
    ) -> dict[str, Any]:
        """A new dashboard: a model body, or `{"template": id, "service": name}`."""
        spec = _spec_of_create(_body(data))
        return dashboard_json(
            await service.create(service.repository(db_session, ctx, project), spec)
        )

    @post(
        "/import",
        operation_id="import_grafana_dashboard",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def import_grafana(
        self,
        data: JSONBody[dict[str, Any]],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
    ) -> dict[str, Any]:
        """A dashboard from Grafana dashboard JSON, with what could not be mapped and why."""
        spec, unmapped = import_dashboard(_body(data))
        created = await service.create(service.repository(db_session, ctx, project), spec)
        return {
            "dashboard": dashboard_json(created),
            "unmapped": [{"path": u.path, "reason": u.reason} for u in unmapped],
        }

    @get(
        "/{dashboard_id:str}",
        operation_id="get_dashboard",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_READ)},
    )
    async def get_dashboard(
        self, dashboard_id: FromPath[str], db_session: DbSession, ctx: Ctx, project: FromPath[str]
    ) -> dict[str, Any]:
        """One dashboard at its current version."""
        return dashboard_json(
            await service.get(service.repository(db_session, ctx, project), dashboard_id)
        )

    @put(
        "/{dashboard_id:str}",
        operation_id="update_dashboard",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def update_dashboard(
        self,
        dashboard_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
    ) -> dict[str, Any]:
        """Replace the model; `version` must be the current one (409 otherwise)."""
        body = dict(_body(data))
        version = body.pop("version", None)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValidationError("version: the version you edited (an integer)", field="version")
        for ignored in ("id", "project_id", "created_at", "updated_at"):
            body.pop(ignored, None)  # a GET's answer can be sent back as is
        repo = service.repository(db_session, ctx, project)
        updated = await service.update(repo, dashboard_id, spec_from_builtins(body), version)
        return dashboard_json(updated)

    @delete(
        "/{dashboard_id:str}",
        operation_id="delete_dashboard",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def delete_dashboard(
        self, dashboard_id: FromPath[str], db_session: DbSession, ctx: Ctx, project: FromPath[str]
    ) -> None:
        """Delete the dashboard, its versions and its share links."""
        await service.delete(service.repository(db_session, ctx, project), dashboard_id)

    @get(
        "/{dashboard_id:str}/versions",
        operation_id="list_dashboard_versions",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_READ)},
    )
    async def list_versions(
        self, dashboard_id: FromPath[str], db_session: DbSession, ctx: Ctx, project: FromPath[str]
    ) -> dict[str, Any]:
        """Earlier versions, newest first (the current one is the dashboard itself)."""
        rows = await service.versions(service.repository(db_session, ctx, project), dashboard_id)
        return {"items": [_version_json(v) for v in rows]}

    @post(
        "/{dashboard_id:str}/versions/{number:int}/restore",
        operation_id="restore_dashboard_version",
        status_code=200,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def restore_version(
        self,
        dashboard_id: FromPath[str],
        number: FromPath[int],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
    ) -> dict[str, Any]:
        """Make an earlier version current again, as a new version."""
        repo = service.repository(db_session, ctx, project)
        return dashboard_json(await service.restore(repo, dashboard_id, number))

    @get(
        "/{dashboard_id:str}/export",
        operation_id="export_dashboard",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_READ)},
    )
    async def export(
        self,
        dashboard_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
        format_: Annotated[
            Literal["grafana", "tollgate"], QueryParameter(name="format")
        ] = "grafana",
    ) -> dict[str, Any]:
        """Grafana dashboard JSON (`${DS_PROMETHEUS}` input), or the model to POST back."""
        dashboard = await service.get(service.repository(db_session, ctx, project), dashboard_id)
        spec = spec_from_builtins(dashboard.spec)
        if format_ == "tollgate":
            return to_builtins(spec)
        return export_grafana(spec, dashboard.id, dashboard.version)

    @get(
        "/{dashboard_id:str}/data",
        operation_id="dashboard_data",
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_READ)},
    )
    async def data(
        self,
        request: Request[Any, Any, Any],
        dashboard_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
        resources: AppResources,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
        to: Annotated[str | None, QueryParameter(max_length=40)] = None,
        max_data_points: MaxPoints = limits.DEFAULT_MAX_DATA_POINTS,
    ) -> dict[str, Any]:
        """Every panel's data for the window (`var.<name>=` picks variable values)."""
        dashboard = await service.get(service.repository(db_session, ctx, project), dashboard_id)
        usage = (
            usage_reader(db_session, ctx, resources)
            if Permission.USAGE_READ in permissions_of(ctx)
            else None
        )
        store = await store_scope(resources, ctx.org_id, project)
        spec = spec_from_builtins(dashboard.spec)
        return await load_data(request, resources, spec, store, usage, from_, to, max_data_points)

    @post(
        "/{dashboard_id:str}/share",
        operation_id="share_dashboard",
        status_code=HTTP_201_CREATED,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def share_dashboard(
        self,
        dashboard_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        project: FromPath[str],
        resources: AppResources,
        data: JSONBody[ShareCreate | None] = None,
    ) -> dict[str, Any]:
        """A read-only link to this dashboard and its data (the URL is shown once)."""
        created = await share.create(
            service.repository(db_session, ctx, project),
            dashboard_id,
            (data or ShareCreate()).expires_at,
            usage_allowed=Permission.USAGE_READ in permissions_of(ctx),
        )
        return {
            "id": created.share.id,
            "url": f"{resources.settings.base_url}/share/{created.token}",
            "expires_at": created.share.expires_at,
        }

    @delete(
        "/{dashboard_id:str}/share",
        operation_id="unshare_dashboard",
        status_code=HTTP_204_NO_CONTENT,
        dependencies={"ctx": project_permission(Permission.DASHBOARDS_WRITE)},
    )
    async def unshare_dashboard(
        self, dashboard_id: FromPath[str], db_session: DbSession, ctx: Ctx, project: FromPath[str]
    ) -> None:
        """Revoke every share link of the dashboard at once."""
        await share.revoke(service.repository(db_session, ctx, project), dashboard_id)


class DashboardTemplateController(Controller):
    """Built-in dashboards to instantiate."""

    path = "/v1/dashboard-templates"
    tags = ["dashboards"]

    @get("/", operation_id="list_dashboard_templates")
    async def list_templates(self, principal: Caller) -> dict[str, Any]:
        """Templates; instantiate one with `POST …/dashboards {"template", "service"}`."""
        _ = principal  # any signed-in caller
        return {
            "items": [
                {
                    "id": t.id,
                    "title": t.title,
                    "description": t.description,
                    "parameters": ["service"] if t.needs_service else [],
                }
                for t in templates.TEMPLATES.values()
            ]
        }
