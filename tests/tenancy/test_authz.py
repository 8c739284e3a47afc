"""Every control-plane route follows the permission table, for every role and every key scope,
and nobody grants a role or scope carrying a permission they lack (invite, role change, SSO
default role, key minting)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from litestar.routes import HTTPRoute

from api.app import create_app
from api.auth import declared_permission
from api.resources import Resources
from tenancy.roles import ORG_KEY_SCOPES, PERMISSIONS, Permission, Role, Scope
from tests.support.tenancy import add_member, bearer, invite, org_key
from tests.support.tenants import Tenant, sign_up

# Every handler of the org and project control plane and the permission it declares: a new
# route must be added here (and so to the table's review), a changed one shows up in the diff.
ROUTE_PERMISSIONS: dict[str, Permission] = {
    "get_org": Permission.ORG_READ,
    "update_org": Permission.ORG_UPDATE,
    "delete_org": Permission.ORG_DELETE,
    "export_org": Permission.ORG_EXPORT,
    "list_members": Permission.MEMBERS_READ,
    "update_member": Permission.MEMBERS_MANAGE,
    "remove_member": Permission.ORG_READ,  # leaving; removing others checks members.manage
    "create_invite": Permission.MEMBERS_MANAGE,
    "list_invites": Permission.INVITES_READ,
    "cancel_invite": Permission.MEMBERS_MANAGE,
    "audit_log": Permission.AUDIT_READ,
    "list_projects": Permission.PROJECTS_READ,
    "create_project": Permission.PROJECTS_WRITE,
    "get_project": Permission.PROJECTS_READ,
    "update_project": Permission.PROJECTS_WRITE,
    "delete_project": Permission.PROJECTS_WRITE,
    "list_project_keys": Permission.KEYS_READ,
    "create_project_key": Permission.KEYS_WRITE,
    "revoke_project_key": Permission.KEYS_WRITE,
    "rotate_project_key": Permission.KEYS_WRITE,
    "list_org_keys": Permission.ORG_KEYS_MANAGE,
    "create_org_key": Permission.ORG_KEYS_MANAGE,
    "revoke_org_key": Permission.ORG_KEYS_MANAGE,
    "rotate_org_key": Permission.ORG_KEYS_MANAGE,
    "get_sso": Permission.SSO_MANAGE,
    "put_sso": Permission.SSO_MANAGE,
    "delete_sso": Permission.SSO_MANAGE,
    "list_sso_domains": Permission.SSO_MANAGE,
    "verify_sso_domain": Permission.SSO_MANAGE,
    "list_webhooks": Permission.WEBHOOKS_MANAGE,
    "create_webhook": Permission.WEBHOOKS_MANAGE,
    "delete_webhook": Permission.WEBHOOKS_MANAGE,
    "list_webhook_deliveries": Permission.WEBHOOKS_MANAGE,
    "get_subscription": Permission.USAGE_READ,
    "get_quotas": Permission.USAGE_READ,
    "get_usage": Permission.USAGE_READ,
    "update_subscription": Permission.BILLING_WRITE,
    "preview_subscription_change": Permission.BILLING_READ,
    "cancel_scheduled_plan_change": Permission.BILLING_WRITE,
    "create_checkout_session": Permission.BILLING_WRITE,
    "create_portal_session": Permission.BILLING_WRITE,
    "get_upcoming_invoice": Permission.BILLING_READ,
    "list_invoices": Permission.BILLING_READ,
    "get_invoice": Permission.BILLING_READ,
    "list_notification_channels": Permission.ALERTS_READ,
    "get_notification_channel": Permission.ALERTS_READ,
    "create_notification_channel": Permission.ALERTS_MANAGE,
    "update_notification_channel": Permission.ALERTS_MANAGE,
    "delete_notification_channel": Permission.ALERTS_MANAGE,
    "test_notification_channel": Permission.ALERTS_MANAGE,
    "list_escalation_policies": Permission.ALERTS_READ,
    "get_escalation_policy": Permission.ALERTS_READ,
    "create_escalation_policy": Permission.ALERTS_MANAGE,
    "update_escalation_policy": Permission.ALERTS_MANAGE,
    "delete_escalation_policy": Permission.ALERTS_MANAGE,
    "list_silences": Permission.ALERTS_READ,
    "create_silence": Permission.ALERTS_MANAGE,
    "delete_silence": Permission.ALERTS_MANAGE,
    "list_incident_deliveries": Permission.ALERTS_READ,
    "list_alert_rules": Permission.ALERTS_READ,
    "get_alert_rule": Permission.ALERTS_READ,
    "create_alert_rule": Permission.ALERT_RULES_MANAGE,
    "update_alert_rule": Permission.ALERT_RULES_MANAGE,
    "delete_alert_rule": Permission.ALERT_RULES_MANAGE,
    "list_incidents": Permission.ALERTS_READ,
    "get_incident": Permission.ALERTS_READ,
    "acknowledge_incident": Permission.ALERT_RULES_MANAGE,
    "resolve_incident": Permission.ALERT_RULES_MANAGE,
    "list_dashboards": Permission.DASHBOARDS_READ,
    "get_dashboard": Permission.DASHBOARDS_READ,
    "list_dashboard_versions": Permission.DASHBOARDS_READ,
    "export_dashboard": Permission.DASHBOARDS_READ,
    "dashboard_data": Permission.DASHBOARDS_READ,
    "create_dashboard": Permission.DASHBOARDS_WRITE,
    "import_grafana_dashboard": Permission.DASHBOARDS_WRITE,
    "update_dashboard": Permission.DASHBOARDS_WRITE,
    "delete_dashboard": Permission.DASHBOARDS_WRITE,
    "restore_dashboard_version": Permission.DASHBOARDS_WRITE,
    "share_dashboard": Permission.DASHBOARDS_WRITE,
    "unshare_dashboard": Permission.DASHBOARDS_WRITE,
}
CONTROL_PLANE = ("/v1/orgs/{org:str}", "/v1/projects/{project:str}")


def _declared_routes() -> dict[str, Permission | None]:
    declared: dict[str, Permission | None] = {}
    for route in create_app().routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(CONTROL_PLANE):
            continue
        for handler in route.route_handlers:
            if "OPTIONS" in handler.http_methods:
                continue
            found = {declared_permission(d) for d in handler.resolve_dependencies().values()}
            found.discard(None)
            assert len(found) <= 1, (handler.operation_id, found)
            declared[str(handler.operation_id)] = found.pop() if found else None
    return declared


class TestEveryRouteDeclaresItsPermission:
    def test_control_plane_routes_take_their_permission_from_the_table(self) -> None:
        declared = _declared_routes()
        undeclared = sorted(op for op, permission in declared.items() if permission is None)
        assert undeclared == [], "every org/project route needs org_ or project_permission"
        # Routes of other helpers' features may be added; each must appear here.
        unknown = sorted(set(declared) - set(ROUTE_PERMISSIONS))
        assert unknown == [], (
            f"add these routes and their permission to ROUTE_PERMISSIONS: {unknown}"
        )
        assert {op: declared[op] for op in ROUTE_PERMISSIONS if op in declared} == {
            op: p for op, p in ROUTE_PERMISSIONS.items() if op in declared
        }

    def test_every_permission_guards_some_route(self) -> None:
        assert set(_declared_routes().values()) == set(Permission)


@dataclass(frozen=True)
class Probe:
    """One request that only a holder of the permission gets past authorization with."""

    method: str
    path: str
    body: dict[str, object] | None = None


def _probes(tenant: Tenant) -> dict[Permission, list[Probe]]:
    org, project = f"/v1/orgs/{tenant.org_id}", f"/v1/projects/{tenant.project_id}"
    email = f"probe-{secrets.token_hex(4)}@example.com"
    return {
        Permission.ORG_READ: [Probe("GET", org)],
        Permission.ORG_UPDATE: [Probe("PATCH", org, {"name": "Probed"})],
        Permission.ORG_EXPORT: [Probe("GET", f"{org}/export")],
        Permission.MEMBERS_READ: [Probe("GET", f"{org}/members")],
        Permission.MEMBERS_MANAGE: [
            Probe("POST", f"{org}/invites", {"email": email, "role": "viewer"})
        ],
        Permission.INVITES_READ: [Probe("GET", f"{org}/invites")],
        Permission.PROJECTS_READ: [Probe("GET", f"{org}/projects"), Probe("GET", project)],
        Permission.PROJECTS_WRITE: [Probe("POST", f"{org}/projects", {"name": "probe"})],
        Permission.KEYS_READ: [Probe("GET", f"{project}/keys")],
        Permission.KEYS_WRITE: [
            Probe("POST", f"{project}/keys", {"name": "probe", "scopes": ["metrics:write"]})
        ],
        Permission.ORG_KEYS_MANAGE: [Probe("GET", f"{org}/keys")],
        Permission.SSO_MANAGE: [Probe("GET", f"{org}/sso")],  # 404: none configured
        Permission.AUDIT_READ: [Probe("GET", f"{org}/audit-log")],
        Permission.WEBHOOKS_MANAGE: [Probe("GET", f"{org}/webhooks")],
        Permission.USAGE_READ: [
            Probe("GET", f"{org}/usage"),
            Probe("GET", f"{org}/quotas"),
            Probe("GET", f"{org}/subscription"),
        ],
        Permission.BILLING_READ: [Probe("GET", f"{org}/invoices")],
        Permission.ALERTS_READ: [
            Probe("GET", f"{org}/notification-channels"),
            Probe("GET", f"{project}/silences"),
            Probe("GET", f"{project}/alert-rules"),
            Probe("GET", f"{project}/incidents"),
        ],
        # 400 (no expr) once authorized: nothing is stored.
        Permission.ALERT_RULES_MANAGE: [Probe("POST", f"{project}/alert-rules", {"name": "p"})],
        # 422 (no such channel) once authorized: nothing is stored.
        Permission.ALERTS_MANAGE: [
            Probe(
                "POST",
                f"{org}/escalation-policies",
                {"name": "p", "steps": [{"after_minutes": 1, "channels": ["nch_none"]}]},
            )
        ],
        Permission.DASHBOARDS_READ: [Probe("GET", f"{project}/dashboards")],
        # 422 (no panels given as a list) once authorized: nothing is stored.
        Permission.DASHBOARDS_WRITE: [
            Probe("POST", f"{project}/dashboards", {"title": "probe", "panels": "none"})
        ],
        Permission.BILLING_WRITE: [Probe("DELETE", f"{org}/subscription/scheduled-change")],
        Permission.ORG_DELETE: [Probe("DELETE", org)],  # last: it ends the org
    }


async def _check_every_permission(
    client: httpx.AsyncClient,
    tenant: Tenant,
    headers: dict[str, str],
    holds: Callable[[Permission], bool],
) -> None:
    probes = _probes(tenant)
    assert set(probes) == set(Permission)
    for permission, requests in probes.items():
        for probe in requests:
            response = await client.request(
                probe.method, probe.path, json=probe.body, headers=headers
            )
            assert response.status_code < 500, (probe, response.text)
            allowed = response.status_code != 403
            assert allowed is holds(permission), (permission.value, probe, response.text)


class TestRoutesFollowTheTable:
    @pytest.mark.parametrize("role", list(Role))
    async def test_every_role_against_every_permission(
        self, client: httpx.AsyncClient, role: Role
    ) -> None:
        owner = await sign_up(client, f"table-{role.value}")
        headers = owner.auth if role is Role.OWNER else (await add_member(client, owner, role)).auth
        await _check_every_permission(
            client, owner, headers, lambda p: role in PERMISSIONS[p].roles
        )

    @pytest.mark.parametrize("scope", sorted(ORG_KEY_SCOPES))
    async def test_every_org_key_scope_against_every_permission(
        self, client: httpx.AsyncClient, scope: Scope
    ) -> None:
        owner = await sign_up(client, "table-key")
        key = bearer((await org_key(client, owner, [scope.value]))["key"])
        await _check_every_permission(client, owner, key, lambda p: scope in PERMISSIONS[p].scopes)


class TestBillingKeysReadUsage:
    async def test_a_billing_read_key_reads_usage_quotas_and_subscription(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        owner = await sign_up(client, "billing-key")
        key = bearer((await org_key(client, owner, ["billing:read"]))["key"])
        org = f"/v1/orgs/{owner.org_id}"
        for path in ("/usage", "/quotas", "/subscription", "/invoices"):
            response = await client.get(f"{org}{path}", headers=key)
            assert response.status_code == 200, (path, response.text)
        assert (await client.get(f"{org}/subscription", headers=key)).json()["plan"] == "free"
        # reading is all it does
        changed = await client.put(f"{org}/subscription", json={"plan": "pro"}, headers=key)
        assert changed.status_code == 403

    async def test_another_orgs_billing_key_is_404(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "billing-own")
        other = await sign_up(client, "billing-other")
        key = bearer((await org_key(client, other, ["billing:read"]))["key"])
        for path in ("/usage", "/quotas", "/subscription"):
            response = await client.get(f"/v1/orgs/{owner.org_id}{path}", headers=key)
            assert response.status_code == 404, path


class TestNobodyGrantsMoreThanTheyHold:
    """One rule: admins hold no billing.write, so they neither mint billing:write keys nor hand
    out the billing role (owners and billing managers may)."""

    async def test_admin_cannot_invite_a_billing_manager(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "grant-invite")
        admin = await add_member(client, owner, "admin")
        response = await client.post(
            f"/v1/orgs/{owner.org_id}/invites",
            json={"email": "cfo@example.com", "role": "billing"},
            headers=admin.auth,
        )
        assert response.status_code == 403, response.text
        assert response.json()["field"] == "role"
        assert "billing.write" in response.json()["detail"]
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=owner.auth)
        assert listed.json()["items"] == []
        for role in ("admin", "member", "viewer"):
            await invite(client, admin.auth, owner.org_id, role=role)
        await invite(client, owner.auth, owner.org_id, role="billing")

    async def test_admin_cannot_make_a_member_a_billing_manager(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "grant-role")
        admin = await add_member(client, owner, "admin")
        member = await add_member(client, owner, "member")
        url = f"/v1/orgs/{owner.org_id}/members/{member.user_id}"
        refused = await client.patch(url, json={"role": "billing"}, headers=admin.auth)
        assert refused.status_code == 403, refused.text
        members = (await client.get(f"/v1/orgs/{owner.org_id}/members", headers=owner.auth)).json()
        assert {m["user_id"]: m["role"] for m in members["items"]}[member.user_id] == "member"
        assert (await client.patch(url, json={"role": "viewer"}, headers=admin.auth)).is_success
        assert (await client.patch(url, json={"role": "billing"}, headers=owner.auth)).is_success

    async def test_admin_neither_demotes_nor_removes_a_billing_manager(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "grant-demote")
        admin = await add_member(client, owner, "admin")
        billing = await add_member(client, owner, "billing")
        url = f"/v1/orgs/{owner.org_id}/members/{billing.user_id}"
        assert (
            await client.patch(url, json={"role": "viewer"}, headers=admin.auth)
        ).status_code == 403
        assert (await client.delete(url, headers=admin.auth)).status_code == 403
        # the billing manager may still leave, and an owner may remove them
        assert (await client.patch(url, json={"role": "viewer"}, headers=owner.auth)).is_success

    async def test_admin_cannot_set_billing_as_the_sso_default_role(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "grant-sso")
        admin = await add_member(client, owner, "admin")
        body = {
            "issuer": "https://idp.example.com",
            "client_id": "tollgate",
            "client_secret": "s3cret",
            "domains": ["grant-sso.example"],
            "default_role": "billing",
        }
        response = await client.put(f"/v1/orgs/{owner.org_id}/sso", json=body, headers=admin.auth)
        assert response.status_code == 403, response.text
        assert response.json()["field"] == "default_role"
        assert (
            await client.get(f"/v1/orgs/{owner.org_id}/sso", headers=owner.auth)
        ).status_code == 404

    async def test_an_org_key_grants_no_role_stronger_than_its_scopes(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "grant-key")
        key = bearer((await org_key(client, owner, ["org:admin"]))["key"])
        url = f"/v1/orgs/{owner.org_id}/invites"
        for role, status in (("admin", 403), ("billing", 403), ("owner", 403), ("member", 201)):
            response = await client.post(
                url, json={"email": f"{role}@example.com", "role": role}, headers=key
            )
            assert response.status_code == status, (role, response.text)

    async def test_admin_cannot_mint_billing_write_keys(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "grant-mint")
        admin = await add_member(client, owner, "admin")
        billing = await add_member(client, owner, "billing")
        url = f"/v1/orgs/{owner.org_id}/keys"
        body = {"name": "ledger", "scopes": ["billing:write"]}
        refused = await client.post(url, json=body, headers=admin.auth)
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "scopes"
        # the billing role may not manage org keys at all (org_keys.manage)
        assert (await client.post(url, json=body, headers=billing.auth)).status_code == 403
        created = await client.post(url, json=body, headers=owner.auth)
        assert created.status_code == 201
        # rotating shows the caller a new secret: the admin may not take the owner's key so
        rotate = f"{url}/{created.json()['id']}/rotate"
        refused = await client.post(rotate, headers=admin.auth)
        assert refused.status_code == 403, refused.text
        assert (await client.post(rotate, headers=owner.auth)).status_code == 200


class TestPendingInvitesStayWithManagers:
    @pytest.mark.parametrize("role", ["member", "viewer", "billing"])
    async def test_other_roles_do_not_see_invitees_emails(
        self, client: httpx.AsyncClient, role: str
    ) -> None:
        owner = await sign_up(client, "invites-private")
        reader = await add_member(client, owner, role)
        invited = await invite(client, owner.auth, owner.org_id, role="viewer")
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=reader.auth)
        assert listed.status_code == 403
        assert invited["email"] not in listed.text
        members = await client.get(f"/v1/orgs/{owner.org_id}/members", headers=reader.auth)
        assert members.status_code == 200
        assert invited["email"] not in members.text

    async def test_admins_see_them(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "invites-admin")
        admin = await add_member(client, owner, "admin")
        invited = await invite(client, owner.auth, owner.org_id, role="viewer")
        listed = await client.get(f"/v1/orgs/{owner.org_id}/invites", headers=admin.auth)
        assert listed.status_code == 200
        assert invited["email"] in {i["email"] for i in listed.json()["items"]}
