"""Outbound webhooks per Standard Webhooks (standardwebhooks.com): secrets, signatures, one POST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import httpx

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
SECRET_BYTES = 32
TIMEOUT_SECONDS = 5.0
_MAX_ERROR = 500


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
    http: httpx.AsyncClient,
    url: str,
    secret: str,
    message_id: str,
    timestamp: int,
    body: bytes,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> Outcome:
    """POST one signed message; never raises for the receiver's failures, and never follows a
    redirect (a 3xx is a failure the receiver must fix)."""
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "user-agent": "Tollgate-Webhooks/1",
    }
    try:
        response = await http.post(
            url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 2.0)),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"HTTP {response.status_code}")
