"""Projects, project keys and org admin keys through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.tenancy import add_member, as_org, bearer, org_key, queued_jobs
from tests.support.tenants import Tenant, project_key, sign_up

KEY_FIELDS = {"id", "name", "key", "prefix", "scopes", "expires_at"}
PROJECT_SCOPES = [
    "logs:read",
    "logs:write",
    "metrics:read",
    "metrics:write",
    "traces:read",
    "traces:write",
]


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "acme")


async def _create_project(client: httpx.AsyncClient, tenant: Tenant, name: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/projects", json={"name": name}, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _authenticates(client: httpx.AsyncClient, tenant: Tenant, secret: str) -> bool:
    """Whether the control plane accepts a key: 401 when refused; an org key reads its org, a
    project key is recognised and then told it has no control-plane access (403)."""
    response = await client.get(f"/v1/orgs/{tenant.org_id}", headers=bearer(secret))
    assert response.status_code in (200, 401, 403), response.text
    return response.status_code != 401


class TestProjects:
    async def test_create_answers_201(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        body = await _create_project(client, owner, "Checkout")
        assert body["id"].startswith("prj_")
        assert body["name"] == "Checkout"
        assert body["org_id"] == owner.org_id

    async def test_get_by_id(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.get(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        assert response.status_code == 200
        assert response.json()["id"] == owner.project_id
        assert response.json()["name"] == "Default"

    async def test_list_is_oldest_first(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        created = [(await _create_project(client, owner, f"p{i}"))["id"] for i in range(2)]
        response = await client.get(f"/v1/orgs/{owner.org_slug}/projects", headers=owner.auth)
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["items"]] == [owner.project_id, *created]

    async def test_pagination_returns_every_project_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        for i in range(4):
            await _create_project(client, owner, f"p{i}")
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (
                await client.get(
                    f"/v1/orgs/{owner.org_id}/projects", params=params, headers=owner.auth
                )
            ).json()
            assert len(page["items"]) <= 2
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5

    @pytest.mark.parametrize("cursor", ["%00", "not-a-cursor", "prj_" + "!" * 22])
    async def test_a_malformed_cursor_is_refused_not_a_500(
        self, client: httpx.AsyncClient, owner: Tenant, cursor: str
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/projects?cursor={cursor}", headers=owner.auth
        )
        assert response.status_code in (400, 422), response.text

    async def test_rename(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.patch(
            f"/v1/projects/{owner.project_id}", json={"name": "Production"}, headers=owner.auth
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Production"
        again = await client.get(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        assert again.json()["name"] == "Production"

    @pytest.mark.parametrize(
        "body", [{"name": ""}, {"name": "n" * 201}, {"name": "x", "org_id": "org_x"}, {}]
    )
    async def test_bad_bodies_are_400(
        self, client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
    ) -> None:
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json=body, headers=owner.auth
        )
        renamed = await client.patch(
            f"/v1/projects/{owner.project_id}", json=body, headers=owner.auth
        )
        assert (created.status_code, renamed.status_code) == (400, 400)

    async def test_delete_then_404_and_its_telemetry_purge_is_enqueued(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        project = await _create_project(client, owner, "Doomed")
        response = await client.delete(f"/v1/projects/{project['id']}", headers=owner.auth)
        assert response.status_code == 204
        assert (
            await client.get(f"/v1/projects/{project['id']}", headers=owner.auth)
        ).status_code == 404
        assert queued_jobs() == [("tenancy.purge_project_telemetry", [owner.org_id, project["id"]])]

    async def test_deleting_a_project_stops_its_keys_at_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        assert await _authenticates(client, owner, key["key"])  # now cached in the process
        assert (
            await client.delete(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        ).status_code == 204
        assert not await _authenticates(client, owner, key["key"])


class TestProjectKeys:
    async def test_created_with_the_secret_shown_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "collector", "scopes": ["metrics:write", "logs:write"]},
            headers=owner.auth,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body.keys() >= KEY_FIELDS
        assert body["id"].startswith("key_")
        assert body["name"] == "collector"
        assert body["key"].startswith("tgp_")
        assert len(body["key"]) == 42
        assert body["key"].startswith(body["prefix"])
        assert len(body["prefix"]) < len(body["key"]) - 20
        assert sorted(body["scopes"]) == ["logs:write", "metrics:write"]
        assert body["expires_at"] is None

    async def test_default_scopes_are_every_project_scope(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        body = await project_key(client, owner)
        assert sorted(body["scopes"]) == PROJECT_SCOPES

    async def test_the_secret_never_appears_again(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        created = await project_key(client, owner)
        listed = await client.get(f"/v1/projects/{owner.project_id}/keys", headers=owner.auth)
        assert listed.status_code == 200
        assert created["key"] not in listed.text
        (item,) = listed.json()["items"]
        assert item["id"] == created["id"]
        assert item["prefix"] == created["prefix"]
        assert item.get("key") is None
        audit = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=owner.auth)
        assert created["key"] not in audit.text

    async def test_expiry_is_kept(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        body = await project_key(client, owner, expires_at=expires.isoformat())
        assert datetime.fromisoformat(body["expires_at"]) == expires

    @pytest.mark.parametrize("scopes", [["org:admin"], ["billing:read"], ["project:admin"], []])
    async def test_scopes_a_project_key_cannot_hold_are_422(
        self, client: httpx.AsyncClient, owner: Tenant, scopes: list[str]
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "scopes": scopes},
            headers=owner.auth,
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "scopes"

    @pytest.mark.parametrize("scope", ["metrics:delete", "hub", "*"])
    async def test_unknown_scope_names_are_refused_naming_the_field(
        self, client: httpx.AsyncClient, owner: Tenant, scope: str
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "scopes": [scope]},
            headers=owner.auth,
        )
        assert response.status_code in (400, 422), response.text
        assert "scopes" in response.json()["detail"]

    async def test_expiry_in_the_past_is_422(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "expires_at": past},
            headers=owner.auth,
        )
        assert response.status_code == 422
        assert response.json()["field"] == "expires_at"

    async def test_expiry_without_a_timezone_is_422(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys",
            json={"name": "k", "expires_at": "2099-01-01T00:00:00"},
            headers=owner.auth,
        )
        assert response.status_code == 422

    async def test_revoke_answers_204_and_the_key_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        assert await _authenticates(client, owner, key["key"])
        response = await client.delete(
            f"/v1/projects/{owner.project_id}/keys/{key['id']}", headers=owner.auth
        )
        assert response.status_code == 204
        refused = await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(key["key"]))
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        (item,) = (
            await client.get(f"/v1/projects/{owner.project_id}/keys", headers=owner.auth)
        ).json()["items"]
        assert item["revoked_at"] is not None

    async def test_revoking_twice_is_harmless(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        path = f"/v1/projects/{owner.project_id}/keys/{key['id']}"
        assert (await client.delete(path, headers=owner.auth)).status_code == 204
        assert (await client.delete(path, headers=owner.auth)).status_code == 204

    async def test_a_key_of_another_project_of_the_org_is_404_there(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        other = await _create_project(client, owner, "Other")
        key = await project_key(client, owner)
        response = await client.delete(
            f"/v1/projects/{other['id']}/keys/{key['id']}", headers=owner.auth
        )
        assert response.status_code == 404

    async def test_an_expired_key_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant, db_session: AsyncSession
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        await as_org(db_session, owner.org_id)
        await db_session.execute(
            text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": key["id"]},
        )
        await db_session.commit()
        refused = await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(key["key"]))
        assert refused.status_code == 401


class TestKeyRotation:
    async def _rotate(
        self, client: httpx.AsyncClient, owner: Tenant, key: dict[str, Any], **body: Any
    ) -> dict[str, Any]:
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys/{key['id']}/rotate",
            json=body or None,
            headers=owner.auth,
        )
        assert response.status_code == 200, response.text
        rotated: dict[str, Any] = response.json()
        return rotated

    async def test_answers_the_creation_shape_with_a_new_secret(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner, scopes=["metrics:write"])
        rotated = await self._rotate(client, owner, key)
        assert rotated.keys() >= KEY_FIELDS
        assert rotated["id"] == key["id"]
        assert rotated["key"].startswith("tgp_")
        assert rotated["key"] != key["key"]
        assert rotated["prefix"] == rotated["key"][: len(rotated["prefix"])]
        assert rotated["scopes"] == ["metrics:write"]

    async def test_the_old_secret_works_during_the_grace_period(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        rotated = await self._rotate(client, owner, key, grace_period_seconds=3600)
        assert await _authenticates(client, owner, rotated["key"])
        assert await _authenticates(client, owner, key["key"])
        until = datetime.fromisoformat(rotated["previous_valid_until"])
        assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)

    async def test_with_no_grace_the_old_secret_stops_at_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        assert await _authenticates(client, owner, key["key"])  # cached before the rotation
        rotated = await self._rotate(client, owner, key, grace_period_seconds=0)
        assert not await _authenticates(client, owner, key["key"])
        assert await _authenticates(client, owner, rotated["key"])

    async def test_default_grace_is_a_day(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        key = await project_key(client, owner)
        rotated = await self._rotate(client, owner, key)
        until = datetime.fromisoformat(rotated["previous_valid_until"])
        assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(days=1)

    async def test_rotating_again_retires_the_oldest_secret(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        first = await project_key(client, owner)
        second = await self._rotate(client, owner, first, grace_period_seconds=3600)
        third = await self._rotate(client, owner, first, grace_period_seconds=3600)
        assert not await _authenticates(client, owner, first["key"])
        assert await _authenticates(client, owner, second["key"])
        assert await _authenticates(client, owner, third["key"])

    async def test_a_revoked_key_cannot_be_rotated(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        await client.delete(f"/v1/projects/{owner.project_id}/keys/{key['id']}", headers=owner.auth)
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys/{key['id']}/rotate", headers=owner.auth
        )
        assert response.status_code == 404

    async def test_revoking_a_rotated_key_stops_both_secrets(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        rotated = await self._rotate(client, owner, key, grace_period_seconds=3600)
        await client.delete(f"/v1/projects/{owner.project_id}/keys/{key['id']}", headers=owner.auth)
        assert not await _authenticates(client, owner, key["key"])
        assert not await _authenticates(client, owner, rotated["key"])

    @pytest.mark.parametrize("grace", [-1, 30 * 86400 + 1])
    async def test_grace_out_of_range_is_400(
        self, client: httpx.AsyncClient, owner: Tenant, grace: int
    ) -> None:
        key = await project_key(client, owner)
        response = await client.post(
            f"/v1/projects/{owner.project_id}/keys/{key['id']}/rotate",
            json={"grace_period_seconds": grace},
            headers=owner.auth,
        )
        assert response.status_code == 400


class TestOrgKeys:
    async def test_created_as_tgo_with_org_admin_by_default(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        body = await org_key(client, owner)
        assert body.keys() >= KEY_FIELDS
        assert body["key"].startswith("tgo_")
        assert body["scopes"] == ["org:admin"]
        listed = await client.get(f"/v1/orgs/{owner.org_id}/keys", headers=owner.auth)
        assert [k["id"] for k in listed.json()["items"]] == [body["id"]]
        assert body["key"] not in listed.text

    async def test_org_admin_reads_the_audit_log(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/audit-log", headers={"X-API-Key": key["key"]}
        )
        assert response.status_code == 200
        assert response.json()["items"]

    async def test_org_admin_implies_project_admin(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = bearer((await org_key(client, owner, ["org:admin"]))["key"])
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "By Key"}, headers=key
        )
        assert created.status_code == 201
        assert (await client.get(f"/v1/projects/{owner.project_id}/keys", headers=key)).is_success

    async def test_project_admin_manages_projects_but_not_the_org(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = bearer((await org_key(client, owner, ["project:admin"]))["key"])
        assert (
            await client.post(
                f"/v1/orgs/{owner.org_id}/projects", json={"name": "By Key"}, headers=key
            )
        ).status_code == 201
        for method, path in (
            ("GET", f"/v1/orgs/{owner.org_id}/audit-log"),
            ("GET", f"/v1/orgs/{owner.org_id}/members"),
            ("GET", f"/v1/orgs/{owner.org_id}/keys"),
            ("GET", f"/v1/orgs/{owner.org_id}"),
        ):
            assert (await client.request(method, path, headers=key)).status_code == 403, path

    async def test_billing_scopes_do_not_reach_projects(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = bearer((await org_key(client, owner, ["billing:read"]))["key"])
        response = await client.get(f"/v1/orgs/{owner.org_id}/projects", headers=key)
        assert response.status_code == 403

    async def test_a_project_key_is_refused_by_the_control_plane(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = bearer((await project_key(client, owner))["key"])
        for path in (
            f"/v1/orgs/{owner.org_id}",
            f"/v1/orgs/{owner.org_id}/projects",
            f"/v1/projects/{owner.project_id}",
            f"/v1/projects/{owner.project_id}/keys",
            f"/v1/orgs/{owner.org_id}/audit-log",
        ):
            assert (await client.get(path, headers=key)).status_code == 403, path

    async def test_revoked_org_key_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        assert await _authenticates(client, owner, key["key"])
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/keys/{key['id']}", headers=owner.auth
        )
        assert response.status_code == 204
        assert not await _authenticates(client, owner, key["key"])

    async def test_org_key_rotation_follows_the_grace_period(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/keys/{key['id']}/rotate",
            json={"grace_period_seconds": 0},
            headers=owner.auth,
        )
        assert response.status_code == 200
        assert response.json()["key"].startswith("tgo_")
        assert not await _authenticates(client, owner, key["key"])
        assert await _authenticates(client, owner, response.json()["key"])

    async def test_an_admin_cannot_mint_a_key_with_powers_the_role_lacks(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        # Admins may not manage billing (README permission table): neither may their keys.
        admin = await add_member(client, owner, "admin")
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/keys",
            json={"name": "escalate", "scopes": ["billing:write"]},
            headers=admin.auth,
        )
        assert response.status_code == 403, response.text
        allowed = await client.post(
            f"/v1/orgs/{owner.org_id}/keys",
            json={"name": "fine", "scopes": ["org:admin", "billing:read"]},
            headers=admin.auth,
        )
        assert allowed.status_code == 201
        assert (
            await client.post(
                f"/v1/orgs/{owner.org_id}/keys",
                json={"name": "owner's", "scopes": ["billing:write"]},
                headers=owner.auth,
            )
        ).status_code == 201

    async def test_a_key_cannot_mint_a_key_with_more_scopes_than_its_own(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = bearer((await org_key(client, owner, ["org:admin"]))["key"])
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/keys",
            json={"name": "escalate", "scopes": ["org:admin", "billing:write"]},
            headers=key,
        )
        assert response.status_code == 403, response.text
        same = await client.post(
            f"/v1/orgs/{owner.org_id}/keys",
            json={"name": "peer", "scopes": ["org:admin"]},
            headers=key,
        )
        assert same.status_code == 201
