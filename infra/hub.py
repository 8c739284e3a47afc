"""Adapter of the sibling-product hub (HUB_URL): Tollgate registers, heartbeats, deregisters.

The hub is a URL the operator configures, never one a tenant can name, so calls go through the
shared client of `infra.http`, not the guarded outbound client: the hub usually lives on the
operator's private network, which the guarded client refuses by design.

Wire format (JSON, `Authorization: Bearer $HUB_API_KEY`):
- `POST {HUB_URL}/v1/products/register` with the registration body below; any 2xx is success.
- `POST {HUB_URL}/v1/products/{product_id}/heartbeat` `{"product_id","version","status","at"}`;
  a 404 means the hub forgot us, and we register again.
- `DELETE {HUB_URL}/v1/products/{product_id}`; 2xx or 404 is success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import httpx
import redis.asyncio as aioredis

from infra.logging import get_logger
from infra.settings import Settings

log = get_logger(__name__)

PRODUCT_ID = "tollgate"
PRODUCT_NAME = "Tollgate"
CAPABILITIES = (
    "metrics",
    "logs",
    "traces",
    "alerts",
    "slos",
    "dashboards",
    "billing",
    "hub.provision",
    "hub.entitlements",
    "hub.usage_events",
    "hub.subscriptions",
)
TIMEOUT_SECONDS = 5.0
STATUS_KEY = "tg:hub:status"
# A heartbeat every 30 s refreshes it; three missed ones and /ready says "down".
STATUS_TTL_SECONDS = 90
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


class HubError(Exception):
    """The hub did not take a call (no answer, or a status that is not success)."""


def version() -> str:
    """Tollgate's installed version."""
    try:
        return metadata.version("tollgate")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def configured(settings: Settings) -> bool:
    """Whether the operator set both HUB_URL and HUB_API_KEY."""
    return bool(settings.hub_url and settings.hub_api_key.get_secret_value())


def registration(settings: Settings) -> dict[str, Any]:
    """The body Tollgate registers with."""
    base = settings.base_url.rstrip("/")
    return {
        "product_id": PRODUCT_ID,
        "name": PRODUCT_NAME,
        "version": version(),
        "base_url": base,
        "health_url": f"{base}/health",
        "ready_url": f"{base}/ready",
        "capabilities": list(CAPABILITIES),
    }


@dataclass(frozen=True)
class HubClient:
    """The hub's three calls; every one has an explicit timeout and raises HubError."""

    http: httpx.AsyncClient
    base_url: str
    api_key: str
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def of(cls, settings: Settings, http: httpx.AsyncClient) -> HubClient | None:
        """The client of the configured hub, or None when no hub is configured."""
        if not configured(settings):
            return None
        return cls(http, settings.hub_url.rstrip("/"), settings.hub_api_key.get_secret_value())

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> int:
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                json=body,
                headers={"authorization": f"Bearer {self.api_key}"},
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0)),
                follow_redirects=False,
            )
        except httpx.HTTPError as error:
            raise HubError(f"{method} {path}: {type(error).__name__}") from None
        return response.status_code

    async def register(self, body: dict[str, Any]) -> None:
        """Register (or re-register: the hub treats it as an upsert) this product."""
        status = await self._call("POST", "/v1/products/register", body)
        if not 200 <= status < 300:
            raise HubError(f"register: HTTP {status}")

    async def heartbeat(self, product_id: str = PRODUCT_ID) -> bool:
        """Say we are alive; False when the hub does not know us (register again)."""
        body = {
            "product_id": product_id,
            "version": version(),
            "status": "ok",
            "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        status = await self._call("POST", f"/v1/products/{product_id}/heartbeat", body)
        if status == 404:
            return False
        if not 200 <= status < 300:
            raise HubError(f"heartbeat: HTTP {status}")
        return True

    async def deregister(self, product_id: str = PRODUCT_ID) -> None:
        """Leave the hub (a hub that already forgot us is fine)."""
        status = await self._call("DELETE", f"/v1/products/{product_id}", None)
        if not (200 <= status < 300 or status == 404):
            raise HubError(f"deregister: HTTP {status}")


async def record_status(redis: aioredis.Redis, up: bool) -> None:
    """Remember how the last hub call went, for /ready (never fails the caller)."""
    try:
        await redis.set(STATUS_KEY, "up" if up else "down", ex=STATUS_TTL_SECONDS)
    except Exception:  # Redis down: /ready reports that on its own
        log.warning("hub.status_not_recorded", exc_info=True)


async def status(settings: Settings, redis: aioredis.Redis) -> str:
    """`disabled` (no hub configured), `up` (the last call within 90 s succeeded) or `down`."""
    if not configured(settings):
        return "disabled"
    try:
        value = await redis.get(STATUS_KEY)
    except Exception:
        return "down"
    return "up" if value in (b"up", "up") else "down"


async def heartbeat_once(client: HubClient, settings: Settings, redis: aioredis.Redis) -> bool:
    """One heartbeat, registering again when the hub forgot us; True when the hub answered."""
    try:
        if not await client.heartbeat():
            await client.register(registration(settings))
            log.info("hub.reregistered", hub=client.base_url)
    except HubError as error:
        log.warning("hub.heartbeat_failed", hub=client.base_url, error=str(error))
        await record_status(redis, False)
        return False
    await record_status(redis, True)
    return True


async def register_until_done(
    client: HubClient,
    settings: Settings,
    redis: aioredis.Redis,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first_retry: float = FIRST_RETRY_SECONDS,
    max_retry: float = MAX_RETRY_SECONDS,
) -> None:
    """Register, retrying with exponential backoff (1 s doubling to 60 s) until the hub takes
    it; meant to run as a background task so start-up never waits for the hub."""
    delay = first_retry
    while True:
        try:
            await client.register(registration(settings))
        except HubError as error:
            log.warning(
                "hub.register_failed", hub=client.base_url, error=str(error), retry_in=delay
            )
            await record_status(redis, False)
            await sleep(delay)
            delay = min(delay * 2, max_retry)
            continue
        log.info("hub.registered", hub=client.base_url, product_id=PRODUCT_ID)
        await record_status(redis, True)
        return


async def deregister_quietly(client: HubClient, within: float = 2.0) -> None:
    """Deregister at shutdown without ever holding it up for long or raising."""
    try:
        await asyncio.wait_for(client.deregister(), within)
    except (HubError, TimeoutError) as error:
        log.warning("hub.deregister_failed", hub=client.base_url, error=str(error))
    else:
        log.info("hub.deregistered", hub=client.base_url)
