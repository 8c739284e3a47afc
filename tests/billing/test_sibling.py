"""Sibling-product usage on the invoice: priced by the operator's table, billed once however
often a batch is replayed, exact to the cent, and mirrored on Stripe line for line."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx

from api.resources import Resources
from billing.plans import PlanCode, add_months
from tenancy import projects
from tests.billing.conftest import StripeOn
from tests.billing.invoicing import all_invoices, close, set_plan
from tests.billing.support import org_session
from tests.billing.test_stripe import anchor_days_ago
from tests.support.hub import HubOrg, event, provisioned, report, set_prices

PAGER_PRICES = (
    {"metric": "sms", "unit_price": "0.0000123", "included": {"pro": 1000, "scale": 5000}},
    {"metric": "calls", "unit_price": "0.005"},
)


async def pro_org_with_ended_period(
    client: httpx.AsyncClient, resources: Resources, product: str = "pager"
) -> tuple[HubOrg, datetime]:
    """A pro org of `product` whose period ended 3 days ago and is not closed yet."""
    org = await provisioned(client, product)
    anchor = add_months(anchor_days_ago(3), -1)
    await set_plan(resources, org.org_id, anchor, PlanCode.PRO)
    return org, anchor


class TestPeriodClose:
    async def test_sibling_lines_are_billed_exactly_and_once(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        await set_prices(client, "pager", *PAGER_PRICES)
        org, anchor = await pro_org_with_ended_period(client, resources)
        at = anchor + timedelta(hours=5)
        batch = [
            event("pager", "sms", "1234567.5", at, "e1"),
            event("pager", "calls", 1, at, "e2"),
        ]
        first = await report(client, org, batch)
        assert first.json() == {"inserted": 2, "duplicates": 0, "rejected": []}
        replay = await report(client, org, batch)
        assert replay.json() == {"inserted": 0, "duplicates": 2, "rejected": []}

        (invoice,) = await close(resources, org.org_id, add_months(anchor, 1))
        ((stored, lines),) = await all_invoices(resources, org.org_id)
        sibling = {line.details["metric"]: line for line in lines if line.kind == "sibling"}
        # (1234567.5 - 1000 included) x 0.0000123 = 15.17288025 -> 15.17
        assert sibling["sms"].quantity == Decimal("1233567.5")
        assert sibling["sms"].amount == Decimal("15.17")
        # 1 x 0.005 = 0.005 -> 0.01 (half away from zero), nothing included
        assert sibling["calls"].amount == Decimal("0.01")
        assert sibling["calls"].details["product"] == "pager"
        assert stored.total == Decimal("50.00") + Decimal("15.17") + Decimal("0.01")
        assert invoice.id == stored.id

        late = await report(client, org, [event("pager", "sms", 5, at, "e3")])
        assert late.json()["rejected"][0]["reason"] == "outside_open_period"

    async def test_the_api_shows_sibling_lines_with_product_and_metric(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        await set_prices(client, "pager", *PAGER_PRICES)
        org, anchor = await pro_org_with_ended_period(client, resources)
        at = anchor + timedelta(hours=1)
        await report(client, org, [event("pager", "calls", 3, at)])
        (invoice,) = await close(resources, org.org_id, add_months(anchor, 1))
        owner = await owner_token(client, resources, org)
        response = await client.get(f"/v1/orgs/{org.org_id}/invoices/{invoice.id}", headers=owner)
        assert response.status_code == 200, response.text
        (line,) = [x for x in response.json()["lines"] if x["kind"] == "sibling"]
        assert (line["product"], line["metric"], line["amount"]) == ("pager", "calls", "0.02")


async def owner_token(
    client: httpx.AsyncClient, resources: Resources, org: HubOrg
) -> dict[str, str]:
    """An org key with billing:read for a hub-provisioned org (it has no member yet)."""
    async with org_session(resources, org.org_id) as (session, context):
        created = await projects.create_key(
            session,
            context,
            project_id=None,
            name="reader",
            scopes=["billing:read", "org:admin"],
            expires_at=None,
            rate_limits=None,
            lookup=resources.key_lookup,
        )
    return {"Authorization": f"Bearer {created.secret}"}


class TestStripeMirror:
    async def test_the_stripe_invoice_carries_the_sibling_lines(
        self, client: httpx.AsyncClient, resources: Resources, stripe_on: StripeOn
    ) -> None:
        await set_prices(client, "pager", *PAGER_PRICES)
        org, anchor = await pro_org_with_ended_period(client, resources)
        at = anchor + timedelta(hours=2)
        await report(client, org, [event("pager", "sms", 201_000, at)])
        await close(resources, org.org_id, add_months(anchor, 1), collect=True)
        await stripe_on.jobs.drain("billing.sync_invoice")
        ((ours, lines),) = await all_invoices(resources, org.org_id)
        items = stripe_on.fake.of_type("invoiceitem")
        assert sorted((i["metadata"]["tollgate_line_id"], i["amount"]) for i in items) == sorted(
            (line.id, int(line.amount * 100)) for line in lines
        )
        (sms,) = [i for i in items if i["metadata"]["kind"] == "sibling"]
        assert (sms["metadata"]["product"], sms["metadata"]["metric"]) == ("pager", "sms")
        assert sms["amount"] == 246  # (201000 - 1000) x 0.0000123 = 2.46
        (theirs,) = stripe_on.fake.of_type("invoice")
        assert theirs["total"] == int(ours.total * 100) == 5246
