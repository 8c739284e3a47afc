"""Invoice, billing and subscription routes: shapes, permissions, tenant isolation, operator."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.resources import Resources
from billing.plans import PlanCode, add_months
from billing.quotas.base import Category
from tests.billing.invoicing import close, org_on, put_usage, set_plan
from tests.support.gateway import org_key
from tests.support.tenants import Tenant, sign_up

OPERATOR = {"Authorization": "Bearer tga_test_operator_token"}
DECIMAL = r"^-?\d+\.\d{2}$"


def anchor_days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


async def member(client: httpx.AsyncClient, tenant: Tenant, role: str) -> dict[str, str]:
    """Invite a user with `role` into the tenant's org; their auth headers."""
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    invited = await client.post(
        f"/v1/orgs/{tenant.org_id}/invites",
        json={"email": email, "role": role},
        headers=tenant.auth,
    )
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        f"/v1/invites/{invited.json()['token']}/accept",
        json={"password": "correct horse battery", "name": role.title()},
    )
    assert accepted.status_code in (200, 201), accepted.text
    return {"Authorization": f"Bearer {accepted.json()['token']}"}


async def issued(
    client: httpx.AsyncClient, resources: Resources, name: str = "acme"
) -> tuple[Tenant, str]:
    """A pro tenant with one closed period (and usage over its included metrics)."""
    anchor = add_months(anchor_days_ago(5), -1)
    tenant = await org_on(client, resources, anchor, PlanCode.PRO, name=name)
    await put_usage(resources, tenant, anchor + timedelta(days=1), {Category.METRICS: 12_345_678})
    (invoice,) = await close(resources, tenant.org_id, add_months(anchor, 1))
    return tenant, invoice.id


def assert_invoice_shape(body: dict[str, Any]) -> None:
    assert set(body) >= {
        "id",
        "period_start",
        "period_end",
        "status",
        "currency",
        "lines",
        "subtotal",
        "total",
    }
    assert body["currency"] == "usd"
    for line in body["lines"]:
        assert set(line) >= {"kind", "category", "quantity", "unit_price", "amount"}
        assert line["kind"] in ("base", "overage", "proration", "sibling")
        assert isinstance(line["quantity"], str)
        assert isinstance(line["unit_price"], str)
        assert isinstance(line["amount"], str)
    assert body["total"] == f"{sum(float(line['amount']) for line in body['lines']):.2f}"


class TestInvoices:
    async def test_upcoming_previews_the_current_period(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        anchor = anchor_days_ago(3)
        tenant = await org_on(client, resources, anchor, PlanCode.PRO)
        await put_usage(
            resources, tenant, anchor + timedelta(hours=2), {Category.LOGS: 10 * 10**9 + 10_000_000}
        )
        response = await client.get(
            f"/v1/orgs/{tenant.org_slug}/invoices/upcoming", headers=tenant.auth
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert_invoice_shape(body)
        assert body["id"] is None
        assert body["status"] == "draft"
        assert datetime.fromisoformat(body["period_start"]) == anchor
        assert [(x["kind"], x["category"], x["amount"]) for x in body["lines"]] == [
            ("base", None, "50.00"),
            ("overage", "metrics", "0.00"),
            ("overage", "logs", "0.01"),
            ("overage", "traces", "0.00"),
        ]
        assert body["lines"][2]["unit_price"] == "0.0000000005"
        assert body["lines"][2]["quantity"] == "10000000"
        assert body["total"] == body["subtotal"] == "50.01"

    async def test_issued_invoices_are_listed_and_read(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant, invoice_id = await issued(client, resources)
        listed = await client.get(f"/v1/orgs/{tenant.org_id}/invoices", headers=tenant.auth)
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert [item["id"] for item in page["items"]] == [invoice_id]
        assert page["next_cursor"] is None
        one = await client.get(
            f"/v1/orgs/{tenant.org_id}/invoices/{invoice_id}", headers=tenant.auth
        )
        assert one.status_code == 200, one.text
        body = one.json()
        assert_invoice_shape(body)
        assert body == page["items"][0]
        assert body["status"] == "open"
        assert body["total"] == "50.23"  # 2,345,678 points over at $0.10 / 1M = 0.2345678

    async def test_the_list_is_cursor_paginated(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        anchor = add_months(anchor_days_ago(2), -3)
        tenant = await org_on(client, resources, anchor, PlanCode.FREE)
        assert len(await close(resources, tenant.org_id, add_months(anchor, 3))) == 3
        first = (
            await client.get(f"/v1/orgs/{tenant.org_id}/invoices?limit=2", headers=tenant.auth)
        ).json()
        assert len(first["items"]) == 2
        second = (
            await client.get(
                f"/v1/orgs/{tenant.org_id}/invoices",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=tenant.auth,
            )
        ).json()
        assert len(second["items"]) == 1
        assert second["next_cursor"] is None
        starts = [item["period_start"] for item in first["items"] + second["items"]]
        assert starts == sorted(starts, reverse=True)
        assert {item["status"] for item in first["items"]} == {"paid"}


class TestPermissions:
    @pytest.mark.parametrize(
        ("role", "read", "write"),
        [("admin", 200, 403), ("billing", 200, 409), ("member", 403, 403), ("viewer", 403, 403)],
    )
    async def test_roles_follow_the_permission_table(
        self, client: httpx.AsyncClient, resources: Resources, role: str, read: int, write: int
    ) -> None:
        tenant = await sign_up(client, "roles")
        headers = await member(client, tenant, role)
        upcoming = await client.get(f"/v1/orgs/{tenant.org_id}/invoices/upcoming", headers=headers)
        assert upcoming.status_code == read, upcoming.text
        # without Stripe a permitted checkout is a 409 problem, never a 403
        checkout = await client.post(f"/v1/orgs/{tenant.org_id}/billing/checkout", headers=headers)
        assert checkout.status_code == write, checkout.text

    @pytest.mark.parametrize(
        ("role", "reads", "writes"),
        [
            ("owner", True, True),
            ("admin", True, False),
            ("billing", True, True),
            ("member", False, False),
            ("viewer", False, False),
        ],
    )
    async def test_every_billing_endpoint_follows_the_permission_table(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        role: str,
        reads: bool,
        writes: bool,
    ) -> None:
        tenant, invoice_id = await issued(client, resources, f"perm-{role}")
        headers = tenant.auth if role == "owner" else await member(client, tenant, role)
        org = f"/v1/orgs/{tenant.org_id}"
        for path in ("/invoices", "/invoices/upcoming", f"/invoices/{invoice_id}"):
            response = await client.get(f"{org}{path}", headers=headers)
            assert response.status_code == (200 if reads else 403), (path, response.text)
        # every role reads the subscription; only billing managers change it
        assert (await client.get(f"{org}/subscription", headers=headers)).status_code == 200
        for method, path, body, allowed in [
            ("POST", "/billing/checkout", None, 409),  # permitted, but Stripe is not configured
            ("POST", "/billing/portal", None, 409),
            ("DELETE", "/subscription/scheduled-change", None, 204),
            ("PUT", "/subscription", {"plan": "scale"}, 200),
        ]:
            response = await client.request(method, f"{org}{path}", headers=headers, json=body)
            assert response.status_code == (allowed if writes else 403), (path, response.text)
            if not writes:
                assert response.json()["status"] == 403
        expected_plan = "scale" if writes else "pro"
        current = await client.get(f"{org}/subscription", headers=tenant.auth)
        assert current.json()["plan"] == expected_plan

    async def test_billing_role_changes_the_plan_and_admin_cannot(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client, "plans")
        admin = await member(client, tenant, "admin")
        billing = await member(client, tenant, "billing")
        url = f"/v1/orgs/{tenant.org_id}/subscription"
        assert (await client.put(url, json={"plan": "pro"}, headers=admin)).status_code == 403
        changed = await client.put(url, json={"plan": "pro"}, headers=billing)
        assert changed.status_code == 200, changed.text
        assert changed.json()["plan"] == "pro"

    async def test_org_keys_need_billing_scopes(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client, "keys")
        admin_key = await org_key(client, tenant, ["org:admin"])
        reader = await org_key(client, tenant, ["billing:read"])
        url = f"/v1/orgs/{tenant.org_id}/invoices"
        assert (
            await client.get(url, headers={"Authorization": f"Bearer {admin_key}"})
        ).status_code == 403
        assert (
            await client.get(url, headers={"Authorization": f"Bearer {reader}"})
        ).status_code == 200
        portal = await client.post(
            f"/v1/orgs/{tenant.org_id}/billing/portal",
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert portal.status_code == 403


class TestIsolation:
    async def test_another_tenant_gets_404_on_every_billing_endpoint(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        owner, invoice_id = await issued(client, resources, "owner")
        other = await sign_up(client, "other")
        as_other = other.auth
        for method, path in [
            ("GET", f"/v1/orgs/{owner.org_id}/invoices"),
            ("GET", f"/v1/orgs/{owner.org_id}/invoices/upcoming"),
            ("GET", f"/v1/orgs/{owner.org_id}/invoices/{invoice_id}"),
            ("GET", f"/v1/orgs/{other.org_id}/invoices/{invoice_id}"),
            ("POST", f"/v1/orgs/{owner.org_id}/billing/checkout"),
            ("POST", f"/v1/orgs/{owner.org_id}/billing/portal"),
            ("DELETE", f"/v1/orgs/{owner.org_id}/subscription/scheduled-change"),
            ("PUT", f"/v1/orgs/{owner.org_id}/subscription"),
        ]:
            body = {"plan": "scale"} if method == "PUT" else None
            response = await client.request(method, path, headers=as_other, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        # an org key of the other tenant, even with both billing scopes, fares no better
        other_key = await org_key(client, other, ["billing:read", "billing:write"])
        for path in (
            f"/v1/orgs/{owner.org_id}/invoices/{invoice_id}",
            f"/v1/orgs/{owner.org_slug}/invoices/{invoice_id}",
            f"/v1/orgs/{other.org_id}/invoices/{invoice_id}",
        ):
            response = await client.get(path, headers={"Authorization": f"Bearer {other_key}"})
            assert response.status_code == 404, (path, response.text)
        # the operator naming the wrong org does not reach the invoice either
        wrong = await client.post(
            f"/v1/admin/orgs/{other.org_id}/invoices/{invoice_id}/mark-paid", headers=OPERATOR
        )
        assert wrong.status_code == 404
        mine = await client.get(
            f"/v1/orgs/{owner.org_id}/invoices/{invoice_id}", headers=owner.auth
        )
        assert mine.json()["status"] == "open"


class TestOperator:
    async def test_mark_paid_needs_the_admin_token_and_is_audited(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant, invoice_id = await issued(client, resources)
        url = f"/v1/admin/orgs/{tenant.org_slug}/invoices/{invoice_id}/mark-paid"
        assert (await client.post(url)).status_code == 401
        assert (await client.post(url, headers=tenant.auth)).status_code == 401
        paid = await client.post(url, headers=OPERATOR)
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
        assert paid.json()["paid_at"] is not None
        again = await client.post(url, headers=OPERATOR)
        assert again.json()["paid_at"] == paid.json()["paid_at"]
        log = await client.get(f"/v1/orgs/{tenant.org_id}/audit-log", headers=tenant.auth)
        actions = [(e["action"], e["actor"]["type"]) for e in log.json()["items"]]
        assert ("invoice.paid", "operator") in actions

    async def test_unknown_invoice_is_404(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client)
        response = await client.post(
            f"/v1/admin/orgs/{tenant.org_id}/invoices/inv_nope/mark-paid", headers=OPERATOR
        )
        assert response.status_code == 404


class TestSubscription:
    async def test_a_downgrade_is_scheduled_and_can_be_canceled(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client)
        await set_plan(resources, tenant.org_id, anchor_days_ago(1), PlanCode.SCALE)
        url = f"/v1/orgs/{tenant.org_id}/subscription"
        down = await client.put(url, json={"plan": "pro"}, headers=tenant.auth)
        assert down.status_code == 200, down.text
        assert (down.json()["plan"], down.json()["scheduled_plan"]) == ("scale", "pro")
        assert (await client.get(url, headers=tenant.auth)).json()["scheduled_plan"] == "pro"
        canceled = await client.delete(f"{url}/scheduled-change", headers=tenant.auth)
        assert canceled.status_code == 204
        assert (await client.get(url, headers=tenant.auth)).json()["scheduled_plan"] is None
        # asking for the current plan cancels too
        await client.put(url, json={"plan": "free"}, headers=tenant.auth)
        kept = await client.put(url, json={"plan": "scale"}, headers=tenant.auth)
        assert (kept.json()["plan"], kept.json()["scheduled_plan"]) == ("scale", None)

    async def test_an_upgrade_applies_at_once_and_shows_a_proration_line(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client)
        await set_plan(resources, tenant.org_id, anchor_days_ago(10), PlanCode.FREE)
        up = await client.put(
            f"/v1/orgs/{tenant.org_id}/subscription",
            json={"plan": "pro", "spend_cap": "5.00"},
            headers=tenant.auth,
        )
        assert up.status_code == 200, up.text
        assert (up.json()["plan"], up.json()["spend_cap"]) == ("pro", "5.00")
        quotas = (await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)).json()
        assert quotas["categories"]["metrics"]["included"] == 10_000_000
        preview = (
            await client.get(f"/v1/orgs/{tenant.org_id}/invoices/upcoming", headers=tenant.auth)
        ).json()
        kinds = [(line["kind"], line["amount"]) for line in preview["lines"]][:2]
        assert kinds[0] == ("base", "0.00")
        assert kinds[1][0] == "proration"
        assert 0 < float(kinds[1][1]) < 50


class TestWebhookWithoutStripe:
    async def test_webhooks_are_not_found_without_a_signing_secret(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        response = await client.post(
            "/v1/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
        )
        assert response.status_code == 404
