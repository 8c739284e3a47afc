"""Org webhooks and hub subscriptions: events and their signed, retried delivery (Standard
Webhooks).

`emit` stores one delivery row per subscribed org endpoint, and one per subscription of the hub
product that provisioned the org, in the caller's transaction, and queues a job per row that
leaves only after commit, so a rolled-back change sends nothing. Each job
carries the attempt it is meant to make: a duplicate or stale message finds the count moved on
and does nothing, so a job can run twice without a second POST of the same attempt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from infra import jobs
from infra import webhooks as outbound
from infra.crypto import SecretBox
from infra.cursors import id_cursor
from infra.errors import NotFoundError, ValidationError
from infra.ids import looks_like_id, new_id
from infra.outbound import OutboundClient
from tenancy import audit
from tenancy.context import Actor, TenantContext
from tenancy.hub_repository import GlobalHubSubscriptionRepository
from tenancy.models import HubDelivery, Org, WebhookDelivery, WebhookEndpoint
from tenancy.webhook_repository import ALL_EVENTS, WebhookRepository

EVENT_TYPES = (
    "org.created",
    "subscription.changed",
    "quota.warning",
    "quota.exceeded",
    "invoice.finalized",
    "payment.failed",
    "key.revoked",
)
DELIVER_ACTOR = "webhooks.deliver"
HUB_DELIVER_ACTOR = "hub.deliver"
WEBHOOK_ACTOR = Actor("system", "webhooks")
MAX_ATTEMPTS = 7
FIRST_RETRY = timedelta(seconds=10)
BACKOFF_FACTOR = 4  # 10 s, 40 s, 160 s, ~11 min, ~43 min, ~2.8 h: about 4 h in all
MAX_ENDPOINTS = 20
MAX_PAGE = 200


@dataclass(frozen=True)
class NewWebhook:
    """An endpoint and its signing secret (shown once)."""

    endpoint: WebhookEndpoint
    secret: str


def org_created(org: Org) -> dict[str, Any]:
    """The data of an `org.created` event."""
    return {"org_id": org.id, "slug": org.slug, "name": org.name}


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return timedelta(seconds=FIRST_RETRY.total_seconds() * BACKOFF_FACTOR ** (attempts - 1))


def check_url(url: str, allow_http: bool) -> str:
    """The URL trimmed; 422 naming `url` unless absolute https (http too when allowed)."""
    parts = urlsplit(url.strip())
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError(f"url: must be an absolute {' or '.join(schemes)} URL", field="url")
    if parts.username or parts.password:
        raise ValidationError("url: must not carry credentials", field="url")
    return url.strip()


def check_event_types(requested: Sequence[str]) -> list[str]:
    """The event types sorted (or just `*`); 422 naming `event_types` for an unknown one."""
    wrong = sorted(set(requested) - {*EVENT_TYPES, ALL_EVENTS})
    if wrong:
        raise ValidationError(
            f"event_types: unknown {', '.join(wrong)}; use {ALL_EVENTS} or some of "
            f"{', '.join(EVENT_TYPES)}",
            field="event_types",
        )
    if not requested:
        raise ValidationError("event_types: subscribe to at least one", field="event_types")
    return [ALL_EVENTS] if ALL_EVENTS in requested else sorted(set(requested))


def _check_cursor(cursor: str | None, prefix: str) -> str | None:
    return id_cursor(cursor, prefix)


async def create_endpoint(
    session: AsyncSession,
    context: TenantContext,
    url: str,
    event_types: Sequence[str],
    box: SecretBox,
    *,
    allow_http: bool,
) -> NewWebhook:
    """A new endpoint with a fresh signing secret (stored encrypted); audited."""
    repository = WebhookRepository(session, context)
    if len(await repository.page(None, MAX_ENDPOINTS)) >= MAX_ENDPOINTS:
        raise ValidationError(f"an organization has at most {MAX_ENDPOINTS} webhook endpoints")
    secret = outbound.generate_secret()
    endpoint = WebhookEndpoint(
        id=new_id("whk"),
        url=check_url(url, allow_http),
        event_types=check_event_types(event_types),
        secret_encrypted=box.encrypt(secret),
        disabled=False,
        created_by=context.actor.id,
    )
    await repository.add(endpoint)
    await audit.record(
        session,
        context,
        "webhook.created",
        "webhook",
        endpoint.id,
        url=endpoint.url,
        event_types=endpoint.event_types,
    )
    return NewWebhook(endpoint, secret)


async def list_endpoints(
    session: AsyncSession, context: TenantContext, after: str | None, limit: int
) -> Sequence[WebhookEndpoint]:
    """A page of the org's endpoints, oldest first."""
    after = _check_cursor(after, "whk")
    return await WebhookRepository(session, context).page(after, min(limit, MAX_PAGE))


async def _endpoint(repository: WebhookRepository, endpoint_id: str) -> WebhookEndpoint:
    if not looks_like_id(endpoint_id, "whk"):
        raise NotFoundError("Webhook not found")
    endpoint = await repository.get(endpoint_id)
    if endpoint is None:
        raise NotFoundError("Webhook not found")
    return endpoint


async def delete_endpoint(session: AsyncSession, context: TenantContext, endpoint_id: str) -> None:
    """Delete an endpoint and its delivery log; pending retries find nothing to send; audited."""
    repository = WebhookRepository(session, context)
    endpoint = await _endpoint(repository, endpoint_id)
    await repository.delete(endpoint)
    await audit.record(
        session, context, "webhook.deleted", "webhook", endpoint.id, url=endpoint.url
    )


async def list_deliveries(
    session: AsyncSession,
    context: TenantContext,
    endpoint_id: str,
    before: str | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    """A page of an endpoint's delivery log, newest first."""
    repository = WebhookRepository(session, context)
    endpoint = await _endpoint(repository, endpoint_id)
    before = _check_cursor(before, "whd")
    return await repository.deliveries_page(endpoint.id, before, min(limit, MAX_PAGE))


async def wanted(session: AsyncSession, context: TenantContext, event_types: Sequence[str]) -> bool:
    """Whether any endpoint of the org, or any subscription of the hub product that provisioned
    it, subscribes to one of these event types."""
    repository = WebhookRepository(session, context)
    hub = GlobalHubSubscriptionRepository(session)
    for event_type in event_types:
        if await repository.subscribed(event_type):
            return True
        if await hub.subscribed(context.org_id, event_type):
            return True
    return False


async def emit_once(
    session: AsyncSession,
    context: TenantContext,
    event_type: str,
    key: dict[str, str],
    data: dict[str, Any],
) -> None:
    """Emit an event unless one of its type whose data holds `key` was already recorded
    (thresholds crossed once per period, however often they are checked)."""
    if not await wanted(session, context, [event_type]):
        return
    if await WebhookRepository(session, context).already_sent(event_type, key):
        return
    if await GlobalHubSubscriptionRepository(session).already_sent(context.org_id, event_type, key):
        return
    await emit(session, context, event_type, {**data, **key})


async def emit(
    session: AsyncSession,
    context: TenantContext,
    event_type: str,
    data: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Record the event for every subscribed endpoint and hub subscription; delivery jobs leave
    after commit."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    repository = WebhookRepository(session, context)
    endpoints = await repository.subscribed(event_type)
    hub_subscriptions = await GlobalHubSubscriptionRepository(session).subscribed(
        context.org_id, event_type
    )
    if not endpoints and not hub_subscriptions:
        return
    now = now or datetime.now(UTC)
    event_id = new_id("evt")
    payload = {
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    deliveries = [
        WebhookDelivery(
            id=new_id("whd"),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            attempts=0,
            next_attempt_at=now,
        )
        for endpoint in endpoints
    ]
    if deliveries:
        await repository.add_deliveries(deliveries)
    for delivery in deliveries:
        jobs.enqueue(session, DELIVER_ACTOR, context.org_id, delivery.id, 1)
    hub_deliveries = [
        HubDelivery(
            id=new_id("hbd"),
            subscription_id=subscription.id,
            org_id=context.org_id,
            event_id=event_id,
            event_type=event_type,
            # the product learns which of its customers this is about
            payload={**payload, "org": {"id": context.org_id, "external_id": external_id}},
            attempts=0,
            next_attempt_at=now,
        )
        for subscription, external_id in hub_subscriptions
    ]
    if hub_deliveries:
        await GlobalHubSubscriptionRepository(session).add_deliveries(hub_deliveries)
    for hub_delivery in hub_deliveries:
        jobs.enqueue(session, HUB_DELIVER_ACTOR, hub_delivery.id, 1)


async def _attempt(
    session: AsyncSession,
    delivery: WebhookDelivery | HubDelivery,
    url: str,
    secret: str,
    attempt: int,
    client: OutboundClient,
    retry: Callable[[timedelta], None],
) -> None:
    """POST one signed attempt of a delivery and record how it went; on failure, `retry` is
    called with the backoff delay while attempts are left (the log keeps the last answer)."""
    now = datetime.now(UTC)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    outcome = await outbound.post(client, url, secret, delivery.event_id, int(time.time()), body)
    delivery.attempts = attempt
    delivery.last_status, delivery.last_error = outcome.status, outcome.error
    if outcome.delivered:
        delivery.delivered_at, delivery.next_attempt_at = now, None
    elif attempt < MAX_ATTEMPTS:
        delay = retry_delay(attempt)
        delivery.next_attempt_at = now + delay
        retry(delay)
    else:
        delivery.next_attempt_at = None  # gave up
    await session.flush()


async def deliver(
    session: AsyncSession,
    context: TenantContext,
    delivery_id: str,
    attempt: int,
    *,
    client: OutboundClient,
    box: SecretBox,
) -> None:
    """Make one delivery attempt to an org endpoint and record it; schedule the next one with
    backoff on failure.

    `client` is the guarded outbound client: receivers on loopback, private, link-local or
    metadata addresses are refused in every environment (OUTBOUND_ALLOW_CIDRS opens ranges).

    Hazard: the row stays locked during the POST (at most the outbound timeout), so a duplicate
    job waits and then sees the attempt already made.
    """
    repository = WebhookRepository(session, context)
    delivery = await repository.delivery_for_update(delivery_id)
    if delivery is None or delivery.delivered_at is not None or delivery.attempts != attempt - 1:
        return  # endpoint deleted, already delivered, or this attempt was made already
    endpoint = await repository.get(delivery.endpoint_id)
    assert endpoint is not None  # noqa: S101 (deliveries cascade with their endpoint)
    if endpoint.disabled:
        delivery.last_error, delivery.next_attempt_at = "endpoint disabled", None
        await session.flush()
        return
    org_id, row_id = context.org_id, delivery.id
    await _attempt(
        session,
        delivery,
        endpoint.url,
        box.decrypt(endpoint.secret_encrypted),
        attempt,
        client,
        lambda delay: jobs.enqueue_later(
            session, delay, DELIVER_ACTOR, org_id, row_id, attempt + 1
        ),
    )


async def deliver_hub(
    session: AsyncSession,
    delivery_id: str,
    attempt: int,
    *,
    client: OutboundClient,
    box: SecretBox,
) -> None:
    """Make one delivery attempt to a hub subscription, exactly as `deliver` does for an org
    endpoint (same signing, guarded client, backoff and log)."""
    hub = GlobalHubSubscriptionRepository(session)
    delivery = await hub.delivery_for_update(delivery_id)
    if delivery is None or delivery.delivered_at is not None or delivery.attempts != attempt - 1:
        return  # subscription deleted, already delivered, or this attempt was made already
    subscription = await hub.by_id(delivery.subscription_id)
    assert subscription is not None  # noqa: S101 (deliveries cascade with their subscription)
    row_id = delivery.id
    await _attempt(
        session,
        delivery,
        subscription.url,
        box.decrypt(subscription.secret_encrypted),
        attempt,
        client,
        lambda delay: jobs.enqueue_later(session, delay, HUB_DELIVER_ACTOR, row_id, attempt + 1),
    )
