"""The billing API: public plan catalog, subscriptions, quotas, operator overrides, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.resources import Resources
from billing.plans import add_months
from billing.quotas.base import Category
from tests.billing.section4 import PLANS, RETENTION_DAYS
from tests.billing.support import new_tenant, new_user
from tests.support.tenants import Tenant, sign_up

OPERATOR = {"Authorization": "Bearer tga_test_operator_token"}
PROBLEM = "application/problem+json"
M = Category.METRICS


@pytest.fixture
async def owner(resources: Resources) -> Tenant:
    return await new_tenant(resources)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def get_subscription(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.get(f"/v1/orgs/{tenant.org_id}/subscription", headers=tenant.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_subscription(
    client: httpx.AsyncClient, tenant: Tenant, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.put(
        f"/v1/orgs/{tenant.org_id}/subscription", json=body, headers=headers or tenant.auth
    )


async def get_quotas(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.get(f"/v1/orgs/{tenant.org_id}/quotas", headers=tenant.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit_log(client: httpx.AsyncClient, tenant: Tenant, action: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/orgs/{tenant.org_id}/audit-log", headers=tenant.auth)
    assert response.status_code == 200, response.text
    return [event for event in response.json()["items"] if event["action"] == action]


async def member(
    client: httpx.AsyncClient, resources: Resources, owner: Tenant, role: str
) -> dict[str, str]:
    """Invite a user with a role into the owner's org; their auth headers."""
    user, token = await new_user(resources, role)
    auth = {"Authorization": f"Bearer {token}"}
    invite = await client.post(
        f"/v1/orgs/{owner.org_id}/invites",
        json={"email": user.email, "role": role},
        headers=owner.auth,
    )
    assert invite.status_code == 201, invite.text
    accepted = await client.post(f"/v1/invites/{invite.json()['token']}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.text
    return auth


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


class TestPlanCatalog:
    async def test_the_catalog_is_public(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/plans")
        assert response.status_code == 200, response.text
        assert [(p["id"], p["code"], p["version"]) for p in response.json()] == [
            ("plan_free_v1", "free", 1),
            ("plan_pro_v1", "pro", 1),
            ("plan_scale_v1", "scale", 1),
        ]

    async def test_every_plan_is_described_as_in_section_4(self, client: httpx.AsyncClient) -> None:
        for item in (await client.get("/v1/plans")).json():
            plan = PLANS[item["code"]]
            assert item["name"] == plan.name
            assert (item["price"], item["currency"]) == (f"{plan.price:.2f}", "usd")
            assert item["included"] == {c.value: n for c, n in plan.included.items()}
            assert item["overage_unit_prices"] == {
                c.value: (None if p is None else f"{p:f}") for c, p in plan.overage.items()
            }
            assert item["rate_limits"] == {
                c.value: {"rate": rate, "burst": 10 * rate} for c, rate in plan.rates.items()
            }
            assert item["retention_days"] == RETENTION_DAYS[plan.code]
            assert (item["tier"], item["alerts"]) == (plan.tier.value, plan.alerts)

    async def test_unit_prices_are_plain_exact_decimals(self, client: httpx.AsyncClient) -> None:
        pro = (await client.get("/v1/plans")).json()[1]
        assert pro["overage_unit_prices"] == {
            "metrics": "0.0000001",
            "logs": "0.0000000005",
            "traces": "0.00001",
            "spans": None,
        }
        assert Decimal(pro["overage_unit_prices"]["metrics"]) * 10**6 == Decimal("0.10")


class TestGetSubscription:
    async def test_a_new_org_is_on_free_for_its_first_month(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(client)
        before = datetime.now(UTC)
        body = await get_subscription(client, tenant)
        assert {"plan", "status", "period_start", "period_end", "spend_cap"} <= body.keys()
        assert (body["plan"], body["status"], body["spend_cap"]) == ("free", "active", None)
        start, end = when(body["period_start"]), when(body["period_end"])
        assert start <= before < end
        assert (start.minute, start.second, start.microsecond) == (0, 0, 0)
        assert before - start < timedelta(hours=1, minutes=1)  # the hour the org was created
        assert end == add_months(start, 1)

    async def test_the_org_can_be_named_by_slug(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        response = await client.get(f"/v1/orgs/{owner.org_slug}/subscription", headers=owner.auth)
        assert response.status_code == 200, response.text
        assert response.json() == await get_subscription(client, owner)

    async def test_without_credentials_it_is_401(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        problem(await client.get(f"/v1/orgs/{owner.org_id}/subscription"), 401)


class TestChangeSubscription:
    async def test_an_upgrade_applies_at_once(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        before = await get_subscription(client, owner)
        response = await put_subscription(client, owner, {"plan": "pro", "spend_cap": "25.00"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["plan"], body["spend_cap"]) == ("pro", "25.00")
        assert (body["period_start"], body["period_end"]) == (
            before["period_start"],
            before["period_end"],
        )
        assert await get_subscription(client, owner) == body

    async def test_the_quotas_follow_the_plan(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        assert (await put_subscription(client, owner, {"plan": "scale"})).status_code == 200
        categories = (await get_quotas(client, owner))["categories"]
        assert categories["metrics"] == {
            "included": 100_000_000,
            "used": 0,
            "remaining": 100_000_000,
            "overage": 0,
            "hard_cap": False,
        }
        assert (categories["spans"]["included"], categories["spans"]["hard_cap"]) == (
            2_000_000_000,
            True,
        )

    async def test_the_gateway_admits_under_the_new_plan_at_once(
        self, client: httpx.AsyncClient, resources: Resources, owner: Tenant
    ) -> None:
        now = datetime.now(UTC)

        async def admit(units: int, at: datetime) -> bool:
            admitted = await resources.admission.admit(
                org_id=owner.org_id,
                project_id=owner.project_id,
                key_id="key_a",
                key_limits=None,
                units={M: units},
                at=at,
            )
            return admitted.decision.accepted

        # free stops at 1,000,000 points; the gateway caches that for a few seconds
        assert not await admit(1_000_001, now)
        assert resources.admission.cached(owner.org_id) is not None
        assert (await put_subscription(client, owner, {"plan": "pro"})).status_code == 200
        assert resources.admission.cached(owner.org_id) is None
        assert await admit(1_000_001, now + timedelta(seconds=20))  # once the bucket refilled

    async def test_a_null_spend_cap_removes_it(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await put_subscription(client, owner, {"plan": "pro", "spend_cap": "10"})
        assert (await get_subscription(client, owner))["spend_cap"] == "10.00"
        response = await put_subscription(client, owner, {"plan": "pro", "spend_cap": None})
        assert response.json()["spend_cap"] is None

    async def test_the_change_is_in_the_audit_log(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await put_subscription(client, owner, {"plan": "pro", "spend_cap": "5.00"})
        (event,) = await audit_log(client, owner, "subscription.changed")
        assert event["actor"] == {"type": "user", "id": owner.user_id}
        assert event["target"] == {"type": "subscription", "id": owner.org_id}
        assert (event["data"]["before"]["plan_id"], event["data"]["after"]["plan_id"]) == (
            "plan_free_v1",
            "plan_pro_v1",
        )
        assert event["data"]["after"]["spend_cap"] == "5.00"

    @pytest.mark.parametrize(
        "body",
        [{"plan": "gold"}, {"plan": "FREE"}, {"plan": None}, {}, {"plan": "pro", "extra": 1}],
        ids=["gold", "upper-case", "null", "missing", "unknown-field"],
    )
    async def test_a_bad_plan_is_refused(
        self, client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
    ) -> None:
        problem(await put_subscription(client, owner, body), 400)
        assert (await get_subscription(client, owner))["plan"] == "free"

    @pytest.mark.parametrize("spend_cap", ["-1", "1.234", "abc", "1e3", 1.5])
    async def test_a_bad_spend_cap_is_refused_and_nothing_changes(
        self, client: httpx.AsyncClient, owner: Tenant, spend_cap: Any
    ) -> None:
        before = await get_subscription(client, owner)
        response = await put_subscription(client, owner, {"plan": "pro", "spend_cap": spend_cap})
        assert "spend_cap" in problem(response, 400)["detail"]
        assert await get_subscription(client, owner) == before
        assert await audit_log(client, owner, "subscription.changed") == []

    @pytest.mark.parametrize(
        ("role", "plan"),
        [("billing", "pro"), ("admin", "free"), ("member", "free"), ("viewer", "free")],
    )
    async def test_only_owners_and_billing_members_may_change_it(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        owner: Tenant,
        role: str,
        plan: str,
    ) -> None:
        auth = await member(client, resources, owner, role)
        response = await put_subscription(client, owner, {"plan": "pro"}, headers=auth)
        if plan == "pro":
            assert response.status_code == 200, response.text
        else:
            problem(response, 403)
        assert (await get_subscription(client, owner))["plan"] == plan


class TestQuotas:
    async def test_a_new_free_org_has_its_whole_quota(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        body = await get_quotas(client, owner)
        subscription = await get_subscription(client, owner)
        assert (body["period_start"], body["period_end"]) == (
            subscription["period_start"],
            subscription["period_end"],
        )
        free = PLANS["free"]
        assert body["categories"] == {
            c.value: {"included": n, "used": 0, "remaining": n, "overage": 0, "hard_cap": True}
            for c, n in free.included.items()
        }


class TestOperatorOverrides:
    BODY = {
        "included": {"metrics": 1_234, "logs": 0},
        "rate_limits": {"traces": {"rate": 2.5, "burst": 25}},
    }

    @staticmethod
    def path(org: str) -> str:
        return f"/v1/admin/orgs/{org}/overrides"

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer wrong", "Basic tga_test_operator_token", "owner"],
        ids=["none", "wrong", "basic", "tenant-session"],
    )
    async def test_without_the_operator_token_it_is_401(
        self, client: httpx.AsyncClient, owner: Tenant, authorization: str | None
    ) -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        if authorization == "owner":
            headers = owner.auth
        problem(await client.get(self.path(owner.org_id), headers=headers), 401)
        problem(await client.put(self.path(owner.org_id), json=self.BODY, headers=headers), 401)
        response = await client.get(self.path(owner.org_id), headers=OPERATOR)
        assert response.json() == {"included": {}, "rate_limits": {}}

    async def test_an_unknown_org_is_404(self, client: httpx.AsyncClient) -> None:
        problem(await client.get(self.path("org_0000000000000000000000"), headers=OPERATOR), 404)
        response = await client.put(self.path("no-such-org"), json=self.BODY, headers=OPERATOR)
        problem(response, 404)

    @pytest.mark.parametrize("ref", ["org_id", "org_slug"])
    async def test_put_then_get_round_trips(
        self, client: httpx.AsyncClient, owner: Tenant, ref: str
    ) -> None:
        org = getattr(owner, ref)
        response = await client.put(self.path(org), json=self.BODY, headers=OPERATOR)
        assert response.status_code == 200, response.text
        assert response.json() == self.BODY
        assert (await client.get(self.path(org), headers=OPERATOR)).json() == self.BODY

    async def test_a_put_replaces_every_override(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await client.put(self.path(owner.org_id), json=self.BODY, headers=OPERATOR)
        await client.put(self.path(owner.org_id), json={}, headers=OPERATOR)
        response = await client.get(self.path(owner.org_id), headers=OPERATOR)
        assert response.json() == {"included": {}, "rate_limits": {}}

    @pytest.mark.parametrize(
        "body",
        [
            {"included": {"metrics": -1}},
            {"included": {"widgets": 5}},
            {"rate_limits": {"metrics": {"rate": 10, "burst": 0}}},
            {"rate_limits": {"metrics": {"rate": 0, "burst": 10}}},
            {"included": {}, "quotas": {}},
        ],
        ids=["negative", "unknown-category", "burst-0", "rate-0", "unknown-field"],
    )
    async def test_an_invalid_body_is_400(
        self, client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
    ) -> None:
        problem(await client.put(self.path(owner.org_id), json=body, headers=OPERATOR), 400)
        response = await client.get(self.path(owner.org_id), headers=OPERATOR)
        assert response.json() == {"included": {}, "rate_limits": {}}

    async def test_the_change_is_audited_as_the_operator(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await client.put(self.path(owner.org_id), json=self.BODY, headers=OPERATOR)
        (event,) = await audit_log(client, owner, "overrides.updated")
        assert event["actor"]["type"] == "operator"
        assert event["target"] == {"type": "org", "id": owner.org_id}
        assert event["data"] == self.BODY

    async def test_quotas_reflect_the_override(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        await client.put(self.path(owner.org_id), json=self.BODY, headers=OPERATOR)
        categories = (await get_quotas(client, owner))["categories"]
        assert categories["metrics"] == {
            "included": 1_234,
            "used": 0,
            "remaining": 1_234,
            "overage": 0,
            "hard_cap": True,
        }
        assert categories["logs"]["included"] == 0
        assert categories["traces"]["included"] == 100_000

    async def test_the_gateway_applies_the_override_at_once(
        self, client: httpx.AsyncClient, resources: Resources, owner: Tenant
    ) -> None:
        async def admit(units: int) -> bool:
            admitted = await resources.admission.admit(
                org_id=owner.org_id,
                project_id=owner.project_id,
                key_id="key_a",
                key_limits=None,
                units={M: units},
                at=datetime.now(UTC),
            )
            return admitted.decision.accepted

        assert await admit(2_000)
        await client.put(self.path(owner.org_id), json=self.BODY, headers=OPERATOR)
        assert resources.admission.cached(owner.org_id) is None
        assert not await admit(1)  # 2,000 used of the 1,234 now included


ORG_ENDPOINTS = [
    ("GET", "/subscription", None),
    ("PUT", "/subscription", {"plan": "pro"}),
    ("GET", "/quotas", None),
    ("GET", "/usage", None),
]


class TestIsolation:
    @pytest.mark.parametrize(("method", "suffix", "body"), ORG_ENDPOINTS)
    @pytest.mark.parametrize("ref", ["org_id", "org_slug"])
    async def test_another_tenant_gets_404(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        owner: Tenant,
        method: str,
        suffix: str,
        body: dict[str, Any] | None,
        ref: str,
    ) -> None:
        intruder = await new_tenant(resources, "intruder")
        url = f"/v1/orgs/{getattr(owner, ref)}{suffix}"
        response = await client.request(method, url, json=body, headers=intruder.auth)
        problem(response, 404)
        assert (await get_subscription(client, owner))["plan"] == "free"
        assert (await get_subscription(client, intruder))["plan"] == "free"
