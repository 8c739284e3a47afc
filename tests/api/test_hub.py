"""Hub API: operator-issued hub keys, idempotent provisioning, and entitlements."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sqlalchemy import text

from api.resources import Resources
from tests.support.gateway import OPERATOR, org_key, simple_json
from tests.support.tenants import project_key, sign_up


async def hub_key(client: httpx.AsyncClient, product: str = "pager") -> dict[str, Any]:
    """A new hub key for a product; returns the 201 body."""
    response = await client.post(
        "/v1/admin/hub-keys", json={"name": f"{product} prod", "product": product}, headers=OPERATOR
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def provision(
    client: httpx.AsyncClient, key: str, external_id: str | None = None, **extra: Any
) -> httpx.Response:
    body = {"external_id": external_id or f"cust-{secrets.token_hex(4)}", "org_name": "Globex"}
    return await client.post("/v1/hub/provision", json=body | extra, headers=bearer(key))


class TestHubKeys:
    async def test_the_operator_issues_lists_and_revokes_hub_keys(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await hub_key(client)
        assert created["key"].startswith("tgh_")
        assert created["product"] == "pager"
        assert created["key"].startswith(created["prefix"])

        listed = await client.get("/v1/admin/hub-keys", headers=OPERATOR)
        assert listed.status_code == 200
        mine = [k for k in listed.json() if k["id"] == created["id"]]
        assert mine
        assert "key" not in mine[0]

        revoked = await client.delete(f"/v1/admin/hub-keys/{created['id']}", headers=OPERATOR)
        assert revoked.status_code == 204
        assert (await provision(client, created["key"])).status_code == 401

    async def test_only_the_operator_may_manage_hub_keys(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "sneaky")
        body = {"name": "mine", "product": "pager"}
        for headers in ({}, owner.auth, bearer("tga_wrong_token")):
            assert (
                await client.post("/v1/admin/hub-keys", json=body, headers=headers)
            ).status_code == 401
            assert (await client.get("/v1/admin/hub-keys", headers=headers)).status_code == 401

    async def test_revoking_an_unknown_hub_key_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/v1/admin/hub-keys/hbk_nope", headers=OPERATOR)
        assert response.status_code == 404


class TestProvision:
    async def test_first_call_creates_an_org_project_and_a_working_key(
        self, client: httpx.AsyncClient
    ) -> None:
        key = (await hub_key(client))["key"]
        response = await provision(client, key, project_name="Production")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["org"]["id"].startswith("org_")
        assert body["org"]["slug"]
        assert body["key"].startswith("tgp_")
        assert "invite" not in body

        project = body["project"]["id"]
        ingest = await client.post(
            f"/p/{project}/ingest/metrics", json=simple_json("hub_up"), headers=bearer(body["key"])
        )
        assert ingest.status_code == 200, ingest.text
        assert ingest.json() == {"accepted": 1}

    async def test_a_repeated_call_returns_the_same_org_and_no_secret(
        self, client: httpx.AsyncClient
    ) -> None:
        key = (await hub_key(client))["key"]
        first = await provision(client, key, "cust-42")
        again = await provision(client, key, "cust-42", org_name="Renamed")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["org"] == first.json()["org"]
        assert again.json()["project"] == first.json()["project"]
        assert "key" not in again.json()

    async def test_the_same_external_id_of_another_product_is_another_org(
        self, client: httpx.AsyncClient
    ) -> None:
        pager = (await hub_key(client, "pager"))["key"]
        status = (await hub_key(client, "status"))["key"]
        a = await provision(client, pager, "cust-7")
        b = await provision(client, status, "cust-7")
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["org"]["id"] != b.json()["org"]["id"]

    async def test_an_email_gets_an_owner_invite(self, client: httpx.AsyncClient) -> None:
        key = (await hub_key(client))["key"]
        response = await provision(client, key, email="Boss@Globex.example")
        assert response.status_code == 201, response.text
        invite = response.json()["invite"]
        assert (invite["email"], invite["role"]) == ("boss@globex.example", "owner")
        assert invite["token"]
        assert invite["accept_url"].endswith("/accept")

    async def test_provisioning_is_audited(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        key = (await hub_key(client))["key"]
        body = (await provision(client, key, "cust-audit")).json()
        async with resources.session_factory() as session:
            await session.execute(
                text("SELECT set_config('app.org_id', :o, true)"), {"o": body["org"]["id"]}
            )
            rows = await session.execute(
                text("SELECT action, actor_type FROM audit_events ORDER BY id")
            )
            events = [tuple(r) for r in rows]
        assert ("hub.provisioned", "hub_key") in events
        assert ("org.created", "hub_key") in events

    async def test_a_missing_or_bad_hub_key_is_401(self, client: httpx.AsyncClient) -> None:
        body = {"external_id": "x", "org_name": "Nope"}
        assert (await client.post("/v1/hub/provision", json=body)).status_code == 401
        fake = "tgh_" + "a" * 38
        response = await client.post("/v1/hub/provision", json=body, headers=bearer(fake))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_org_and_project_keys_are_not_hub_keys(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "intruder")
        keys = [
            (await project_key(client, tenant))["key"],
            await org_key(client, tenant, ["org:admin"]),
            tenant.token,
        ]
        for key in keys:
            assert (await provision(client, key)).status_code == 401, key[:4]

    async def test_a_hub_key_is_not_an_org_or_project_key(self, client: httpx.AsyncClient) -> None:
        key = (await hub_key(client))["key"]
        body = (await provision(client, key)).json()
        org = await client.get(f"/v1/orgs/{body['org']['id']}", headers=bearer(key))
        assert org.status_code == 401
        ingest = await client.post(
            f"/p/{body['project']['id']}/ingest/metrics",
            json=simple_json("hub_up"),
            headers=bearer(key),
        )
        assert ingest.status_code == 401


class TestEntitlements:
    async def test_an_org_of_the_product_gets_its_entitlements(
        self, client: httpx.AsyncClient
    ) -> None:
        key = (await hub_key(client))["key"]
        org = (await provision(client, key)).json()["org"]["id"]
        response = await client.get(f"/v1/hub/orgs/{org}/entitlements", headers=bearer(key))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {
            "plan",
            "status",
            "period_start",
            "period_end",
            "quotas",
            "retention_days",
            "features",
        }
        assert body["plan"] == "free"
        assert body["status"] == "active"
        assert body["retention_days"] > 0
        metrics = body["quotas"]["metrics"]
        assert set(metrics) == {"included", "used", "remaining"}
        assert metrics["remaining"] == metrics["included"] - metrics["used"]

    async def test_another_org_is_404(self, client: httpx.AsyncClient) -> None:
        pager = (await hub_key(client, "pager"))["key"]
        status = (await hub_key(client, "status"))["key"]
        theirs = (await provision(client, status)).json()["org"]["id"]
        signed_up = (await sign_up(client, "direct")).org_id
        for org in (theirs, signed_up, "org_nope", "not-an-id"):
            response = await client.get(f"/v1/hub/orgs/{org}/entitlements", headers=bearer(pager))
            assert response.status_code == 404, org

    async def test_entitlements_need_a_hub_key(self, client: httpx.AsyncClient) -> None:
        tenant = await sign_up(client, "owner")
        response = await client.get(
            f"/v1/hub/orgs/{tenant.org_id}/entitlements", headers=tenant.auth
        )
        assert response.status_code == 401
