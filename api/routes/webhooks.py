"""Org webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import Ctx, org_permission
from api.deps import AppResources, DbSession
from tenancy import webhooks
from tenancy.models import WebhookDelivery, WebhookEndpoint
from tenancy.roles import Permission
from tenancy.schemas import (
    Page,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookOut,
)

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
WEBHOOKS_MANAGE = {"ctx": org_permission(Permission.WEBHOOKS_MANAGE)}


def _out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        disabled=endpoint.disabled,
        created_at=endpoint.created_at,
    )


def _delivery_out(delivery: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


class WebhookController(Controller):
    """Where an org's events are POSTed, signed per Standard Webhooks."""

    path = "/v1/orgs/{org:str}/webhooks"
    tags = ["webhooks"]

    @get("/", operation_id="list_webhooks", dependencies=WEBHOOKS_MANAGE)
    async def list_webhooks(
        self,
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[WebhookOut]:
        """The org's endpoints, oldest first (never their secrets)."""
        rows = await webhooks.list_endpoints(db_session, ctx, cursor, limit)
        items = [_out(e) for e in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post(
        "/",
        operation_id="create_webhook",
        status_code=HTTP_201_CREATED,
        dependencies=WEBHOOKS_MANAGE,
    )
    async def create_webhook(
        self,
        data: JSONBody[WebhookCreate],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> WebhookCreated:
        """A new endpoint; its signing secret (`whsec_…`) is in this response only."""
        created = await webhooks.create_endpoint(
            db_session,
            ctx,
            data.url,
            data.event_types,
            resources.secret_box,
            allow_http=resources.settings.env != "prod",
        )
        endpoint = created.endpoint
        return WebhookCreated(
            id=endpoint.id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            disabled=endpoint.disabled,
            created_at=endpoint.created_at,
            secret=created.secret,
        )

    @delete(
        "/{webhook_id:str}",
        operation_id="delete_webhook",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=WEBHOOKS_MANAGE,
    )
    async def delete_webhook(
        self, webhook_id: FromPath[str], db_session: DbSession, ctx: Ctx
    ) -> None:
        """Delete an endpoint and its delivery log."""
        await webhooks.delete_endpoint(db_session, ctx, webhook_id)

    @get(
        "/{webhook_id:str}/deliveries",
        operation_id="list_webhook_deliveries",
        dependencies=WEBHOOKS_MANAGE,
    )
    async def list_deliveries(
        self,
        webhook_id: FromPath[str],
        db_session: DbSession,
        ctx: Ctx,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[WebhookDeliveryOut]:
        """The endpoint's delivery log, newest first."""
        rows = await webhooks.list_deliveries(db_session, ctx, webhook_id, cursor, limit)
        items = [_delivery_out(d) for d in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)
