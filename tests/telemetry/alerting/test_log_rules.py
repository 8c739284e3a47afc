"""Log rules: the count of matching records over the window against the threshold, through
the worker actor, on the same state machine (pending for `for`, firing, resolved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.resources import Resources
from telemetry.alerting import log_rules
from tenancy.authz import system_context
from tenancy.context import Actor
from tests.support.gateway import project_writer
from tests.support.tenants import Tenant
from tests.telemetry.alerting.conftest import Jobs
from workers.actor import run_inline


async def rule(client: httpx.AsyncClient, tenant: Tenant, project: str, **body: Any) -> str:
    response = await client.post(
        f"/v1/projects/{project}/alert-rules",
        json={
            "name": "payment failures",
            "kind": "log",
            "expr": '"payment failed"',
            "threshold": {"op": ">=", "value": 3, "window": "5m"},
            "interval": "1s",
            "for": "0s",
        }
        | body,
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    rule_id: str = response.json()["id"]
    return rule_id


async def get(client: httpx.AsyncClient, tenant: Tenant, project: str, rule_id: str) -> Any:
    response = await client.get(
        f"/v1/projects/{project}/alert-rules/{rule_id}", headers=tenant.auth
    )
    return response.json()


class TestLogRules:
    async def test_fires_over_the_threshold_and_resolves_when_the_window_empties(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        recorded: Jobs,
        resources: Resources,
        db_session: AsyncSession,
    ) -> None:
        writer = await project_writer(client, owner)
        other = await project_writer(client, owner)
        records = [{"message": f"payment failed for order {n}", "level": "ERROR"} for n in range(3)]
        sent = await client.post(writer.path("ingest/logs"), json=records, headers=writer.auth)
        assert sent.status_code in (200, 202), sent.text
        # the same records in another project never count for this one
        await client.post(other.path("ingest/logs"), json=records, headers=other.auth)
        rule_id = await rule(client, owner, writer.project_id)
        quiet_id = await rule(client, owner, other.project_id, expr='"nothing like this"')

        await run_inline("alerting.evaluate_log_rules", datetime.now(UTC).timestamp() + 1)
        assert await recorded.run("alerting.evaluate_log_rule") == 2
        shown = await get(client, owner, writer.project_id, rule_id)
        assert (shown["state"], shown["last_error"]) == ("firing", None)
        assert shown["last_evaluation"] is not None
        assert (await get(client, owner, other.project_id, quiet_id))["state"] == "inactive"
        incidents = await client.get(
            f"/v1/projects/{writer.project_id}/incidents", headers=owner.auth
        )
        (incident,) = incidents.json()["items"]
        assert (incident["status"], incident["value"]) == ("firing", 3.0)

        # ten minutes on, the 5-minute window holds nothing: resolved
        context = await system_context(db_session, owner.org_id, Actor("system", "test"))
        later = datetime.now(UTC) + timedelta(minutes=10)
        state = await log_rules.evaluate(db_session, context, resources.telemetry, rule_id, later)
        assert state == "inactive"
        one = await client.get(
            f"/v1/projects/{writer.project_id}/incidents/{incident['id']}", headers=owner.auth
        )
        assert one.json()["status"] == "resolved"

    async def test_for_keeps_it_pending_and_a_rule_not_due_is_left_alone(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        recorded: Jobs,
        resources: Resources,
        db_session: AsyncSession,
    ) -> None:
        writer = await project_writer(client, owner)
        records = [{"message": "payment failed", "level": "ERROR"} for _ in range(4)]
        await client.post(writer.path("ingest/logs"), json=records, headers=writer.auth)
        rule_id = await rule(client, owner, writer.project_id, **{"for": "1m", "interval": "30s"})
        context = await system_context(db_session, owner.org_id, Actor("system", "test"))
        now = datetime.now(UTC) + timedelta(seconds=1)
        store = resources.telemetry
        assert await log_rules.evaluate(db_session, context, store, rule_id, now) == "pending"
        not_due = now + timedelta(seconds=10)
        assert await log_rules.evaluate(db_session, context, store, rule_id, not_due) is None
        due = now + timedelta(seconds=61)
        assert await log_rules.evaluate(db_session, context, store, rule_id, due) == "firing"
