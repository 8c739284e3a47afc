"""Tenant isolation: 404 for every id of another tenant, malformed ids, RLS, the ORM backstop."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from infra.settings import Settings
from tenancy.authz import system_context
from tenancy.context import Actor, OrgId, TenantContext
from tenancy.models import ApiKey, AuditEvent, Invite, Membership, Org, Project, SsoConnection
from tenancy.roles import Role
from tenancy.scoping import UnscopedQueryError, global_scope
from tests.support.tenancy import Member, add_member, as_org, invite, org_key
from tests.support.tenants import Tenant, project_key, sign_up


@dataclass(frozen=True)
class World:
    """Tenant A with one of everything that has an id, and a stranger B with their own org."""

    a: Tenant
    a_member: Member
    a_invite_id: str
    a_key_id: str
    a_org_key_id: str
    a_webhook_id: str
    b: Tenant

    def ids(self) -> dict[str, str]:
        return {
            "org": self.a.org_id,
            "org_slug": self.a.org_slug,
            "project": self.a.project_id,
            "key": self.a_key_id,
            "org_key": self.a_org_key_id,
            "user": self.a_member.user_id,
            "invite": self.a_invite_id,
            "webhook": self.a_webhook_id,
            "own_org": self.b.org_id,
            "own_project": self.b.project_id,
            "domain": "alpha.example",
        }


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    a = await sign_up(client, "alpha")
    member = await add_member(client, a, "member")
    pending = await invite(client, a.auth, a.org_id, role="viewer")
    key = await project_key(client, a)
    admin_key = await org_key(client, a, ["org:admin"])
    hook = await client.post(
        f"/v1/orgs/{a.org_id}/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=a.auth
    )
    assert hook.status_code == 201, hook.text
    b = await sign_up(client, "bravo")
    return World(a, member, pending["id"], key["id"], admin_key["id"], hook.json()["id"], b)


# Every endpoint that takes an id, with a valid body: B (owner of its own org) asks for A's ids,
# alone or under B's own org or project. The answer is always 404: a 403 would confirm the id.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/orgs/{org}", None),
    ("GET", "/v1/orgs/{org_slug}", None),
    ("PATCH", "/v1/orgs/{org}", {"name": "Hijacked"}),
    ("PATCH", "/v1/orgs/{org_slug}", {"slug": "hijacked"}),
    ("DELETE", "/v1/orgs/{org}", None),
    ("DELETE", "/v1/orgs/{org_slug}", None),
    ("GET", "/v1/orgs/{org}/members", None),
    ("PATCH", "/v1/orgs/{org}/members/{user}", {"role": "viewer"}),
    ("DELETE", "/v1/orgs/{org}/members/{user}", None),
    ("PATCH", "/v1/orgs/{own_org}/members/{user}", {"role": "viewer"}),
    ("DELETE", "/v1/orgs/{own_org}/members/{user}", None),
    ("GET", "/v1/orgs/{org}/invites", None),
    ("POST", "/v1/orgs/{org}/invites", {"email": "spy@example.com", "role": "admin"}),
    ("DELETE", "/v1/orgs/{org}/invites/{invite}", None),
    ("DELETE", "/v1/orgs/{own_org}/invites/{invite}", None),
    ("GET", "/v1/orgs/{org}/audit-log", None),
    ("GET", "/v1/orgs/{org}/export", None),
    ("GET", "/v1/orgs/{org_slug}/export", None),
    ("GET", "/v1/orgs/{org}/projects", None),
    ("POST", "/v1/orgs/{org}/projects", {"name": "Planted"}),
    ("GET", "/v1/orgs/{org}/keys", None),
    ("POST", "/v1/orgs/{org}/keys", {"name": "backdoor"}),
    ("DELETE", "/v1/orgs/{org}/keys/{org_key}", None),
    ("POST", "/v1/orgs/{org}/keys/{org_key}/rotate", {"grace_period_seconds": 0}),
    ("DELETE", "/v1/orgs/{own_org}/keys/{org_key}", None),
    ("POST", "/v1/orgs/{own_org}/keys/{org_key}/rotate", None),
    ("GET", "/v1/projects/{project}", None),
    ("PATCH", "/v1/projects/{project}", {"name": "Renamed"}),
    ("DELETE", "/v1/projects/{project}", None),
    ("GET", "/v1/projects/{project}/keys", None),
    ("POST", "/v1/projects/{project}/keys", {"name": "backdoor"}),
    ("DELETE", "/v1/projects/{project}/keys/{key}", None),
    ("POST", "/v1/projects/{project}/keys/{key}/rotate", None),
    ("DELETE", "/v1/projects/{own_project}/keys/{key}", None),
    ("POST", "/v1/projects/{own_project}/keys/{key}/rotate", None),
    ("GET", "/v1/orgs/{org}/sso", None),
    (
        "PUT",
        "/v1/orgs/{org}/sso",
        {"issuer": "https://idp.example.com", "client_id": "x", "domains": ["alpha.example"]},
    ),
    ("DELETE", "/v1/orgs/{org}/sso", None),
    ("GET", "/v1/orgs/{org}/sso/domains", None),
    ("POST", "/v1/orgs/{org}/sso/domains/{domain}/verify", None),
    ("GET", "/v1/orgs/{org}/subscription", None),
    ("PUT", "/v1/orgs/{org}/subscription", {"plan": "free"}),
    ("DELETE", "/v1/orgs/{org}/subscription/scheduled-change", None),
    ("GET", "/v1/orgs/{org}/quotas", None),
    ("GET", "/v1/orgs/{org}/usage", None),
    ("GET", "/v1/orgs/{org}/invoices", None),
    ("GET", "/v1/orgs/{org}/invoices/upcoming", None),
    ("GET", "/v1/orgs/{org}/invoices/inv_0000000000000000000000", None),
    ("POST", "/v1/orgs/{org}/billing/checkout", None),
    ("POST", "/v1/orgs/{org}/billing/portal", None),
    ("GET", "/v1/orgs/{org}/webhooks", None),
    ("POST", "/v1/orgs/{org}/webhooks", {"url": "https://spy.example.com/hook"}),
    ("DELETE", "/v1/orgs/{org}/webhooks/{webhook}", None),
    ("GET", "/v1/orgs/{org}/webhooks/{webhook}/deliveries", None),
    ("DELETE", "/v1/orgs/{own_org}/webhooks/{webhook}", None),
    ("GET", "/v1/orgs/{own_org}/webhooks/{webhook}/deliveries", None),
    ("GET", "/v1/projects/{project}/alert-rules", None),
    ("POST", "/v1/projects/{project}/alert-rules", {"name": "x", "expr": "up > 0"}),
    ("GET", "/v1/projects/{project}/alert-rules/alr_0000000000000000000000", None),
    ("PATCH", "/v1/projects/{project}/alert-rules/alr_0000000000000000000000", {"name": "x"}),
    ("DELETE", "/v1/projects/{project}/alert-rules/alr_0000000000000000000000", None),
    ("GET", "/v1/projects/{project}/incidents", None),
    ("GET", "/v1/projects/{project}/incidents/inc_0000000000000000000000", None),
    ("POST", "/v1/projects/{project}/incidents/inc_0000000000000000000000/acknowledge", None),
    ("POST", "/v1/projects/{project}/incidents/inc_0000000000000000000000/resolve", None),
    ("GET", "/v1/projects/{project}/incidents/inc_0000000000000000000000/deliveries", None),
    ("GET", "/v1/orgs/{org}/notification-channels", None),
    (
        "POST",
        "/v1/orgs/{org}/notification-channels",
        {"name": "spy", "type": "email", "config": {"to": ["spy@example.com"]}},
    ),
    ("GET", "/v1/orgs/{org}/notification-channels/nch_0000000000000000000000", None),
    ("PATCH", "/v1/orgs/{org}/notification-channels/nch_0000000000000000000000", {"name": "x"}),
    ("DELETE", "/v1/orgs/{org}/notification-channels/nch_0000000000000000000000", None),
    ("POST", "/v1/orgs/{org}/notification-channels/nch_0000000000000000000000/test", None),
    ("GET", "/v1/orgs/{org}/escalation-policies", None),
    (
        "POST",
        "/v1/orgs/{org}/escalation-policies",
        {"name": "x", "steps": [{"after_minutes": 1, "channels": ["nch_0000000000000000000000"]}]},
    ),
    ("GET", "/v1/orgs/{org}/escalation-policies/esc_0000000000000000000000", None),
    ("PATCH", "/v1/orgs/{org}/escalation-policies/esc_0000000000000000000000", {"name": "x"}),
    ("DELETE", "/v1/orgs/{org}/escalation-policies/esc_0000000000000000000000", None),
    ("GET", "/v1/projects/{project}/silences", None),
    (
        "POST",
        "/v1/projects/{project}/silences",
        {"matchers": [{"label": "a", "op": "=", "value": "b"}], "ends_at": "2999-01-01T00:00:00Z"},
    ),
    ("DELETE", "/v1/projects/{project}/silences/sil_0000000000000000000000", None),
    ("GET", "/v1/orgs/{org}/subscription/preview?plan=pro", None),
    ("GET", "/v1/projects/{project}/dashboards", None),
    ("POST", "/v1/projects/{project}/dashboards", {"title": "spy", "panels": []}),
    (
        "POST",
        "/v1/projects/{project}/dashboards/import",
        {"dashboard": {"title": "spy", "panels": []}},
    ),
    ("GET", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000", None),
    (
        "PUT",
        "/v1/projects/{project}/dashboards/dsh_0000000000000000000000",
        {"title": "x", "panels": [], "version": 1},
    ),
    ("DELETE", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000", None),
    ("GET", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/versions", None),
    (
        "POST",
        "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/versions/1/restore",
        None,
    ),
    ("GET", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/export", None),
    ("GET", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/data", None),
    (
        "POST",
        "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/share",
        {"expires_at": "2999-01-01T00:00:00Z"},
    ),
    ("DELETE", "/v1/projects/{project}/dashboards/dsh_0000000000000000000000/share", None),
]

OWNER_READABLE = {
    t
    for m, t, _ in ENDPOINTS
    if m == "GET"
    and "/sso" not in t
    and "/invoices/inv_" not in t
    and "/alr_" not in t
    and "/inc_" not in t
    and "/nch_" not in t
    and "/esc_" not in t
    and "/dsh_" not in t
    and "/subscription/preview" not in t
    and "{own_" not in t
}

# Path parameters of the app's routes, and the placeholders above that stand for them.
_PARAMETER = {
    "org_slug": "org",
    "own_org": "org",
    "own_project": "project",
    "key": "key_id",
    "org_key": "key_id",
    "user": "user_id",
    "invite": "invite_id",
    "webhook": "webhook_id",
}


def _route_shape(template: str) -> str:
    path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "{" + _PARAMETER.get(m[1], m[1]) + "}", template)
    path = re.sub(r"/alr_\w+", "/{rule_id}", re.sub(r"/inc_\w+", "/{incident_id}", path))
    path = re.sub(r"\?.*$", "", path)
    path = re.sub(r"/versions/\d+/", "/versions/{number}/", path)
    prefixes = (("nch", "channel_id"), ("esc", "policy_id"), ("sil", "silence_id"))
    for prefix, name in (*prefixes, ("dsh", "dashboard_id")):
        path = re.sub(rf"/{prefix}_\w+", "/{" + name + "}", path)
    return re.sub(r"/inv_\w+$", "/{invoice_id}", path)


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


class TestAnotherTenantsIdsAnswer404:
    @pytest.mark.parametrize(
        ("method", "template", "body"), ENDPOINTS, ids=[f"{m} {t}" for m, t, _ in ENDPOINTS]
    )
    async def test_with_a_user_session(
        self,
        client: httpx.AsyncClient,
        world: World,
        method: str,
        template: str,
        body: dict[str, Any] | None,
    ) -> None:
        path = template.format(**world.ids())
        response = await _call(client, method, path, world.b.auth, body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        # The owner of A gets an answer: the 404 is about who asks, not a broken route.
        if method == "GET" and template in OWNER_READABLE:
            assert (await client.get(path, headers=world.a.auth)).status_code == 200

    async def test_with_an_org_admin_key_of_another_org(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        b_key = await org_key(
            client, world.b, ["org:admin", "project:admin", "billing:read", "billing:write"]
        )
        answers = {}
        for method, template, body in ENDPOINTS:
            if "{own_" in template:
                continue
            path = template.format(**world.ids())
            response = await _call(client, method, path, {"X-API-Key": b_key["key"]}, body)
            answers[f"{method} {template}"] = response.status_code
        assert {k: v for k, v in answers.items() if v != 404} == {}

    async def test_every_endpoint_that_takes_an_id_is_in_the_list(self, settings: Settings) -> None:
        app = create_app(settings)
        routes = {
            (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
            for route in app.routes
            for method in getattr(route, "methods", ())
            if method not in ("HEAD", "OPTIONS")
            and route.path.startswith(("/v1/orgs/{", "/v1/projects/{"))
        }
        covered = {(method, _route_shape(template)) for method, template, _ in ENDPOINTS}
        assert routes - covered == set(), "add these endpoints to ENDPOINTS"

    async def test_a_member_removed_from_an_org_loses_it_at_once(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        member = world.a_member
        assert (await client.get(f"/v1/orgs/{world.a.org_id}", headers=member.auth)).is_success
        removed = await client.delete(
            f"/v1/orgs/{world.a.org_id}/members/{member.user_id}", headers=world.a.auth
        )
        assert removed.status_code == 204
        for path in (f"/v1/orgs/{world.a.org_id}", f"/v1/projects/{world.a.project_id}"):
            assert (await client.get(path, headers=member.auth)).status_code == 404

    async def test_listings_never_include_another_tenants_rows(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        orgs = (await client.get("/v1/orgs", headers=world.b.auth)).json()["items"]
        assert [o["id"] for o in orgs] == [world.b.org_id]
        projects = await client.get(f"/v1/orgs/{world.b.org_id}/projects", headers=world.b.auth)
        assert [p["id"] for p in projects.json()["items"]] == [world.b.project_id]
        keys = await client.get(f"/v1/orgs/{world.b.org_id}/keys", headers=world.b.auth)
        assert keys.json()["items"] == []
        members = await client.get(f"/v1/orgs/{world.b.org_id}/members", headers=world.b.auth)
        assert [m["user_id"] for m in members.json()["items"]] == [world.b.user_id]
        invites = await client.get(f"/v1/orgs/{world.b.org_id}/invites", headers=world.b.auth)
        assert invites.json()["items"] == []
        audit = await client.get(f"/v1/orgs/{world.b.org_id}/audit-log", headers=world.b.auth)
        targets = {e["target"]["id"] for e in audit.json()["items"]}
        assert targets.isdisjoint(set(world.ids().values()) - {world.b.org_id, world.b.project_id})


MALFORMED = [
    "%00",
    "org_%00",
    "x" * 300,
    "NOT-A-SLUG!",
    "%27%20OR%201%3D1%20--",
    "%C3%A9t%C3%A9",
    "%F0%9F%92%A5",
    "org_short",
]


class TestMalformedIdsAnswer404:
    @pytest.mark.parametrize(
        ("method", "template", "body"),
        [
            ("GET", "/v1/orgs/{bad}", None),
            ("GET", "/v1/orgs/{bad}/projects", None),
            ("GET", "/v1/projects/{bad}", None),
            ("GET", "/v1/projects/{bad}/keys", None),
            ("PATCH", "/v1/orgs/{org}/members/{bad}", {"role": "viewer"}),
            ("DELETE", "/v1/orgs/{org}/members/{bad}", None),
            ("DELETE", "/v1/orgs/{org}/invites/{bad}", None),
            ("DELETE", "/v1/orgs/{org}/keys/{bad}", None),
            ("POST", "/v1/orgs/{org}/keys/{bad}/rotate", None),
            ("DELETE", "/v1/projects/{project}/keys/{bad}", None),
            ("POST", "/v1/projects/{project}/keys/{bad}/rotate", None),
        ],
        ids=lambda value: value if isinstance(value, str) else "",
    )
    async def test_never_a_500(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        method: str,
        template: str,
        body: dict[str, Any] | None,
    ) -> None:
        answers = {}
        for bad in MALFORMED:
            path = template.format(org=owner.org_id, project=owner.project_id, bad=bad)
            response = await client.request(method, path, json=body, headers=owner.auth)
            assert response.headers["content-type"] == "application/problem+json"
            answers[bad] = response.status_code
        assert answers == dict.fromkeys(MALFORMED, 404)

    async def test_unknown_but_well_formed_ids_are_404(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        body = "0" * 22
        for method, path in (
            ("GET", f"/v1/orgs/org_{body}"),
            ("GET", f"/v1/projects/prj_{body}"),
            ("DELETE", f"/v1/orgs/{owner.org_id}/members/usr_{body}"),
            ("DELETE", f"/v1/orgs/{owner.org_id}/invites/inv_{body}"),
            ("DELETE", f"/v1/projects/{owner.project_id}/keys/key_{body}"),
            ("DELETE", f"/v1/orgs/{owner.org_id}/keys/key_{body}"),
        ):
            response = await client.request(method, path, headers=owner.auth)
            assert response.status_code == 404, path

    async def test_a_project_key_id_is_not_an_org_key_id(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        key = await project_key(client, owner)
        response = await client.delete(
            f"/v1/orgs/{owner.org_id}/keys/{key['id']}", headers=owner.auth
        )
        assert response.status_code == 404


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "owner")


TENANT_TABLES = [
    "projects",
    "api_keys",
    "invites",
    "audit_events",
    "memberships",
    "orgs",
    "webhook_endpoints",
]


class TestRowLevelSecurity:
    """The second wall: the app's database role sees only the org bound in `app.org_id`."""

    async def test_the_app_role_cannot_bypass_policies(self, db_session: AsyncSession) -> None:
        row = (
            await db_session.execute(
                text(
                    "SELECT r.rolsuper, r.rolbypassrls, t.tableowner = current_user "
                    "FROM pg_roles r, pg_tables t "
                    "WHERE r.rolname = current_user AND t.tablename = 'projects'"
                )
            )
        ).one()
        assert tuple(row) == (False, False, False)

    @pytest.mark.parametrize("table", TENANT_TABLES)
    async def test_a_bound_org_sees_only_its_own_rows(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World, table: str
    ) -> None:
        await project_key(client, world.b)
        await invite(client, world.b.auth, world.b.org_id)
        hook = {"url": "http://127.0.0.1:9/b"}
        await client.post(f"/v1/orgs/{world.b.org_id}/webhooks", json=hook, headers=world.b.auth)
        column = "id" if table == "orgs" else "org_id"
        count = text(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed table names)
        others = text(f"SELECT count(*) FROM {table} WHERE {column} <> :org")  # noqa: S608
        await as_org(db_session, world.b.org_id)
        seen_by_b = await db_session.scalar(count)
        await as_org(db_session, world.a.org_id)
        seen_by_a = await db_session.scalar(count)
        assert seen_by_a
        assert seen_by_b
        assert await db_session.scalar(others, {"org": world.a.org_id}) == 0

    async def test_projects_counted_under_org_a_are_exactly_org_as(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World
    ) -> None:
        for name in ("one", "two"):
            await client.post(
                f"/v1/orgs/{world.a.org_id}/projects", json={"name": name}, headers=world.a.auth
            )
        await as_org(db_session, world.a.org_id)
        assert await db_session.scalar(text("SELECT count(*) FROM projects")) == 3
        ids = set((await db_session.scalars(text("SELECT id FROM projects"))).all())
        assert world.b.project_id not in ids

    async def test_nothing_is_visible_without_a_bound_org(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World
    ) -> None:
        for table in TENANT_TABLES:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608
            assert await db_session.scalar(query) == 0, table

    async def test_inserting_a_row_for_another_org_is_refused(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World
    ) -> None:
        await as_org(db_session, world.a.org_id)
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db_session.begin_nested():
                await db_session.execute(
                    text("INSERT INTO projects (id, org_id, name) VALUES (:id, :org, 'planted')"),
                    {"id": "prj_planted", "org": world.b.org_id},
                )

    async def test_moving_a_row_to_another_org_is_refused(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World
    ) -> None:
        await as_org(db_session, world.a.org_id)
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db_session.begin_nested():
                await db_session.execute(
                    text("UPDATE projects SET org_id = :other WHERE id = :id"),
                    {"other": world.b.org_id, "id": world.a.project_id},
                )

    async def test_another_orgs_rows_cannot_be_updated_or_deleted(
        self, client: httpx.AsyncClient, db_session: AsyncSession, world: World
    ) -> None:
        await as_org(db_session, world.a.org_id)
        renamed = await db_session.execute(
            text("UPDATE projects SET name = 'pwned' WHERE id = :id"), {"id": world.b.project_id}
        )
        deleted = await db_session.execute(
            text("DELETE FROM api_keys WHERE org_id = :org"), {"org": world.b.org_id}
        )
        assert renamed.rowcount == deleted.rowcount == 0  # type: ignore[attr-defined]
        await as_org(db_session, world.b.org_id)
        name = await db_session.scalar(
            text("SELECT name FROM projects WHERE id = :id"), {"id": world.b.project_id}
        )
        assert name == "Default"


class TestOrmBackstop:
    """The first wall: a session refuses ORM queries on tenant-owned tables without a tenant."""

    @pytest.mark.parametrize(
        "model", [Project, ApiKey, Invite, AuditEvent, Membership, Org, SsoConnection]
    )
    async def test_select_without_a_tenant_raises(
        self, db_session: AsyncSession, model: type[Any]
    ) -> None:
        with pytest.raises(UnscopedQueryError):
            await db_session.execute(select(model))

    async def test_update_and_delete_without_a_tenant_raise(self, db_session: AsyncSession) -> None:
        with pytest.raises(UnscopedQueryError):
            await db_session.execute(update(Project).values(name="x"))
        with pytest.raises(UnscopedQueryError):
            await db_session.execute(delete(ApiKey))

    async def test_a_bound_tenant_filters_queries_even_where_rls_would_let_rows_through(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        # RLS shows a user's memberships in every org (to list them); the ORM filter narrows
        # them to the bound org, so this checks the ORM wall on its own.
        tenant = await sign_up(client, "twoorgs")
        second = await client.post("/v1/orgs", json={"name": "Second"}, headers=tenant.auth)
        assert second.status_code == 201
        await system_context(db_session, tenant.org_id, Actor("system", None))
        await db_session.execute(
            text("SELECT set_config('app.user_id', :u, true)"), {"u": tenant.user_id}
        )
        raw = text("SELECT count(*) FROM memberships WHERE user_id = :u")
        assert await db_session.scalar(raw, {"u": tenant.user_id}) == 2
        rows = (
            await db_session.scalars(select(Membership).where(Membership.user_id == tenant.user_id))
        ).all()
        assert [m.org_id for m in rows] == [tenant.org_id]
        orgs = (await db_session.scalars(select(Org))).all()
        assert [o.id for o in orgs] == [tenant.org_id]

    async def test_each_transaction_starts_unscoped(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        tenant = await sign_up(client, "reset")
        await system_context(db_session, tenant.org_id, Actor("system", None))
        assert len((await db_session.scalars(select(Project))).all()) == 1
        await db_session.commit()
        with pytest.raises(UnscopedQueryError):
            await db_session.execute(select(Project))
        assert await db_session.scalar(text("SELECT current_setting('app.org_id', true)")) == ""

    async def test_global_scope_lifts_only_the_orm_wall(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        await sign_up(client, "global")
        with global_scope(db_session):
            assert (await db_session.scalars(select(Project))).all() == []  # RLS: no org bound
        with pytest.raises(UnscopedQueryError):
            await db_session.execute(select(Project))


class TestTenantContextSeal:
    def test_cannot_be_constructed_outside_authz(self) -> None:
        with pytest.raises(TypeError, match=r"tenancy\.authz"):
            TenantContext(OrgId("org_x"), Actor("user", "usr_x"), Role.OWNER)

    def test_a_forged_seal_is_refused(self) -> None:
        with pytest.raises(TypeError):
            TenantContext(OrgId("org_x"), Actor("user", "usr_x"), Role.OWNER, seal=object())

    async def test_system_contexts_act_only_as_known_actor_types(
        self, db_session: AsyncSession
    ) -> None:
        with pytest.raises(ValueError, match="system"):
            await system_context(db_session, "org_x", Actor("api_key", "key_x"))
