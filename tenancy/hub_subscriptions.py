"""Hub event subscriptions: a product subscribes a URL to events of the orgs it provisioned.

Events reach them through `tenancy.webhooks.emit` (the same rows-then-jobs-after-commit path,
signing, guarded client, backoff and delivery log as org webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from infra import webhooks as outbound
from infra.crypto import SecretBox
from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from infra.logging import get_logger
from tenancy.authz import HubPrincipal
from tenancy.hub_repository import GlobalHubSubscriptionRepository
from tenancy.models import HubDelivery, HubSubscription
from tenancy.webhooks import MAX_PAGE, check_event_types, check_url

log = get_logger(__name__)

MAX_SUBSCRIPTIONS = 20


@dataclass(frozen=True)
class NewSubscription:
    """A subscription and its signing secret (shown once)."""

    subscription: HubSubscription
    secret: str


async def create(
    session: AsyncSession,
    hub: HubPrincipal,
    url: str,
    event_types: Sequence[str],
    box: SecretBox,
    *,
    allow_http: bool,
) -> NewSubscription:
    """A new subscription of the product with a fresh signing secret (stored encrypted)."""
    repository = GlobalHubSubscriptionRepository(session)
    if len(await repository.page(hub.product, None, MAX_SUBSCRIPTIONS)) >= MAX_SUBSCRIPTIONS:
        raise ValidationError(f"a hub product has at most {MAX_SUBSCRIPTIONS} subscriptions")
    secret = outbound.generate_secret()
    subscription = HubSubscription(
        id=new_id("hbs"),
        product=hub.product,
        url=check_url(url, allow_http),
        event_types=check_event_types(event_types),
        secret_encrypted=box.encrypt(secret),
        created_by=hub.key_id,
    )
    await repository.add(subscription)
    # no org audit log holds a product's subscriptions: they are logged, as hub keys are
    log.info("hub_subscription.created", id=subscription.id, product=hub.product)
    return NewSubscription(subscription, secret)


async def list_subscriptions(
    session: AsyncSession, hub: HubPrincipal, after: str | None, limit: int
) -> Sequence[HubSubscription]:
    """A page of the product's subscriptions, oldest first."""
    repository = GlobalHubSubscriptionRepository(session)
    return await repository.page(hub.product, id_cursor(after, "hbs"), min(limit, MAX_PAGE))


async def _subscription(
    repository: GlobalHubSubscriptionRepository, hub: HubPrincipal, subscription_id: str
) -> HubSubscription:
    found = None
    if looks_like_id(subscription_id, "hbs"):
        found = await repository.get(hub.product, subscription_id)
    if found is None:
        raise NotFoundError("Subscription not found")
    return found


async def delete(session: AsyncSession, hub: HubPrincipal, subscription_id: str) -> None:
    """Delete one of the product's subscriptions and its log; pending retries send nothing."""
    repository = GlobalHubSubscriptionRepository(session)
    subscription = await _subscription(repository, hub, subscription_id)
    await repository.delete(subscription)
    log.info("hub_subscription.deleted", id=subscription.id, product=hub.product)


async def list_deliveries(
    session: AsyncSession, hub: HubPrincipal, subscription_id: str, before: str | None, limit: int
) -> Sequence[HubDelivery]:
    """A page of a subscription's delivery log, newest first."""
    repository = GlobalHubSubscriptionRepository(session)
    subscription = await _subscription(repository, hub, subscription_id)
    before = id_cursor(before, "hbd")
    return await repository.deliveries_page(subscription.id, before, min(limit, MAX_PAGE))
