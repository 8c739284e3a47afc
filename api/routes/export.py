"""`GET /v1/orgs/{org}/export`: the org's rows and telemetry as one NDJSON stream."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, get
from litestar.response import Stream

from api.auth import Ctx, org_permission
from api.deps import AppResources, DbSession
from api.resources import Resources
from billing.export import billing_sections
from infra.settings import Tier
from telemetry import export as telemetry_export
from tenancy import export
from tenancy.context import TenantContext
from tenancy.roles import Permission


def _sections(
    resources: Resources, ctx: TenantContext, project_ids: list[str], tier: Tier
) -> list[export.Section]:
    sessions, store = resources.session_factory, resources.telemetry
    return [
        *export.tenancy_sections(sessions, ctx),
        *billing_sections(sessions, ctx),
        export.audit_section(sessions, ctx),
        export.Section("log", telemetry_export.log_records(store, ctx.org_id, project_ids, tier)),
        export.Section("span", telemetry_export.spans(store, ctx.org_id, project_ids, tier)),
        export.Section(
            "metric_series",
            telemetry_export.metric_series(
                resources.http, resources.settings.vm_read_url(tier), ctx.org_id
            ),
        ),
    ]


class ExportController(Controller):
    """A tenant's data, whole, for backups and for leaving."""

    path = "/v1/orgs"
    tags = ["orgs"]

    @get(
        "/{org:str}/export",
        operation_id="export_org",
        media_type=export.MEDIA_TYPE,
        dependencies={"ctx": org_permission(Permission.ORG_EXPORT)},
    )
    async def export_org(self, db_session: DbSession, ctx: Ctx, resources: AppResources) -> Stream:
        """Stream the org's rows and telemetry as NDJSON; the `end` line closes a whole export."""
        tier = (await resources.admission.entitlements(ctx.org_id, datetime.now(UTC))).plan.tier
        start = await export.begin(db_session, ctx, tier)
        return Stream(
            export.ndjson(start.header, _sections(resources, ctx, start.project_ids, tier)),
            media_type=export.MEDIA_TYPE,
            headers={"cache-control": "no-store"},
        )
