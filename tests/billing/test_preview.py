"""The plan change preview (`GET /v1/orgs/{org}/subscription/preview`): the upcoming invoice
the change would make, priced by the same code as the change, with nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text

from api.resources import Resources
from billing.plans import PlanCode
from billing.quotas.base import Category
from tenancy.roles import Role
from tests.billing.invoicing import put_usage, set_plan
from tests.billing.support import org_session
from tests.support.tenancy import add_member
from tests.support.tenants import Tenant, sign_up


def days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


async def preview(client: httpx.AsyncClient, tenant: Tenant, plan: str) -> httpx.Response:
    return await client.get(
        f"/v1/orgs/{tenant.org_id}/subscription/preview",
        params={"plan": plan},
        headers=tenant.auth,
    )


async def stored_changes(resources: Resources, org_id: str) -> tuple[int, int]:
    """Plan changes and subscription.changed audit events stored for the org."""
    async with org_session(resources, org_id) as (session, _):
        changes = await session.scalar(
            text("SELECT count(*) FROM plan_changes WHERE org_id = :o"), {"o": org_id}
        )
        audited = await session.scalar(
            text(
                "SELECT count(*) FROM audit_events WHERE org_id = :o "
                "AND action = 'subscription.changed'"
            ),
            {"o": org_id},
        )
    return int(changes or 0), int(audited or 0)


class TestUpgrade:
    async def test_the_preview_is_the_invoice_the_upgrade_then_makes(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client, "preview-up")
        anchor = days_ago(10)
        await set_plan(resources, tenant.org_id, anchor, PlanCode.FREE)
        # over free's included metrics: free has no overage price, pro prices the excess
        await put_usage(resources, tenant, anchor + timedelta(hours=2), {Category.METRICS: 10})

        answer = await preview(client, tenant, "pro")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["plan"], body["change"], body["payment_method_required"]) == (
            "pro",
            "upgrade",
            False,
        )
        assert body["upcoming_before"]["total"] == "0.00"
        after = body["upcoming_after"]
        assert after["plan"] == "pro"
        (proration,) = [line for line in after["lines"] if line["kind"] == "proration"]
        # about 20 of 30 days left of a $50 fee
        assert Decimal("25") < Decimal(proration["amount"]) < Decimal("40")
        assert body["added"] == after["total"]
        # nothing was changed: no plan change, no audit event, still on free
        assert await stored_changes(resources, tenant.org_id) == (0, 0)
        url = f"/v1/orgs/{tenant.org_id}/subscription"
        assert (await client.get(url, headers=tenant.auth)).json()["plan"] == "free"

        # the change itself then produces that invoice (up to the seconds between the two)
        changed = await client.put(url, json={"plan": "pro"}, headers=tenant.auth)
        assert changed.status_code == 200, changed.text
        upcoming = (
            await client.get(f"/v1/orgs/{tenant.org_id}/invoices/upcoming", headers=tenant.auth)
        ).json()
        assert [(x["kind"], x["category"]) for x in upcoming["lines"]] == [
            (x["kind"], x["category"]) for x in after["lines"]
        ]
        assert abs(Decimal(upcoming["total"]) - Decimal(after["total"])) <= Decimal("0.01")
        assert await stored_changes(resources, tenant.org_id) == (1, 1)
        # now on pro, asking for pro again changes nothing
        same = (await preview(client, tenant, "pro")).json()
        assert same["change"] == "none"
        assert same["added"] == "0.00"
        assert same["upcoming_after"] == same["upcoming_before"]


class TestDowngrade:
    async def test_a_downgrade_applies_at_the_period_end_and_leaves_this_invoice(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await sign_up(client, "preview-down")
        subscription = await set_plan(resources, tenant.org_id, days_ago(3), PlanCode.SCALE)
        body = (await preview(client, tenant, "free")).json()
        assert body["change"] == "downgrade"
        assert datetime.fromisoformat(body["effective_at"]) == subscription.current_period_end
        assert body["upcoming_after"] == body["upcoming_before"]
        assert body["added"] == "0.00"
        assert await stored_changes(resources, tenant.org_id) == (0, 0)


class TestRefusals:
    async def test_a_bad_or_missing_plan_is_a_4xx_naming_the_field(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client, "preview-bad")
        url = f"/v1/orgs/{tenant.org_id}/subscription/preview"
        for params in ({"plan": "platinum"}, {"plan": "x" * 40}, {}):
            answer = await client.get(url, params=params, headers=tenant.auth)
            assert 400 <= answer.status_code < 500, (params, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "plan" in answer.text, answer.text

    async def test_another_tenant_gets_404(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "preview-owner")
        other = await sign_up(client, "preview-other")
        for org in (owner.org_id, owner.org_slug):
            answer = await client.get(
                f"/v1/orgs/{org}/subscription/preview",
                params={"plan": "pro"},
                headers=other.auth,
            )
            assert answer.status_code == 404, answer.text

    async def test_reading_it_needs_billing_read(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "preview-roles")
        for role, status in ((Role.BILLING, 200), (Role.ADMIN, 200), (Role.VIEWER, 403)):
            member = await add_member(client, owner, role)
            answer = await client.get(
                f"/v1/orgs/{owner.org_id}/subscription/preview",
                params={"plan": "scale"},
                headers=member.auth,
            )
            assert answer.status_code == status, (role, answer.text)
