"""Alert-rule limits per org: 10 on Free, operator overrides, SLO rules not counted, and a
downgrade that disables the newest rules beyond the new limit (never deletes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from api.resources import Resources
from billing.plans import PlanCode, add_months
from telemetry.alerting import rules
from telemetry.alerting.models import AlertRule
from telemetry.alerting.schemas import RuleBody
from tests.billing.invoicing import close, org_on
from tests.billing.support import org_session
from tests.billing.test_plan_changes import change
from tests.support.gateway import OPERATOR
from tests.support.tenants import Tenant
from tests.telemetry.alerting.conftest import Jobs
from workers.actor import run_inline

ANCHOR = datetime(2027, 3, 1, tzinfo=UTC)


async def make_rules(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[str]:
    made = []
    for n in range(count):
        response = await client.post(
            f"/v1/projects/{tenant.project_id}/alert-rules",
            json={"name": f"rule {n}", "expr": f"up{{job='j{n}'}} == 0"},
            headers=tenant.auth,
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def one_more(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    return await client.post(
        f"/v1/projects/{tenant.project_id}/alert-rules",
        json={"name": "one more", "expr": "up == 0"},
        headers=tenant.auth,
    )


class TestPlanLimit:
    async def test_the_eleventh_rule_on_free_is_refused_naming_limit_and_plan(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs, resources: Resources
    ) -> None:
        made = await make_rules(client, owner, 10)
        refused = await one_more(client, owner)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert (problem["code"], problem["limit"], problem["plan"]) == ("plan_limit", 10, "free")
        # an SLO's generated rules do not count, and do not need room
        async with org_session(resources, owner.org_id) as (session, context):
            generated = await rules.create_rule(
                session,
                context,
                owner.project_id,
                RuleBody(name="slo burn", expr="up == 0"),
                resources.http,
                resources.settings,
                generated_by="slo:slo_x",
            )
        assert generated.generated_by == "slo:slo_x"
        # a disabled rule beyond the limit stays disabled: enabling it needs room
        path = f"/v1/projects/{owner.project_id}/alert-rules/{made[0]}"
        off = await client.patch(path, json={"enabled": False}, headers=owner.auth)
        assert off.json()["disabled_reason"] == "user"
        assert (await one_more(client, owner)).status_code == 403  # 10 exist
        assert (await client.patch(path, json={"enabled": True}, headers=owner.auth)).is_success

    async def test_an_operator_override_raises_the_limit(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        override = await client.put(
            f"/v1/admin/orgs/{owner.org_id}/overrides",
            json={"included": {"alerts": 11}, "rate_limits": {}},
            headers=OPERATOR,
        )
        assert override.status_code == 200, override.text
        await make_rules(client, owner, 11)
        refused = await one_more(client, owner)
        assert (refused.status_code, refused.json()["limit"]) == (403, 11)
        assert recorded.named("alerting.enforce_rule_limit")  # the override change applies


class TestDowngrade:
    async def test_a_downgrade_disables_the_newest_rules_beyond_the_limit(
        self, client: httpx.AsyncClient, resources: Resources, recorded: Jobs
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        made = await make_rules(client, tenant, 12)
        await change(resources, tenant.org_id, "free", ANCHOR + timedelta(days=3))
        assert recorded.named("alerting.enforce_rule_limit") == []  # waits for the period end
        await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        assert await recorded.run("alerting.enforce_rule_limit") == 1
        listed = await client.get(
            f"/v1/projects/{tenant.project_id}/alert-rules", headers=tenant.auth
        )
        by_id = {r["id"]: r for r in listed.json()["items"]}
        assert len(by_id) == 12  # never deleted
        assert [i for i in made if not by_id[i]["enabled"]] == made[10:]
        assert {by_id[i]["disabled_reason"] for i in made[10:]} == {"plan_limit"}
        # running it again changes nothing (idempotent)
        async with org_session(resources, tenant.org_id) as (session, context):
            assert await rules.enforce_limit(session, context) == (0, 0)
        # back on Pro, the rules the limit disabled come back
        await change(resources, tenant.org_id, "pro", add_months(ANCHOR, 1) + timedelta(days=1))
        assert await recorded.run("alerting.enforce_rule_limit") == 1
        async with org_session(resources, tenant.org_id) as (session, _):
            found = (await session.scalars(select(AlertRule.enabled))).all()
        assert found == [True] * 12

    async def test_a_job_for_an_org_deleted_since_does_nothing(self, recorded: Jobs) -> None:
        # Queued by a plan change, run after the org was deleted: no error, no retry loop.
        await run_inline("alerting.enforce_rule_limit", "org_" + "0" * 22)
