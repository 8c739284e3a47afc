"""Hub API for sibling products (Bearer tgh_ hub key): provisioning, entitlements and usage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, SkipValidation

from api.auth import Ctx, client_ip
from api.deps import AppResources, DbSession
from billing import metering, sibling, subscriptions
from billing.limits import alert_rule_limit
from billing.plans import plan_features
from billing.schemas import EntitlementsOut, HubFeaturesOut, HubProductFeaturesOut, HubQuotaOut
from billing.sibling_schemas import RejectedOut, UsageBatchIn, UsageBatchOut
from infra.settings import TIER_RETENTION_DAYS
from tenancy import hub
from tenancy.authz import HubPrincipal, authenticate_hub, hub_org_context
from tenancy.context import TenantContext
from tenancy.schemas import HubOrgRef, HubProjectRef, HubProvisionIn, HubProvisionOut, InviteOut


async def provide_hub_key(
    request: Request[Any, Any, Any], db_session: DbSession, resources: AppResources
) -> HubPrincipal:
    """The calling sibling product; 401 without a usable hub key (org and project keys too)."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return await authenticate_hub(
        db_session,
        token.strip() if scheme.lower() == "bearer" else None,
        resources.key_lookup,
    )


HubCaller = NamedDependency[SkipValidation[HubPrincipal]]


async def provide_hub_org_context(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    hub_key: HubCaller,
    org_id: FromPath[str],
) -> TenantContext:
    """The context of `{org_id}` if the caller's product provisioned it, else 404."""
    return await hub_org_context(db_session, hub_key, org_id, client_ip(request))


class HubController(Controller):
    """What a sibling product may do for its customers."""

    path = "/v1/hub"
    tags = ["hub"]
    dependencies = {"hub_key": Provide(provide_hub_key)}

    @post("/provision", operation_id="hub_provision")
    async def provision(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[HubProvisionIn],
        db_session: DbSession,
        hub_key: HubCaller,
        resources: AppResources,
    ) -> Response[HubProvisionOut]:
        """The org of `external_id`: 201 with a project key (shown once) when this call created
        it, 200 with the same org and project and no secret on every later call."""
        done = await hub.provision(
            db_session,
            hub_key,
            external_id=data.external_id,
            org_name=data.org_name,
            project_name=data.project_name,
            email=data.email,
            ip=client_ip(request),
            lookup=resources.key_lookup,
        )
        invite = None
        if done.invite is not None:
            row, token = done.invite.invite, done.invite.token
            url = f"{resources.settings.base_url}/v1/invites/{token}/accept"
            invite = InviteOut(row.id, row.email, row.role, row.expires_at, token, url)
        body = HubProvisionOut(
            org=HubOrgRef(done.org.id, done.org.slug),
            project=HubProjectRef(done.project_id),
            key=done.key_secret,
            invite=invite,
        )
        return Response(body, status_code=201 if done.created else 200)

    @get(
        "/orgs/{org_id:str}/entitlements",
        operation_id="hub_get_entitlements",
        dependencies={"ctx": Provide(provide_hub_org_context)},
    )
    async def get_entitlements(
        self, db_session: DbSession, ctx: Ctx, resources: AppResources, hub_key: HubCaller
    ) -> EntitlementsOut:
        """Plan, status, current period, quotas, retention and features of an org this product
        provisioned."""
        ent = await subscriptions.entitlements(db_session, ctx)
        features = plan_features(ent.plan)
        alert_rules = await alert_rule_limit(db_session, ctx)  # the operator's override wins
        prices = await sibling.get_prices(db_session, hub_key.product)
        period, quotas = await metering.quotas(
            db_session, ctx, resources.quotas, ent, datetime.now(UTC)
        )
        return EntitlementsOut(
            plan=ent.plan.code.value,
            status=ent.status,
            period_start=period.start,
            period_end=period.end,
            quotas={
                c.value: HubQuotaOut(q.included, q.used, q.remaining) for c, q in quotas.items()
            },
            retention_days=TIER_RETENTION_DAYS[ent.plan.tier],
            features=HubFeaturesOut(
                alert_rules=alert_rules.limit,
                slos=features.slos,
                retention_days=TIER_RETENTION_DAYS[ent.plan.tier],
                sso=features.sso,
                products={
                    hub_key.product: HubProductFeaturesOut(
                        enabled=True, metrics=sibling.included_of(prices, ent.plan)
                    )
                },
            ),
        )

    @post(
        "/orgs/{org_id:str}/usage-events",
        operation_id="hub_post_usage_events",
        dependencies={"ctx": Provide(provide_hub_org_context)},
        status_code=200,
    )
    async def post_usage_events(
        self, data: JSONBody[UsageBatchIn], db_session: DbSession, ctx: Ctx, hub_key: HubCaller
    ) -> UsageBatchOut:
        """Record a batch of usage events (idempotent per event_id); each is inserted, counted
        as a duplicate, or rejected with its index and reason."""
        done = await sibling.record_events(db_session, ctx, hub_key.product, data.events)
        return UsageBatchOut(
            inserted=done.inserted,
            duplicates=done.duplicates,
            rejected=[RejectedOut(r.index, r.event_id, r.reason, r.detail) for r in done.rejected],
        )
