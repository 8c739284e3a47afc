"""One send per channel type, every HTTP call through the guarded outbound client.

A refused address (loopback, private, metadata… unless OUTBOUND_ALLOW_CIDRS opens it) and an
unreachable one read the same in the delivery log. No URL, token or body is logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from infra import webhooks as signing
from infra.mail import MailDeliveryError, Mailer
from infra.outbound import FETCH_FAILED, OutboundClient
from infra.settings import Settings
from infra.webhooks import Outcome
from telemetry.notifications import messages

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
USER_AGENT = "Tollgate-Notifications/1"


@dataclass(frozen=True)
class Providers:
    """Base URLs of the providers channels talk to (operator settings)."""

    pagerduty_events_url: str
    sms_api_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Providers:
        """PAGERDUTY_EVENTS_URL and SMS_API_URL."""
        return cls(settings.pagerduty_events_url, settings.sms_api_url.rstrip("/"))


@dataclass(frozen=True)
class Transport:
    """What a send needs: the guarded client, the mailer and the provider URLs."""

    client: OutboundClient
    mailer: Mailer
    providers: Providers


async def post_json(
    client: OutboundClient, url: str, body: bytes, headers: Mapping[str, str]
) -> Outcome:
    """POST a JSON body; never raises for the receiver's failures, never follows a redirect."""
    try:
        async with client.http.stream(
            "POST",
            url,
            content=body,
            headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
            timeout=TIMEOUT,
            follow_redirects=False,
        ) as response:
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL):
        return Outcome(None, FETCH_FAILED)
    return Outcome(status, None) if 200 <= status < 300 else Outcome(status, f"HTTP {status}")


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str).encode()


async def send(
    transport: Transport,
    channel_type: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    kind: str,
    facts: Mapping[str, Any],
    delivery_id: str,
    made_at: datetime,
) -> Outcome:
    """Send one message of `kind` to one channel (`made_at`: when the message was made)."""
    client = transport.client
    if channel_type == "slack":
        return await post_json(client, secrets["url"], _encode(messages.slack(kind, facts)), {})
    if channel_type == "pagerduty":
        dedup = str(facts.get("incident_id") or f"test-{delivery_id}")
        event = messages.pagerduty(kind, facts, secrets["routing_key"], dedup)
        return await post_json(client, transport.providers.pagerduty_events_url, _encode(event), {})
    if channel_type == "webhook":
        now = int(time.time())  # the signature's time: new on every attempt
        # The body's time is the message's own, so every retry sends the same bytes.
        stamp = made_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        body = _encode(messages.webhook(kind, facts, stamp))
        # The delivery id is the webhook-id: stable across retries, so receivers can dedupe.
        return await signing.post(client, config["url"], secrets["secret"], delivery_id, now, body)
    if channel_type == "sms":
        base = transport.providers.sms_api_url
        if not base:
            return Outcome(None, "SMS_API_URL is not configured")
        text = messages.sms(kind, facts)
        auth = {"authorization": f"Bearer {secrets['token']}"}
        for to in config["to"]:
            outcome = await post_json(
                client, f"{base}/messages", _encode({"to": to, "body": text}), auth
            )
            if not outcome.delivered:
                return outcome
        return Outcome(202, None)
    if channel_type == "email":
        try:
            for to in config["to"]:
                await transport.mailer.send(messages.email(kind, facts, to))
        except MailDeliveryError:
            return Outcome(None, "the mail server did not accept the message")
        return Outcome(250, None)
    raise ValueError(f"unknown channel type {channel_type!r}")
