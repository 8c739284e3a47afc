"""Operator API (Bearer TOLLGATE_ADMIN_TOKEN): per-org overrides."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, get, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from api.auth import Ctx, client_ip
from api.deps import AppResources, DbSession
from billing import subscriptions
from billing.schemas import OverridesBody
from infra.errors import UnauthenticatedError
from tenancy.authz import operator_context
from tenancy.context import TenantContext


async def provide_operator_context(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    resources: AppResources,
    org: FromPath[str],
) -> TenantContext:
    """The operator's context on `{org}`; 401 unless the admin token matches (constant time)."""
    expected = resources.settings.admin_token.get_secret_value()
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.encode())
    ):
        raise UnauthenticatedError("The operator API needs Authorization: Bearer <admin token>")
    return await operator_context(db_session, org, client_ip(request))


def _body(included: dict[str, Any], rate_limits: dict[str, Any]) -> dict[str, Any]:
    return {"included": included, "rate_limits": rate_limits}


class AdminController(Controller):
    """Operator overrides of included units and rate limits, audited."""

    path = "/v1/admin/orgs/{org:str}"
    tags = ["admin"]
    dependencies = {"ctx": Provide(provide_operator_context)}

    @get("/overrides", operation_id="get_overrides")
    async def get_overrides(self, db_session: DbSession, ctx: Ctx) -> dict[str, Any]:
        """The org's overrides (empty objects when none)."""
        found = await subscriptions.get_overrides(db_session, ctx)
        return _body(found.included, found.rate_limits)

    @put("/overrides", operation_id="put_overrides")
    async def put_overrides(
        self,
        data: JSONBody[OverridesBody],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> dict[str, Any]:
        """Replace the org's overrides; they win over the plan."""
        saved = await subscriptions.set_overrides(
            db_session,
            ctx,
            {str(k): v for k, v in data.included.items()},
            {k: {"rate": v.rate, "burst": v.burst} for k, v in data.rate_limits.items()},
            on_change=lambda: resources.admission.publish_invalidation(ctx.org_id),
        )
        return _body(saved.included, saved.rate_limits)
