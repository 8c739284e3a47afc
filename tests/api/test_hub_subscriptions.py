"""Hub event subscriptions: a product hears the events of the orgs it provisioned (and only
those), signed per Standard Webhooks, retried with backoff, with a delivery log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers.main  # noqa: F401  (declares every actor, as a worker process does)
from api.resources import Resources
from tenancy import projects
from tenancy.models import ApiKey
from tests.billing.support import org_session
from tests.support.hub import bearer, new_hub_key, provisioned
from tests.support.receiver import receiver
from tests.support.tenants import sign_up
from workers import runtime
from workers.actor import run_inline
from workers.broker import broker

HUB_DELIVER = "hub.deliver"
ORG_DELIVER = "webhooks.deliver"


@pytest.fixture
async def worker(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    runtime.use_session_factory(session_factory)
    yield
    await runtime.close()
    runtime.use_session_factory(None)


def queued(actor: str = HUB_DELIVER, queue: str = "default") -> list[dict[str, Any]]:
    prefix = f"{broker.namespace}:{queue}"
    messages = [
        json.loads(broker.client.hget(f"{prefix}.msgs", message_id))
        for message_id in broker.client.lrange(prefix, 0, -1)
    ]
    return [m for m in messages if m["actor_name"] == actor]


async def run(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        await run_inline(message["actor_name"], *message["args"], **message["kwargs"])


async def subscribe(client: httpx.AsyncClient, key: str, url: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/hub/subscriptions", json={"url": url} | body, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def log_of(client: httpx.AsyncClient, key: str, sub_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/hub/subscriptions/{sub_id}/deliveries", headers=bearer(key))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestSubscriptions:
    async def test_create_list_delete(self, client: httpx.AsyncClient) -> None:
        key = await new_hub_key(client, "pager")
        created = await subscribe(client, key, "https://pager.example.com/hooks")
        assert created["secret"].startswith("whsec_")
        assert created["event_types"] == ["*"]
        listed = await client.get("/v1/hub/subscriptions", headers=bearer(key))
        assert listed.json()["items"] == [
            {
                "id": created["id"],
                "url": "https://pager.example.com/hooks",
                "event_types": ["*"],
                "created_at": created["created_at"],
            }
        ]
        assert created["secret"] not in listed.text
        path = f"/v1/hub/subscriptions/{created['id']}"
        assert (await client.delete(path, headers=bearer(key))).status_code == 204
        assert (await client.delete(path, headers=bearer(key))).status_code == 404

    async def test_another_products_subscription_is_404(self, client: httpx.AsyncClient) -> None:
        pager = await new_hub_key(client, "pager")
        status = await new_hub_key(client, "status")
        theirs = await subscribe(client, status, "https://status.example.com/hooks")
        path = f"/v1/hub/subscriptions/{theirs['id']}"
        assert (await client.delete(path, headers=bearer(pager))).status_code == 404
        deliveries = await client.get(f"{path}/deliveries", headers=bearer(pager))
        assert deliveries.status_code == 404
        for bad in ("hbs_nope", "x" * 300):
            gone = await client.get(
                f"/v1/hub/subscriptions/{bad}/deliveries", headers=bearer(pager)
            )
            assert gone.status_code == 404
        mine = await client.get("/v1/hub/subscriptions", headers=bearer(pager))
        assert mine.json()["items"] == []
        assert len(await log_of(client, status, theirs["id"])) == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"url": "ftp://hooks.example.com/x"},
            {"url": "https://user:pw@hooks.example.com/x"},
            {"url": "https://hooks.example.com/x", "event_types": ["key.stolen"]},
            {"url": "https://hooks.example.com/x", "event_types": []},
        ],
    )
    async def test_bad_input_is_a_422(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        key = await new_hub_key(client, "pager")
        response = await client.post("/v1/hub/subscriptions", json=body, headers=bearer(key))
        assert response.status_code == 422, response.text

    async def test_subscriptions_need_a_hub_key(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "owner")
        for headers in ({}, tenant.auth):
            assert (await client.get("/v1/hub/subscriptions", headers=headers)).status_code == 401


@pytest.mark.usefixtures("worker")
class TestDelivery:
    async def test_org_created_reaches_the_provisioning_product_signed(
        self, client: httpx.AsyncClient
    ) -> None:
        pager = await new_hub_key(client, "pager")
        status = await new_hub_key(client, "status")
        with receiver() as pager_hooks, receiver() as status_hooks:
            sub = await subscribe(client, pager, pager_hooks.url, event_types=["org.created"])
            await subscribe(client, status, status_hooks.url)
            org = await provisioned(client, "pager", pager)
            await provisioned(client, "other", None)  # another product's customer
            await sign_up(client, "direct")  # nobody's customer
            await run(queued())
        assert status_hooks.requests == []
        [request] = pager_hooks.requests
        payload = json.loads(request.body)
        assert payload["type"] == "org.created"
        assert payload["data"]["org_id"] == org.org_id
        assert payload["org"]["id"] == org.org_id
        assert payload["org"]["external_id"].startswith("cust-")
        message_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        key = base64.b64decode(sub["secret"].removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + request.body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert request.headers["webhook-signature"] == f"v1,{expected}"
        [logged] = await log_of(client, pager, sub["id"])
        assert (logged["event_id"], logged["org_id"]) == (message_id, org.org_id)
        assert (logged["attempts"], logged["last_status"]) == (1, 200)

    async def test_a_failed_attempt_is_retried_with_backoff(
        self, client: httpx.AsyncClient
    ) -> None:
        pager = await new_hub_key(client, "pager")
        with receiver(503) as hooks:
            sub = await subscribe(client, pager, hooks.url)
            await provisioned(client, "pager", pager)
            await run(queued())
            [failed] = await log_of(client, pager, sub["id"])
            assert (failed["attempts"], failed["last_status"], failed["delivered_at"]) == (
                1,
                503,
                None,
            )
            [retry] = queued(queue="default.DQ")
            assert retry["options"]["eta"] >= time.time() * 1000 + 5_000
            await run([retry])
            await run([retry])  # a duplicate message sends nothing more
        assert len(hooks.requests) == 2
        assert hooks.requests[0].headers["webhook-id"] == hooks.requests[1].headers["webhook-id"]
        [logged] = await log_of(client, pager, sub["id"])
        assert (logged["attempts"], logged["last_status"]) == (2, 200)

    async def test_a_private_address_is_refused_by_the_guarded_client(
        self, client: httpx.AsyncClient
    ) -> None:
        pager = await new_hub_key(client, "pager")
        sub = await subscribe(client, pager, "http://10.255.255.1:9/hook")
        await provisioned(client, "pager", pager)
        await run(queued())
        [logged] = await log_of(client, pager, sub["id"])
        assert logged["last_status"] is None
        assert logged["last_error"]

    async def test_an_org_event_reaches_only_the_types_subscribed_to(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        pager = await new_hub_key(client, "pager")
        with receiver() as hooks:
            sub = await subscribe(client, pager, hooks.url, event_types=["key.revoked"])
            org = await provisioned(client, "pager", pager)
            async with org_session(resources, org.org_id) as (session, context):
                key_id = await session.scalar(
                    select(ApiKey.id).where(ApiKey.project_id == org.project_id)
                )
                assert key_id is not None
                await projects.revoke_key(
                    session, context, key_id, org.project_id, resources.key_lookup
                )
            await run(queued())
        [request] = hooks.requests  # the key.revoked, not the org.created
        payload = json.loads(request.body)
        assert (payload["type"], payload["data"]["id"]) == ("key.revoked", key_id)
        assert payload["org"]["id"] == org.org_id
        assert [d["event_type"] for d in await log_of(client, pager, sub["id"])] == ["key.revoked"]
