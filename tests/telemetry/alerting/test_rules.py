"""Alert rules API: §12, seed 000 and seed 001 bodies, validation before save, another tenant."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telemetry.alerting.models import AlertRule
from tests.support.tenancy import as_org, bearer, org_key
from tests.support.tenants import Tenant, sign_up
from tests.telemetry.alerting.conftest import Jobs


def rules_path(tenant: Tenant, rest: str = "") -> str:
    return f"/v1/projects/{tenant.project_id}/alert-rules{rest}"


async def create(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    response = await client.post(rules_path(tenant), json=body, headers=tenant.auth)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def stored(db_session: AsyncSession, tenant: Tenant) -> int:
    await as_org(db_session, tenant.org_id)
    query = select(func.count()).select_from(AlertRule).where(AlertRule.org_id == tenant.org_id)
    return int(await db_session.scalar(query) or 0)


class TestRuleBodies:
    async def test_the_architecture_body_is_stored_and_shown_with_its_state(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await create(
            client,
            owner,
            {
                "name": "High error rate",
                "kind": "metric",
                "expr": 'sum(rate(http_requests_total{code=~"5.."}[5m])) > 1',
                "for": "5m",
                "interval": "30s",
                "severity": "critical",
                "labels": {"team": "payments"},
                "annotations": {"summary": "errors at {{ $value }}"},
                "no_data": "ok",
            },
        )
        assert rule["id"].startswith("alr_")
        assert (rule["for"], rule["interval"], rule["severity"]) == ("5m", "30s", "critical")
        assert (rule["state"], rule["last_evaluation"], rule["last_error"]) == (
            "inactive",
            None,
            None,
        )
        assert rule["enabled"] is True
        # the project's vmalert file is re-rendered after the commit
        assert [j.args for j in recorded.named("alerting.render_project")] == [
            (owner.org_id, owner.project_id)
        ]
        got = await client.get(rules_path(owner, f"/{rule['id']}"), headers=owner.auth)
        assert got.json() == rule
        listed = await client.get(rules_path(owner), headers=owner.auth)
        assert [r["id"] for r in listed.json()["items"]] == [rule["id"]]

    async def test_seed_000_body_becomes_promql(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        channels = []  # rules may name only the org's own channels (the notification side checks)
        for name in ("email", "slack"):
            made = await client.post(
                f"/v1/orgs/{owner.org_id}/notification-channels",
                json={"name": name, "type": "email", "config": {"to": ["ops@example.com"]}},
                headers=owner.auth,
            )
            assert made.status_code == 201, made.text
            channels.append(made.json()["id"])
        rule = await create(
            client,
            owner,
            {
                "name": "High Error Rate",
                "alert_type": "error_rate",
                "severity": "critical",
                "service_id": "svc-1",
                "metric_name": "http_errors_total",
                "condition": {"operator": "gt", "threshold": 10, "duration": 300},
                "notification_channels": channels,
            },
        )
        assert rule["kind"] == "metric"
        assert rule["expr"] == 'rate(http_errors_total{service="svc-1"}[5m]) > 10'
        assert rule["for"] == "5m"
        assert rule["channels"] == channels

    async def test_seed_001_body_is_accepted(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await create(
            client,
            owner,
            {
                "name": "Latency",
                "expression": "histogram_quantile(0.95, sum(rate(lat_bucket[5m])) by (le)) > 0.5",
                "for": "10m",
                "severity": "warning",
                "annotations": {"description": "p95 above 500 ms"},
            },
        )
        assert rule["expr"].startswith("histogram_quantile(0.95")
        assert rule["for"] == "10m"

    async def test_a_log_rule_takes_our_query_language_and_a_threshold(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await create(
            client,
            owner,
            {
                "name": "Payment failures",
                "kind": "log",
                "expr": 'level:error AND "payment failed"',
                "threshold": {"op": ">=", "value": 5, "window": "10m"},
                "interval": "1m",
            },
        )
        assert rule["threshold"] == {
            "op": ">=",
            "value": 5.0,
            "window": "10m",
            "window_seconds": 600,
        }
        assert recorded.named("alerting.render_project") == []  # vmalert never sees log rules

    async def test_patch_changes_only_what_is_sent_and_delete_removes(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await create(client, owner, {"name": "r", "expr": "up == 0"})
        path = rules_path(owner, f"/{rule['id']}")
        patched = await client.patch(
            path, json={"severity": "info", "enabled": False}, headers=owner.auth
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["severity"], body["enabled"], body["expr"]) == ("info", False, "up == 0")
        assert (await client.delete(path, headers=owner.auth)).status_code == 204
        assert (await client.get(path, headers=owner.auth)).status_code == 404


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"name": "r", "expr": "sum(rate(x[5m]) > 1"}, "expr"),
    ({"name": "r", "expr": "up >"}, "expr"),
    ({"name": "r"}, "expr"),
    ({"expr": "up"}, "name"),
    ({"name": "r", "expr": "up", "for": "5 minutes"}, "for"),
    ({"name": "r", "expr": "up", "interval": "0s"}, "interval"),
    ({"name": "r", "expr": "up", "severity": "page"}, "severity"),
    ({"name": "r", "expr": "up", "no_data": "maybe"}, "no_data"),
    ({"name": "r", "expr": "up", "labels": {"tenant": "org_other"}}, "labels"),
    ({"name": "r", "expr": "up", "labels": {"bad-name": "x"}}, "labels"),
    ({"name": "r", "expr": "up", "annotations": {"s": '{{ query "up" }}'}}, "annotations.s"),
    ({"name": "r", "expr": "up", "annotations": {"s": "%{HOME}"}}, "annotations.s"),
    ({"name": "r", "kind": "log", "expr": "error"}, "threshold"),
    (
        {"name": "r", "kind": "log", "expr": "(unclosed", "threshold": {"value": 1}},
        "expr",
    ),
    (
        {"name": "r", "kind": "log", "expr": "x", "threshold": {"op": "~", "value": 1}},
        "threshold.op",
    ),
    ({"name": "r", "metric_name": "bad name!", "condition": {}}, "metric_name"),
    (
        {"name": "r", "metric_name": "m", "condition": {"operator": "approx"}},
        "condition.operator",
    ),
]


class TestValidation:
    async def test_a_bad_body_is_a_400_naming_the_field_and_nothing_is_stored(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        recorded: Jobs,
        db_session: AsyncSession,
    ) -> None:
        for body, field in BAD_BODIES:
            problem = await create(client, owner, body, status=400)
            assert (problem["field"], problem["code"]) == (field, "invalid_rule"), (body, problem)
        assert await stored(db_session, owner) == 0
        assert recorded.sent == []

    async def test_a_promql_parse_error_says_what_is_wrong(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        problem = await create(client, owner, {"name": "r", "expr": "sum(rate(x[5m])"}, 400)
        assert problem["detail"].startswith("expr: not valid PromQL/MetricsQL")
        assert "unparsed" in problem["detail"] or "unexpected" in problem["detail"]

    async def test_unknown_fields_are_refused(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        response = await client.post(
            rules_path(owner), json={"name": "r", "expr": "up", "evil": 1}, headers=owner.auth
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"


class TestAnotherTenant:
    async def test_another_tenants_rule_is_404_everywhere(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await create(client, owner, {"name": "r", "expr": "up == 0"})
        stranger = await sign_up(client, "stranger")
        key = bearer((await org_key(client, stranger, ["org:admin", "project:admin"]))["key"])
        for project in (owner.project_id, stranger.project_id):
            path = f"/v1/projects/{project}/alert-rules/{rule['id']}"
            for headers in (stranger.auth, key):
                for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
                    response = await client.request(method, path, json=body, headers=headers)
                    assert response.status_code == 404, (method, path, response.text)
        listed = await client.get(
            f"/v1/projects/{owner.project_id}/alert-rules", headers=stranger.auth
        )
        assert listed.status_code == 404
        own = await client.get(f"/v1/projects/{stranger.project_id}/alert-rules", headers=key)
        assert own.json()["items"] == []
        still = await client.get(rules_path(owner, f"/{rule['id']}"), headers=owner.auth)
        assert still.json()["name"] == "r"

    async def test_a_viewer_reads_but_cannot_write(
        self, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        from tests.support.tenancy import add_member

        viewer = await add_member(client, owner, "viewer")
        assert (await client.get(rules_path(owner), headers=viewer.auth)).status_code == 200
        refused = await client.post(
            rules_path(owner), json={"name": "r", "expr": "up"}, headers=viewer.auth
        )
        assert refused.status_code == 403
