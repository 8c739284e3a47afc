"""Hub event subscriptions (Bearer tgh_ hub key) and their delivery log."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.deps import AppResources, DbSession
from api.routes.hub import HubCaller, provide_hub_key
from tenancy import hub_subscriptions
from tenancy.models import HubDelivery, HubSubscription
from tenancy.schemas import (
    HubDeliveryOut,
    HubSubscriptionCreated,
    HubSubscriptionOut,
    Page,
    WebhookCreate,
)

Limit = Annotated[int, QueryParameter(ge=1, le=200)]


def _out(subscription: HubSubscription) -> HubSubscriptionOut:
    return HubSubscriptionOut(
        id=subscription.id,
        url=subscription.url,
        event_types=list(subscription.event_types),
        created_at=subscription.created_at,
    )


def _delivery_out(delivery: HubDelivery) -> HubDeliveryOut:
    return HubDeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        org_id=delivery.org_id,
    )


class HubSubscriptionController(Controller):
    """Where a hub product's customers' events are POSTed, signed per Standard Webhooks."""

    path = "/v1/hub/subscriptions"
    tags = ["hub"]
    dependencies = {"hub_key": Provide(provide_hub_key)}

    @get("/", operation_id="hub_list_subscriptions")
    async def list_subscriptions(
        self,
        db_session: DbSession,
        hub_key: HubCaller,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[HubSubscriptionOut]:
        """The product's subscriptions, oldest first."""
        rows = await hub_subscriptions.list_subscriptions(db_session, hub_key, cursor, limit)
        items = [_out(s) for s in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)

    @post("/", operation_id="hub_create_subscription", status_code=HTTP_201_CREATED)
    async def create_subscription(
        self,
        data: JSONBody[WebhookCreate],
        db_session: DbSession,
        hub_key: HubCaller,
        resources: AppResources,
    ) -> HubSubscriptionCreated:
        """Subscribe a URL to event types (`*` for all) of every org this product provisioned;
        the signing secret is in `secret`, shown this once."""
        created = await hub_subscriptions.create(
            db_session,
            hub_key,
            data.url,
            data.event_types,
            resources.secret_box,
            allow_http=resources.settings.env != "prod",
        )
        row = created.subscription
        return HubSubscriptionCreated(
            id=row.id,
            url=row.url,
            event_types=list(row.event_types),
            created_at=row.created_at,
            secret=created.secret,
        )

    @delete(
        "/{subscription_id:str}",
        operation_id="hub_delete_subscription",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_subscription(
        self, subscription_id: FromPath[str], db_session: DbSession, hub_key: HubCaller
    ) -> None:
        """Delete a subscription and its delivery log."""
        await hub_subscriptions.delete(db_session, hub_key, subscription_id)

    @get("/{subscription_id:str}/deliveries", operation_id="hub_list_subscription_deliveries")
    async def list_deliveries(
        self,
        subscription_id: FromPath[str],
        db_session: DbSession,
        hub_key: HubCaller,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[HubDeliveryOut]:
        """The subscription's delivery log across the product's orgs, newest first."""
        rows = await hub_subscriptions.list_deliveries(
            db_session, hub_key, subscription_id, cursor, limit
        )
        items = [_delivery_out(d) for d in rows]
        return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)
