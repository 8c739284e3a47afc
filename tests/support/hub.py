"""Hub test helpers: hub keys of products, provisioned orgs, product prices, usage batches."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tests.support.gateway import OPERATOR


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class HubOrg:
    """An org a hub product provisioned, with that product's key."""

    product: str
    key: str
    org_id: str
    project_id: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.key)


async def new_hub_key(client: httpx.AsyncClient, product: str) -> str:
    response = await client.post(
        "/v1/admin/hub-keys", json={"name": f"{product} prod", "product": product}, headers=OPERATOR
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def provisioned(client: httpx.AsyncClient, product: str, key: str | None = None) -> HubOrg:
    """A fresh org provisioned by `product` (with a new hub key unless one is given)."""
    key = key or await new_hub_key(client, product)
    body = {"external_id": f"cust-{secrets.token_hex(4)}", "org_name": f"{product} customer"}
    response = await client.post("/v1/hub/provision", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    done = response.json()
    return HubOrg(product, key, done["org"]["id"], done["project"]["id"])


async def set_prices(client: httpx.AsyncClient, product: str, *prices: dict[str, Any]) -> None:
    response = await client.put(
        f"/v1/admin/hub-products/{product}/prices", json={"prices": list(prices)}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text


def event(
    product: str, metric: str, quantity: str | int, at: datetime, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"ev-{secrets.token_hex(6)}",
        "product": product,
        "metric": metric,
        "quantity": quantity,
        "timestamp": at.isoformat(),
        "properties": {"source": "test"},
    }


async def report(
    client: httpx.AsyncClient, org: HubOrg, events: list[dict[str, Any]], *, org_id: str = ""
) -> httpx.Response:
    return await client.post(
        f"/v1/hub/orgs/{org_id or org.org_id}/usage-events",
        json={"events": events},
        headers=org.auth,
    )
