"""Org webhooks: the endpoint API, and signed, retried, after-commit delivery to a real receiver.

Deliveries run as a worker would: the jobs the API left on the Dramatiq queue after commit are
taken from Redis and run inline on the test's transaction.
"""

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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers.main  # noqa: F401  (declares every actor, as a worker process does)
from api.resources import Resources
from infra.db import unit_of_work
from tenancy import projects
from tenancy.authz import system_context
from tenancy.context import Actor
from tenancy.models import WebhookDelivery
from tests.support.receiver import receiver
from tests.support.tenancy import add_member, as_org
from tests.support.tenants import Tenant, project_key, sign_up
from workers import runtime
from workers.actor import run_inline
from workers.broker import broker

DELIVER = "webhooks.deliver"


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "hooked")


@pytest.fixture
async def worker(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    """The worker's resources bound to the test's transaction."""
    runtime.use_session_factory(session_factory)
    yield
    await runtime.close()
    runtime.use_session_factory(None)


async def create_hook(
    client: httpx.AsyncClient, tenant: Tenant, url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/webhooks", json={"url": url} | body, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def queued(queue: str = "default") -> list[dict[str, Any]]:
    """Every delivery message waiting on a Dramatiq queue (`default.DQ`: delayed ones)."""
    prefix = f"{broker.namespace}:{queue}"
    messages = [
        json.loads(broker.client.hget(f"{prefix}.msgs", message_id))
        for message_id in broker.client.lrange(prefix, 0, -1)
    ]
    return [m for m in messages if m["actor_name"] == DELIVER]


async def run(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        await run_inline(DELIVER, *message["args"], **message["kwargs"])


async def revoke_a_key(client: httpx.AsyncClient, tenant: Tenant) -> str:
    key = await project_key(client, tenant)
    response = await client.delete(
        f"/v1/projects/{tenant.project_id}/keys/{key['id']}", headers=tenant.auth
    )
    assert response.status_code == 204, response.text
    key_id: str = key["id"]
    return key_id


async def deliveries(
    client: httpx.AsyncClient, tenant: Tenant, hook_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/orgs/{tenant.org_id}/webhooks/{hook_id}/deliveries", headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestEndpoints:
    async def test_the_secret_is_shown_once_and_never_listed(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        created = await create_hook(client, owner, "https://hooks.example.com/tollgate")
        assert created["event_types"] == ["*"]
        assert created["secret"].startswith("whsec_")
        assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
        listed = await client.get(f"/v1/orgs/{owner.org_id}/webhooks", headers=owner.auth)
        assert listed.status_code == 200
        assert listed.json() == {
            "items": [
                {
                    "id": created["id"],
                    "url": "https://hooks.example.com/tollgate",
                    "event_types": ["*"],
                    "disabled": False,
                    "created_at": created["created_at"],
                }
            ],
            "next_cursor": None,
        }
        assert created["secret"].removeprefix("whsec_") not in listed.text

    async def test_list_is_cursor_paginated(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        ids = [(await create_hook(client, owner, f"https://h{i}.example.com"))["id"] for i in "ab"]
        path = f"/v1/orgs/{owner.org_id}/webhooks"
        first = (await client.get(path, params={"limit": 1}, headers=owner.auth)).json()
        second = await client.get(
            path, params={"limit": 1, "cursor": first["next_cursor"]}, headers=owner.auth
        )
        assert [first["items"][0]["id"], second.json()["items"][0]["id"]] == ids

    async def test_delete_removes_it_and_is_audited(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        hook = await create_hook(client, owner, "https://hooks.example.com/x")
        path = f"/v1/orgs/{owner.org_id}/webhooks/{hook['id']}"
        assert (await client.delete(path, headers=owner.auth)).status_code == 204
        assert (await client.delete(path, headers=owner.auth)).status_code == 404
        listed = await client.get(f"/v1/orgs/{owner.org_id}/webhooks", headers=owner.auth)
        assert listed.json()["items"] == []
        audit = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=owner.auth)
        actions = [e["action"] for e in audit.json()["items"]]
        assert actions[:2] == ["webhook.deleted", "webhook.created"]

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
        self, client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/webhooks", json=body, headers=owner.auth
        )
        assert response.status_code == 422, response.text

    @pytest.mark.parametrize("role", ["member", "viewer"])
    async def test_members_and_viewers_may_not_manage_webhooks(
        self, client: httpx.AsyncClient, owner: Tenant, role: str
    ) -> None:
        hook = await create_hook(client, owner, "https://hooks.example.com/x")
        person = await add_member(client, owner, role)
        base = f"/v1/orgs/{owner.org_id}/webhooks"
        answers = [
            await client.get(base, headers=person.auth),
            await client.post(base, json={"url": "https://a.example.com"}, headers=person.auth),
            await client.delete(f"{base}/{hook['id']}", headers=person.auth),
            await client.get(f"{base}/{hook['id']}/deliveries", headers=person.auth),
        ]
        assert [r.status_code for r in answers] == [403] * 4

    async def test_another_tenant_gets_404(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        hook = await create_hook(client, owner, "https://hooks.example.com/x")
        stranger = await sign_up(client, "stranger")
        for org in (owner.org_id, stranger.org_id):
            base = f"/v1/orgs/{org}/webhooks/{hook['id']}"
            listed = await client.get(f"{base}/deliveries", headers=stranger.auth)
            assert listed.status_code == 404
            assert (await client.delete(base, headers=stranger.auth)).status_code == 404
        assert len(await deliveries(client, owner, hook["id"])) == 0


@pytest.mark.usefixtures("worker")
class TestDelivery:
    async def test_a_revoked_key_is_delivered_signed(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        with receiver() as hooks:
            hook = await create_hook(client, owner, hooks.url, event_types=["key.revoked"])
            assert queued() == []
            key_id = await revoke_a_key(client, owner)
            await run(queued())
        [request] = hooks.requests
        payload = json.loads(request.body)
        assert payload["type"] == "key.revoked"
        assert payload["data"]["id"] == key_id
        assert payload["data"]["project_id"] == owner.project_id
        # An independent Standard Webhooks verification.
        message_id = request.headers["webhook-id"]
        timestamp = request.headers["webhook-timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + request.body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert request.headers["webhook-signature"] == f"v1,{expected}"
        assert request.headers["content-type"] == "application/json"
        [logged] = await deliveries(client, owner, hook["id"])
        assert logged["event_id"] == message_id
        assert (logged["attempts"], logged["last_status"]) == (1, 200)
        assert logged["delivered_at"] is not None

    async def test_a_failed_attempt_is_retried_with_backoff(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        with receiver(500) as hooks:
            hook = await create_hook(client, owner, hooks.url)
            await revoke_a_key(client, owner)
            await run(queued())
            [failed] = await deliveries(client, owner, hook["id"])
            assert (failed["attempts"], failed["last_status"]) == (1, 500)
            assert failed["delivered_at"] is None
            assert failed["next_attempt_at"] is not None
            [retry] = queued("default.DQ")
            assert retry["options"]["eta"] >= time.time() * 1000 + 5_000  # backed off
            await run([retry])
            await run([retry])  # a duplicate of the message sends nothing more
        assert len(hooks.requests) == 2
        first, second = hooks.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert first.body == second.body
        [logged] = await deliveries(client, owner, hook["id"])
        assert (logged["attempts"], logged["last_status"]) == (2, 200)
        assert logged["delivered_at"] is not None
        assert logged["next_attempt_at"] is None

    async def test_an_endpoint_gets_only_the_types_it_subscribed_to(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await create_hook(client, owner, "http://127.0.0.1:9/x", event_types=["payment.failed"])
        await revoke_a_key(client, owner)
        assert queued() == []

    async def test_nothing_is_sent_when_the_transaction_rolls_back(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        resources: Resources,
        session_factory: async_sessionmaker[AsyncSession],
        db_session: AsyncSession,
    ) -> None:
        hook = await create_hook(client, owner, "http://127.0.0.1:9/x")
        key = await project_key(client, owner)
        with pytest.raises(RuntimeError, match="after the emit"):
            async with unit_of_work(session_factory) as session:
                context = await system_context(session, owner.org_id, Actor("system", "test"))
                await projects.revoke_key(
                    session, context, key["id"], owner.project_id, resources.key_lookup
                )
                assert await session.scalar(select(func.count(WebhookDelivery.id))) == 1
                raise RuntimeError("fails after the emit")
        assert queued() == []
        await as_org(db_session, owner.org_id)
        assert await deliveries(client, owner, hook["id"]) == []
