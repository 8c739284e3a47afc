"""Orgs, members, roles and invites through the HTTP API."""

from __future__ import annotations

import secrets
from datetime import datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.tenancy import (
    MEMBER_PASSWORD,
    Member,
    add_member,
    as_org,
    bearer,
    invite,
    mark_verified,
    org_key,
    queued_jobs,
)
from tests.support.tenants import Tenant, project_key, sign_up


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "acme")


class TestCreateOrg:
    async def test_answers_201_with_a_slug_derived_from_the_name(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        name = f"Wayne Enterprises {secrets.token_hex(2)}"
        response = await client.post("/v1/orgs", json={"name": name}, headers=owner.auth)
        assert response.status_code == 201, response.text
        org = response.json()
        assert org["id"].startswith("org_")
        assert org["name"] == name
        assert org["slug"] == name.lower().replace(" ", "-")
        assert org["role"] == "owner"

    async def test_an_explicit_slug_is_kept(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        slug = f"wayne-{secrets.token_hex(3)}"
        response = await client.post(
            "/v1/orgs", json={"name": "Wayne", "slug": slug}, headers=owner.auth
        )
        assert response.status_code == 201, response.text
        assert response.json()["slug"] == slug

    async def test_a_taken_slug_is_a_409(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.post(
            "/v1/orgs", json={"name": "Copycat", "slug": owner.org_slug}, headers=owner.auth
        )
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "slug_taken"

    @pytest.mark.parametrize("slug", ["UPPER", "a", "-leading", "sp ace", "x" * 65])
    async def test_a_malformed_slug_is_400(
        self, client: httpx.AsyncClient, owner: Tenant, slug: str
    ) -> None:
        response = await client.post(
            "/v1/orgs", json={"name": "Bad", "slug": slug}, headers=owner.auth
        )
        assert response.status_code == 400, response.text

    async def test_the_new_org_has_its_creator_as_owner_and_a_default_project(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        org = (await client.post("/v1/orgs", json={"name": "Second"}, headers=owner.auth)).json()
        members = await client.get(f"/v1/orgs/{org['id']}/members", headers=owner.auth)
        assert [(m["user_id"], m["role"]) for m in members.json()["items"]] == [
            (owner.user_id, "owner")
        ]
        projects = await client.get(f"/v1/orgs/{org['id']}/projects", headers=owner.auth)
        assert len(projects.json()["items"]) == 1

    async def test_needs_a_user_session_not_a_key(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        response = await client.post("/v1/orgs", json={"name": "Bot"}, headers=bearer(key["key"]))
        assert response.status_code == 401


class TestGetOrg:
    async def test_by_id(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.get(f"/v1/orgs/{owner.org_id}", headers=owner.auth)
        assert response.status_code == 200
        assert response.json()["id"] == owner.org_id
        assert response.json()["slug"] == owner.org_slug

    async def test_by_slug(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.get(f"/v1/orgs/{owner.org_slug}", headers=owner.auth)
        assert response.status_code == 200
        assert response.json()["id"] == owner.org_id

    async def test_every_role_can_read_it(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        for role in ("admin", "member", "viewer", "billing"):
            member = await add_member(client, owner, role)
            response = await client.get(f"/v1/orgs/{owner.org_slug}", headers=member.auth)
            assert response.status_code == 200, role
            assert response.json()["role"] == role


class TestUpdateOrg:
    async def test_rename_and_new_slug(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        slug = f"renamed-{secrets.token_hex(3)}"
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"name": "Renamed", "slug": slug}, headers=owner.auth
        )
        assert response.status_code == 200, response.text
        assert (response.json()["name"], response.json()["slug"]) == ("Renamed", slug)
        assert (await client.get(f"/v1/orgs/{slug}", headers=owner.auth)).status_code == 200
        assert (
            await client.get(f"/v1/orgs/{owner.org_slug}", headers=owner.auth)
        ).status_code == 404

    async def test_a_slug_taken_by_another_org_is_a_409(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        other = await sign_up(client, "rival")
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"slug": other.org_slug}, headers=owner.auth
        )
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["code"] == "slug_taken"
        assert body["field"] == "slug"
        after = await client.get(f"/v1/orgs/{owner.org_id}", headers=owner.auth)
        assert after.json()["slug"] == owner.org_slug

    async def test_admin_may_update(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        admin = await add_member(client, owner, "admin")
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"name": "By Admin"}, headers=admin.auth
        )
        assert response.status_code == 200

    @pytest.mark.parametrize("role", ["member", "viewer", "billing"])
    async def test_other_roles_are_403(
        self, client: httpx.AsyncClient, owner: Tenant, role: str
    ) -> None:
        member = await add_member(client, owner, role)
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"name": "Nope"}, headers=member.auth
        )
        assert response.status_code == 403

    async def test_unknown_field_is_400(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"status": "active"}, headers=owner.auth
        )
        assert response.status_code == 400


class TestDeleteOrg:
    async def test_owner_deletes_it_and_its_telemetry_purge_is_enqueued(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        assert queued_jobs() == []
        response = await client.delete(f"/v1/orgs/{owner.org_id}", headers=owner.auth)
        assert response.status_code == 204, response.text
        assert queued_jobs() == [("tenancy.purge_org_telemetry", [owner.org_id])]
        assert (await client.get(f"/v1/orgs/{owner.org_id}", headers=owner.auth)).status_code == 404
        me = (await client.get("/v1/me", headers=owner.auth)).json()
        assert me["orgs"] == []

    async def test_its_projects_and_keys_go_with_it(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        assert (await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(key["key"]))).is_success
        assert (
            await client.delete(f"/v1/orgs/{owner.org_id}", headers=owner.auth)
        ).status_code == 204
        assert (
            await client.get(f"/v1/projects/{owner.project_id}", headers=owner.auth)
        ).status_code == 404
        assert (await client.get("/v1/orgs", headers=bearer(key["key"]))).status_code == 401

    async def test_admin_is_403_and_nothing_is_enqueued(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        response = await client.delete(f"/v1/orgs/{owner.org_id}", headers=admin.auth)
        assert response.status_code == 403
        assert queued_jobs() == []
        assert (await client.get(f"/v1/orgs/{owner.org_id}", headers=owner.auth)).status_code == 200

    async def test_no_org_key_may_delete_it(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        key = await org_key(client, owner, ["org:admin", "project:admin", "billing:write"])
        response = await client.delete(f"/v1/orgs/{owner.org_id}", headers=bearer(key["key"]))
        assert response.status_code == 403


class TestListOrgs:
    async def test_lists_the_callers_orgs_with_a_cursor_field(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        second = (await client.post("/v1/orgs", json={"name": "Two"}, headers=owner.auth)).json()
        await sign_up(client, "stranger")
        response = await client.get("/v1/orgs", headers=owner.auth)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert {o["id"] for o in body["items"]} == {owner.org_id, second["id"]}
        assert {o["role"] for o in body["items"]} == {"owner"}
        assert body["next_cursor"] is None

    async def test_an_org_key_sees_its_own_org(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        body = (await client.get("/v1/orgs", headers=bearer(key["key"]))).json()
        assert [o["id"] for o in body["items"]] == [owner.org_id]


class TestMembers:
    async def test_lists_every_member_with_role(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        viewer = await add_member(client, owner, "viewer")
        response = await client.get(f"/v1/orgs/{owner.org_id}/members", headers=viewer.auth)
        assert response.status_code == 200
        members = {m["user_id"]: (m["email"], m["role"]) for m in response.json()["items"]}
        assert members == {
            owner.user_id: (owner.email, "owner"),
            viewer.user_id: (viewer.email, "viewer"),
        }

    async def test_admin_changes_a_role(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        admin = await add_member(client, owner, "admin")
        member = await add_member(client, owner, "member")
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{member.user_id}",
            json={"role": "viewer"},
            headers=admin.auth,
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "viewer"
        create = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "x"}, headers=member.auth
        )
        assert create.status_code == 403

    async def test_unknown_role_is_400(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        member = await add_member(client, owner, "member")
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{member.user_id}",
            json={"role": "superuser"},
            headers=owner.auth,
        )
        assert response.status_code == 400

    async def test_admin_removes_a_member(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        admin = await add_member(client, owner, "admin")
        member = await add_member(client, owner, "member")
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{member.user_id}", headers=admin.auth
        )
        assert response.status_code == 204
        assert (
            await client.get(f"/v1/orgs/{owner.org_id}", headers=member.auth)
        ).status_code == 404

    async def test_a_member_leaves_by_deleting_their_own_membership(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        viewer = await add_member(client, owner, "viewer")
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{viewer.user_id}", headers=viewer.auth
        )
        assert response.status_code == 204
        assert (
            await client.get(f"/v1/orgs/{owner.org_id}", headers=viewer.auth)
        ).status_code == 404
        assert (await client.get("/v1/me", headers=viewer.auth)).json()["orgs"] == []

    async def test_a_member_cannot_remove_someone_else(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        member = await add_member(client, owner, "member")
        other = await add_member(client, owner, "viewer")
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{other.user_id}", headers=member.auth
        )
        assert response.status_code == 403


class TestOwnerRole:
    async def test_only_an_owner_may_grant_owner(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        member = await add_member(client, owner, "member")
        path = f"/v1/orgs/{owner.org_id}/members/{member.user_id}"
        refused = await client.patch(path, json={"role": "owner"}, headers=admin.auth)
        assert refused.status_code == 403
        granted = await client.patch(path, json={"role": "owner"}, headers=owner.auth)
        assert granted.status_code == 200
        assert granted.json()["role"] == "owner"

    async def test_admin_cannot_promote_themselves_to_owner(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{admin.user_id}",
            json={"role": "owner"},
            headers=admin.auth,
        )
        assert response.status_code == 403

    async def test_admin_cannot_demote_or_remove_an_owner(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        path = f"/v1/orgs/{owner.org_id}/members/{owner.user_id}"
        assert (
            await client.patch(path, json={"role": "viewer"}, headers=admin.auth)
        ).status_code == 403
        assert (await client.delete(path, headers=admin.auth)).status_code == 403

    async def test_only_an_owner_may_invite_an_owner(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        refused = await client.post(
            f"/v1/orgs/{owner.org_id}/invites",
            json={"email": "boss@example.com", "role": "owner"},
            headers=admin.auth,
        )
        assert refused.status_code == 403
        await invite(client, owner.auth, owner.org_id, role="owner")

    async def test_the_last_owner_cannot_be_demoted(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{owner.user_id}",
            json={"role": "admin"},
            headers=owner.auth,
        )
        assert response.status_code == 409
        assert response.json()["code"] == "last_owner"

    async def test_the_last_owner_cannot_leave(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{owner.user_id}", headers=owner.auth
        )
        assert response.status_code == 409
        assert response.json()["code"] == "last_owner"

    async def test_an_owner_may_leave_once_another_owner_exists(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        second = await add_member(client, owner, "member")
        await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{second.user_id}",
            json={"role": "owner"},
            headers=owner.auth,
        )
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{owner.user_id}", headers=owner.auth
        )
        assert response.status_code == 204
        members = await client.get(f"/v1/orgs/{owner.org_id}/members", headers=second.auth)
        assert [(m["user_id"], m["role"]) for m in members.json()["items"]] == [
            (second.user_id, "owner")
        ]


class TestRolePermissions:
    """The permission table of tenancy/roles.py, as members experience it."""

    async def test_viewer_reads_projects_but_cannot_create_them(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        viewer = await add_member(client, owner, "viewer")
        listed = await client.get(f"/v1/orgs/{owner.org_id}/projects", headers=viewer.auth)
        assert listed.status_code == 200
        assert [p["id"] for p in listed.json()["items"]] == [owner.project_id]
        assert (
            await client.get(f"/v1/projects/{owner.project_id}", headers=viewer.auth)
        ).status_code == 200
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "x"}, headers=viewer.auth
        )
        assert created.status_code == 403
        assert created.headers["content-type"] == "application/problem+json"
        keys = await client.get(f"/v1/projects/{owner.project_id}/keys", headers=viewer.auth)
        assert keys.status_code == 403

    async def test_member_creates_projects_and_keys_but_cannot_manage_members(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        member = await add_member(client, owner, "member")
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "Mine"}, headers=member.auth
        )
        assert created.status_code == 201
        key = await client.post(
            f"/v1/projects/{created.json()['id']}/keys", json={"name": "k"}, headers=member.auth
        )
        assert key.status_code == 201
        assert key.json()["key"].startswith("tgp_")
        invited = await client.post(
            f"/v1/orgs/{owner.org_id}/invites",
            json={"email": "friend@example.com", "role": "member"},
            headers=member.auth,
        )
        assert invited.status_code == 403
        demoted = await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{owner.user_id}",
            json={"role": "viewer"},
            headers=member.auth,
        )
        assert demoted.status_code == 403
        org_keys = await client.post(
            f"/v1/orgs/{owner.org_id}/keys", json={"name": "k"}, headers=member.auth
        )
        assert org_keys.status_code == 403
        audit = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=member.auth)
        assert audit.status_code == 403

    async def test_billing_role_cannot_read_projects(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        billing = await add_member(client, owner, "billing")
        for path in (
            f"/v1/orgs/{owner.org_id}/projects",
            f"/v1/projects/{owner.project_id}",
            f"/v1/projects/{owner.project_id}/keys",
        ):
            assert (await client.get(path, headers=billing.auth)).status_code == 403, path
        assert (await client.get(f"/v1/orgs/{owner.org_id}", headers=billing.auth)).is_success

    async def test_admin_manages_members_and_org_keys(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        admin = await add_member(client, owner, "admin")
        await invite(client, admin.auth, owner.org_id, role="admin")
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/keys", json={"name": "ci"}, headers=admin.auth
        )
        assert created.status_code == 201
        assert (
            await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=admin.auth)
        ).status_code == 200


class TestInvites:
    async def test_created_with_a_token_shown_once_and_an_accept_url(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/invites",
            json={"email": "Grace@Example.com", "role": "viewer"},
            headers=owner.auth,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("inv_")
        assert body["email"] == "grace@example.com"
        assert body["role"] == "viewer"
        assert datetime.fromisoformat(body["expires_at"])
        assert body["token"]
        assert body["accept_url"].endswith(f"/v1/invites/{body['token']}/accept")
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=owner.auth)
        assert [i["id"] for i in listed.json()["items"]] == [body["id"]]
        assert body["token"] not in listed.text

    async def test_accepting_creates_the_account_and_logs_it_in(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id, role="member")
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Grace"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["org_id"] == owner.org_id
        assert body["user"]["email"] == invited["email"]
        assert body["token"].startswith("tgs_")
        me = (await client.get("/v1/me", headers=bearer(body["token"]))).json()
        assert [(o["id"], o["role"]) for o in me["orgs"]] == [(owner.org_id, "member")]
        login = await client.post(
            "/v1/auth/login", json={"email": invited["email"], "password": MEMBER_PASSWORD}
        )
        assert login.status_code == 200

    async def test_new_account_needs_password_and_name(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        response = await client.post(f"/v1/invites/{invited['token']}/accept")
        assert response.status_code == 422
        short = await client.post(
            f"/v1/invites/{invited['token']}/accept", json={"password": "short", "name": "G"}
        )
        assert short.status_code == 400

    async def test_a_logged_in_user_with_the_invited_email_joins(
        self, client: httpx.AsyncClient, owner: Tenant, db_session: AsyncSession
    ) -> None:
        existing = await sign_up(client, "joiner")
        # (unverified, it is refused: see tests/tenancy/test_email_verification.py)
        await mark_verified(db_session, existing.user_id)
        invited = await invite(client, owner.auth, owner.org_id, role="admin", email=existing.email)
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept", headers=existing.auth
        )
        assert response.status_code == 200, response.text
        assert "token" not in response.json()
        orgs = (await client.get("/v1/me", headers=existing.auth)).json()["orgs"]
        assert {(o["id"], o["role"]) for o in orgs} == {
            (existing.org_id, "owner"),
            (owner.org_id, "admin"),
        }

    async def test_an_existing_account_must_log_in_first(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        existing = await sign_up(client, "known")
        invited = await invite(client, owner.auth, owner.org_id, email=existing.email)
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Impostor"},
        )
        assert response.status_code == 409

    async def test_a_user_with_another_email_is_403(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        intruder = await sign_up(client, "intruder")
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept", headers=intruder.auth
        )
        assert response.status_code == 403
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=owner.auth)
        assert [i["id"] for i in listed.json()["items"]] == [invited["id"]]

    async def test_a_used_invite_is_410_for_everyone(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        first = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "First"},
        )
        assert first.status_code == 200
        again = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Second"},
        )
        assert again.status_code == 410, again.text
        assert again.json()["code"] == "invite_invalid"
        by_invitee = await client.post(
            f"/v1/invites/{invited['token']}/accept", headers=bearer(first.json()["token"])
        )
        assert by_invitee.status_code == 410

    async def test_an_expired_invite_is_410(
        self, client: httpx.AsyncClient, owner: Tenant, db_session: AsyncSession
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        await as_org(db_session, owner.org_id)
        await db_session.execute(
            text("UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": invited["id"]},
        )
        await db_session.commit()
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Late"},
        )
        assert response.status_code == 410
        login = await client.post(
            "/v1/auth/login", json={"email": invited["email"], "password": MEMBER_PASSWORD}
        )
        assert login.status_code == 401  # no account was left behind

    async def test_an_unknown_token_is_410(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"/v1/invites/{secrets.token_urlsafe(32)}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Nobody"},
        )
        assert response.status_code == 410

    async def test_cancelled_invite_is_gone(self, client: httpx.AsyncClient, owner: Tenant) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        cancelled = await client.delete(
            f"/v1/orgs/{owner.org_id}/invites/{invited['id']}", headers=owner.auth
        )
        assert cancelled.status_code == 204
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=owner.auth)
        assert listed.json()["items"] == []
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept",
            json={"password": MEMBER_PASSWORD, "name": "Too Late"},
        )
        assert response.status_code == 410

    async def test_an_accepted_invite_cannot_be_cancelled(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        member: Member = await add_member(client, owner, "member")
        accepted_id = next(
            e["target"]["id"]
            for e in (
                await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=owner.auth)
            ).json()["items"]
            if e["action"] == "invite.accepted" and e["data"]["user_id"] == member.user_id
        )
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/invites/{accepted_id}", headers=owner.auth
        )
        assert response.status_code == 404

    async def test_an_invalid_email_is_a_problem_naming_the_field(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/invites",
            json={"email": "not an email", "role": "member"},
            headers=owner.auth,
        )
        assert response.status_code in (400, 422)
        assert "email" in response.json()["detail"]

    async def test_an_api_key_cannot_accept_an_invite(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        invited = await invite(client, owner.auth, owner.org_id)
        key = await project_key(client, owner)
        response = await client.post(
            f"/v1/invites/{invited['token']}/accept", headers=bearer(key["key"])
        )
        assert response.status_code == 404
