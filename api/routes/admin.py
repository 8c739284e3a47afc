"""Operator API (Bearer TOLLGATE_ADMIN_TOKEN): per-org overrides, hub keys, hub product prices."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Ctx, client_ip
from api.deps import AppResources, DbSession
from billing import sibling, subscriptions
from billing.models import HubProductPrice
from billing.money import plain
from billing.schemas import OverridesBody
from billing.sibling_schemas import PRODUCT_PATTERN, PriceOut, PricesIn, PricesOut
from infra.errors import UnauthenticatedError
from infra.logging import get_logger
from tenancy import hub
from tenancy.authz import operator_context
from tenancy.context import TenantContext
from tenancy.models import HubKey
from tenancy.schemas import HubKeyCreate, HubKeyOut

log = get_logger(__name__)


def _check_admin_token(request: Request[Any, Any, Any], resources: AppResources) -> None:
    """401 unless the request carries the admin token (compared in constant time)."""
    expected = resources.settings.admin_token.get_secret_value()
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.encode())
    ):
        raise UnauthenticatedError("The operator API needs Authorization: Bearer <admin token>")


async def provide_operator_context(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    resources: AppResources,
    org: FromPath[str],
) -> TenantContext:
    """The operator's context on `{org}`; 401 unless the admin token matches."""
    _check_admin_token(request, resources)
    return await operator_context(db_session, org, client_ip(request))


async def provide_operator_ip(
    request: Request[Any, Any, Any], resources: AppResources
) -> str | None:
    """The operator's address, for actions on no org; 401 unless the admin token matches."""
    _check_admin_token(request, resources)
    return client_ip(request)


OperatorIp = NamedDependency[str | None]
ProductParam = Annotated[str, Parameter(pattern=PRODUCT_PATTERN, min_length=1, max_length=64)]


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


def _hub_key_out(key: HubKey, secret: str | None = None) -> HubKeyOut:
    return HubKeyOut(
        key.id, key.name, key.product, key.prefix, key.created_at, key.revoked_at, secret
    )


class HubKeyController(Controller):
    """Hub keys (tgh_) of sibling products, issued and revoked by the operator.

    They belong to no org, so there is no org audit log to write to: issue and revocation are
    logged as structured events instead.
    """

    path = "/v1/admin/hub-keys"
    tags = ["admin"]
    dependencies = {"operator_ip": Provide(provide_operator_ip)}

    @post("/", operation_id="create_hub_key")
    async def create_hub_key(
        self,
        data: JSONBody[HubKeyCreate],
        db_session: DbSession,
        operator_ip: OperatorIp,
        resources: AppResources,
    ) -> HubKeyOut:
        """A new hub key for a product; its secret is in `key`, shown this once."""
        created = await hub.create_hub_key(
            db_session, data.name, data.product, resources.key_lookup
        )
        log.info("hub_key.created", key_id=created.key.id, product=data.product, ip=operator_ip)
        return _hub_key_out(created.key, created.secret)

    @get("/", operation_id="list_hub_keys")
    async def list_hub_keys(
        self, db_session: DbSession, operator_ip: OperatorIp
    ) -> list[HubKeyOut]:
        """Every hub key by prefix, revoked ones included."""
        return [_hub_key_out(k) for k in await hub.list_hub_keys(db_session)]

    @delete("/{key_id:str}", operation_id="revoke_hub_key")
    async def revoke_hub_key(
        self, key_id: FromPath[str], db_session: DbSession, operator_ip: OperatorIp
    ) -> None:
        """Revoke a hub key; it stops working as soon as this returns."""
        key = await hub.revoke_hub_key(db_session, key_id)
        log.info("hub_key.revoked", key_id=key.id, product=key.product, ip=operator_ip)


def _prices_out(product: str, rows: Sequence[HubProductPrice]) -> PricesOut:
    return PricesOut(
        product=product,
        prices=[PriceOut(r.metric, plain(r.unit_price), dict(r.included)) for r in rows],
        updated_at=max((r.updated_at for r in rows), default=None),
    )


class HubPriceController(Controller):
    """The price table of a hub product's usage metrics (global; logged, as hub keys are)."""

    path = "/v1/admin/hub-products/{product:str}/prices"
    tags = ["admin"]
    dependencies = {"operator_ip": Provide(provide_operator_ip)}

    @get("/", operation_id="get_hub_product_prices")
    async def get_prices(
        self, product: ProductParam, db_session: DbSession, operator_ip: OperatorIp
    ) -> PricesOut:
        """The product's price per metric and the units each plan includes."""
        return _prices_out(product, await sibling.get_prices(db_session, product))

    @put("/", operation_id="put_hub_product_prices")
    async def put_prices(
        self,
        product: ProductParam,
        data: JSONBody[PricesIn],
        db_session: DbSession,
        operator_ip: OperatorIp,
    ) -> PricesOut:
        """Replace the product's price table; the next rating of every open period uses it."""
        rows = await sibling.set_prices(db_session, product, data.prices)
        log.info(
            "hub_prices.replaced", product=product, metrics=[r.metric for r in rows], ip=operator_ip
        )
        return _prices_out(product, rows)
