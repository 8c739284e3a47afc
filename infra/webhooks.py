"""Outbound webhooks per Standard Webhooks (standardwebhooks.com): secrets, signatures, one POST."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

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
    *,
    public_only: bool = False,
) -> Outcome:
    """POST one signed message; never raises for the receiver's failures, and never follows a
    redirect (a 3xx is a failure the receiver must fix). With `public_only`, a host that
    resolves to a loopback, private, link-local or otherwise non-public address is refused:
    a tenant's webhook must not reach into our own network."""
    if public_only:
        refused = await _private_address(url)
        if refused is not None:
            return Outcome(None, refused)
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


async def _private_address(url: str) -> str | None:
    """Why the URL's host may not be called (it resolves to a non-public address), or None.

    Checked before each attempt; a DNS answer that changes between this check and the connect
    is not caught (a resolver pinned for the connection would be).
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host!r}: {exc}"[:_MAX_ERROR]
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"refused: {host!r} resolves to the non-public address {address}"
    return None
