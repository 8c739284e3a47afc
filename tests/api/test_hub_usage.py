"""Hub usage events and the operator's price table: idempotent batches, per-event refusals,
two products and two orgs kept apart, and what the org sees in its usage and upcoming invoice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.resources import Resources
from billing import subscriptions
from tenancy import projects
from tests.billing.support import org_session
from tests.support.gateway import OPERATOR
from tests.support.hub import HubOrg, event, provisioned, report, set_prices
from tests.support.tenants import sign_up

PRICES = {"metric": "sms", "unit_price": "0.25", "included": {"free": 2}}


@pytest.fixture
async def pager(client: httpx.AsyncClient) -> HubOrg:
    await set_prices(client, "pager", PRICES, {"metric": "calls", "unit_price": "1"})
    return await provisioned(client, "pager")


@pytest.fixture
async def status(client: httpx.AsyncClient) -> HubOrg:
    await set_prices(client, "status", {"metric": "checks", "unit_price": "0.001"})
    return await provisioned(client, "status")


def now() -> datetime:
    return datetime.now(UTC)


async def reader(resources: Resources, org: HubOrg) -> dict[str, str]:
    """An org key of the provisioned org that may read usage and invoices."""
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


class TestPrices:
    async def test_the_operator_sets_and_reads_a_products_prices(
        self, client: httpx.AsyncClient
    ) -> None:
        await set_prices(client, "pager", PRICES)
        response = await client.get("/v1/admin/hub-products/pager/prices", headers=OPERATOR)
        assert response.status_code == 200
        body = response.json()
        assert body["product"] == "pager"
        assert body["prices"] == [{"metric": "sms", "unit_price": "0.25", "included": {"free": 2}}]
        empty = await client.get("/v1/admin/hub-products/nobody/prices", headers=OPERATOR)
        assert empty.json()["prices"] == []

    async def test_only_the_operator_may_manage_prices(
        self, client: httpx.AsyncClient, pager: HubOrg
    ) -> None:
        path = "/v1/admin/hub-products/pager/prices"
        for headers in ({}, pager.auth):
            assert (await client.get(path, headers=headers)).status_code == 401
            put = await client.put(path, json={"prices": []}, headers=headers)
            assert put.status_code == 401

    @pytest.mark.parametrize(
        "prices",
        [
            [{"metric": "sms", "unit_price": "-1"}],
            [{"metric": "sms", "unit_price": "1e3"}],
            [{"metric": "sms", "unit_price": "1", "included": {"gold": 3}}],
            [{"metric": "sms", "unit_price": "1"}, {"metric": "sms", "unit_price": "2"}],
            [{"metric": "SMS!", "unit_price": "1"}],
        ],
    )
    async def test_bad_prices_are_refused_and_nothing_changes(
        self, client: httpx.AsyncClient, prices: list[dict[str, Any]]
    ) -> None:
        await set_prices(client, "pager", PRICES)
        response = await client.put(
            "/v1/admin/hub-products/pager/prices", json={"prices": prices}, headers=OPERATOR
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        kept = await client.get("/v1/admin/hub-products/pager/prices", headers=OPERATOR)
        assert kept.json()["prices"][0]["unit_price"] == "0.25"


class TestUsageEvents:
    async def test_a_replayed_batch_counts_duplicates(
        self, client: httpx.AsyncClient, pager: HubOrg
    ) -> None:
        batch = [event("pager", "sms", 3, now()), event("pager", "calls", "1.5", now())]
        batch.append(dict(batch[0]))  # the same event twice in one batch
        first = await report(client, pager, batch)
        assert first.status_code == 200, first.text
        assert first.json() == {"inserted": 2, "duplicates": 1, "rejected": []}
        again = await report(client, pager, batch)
        assert again.json() == {"inserted": 0, "duplicates": 3, "rejected": []}

    async def test_each_bad_event_is_rejected_by_index_and_the_rest_stored(
        self, client: httpx.AsyncClient, pager: HubOrg
    ) -> None:
        batch = [
            event("pager", "sms", 1, now(), "ok"),
            event("status", "sms", 1, now(), "other-product"),
            event("pager", "minutes", 1, now(), "unpriced"),
            event("pager", "sms", 1, now() - timedelta(days=400), "backdated"),
            event("pager", "sms", 1, now() + timedelta(days=1), "future"),
            event("pager", "sms", -1, now(), "negative"),
            event("pager", "sms", "NaN", now(), "nan"),
            event("pager", "sms", 1, now().replace(tzinfo=None), "naive"),
        ]
        response = await report(client, pager, batch)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["inserted"], body["duplicates"]) == (1, 0)
        assert [(r["index"], r["event_id"], r["reason"]) for r in body["rejected"]] == [
            (1, "other-product", "product_mismatch"),
            (2, "unpriced", "unknown_metric"),
            (3, "backdated", "outside_open_period"),
            (4, "future", "in_the_future"),
            (5, "negative", "invalid_quantity"),
            (6, "nan", "invalid_quantity"),
            (7, "naive", "invalid_timestamp"),
        ]

    @pytest.mark.parametrize(
        "body",
        [
            {"events": []},
            {"events": [{"event_id": "x"}]},
            {"events": [{**event("pager", "sms", 1, datetime(2026, 1, 1, tzinfo=UTC)), "x": 1}]},
            {"events": [event("pager", "sms", 1, datetime(2026, 1, 1, tzinfo=UTC))] * 1001},
            {
                "events": [
                    {
                        **event("pager", "sms", 1, datetime(2026, 1, 1, tzinfo=UTC)),
                        "event_id": "a\u0000",
                    }
                ]
            },
        ],
    )
    async def test_a_malformed_batch_is_a_4xx_and_stores_nothing(
        self, client: httpx.AsyncClient, pager: HubOrg, body: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/v1/hub/orgs/{pager.org_id}/usage-events", json=body, headers=pager.auth
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        ok = await report(client, pager, [event("pager", "sms", 1, now(), "after")])
        assert ok.json()["inserted"] == 1

    async def test_another_products_org_is_404(
        self, client: httpx.AsyncClient, pager: HubOrg, status: HubOrg
    ) -> None:
        signed_up = (await sign_up(client, "direct")).org_id
        for org_id in (status.org_id, signed_up, "org_nope", "not-an-id"):
            response = await report(client, pager, [event("pager", "sms", 1, now())], org_id=org_id)
            assert response.status_code == 404, org_id
        mine = await report(client, status, [event("status", "checks", 1, now())])
        assert mine.json()["inserted"] == 1

    async def test_event_ids_are_per_product(
        self, client: httpx.AsyncClient, pager: HubOrg, status: HubOrg
    ) -> None:
        a = await report(client, pager, [event("pager", "sms", 1, now(), "shared")])
        b = await report(client, status, [event("status", "checks", 1, now(), "shared")])
        assert a.json()["inserted"] == b.json()["inserted"] == 1

    async def test_usage_needs_a_hub_key(self, client: httpx.AsyncClient, pager: HubOrg) -> None:
        tenant = await sign_up(client, "owner")
        response = await client.post(
            f"/v1/hub/orgs/{pager.org_id}/usage-events",
            json={"events": [event("pager", "sms", 1, now())]},
            headers=tenant.auth,
        )
        assert response.status_code == 401


class TestWhatTheOrgSees:
    async def test_usage_and_the_upcoming_invoice_show_sibling_units(
        self, client: httpx.AsyncClient, resources: Resources, pager: HubOrg
    ) -> None:
        await report(
            client, pager, [event("pager", "sms", 7, now()), event("pager", "sms", 2, now())]
        )
        headers = await reader(resources, pager)
        usage = await client.get(f"/v1/orgs/{pager.org_id}/usage", headers=headers)
        assert usage.status_code == 200, usage.text
        (row,) = usage.json()["sibling"]
        assert (row["product"], row["metric"], row["quantity"]) == ("pager", "sms", "9")
        upcoming = await client.get(f"/v1/orgs/{pager.org_id}/invoices/upcoming", headers=headers)
        (line,) = [x for x in upcoming.json()["lines"] if x["kind"] == "sibling"]
        # free includes 2: (9 - 2) x 0.25
        assert (line["product"], line["metric"], line["quantity"], line["amount"]) == (
            "pager",
            "sms",
            "7",
            "1.75",
        )


class TestEntitlementFeatures:
    async def test_features_follow_the_plan_and_the_products_prices(
        self, client: httpx.AsyncClient, pager: HubOrg
    ) -> None:
        response = await client.get(f"/v1/hub/orgs/{pager.org_id}/entitlements", headers=pager.auth)
        assert response.status_code == 200, response.text
        features = response.json()["features"]
        assert features == {
            "alert_rules": 10,
            "slos": 5,
            "retention_days": 7,
            "sso": True,
            "products": {
                "pager": {
                    "enabled": True,
                    "metrics": {"calls": {"included": 0}, "sms": {"included": 2}},
                }
            },
        }

    async def test_an_operator_override_of_the_alert_limit_wins(
        self, client: httpx.AsyncClient, resources: Resources, pager: HubOrg
    ) -> None:
        async with org_session(resources, pager.org_id) as (session, context):
            await subscriptions.set_overrides(session, context, {"alerts": 25}, {})
        response = await client.get(f"/v1/hub/orgs/{pager.org_id}/entitlements", headers=pager.auth)
        assert response.json()["features"]["alert_rules"] == 25
        assert response.json()["features"]["slos"] == 5
