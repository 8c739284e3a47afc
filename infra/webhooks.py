"""Outbound webhooks per Standard Webhooks (standardwebhooks.com): secrets, signatures, one POST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import httpx

from infra.outbound import FETCH_FAILED, OutboundClient

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
SECRET_BYTES = 32
TIMEOUT_SECONDS = 5.0


def generate_secret() -> str:
    """`whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`
    keyed by the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Outcome:
    """How one delivery attempt went: a status (None when no response came) or an error."""

    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """The receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


async def post(
    outbound: OutboundClient,
    url: str,
    secret: str,
    message_id: str,
    timestamp: int,
    body: bytes,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> Outcome:
    """POST one signed message through the guarded outbound client; never raises for the
    receiver's failures, and never follows a redirect (a 3xx is a failure the receiver must
    fix). A refused address (loopback, private, link-local, metadata…) and an unreachable one
    give the same error, so the delivery log cannot be used to map our network."""
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "user-agent": "Tollgate-Webhooks/1",
    }
    try:
        # Streamed and never read: the receiver's body is not ours to store.
        async with outbound.http.stream(
            "POST",
            url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 2.0)),
            follow_redirects=False,
        ) as response:
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL):  # InvalidURL: e.g. an octal host, 0177.0.0.1
        return Outcome(None, FETCH_FAILED)
    if 200 <= status < 300:
        return Outcome(status, None)
    return Outcome(status, f"HTTP {status}")
