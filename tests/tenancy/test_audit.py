"""The audit log: every mutation of tenant state is recorded, newest first, cursor-paginated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.asgi import TEST_CLIENT_IP
from tests.support.tenancy import (
    MEMBER_PASSWORD,
    add_member,
    audit_events,
    bearer,
    invite,
    org_key,
)
from tests.support.tenants import Tenant, project_key, sign_up

# What a mutation is expected to record: (actor id, target type, target id).
Expected = tuple[str, str, str]
Mutation = Callable[[httpx.AsyncClient, Tenant], Awaitable[Expected]]


async def _signup(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    return owner.user_id, "org", owner.org_id


async def _org_updated(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    response = await client.patch(
        f"/v1/orgs/{owner.org_id}", json={"name": "Renamed"}, headers=owner.auth
    )
    assert response.status_code == 200
    return owner.user_id, "org", owner.org_id


async def _member_added(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    member = await add_member(client, owner, "member")
    return member.user_id, "user", member.user_id


async def _member_role_changed(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    member = await add_member(client, owner, "member")
    response = await client.patch(
        f"/v1/orgs/{owner.org_id}/members/{member.user_id}",
        json={"role": "viewer"},
        headers=owner.auth,
    )
    assert response.status_code == 200
    return owner.user_id, "user", member.user_id


async def _member_removed(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    member = await add_member(client, owner, "member")
    response = await client.delete(
        f"/v1/orgs/{owner.org_id}/members/{member.user_id}", headers=owner.auth
    )
    assert response.status_code == 204
    return owner.user_id, "user", member.user_id


async def _invite_created(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await invite(client, owner.auth, owner.org_id)
    return owner.user_id, "invite", created["id"]


async def _invite_accepted(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await invite(client, owner.auth, owner.org_id)
    response = await client.post(
        f"/v1/invites/{created['token']}/accept",
        json={"password": MEMBER_PASSWORD, "name": "Joiner"},
    )
    assert response.status_code == 200
    return response.json()["user"]["id"], "invite", created["id"]


async def _invite_cancelled(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await invite(client, owner.auth, owner.org_id)
    response = await client.delete(
        f"/v1/orgs/{owner.org_id}/invites/{created['id']}", headers=owner.auth
    )
    assert response.status_code == 204
    return owner.user_id, "invite", created["id"]


async def _project_created(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    response = await client.post(
        f"/v1/orgs/{owner.org_id}/projects", json={"name": "New"}, headers=owner.auth
    )
    assert response.status_code == 201
    return owner.user_id, "project", response.json()["id"]


async def _project_updated(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    response = await client.patch(
        f"/v1/projects/{owner.project_id}", json={"name": "Renamed"}, headers=owner.auth
    )
    assert response.status_code == 200
    return owner.user_id, "project", owner.project_id


async def _project_deleted(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    response = await client.delete(f"/v1/projects/{owner.project_id}", headers=owner.auth)
    assert response.status_code == 204
    return owner.user_id, "project", owner.project_id


async def _key_created(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await project_key(client, owner)
    return owner.user_id, "api_key", created["id"]


async def _key_revoked(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await project_key(client, owner)
    response = await client.delete(
        f"/v1/projects/{owner.project_id}/keys/{created['id']}", headers=owner.auth
    )
    assert response.status_code == 204
    return owner.user_id, "api_key", created["id"]


async def _key_rotated(client: httpx.AsyncClient, owner: Tenant) -> Expected:
    created = await org_key(client, owner)
    response = await client.post(
        f"/v1/orgs/{owner.org_id}/keys/{created['id']}/rotate", headers=owner.auth
    )
    assert response.status_code == 200
    return owner.user_id, "api_key", created["id"]


MUTATIONS: dict[str, Mutation] = {
    "org.created": _signup,
    "org.updated": _org_updated,
    "member.added": _member_added,
    "member.role_changed": _member_role_changed,
    "member.removed": _member_removed,
    "invite.created": _invite_created,
    "invite.accepted": _invite_accepted,
    "invite.cancelled": _invite_cancelled,
    "project.created": _project_created,
    "project.updated": _project_updated,
    "project.deleted": _project_deleted,
    "key.created": _key_created,
    "key.revoked": _key_revoked,
    "key.rotated": _key_rotated,
}


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "audited")


class TestEveryMutationIsAudited:
    @pytest.mark.parametrize("action", list(MUTATIONS))
    async def test_with_actor_target_ip_and_time(
        self, client: httpx.AsyncClient, owner: Tenant, action: str
    ) -> None:
        actor_id, target_type, target_id = await MUTATIONS[action](client, owner)
        events = [e for e in await audit_events(client, owner) if e["action"] == action]
        assert events, f"no {action} event"
        event = events[0]
        assert event["id"].startswith("aud_")
        assert event["actor"] == {"type": "user", "id": actor_id}
        assert event["target"] == {"type": target_type, "id": target_id}
        assert event["ip"] == TEST_CLIENT_IP
        at = datetime.fromisoformat(event["at"])
        assert timedelta(0) <= datetime.now(UTC) - at < timedelta(minutes=5)

    async def test_a_keys_actions_are_attributed_to_the_key(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await org_key(client, owner, ["org:admin"])
        created = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "ByKey"}, headers=bearer(key["key"])
        )
        (event,) = [
            e
            for e in await audit_events(client, owner)
            if e["target"]["id"] == created.json()["id"]
        ]
        assert event["actor"] == {"type": "api_key", "id": key["id"]}

    async def test_event_data_describes_the_change(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        member = await add_member(client, owner, "member")
        await client.patch(
            f"/v1/orgs/{owner.org_id}/members/{member.user_id}",
            json={"role": "admin"},
            headers=owner.auth,
        )
        changed = next(
            e for e in await audit_events(client, owner) if e["action"] == "member.role_changed"
        )
        assert changed["data"] == {"old": "member", "new": "admin"}

    async def test_a_refused_mutation_records_nothing(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        other = await sign_up(client, "taken")
        viewer = await add_member(client, owner, "viewer")
        before = await audit_events(client, owner)
        conflict = await client.patch(
            f"/v1/orgs/{owner.org_id}", json={"slug": other.org_slug}, headers=owner.auth
        )
        assert conflict.status_code == 409
        forbidden = await client.post(
            f"/v1/orgs/{owner.org_id}/projects", json={"name": "x"}, headers=viewer.auth
        )
        assert forbidden.status_code == 403
        last_owner = await client.delete(
            f"/v1/orgs/{owner.org_id}/members/{owner.user_id}", headers=owner.auth
        )
        assert last_owner.status_code == 409
        assert await audit_events(client, owner) == before

    async def test_secrets_never_reach_the_log(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        pending = await invite(client, owner.auth, owner.org_id)
        response = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=owner.auth)
        for secret in (key["key"], pending["token"], owner.token, owner.password):
            assert secret not in response.text


class TestAuditLogOrder:
    async def test_newest_first_across_requests(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await _org_updated(client, owner)
        await _project_created(client, owner)
        await _key_created(client, owner)
        actions = [e["action"] for e in await audit_events(client, owner)]
        assert actions[:3] == ["key.created", "project.created", "org.updated"]
        ats = [datetime.fromisoformat(e["at"]) for e in await audit_events(client, owner)]
        assert ats == sorted(ats, reverse=True)

    async def test_events_of_one_request_keep_their_order(self, client: httpx.AsyncClient) -> None:
        # Signup records three events in one transaction (same timestamp): the id decides.
        for _ in range(5):
            tenant = await sign_up(client, "ordered")
            actions = [e["action"] for e in await audit_events(client, tenant)]
            assert actions == ["project.created", "member.added", "org.created"]


class TestAuditLogPagination:
    async def test_cursor_pages_return_every_event_exactly_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        for i in range(4):
            await client.post(
                f"/v1/orgs/{owner.org_id}/projects", json={"name": f"p{i}"}, headers=owner.auth
            )
        everything = await audit_events(client, owner)
        assert len(everything) == 7
        pages: list[list[dict[str, Any]]] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            response = await client.get(
                f"/v1/orgs/{owner.org_id}/audit-log", params=params, headers=owner.auth
            )
            assert response.status_code == 200
            body = response.json()
            pages.append(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [e["id"] for page in pages for e in page] == [e["id"] for e in everything]

    async def test_an_exactly_full_last_page_has_no_cursor(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/audit-log", params={"limit": 3}, headers=owner.auth
        )
        assert len(response.json()["items"]) == 3
        assert response.json()["next_cursor"] is None

    @pytest.mark.parametrize("limit", [0, 201, -1])
    async def test_limit_out_of_range_is_400(
        self, client: httpx.AsyncClient, owner: Tenant, limit: int
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/audit-log", params={"limit": limit}, headers=owner.auth
        )
        assert response.status_code == 400

    @pytest.mark.parametrize("cursor", ["%00", "garbage", "prj_0000000000000000000000"])
    async def test_a_malformed_cursor_is_refused_not_a_500(
        self, client: httpx.AsyncClient, owner: Tenant, cursor: str
    ) -> None:
        response = await client.get(
            f"/v1/orgs/{owner.org_id}/audit-log?cursor={cursor}", headers=owner.auth
        )
        assert response.status_code in (400, 422), response.text


class TestAuditLogAccess:
    @pytest.mark.parametrize("role", ["member", "viewer", "billing"])
    async def test_only_owners_and_admins_read_it(
        self, client: httpx.AsyncClient, owner: Tenant, role: str
    ) -> None:
        member = await add_member(client, owner, role)
        response = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=member.auth)
        assert response.status_code == 403
        admin = await add_member(client, owner, "admin")
        allowed = await client.get(f"/v1/orgs/{owner.org_id}/audit-log", headers=admin.auth)
        assert allowed.status_code == 200
