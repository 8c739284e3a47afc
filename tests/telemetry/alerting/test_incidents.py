"""Incidents from vmalert's notifications: the internal receiver's guard, one incident per
(rule, label set), flap dampening, acknowledge/resolve with a timeline, another tenant, and the
Prometheus rules/alerts API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from infra.settings import Settings
from telemetry.alerting import incidents, receiver
from telemetry.alerting.models import AlertRule
from tenancy.authz import system_context
from tenancy.context import Actor
from tests.support.tenancy import bearer, org_key
from tests.support.tenants import Tenant, project_key, sign_up
from tests.telemetry.alerting.conftest import Jobs, receiver_auth

RECEIVER = "/internal/alertmanager/api/v2/alerts"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert(
    rule: dict[str, Any], *, host: str = "a", ends_in: float = 4.0, project: str | None = None
) -> dict[str, Any]:
    """One alert as vmalert 1.79 sends it (see test_vmalert for the real thing)."""
    now = datetime.now(UTC)
    return {
        "startsAt": iso(now - timedelta(seconds=5)),
        "endsAt": iso(now + timedelta(seconds=ends_in)),
        "generatorURL": "http://vmalert/api/v1/alert",
        "labels": {
            "alertname": rule["id"],
            "alertgroup": f"{rule['project_id']}/60s",
            "tenant": "forged-or-not",
            "project": project or rule["project_id"],
            "severity": rule["severity"],
            "tollgate_rule_id": rule["id"],
            "host": host,
        },
        "annotations": {"summary": "high", "tollgate_value": "42.5"},
    }


async def new_rule(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        f"/v1/projects/{tenant.project_id}/alert-rules",
        json={"name": "cpu high", "expr": "cpu > 0.9", "severity": "warning"},
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def notify(
    client: httpx.AsyncClient, settings: Settings, alerts: list[dict[str, Any]]
) -> dict[str, int]:
    response = await client.post(RECEIVER, json=alerts, headers=receiver_auth(settings))
    assert response.status_code == 200, response.text
    answer: dict[str, int] = response.json()
    return answer


async def incidents_of(client: httpx.AsyncClient, tenant: Tenant, query: str = "") -> list[Any]:
    response = await client.get(
        f"/v1/projects/{tenant.project_id}/incidents{query}", headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


class TestReceiverGuard:
    async def test_only_vmalerts_secret_opens_the_receiver(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await new_rule(client, owner)
        admin = await org_key(client, owner, ["org:admin", "project:admin"])
        project = await project_key(client, owner)
        for headers in (
            {},
            owner.auth,
            bearer(admin["key"]),
            bearer(project["key"]),
            {"X-API-Key": project["key"]},
            bearer("tollgate-dev-vmalert-notifier-but-wrong"),
            {"Authorization": "Basic " + "dm1hbGVydDpzZWNyZXQ="},
        ):
            response = await client.post(RECEIVER, json=[alert(rule)], headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        assert await incidents_of(client, owner) == []

    async def test_the_receiver_is_not_in_the_public_schema(
        self, client: httpx.AsyncClient
    ) -> None:
        schema = (await client.get("/schema/openapi.json")).json()
        assert not [p for p in schema["paths"] if p.startswith("/internal")]

    async def test_a_body_that_is_not_an_alert_list_is_a_400(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        response = await client.post(
            RECEIVER, content=b'{"not": "a list"}', headers=receiver_auth(settings)
        )
        assert response.status_code == 400

    async def test_an_alert_naming_another_project_than_its_rules_is_dropped(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await new_rule(client, owner)
        stranger = await sign_up(client, "stranger")
        forged = alert(rule, project=stranger.project_id)
        assert await notify(client, settings, [forged]) == {"fired": 0, "resolved": 0, "ignored": 1}
        assert await incidents_of(client, stranger) == []


class TestIncidentLifecycle:
    async def test_one_incident_per_label_set_with_ack_resolve_and_a_timeline(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await new_rule(client, owner)
        answer = await notify(client, settings, [alert(rule, host="a"), alert(rule, host="b")])
        assert answer["fired"] == 2
        await notify(client, settings, [alert(rule, host="a")])  # a renewal, not a new one
        found = await incidents_of(client, owner)
        assert len(found) == 2
        assert {i["labels"]["host"] for i in found} == {"a", "b"}
        assert {i["value"] for i in found} == {42.5}
        assert "tollgate_value" not in found[0]["annotations"]
        first = next(i for i in found if i["labels"]["host"] == "a")
        base = f"/v1/projects/{owner.project_id}/incidents/{first['id']}"
        acked = await client.post(
            f"{base}/acknowledge", json={"comment": "on it"}, headers=owner.auth
        )
        assert acked.status_code == 200, acked.text
        assert (acked.json()["status"], acked.json()["acknowledged_by"]) == (
            "acknowledged",
            owner.user_id,
        )
        assert [i["id"] for i in await incidents_of(client, owner, "?status=acknowledged")] == [
            first["id"]
        ]
        resolved = await client.post(f"{base}/resolve", headers=owner.auth)
        assert resolved.json()["status"] == "resolved"
        again = await client.post(f"{base}/acknowledge", headers=owner.auth)
        assert again.status_code == 409
        timeline = (await client.get(base, headers=owner.auth)).json()["timeline"]
        assert [e["kind"] for e in timeline] == ["fired", "acknowledged", "resolved"]
        assert timeline[1]["detail"]["comment"] == "on it"
        bad = await client.get(
            f"/v1/projects/{owner.project_id}/incidents?status=open", headers=owner.auth
        )
        assert (bad.status_code, bad.json()["field"]) == (422, "status")

    async def test_refiring_within_five_minutes_reopens_and_later_opens_a_new_one(
        self, db_session: AsyncSession, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        made = await new_rule(client, owner)
        context = await system_context(db_session, owner.org_id, Actor("system", "test"))
        rule = await db_session.get(AlertRule, made["id"])
        assert rule is not None
        labels, t0 = {"host": "a"}, datetime.now(UTC)
        first = await incidents.fire(db_session, context, rule, labels, {}, 1.0, t0)
        await incidents.resolve_series(db_session, context, rule, labels, t0, "vmalert")
        again = await incidents.fire(
            db_session, context, rule, labels, {}, 2.0, t0 + timedelta(minutes=4)
        )
        assert (again.id, again.status) == (first.id, "firing")
        await incidents.resolve_series(
            db_session, context, rule, labels, t0 + timedelta(minutes=5), "vmalert"
        )
        later = await incidents.fire(
            db_session, context, rule, labels, {}, 3.0, t0 + timedelta(minutes=11)
        )
        assert later.id != first.id
        _, timeline = await incidents.get_incident(db_session, context, owner.project_id, first.id)
        assert [e.kind for e in timeline] == ["fired", "resolved", "reopened", "resolved"]

    async def test_an_alert_vmalert_stops_renewing_expires(
        self, db_session: AsyncSession, client: httpx.AsyncClient, owner: Tenant, recorded: Jobs
    ) -> None:
        made = await new_rule(client, owner)
        context = await system_context(db_session, owner.org_id, Actor("system", "test"))
        rule = await db_session.get(AlertRule, made["id"])
        assert rule is not None
        now = datetime.now(UTC)
        found = await incidents.fire(
            db_session, context, rule, {}, {}, None, now, now + timedelta(seconds=4)
        )
        assert not await incidents.resolve_expired(db_session, context, found.id, now)
        later = now + timedelta(seconds=5)
        assert await incidents.resolve_expired(db_session, context, found.id, later)
        assert found.status == "resolved"

    async def test_alerts_are_decoded_with_their_wire_names(self) -> None:
        (decoded,) = receiver.decode(
            b'[{"labels": {"a": "b"}, "startsAt": "2026-12-04T18:59:46.033438604Z",'
            b' "endsAt": "2026-12-04T18:59:50Z", "annotations": {}}]'
        )
        assert decoded.endsAt == datetime(2026, 12, 4, 18, 59, 50, tzinfo=UTC)


class TestAnotherTenantsIncidents:
    async def test_are_404_everywhere(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await new_rule(client, owner)
        await notify(client, settings, [alert(rule)])
        (incident,) = await incidents_of(client, owner)
        stranger = await sign_up(client, "stranger")
        key = bearer((await org_key(client, stranger, ["org:admin", "project:admin"]))["key"])
        for project in (owner.project_id, stranger.project_id):
            base = f"/v1/projects/{project}/incidents/{incident['id']}"
            for headers in (stranger.auth, key):
                for method, path in (
                    ("GET", base),
                    ("POST", f"{base}/acknowledge"),
                    ("POST", f"{base}/resolve"),
                ):
                    response = await client.request(method, path, headers=headers)
                    assert response.status_code == 404, (method, path, response.text)
        still = await incidents_of(client, owner)
        assert still[0]["status"] == "firing"


class TestPrometheusApi:
    async def test_rules_and_alerts_show_only_that_projects(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        rule = await new_rule(client, owner)
        await notify(client, settings, [alert(rule)])
        reader = (await project_key(client, owner, scopes=["metrics:read"]))["key"]
        base = f"/p/{owner.project_id}/prometheus/api/v1"
        rules_answer = (await client.get(f"{base}/rules", headers=bearer(reader))).json()
        assert rules_answer["status"] == "success"
        (group,) = rules_answer["data"]["groups"]
        (shown,) = group["rules"]
        assert (shown["type"], shown["name"], shown["query"]) == (
            "alerting",
            "cpu high",
            "cpu > 0.9",
        )
        assert shown["alerts"][0]["state"] == "firing"
        alerts = (await client.get(f"{base}/alerts", headers=bearer(reader))).json()
        assert [a["labels"]["alertname"] for a in alerts["data"]["alerts"]] == ["cpu high"]
        # another tenant's key, or a key without metrics:read, sees nothing of it
        stranger = await sign_up(client, "stranger")
        theirs = (await project_key(client, stranger))["key"]
        assert (await client.get(f"{base}/rules", headers=bearer(theirs))).status_code in (
            401,
            403,
            404,
        )
        writer = (await project_key(client, owner, scopes=["metrics:write"]))["key"]
        assert (await client.get(f"{base}/alerts", headers=bearer(writer))).status_code == 403
        empty = await client.get(
            f"/p/{stranger.project_id}/prometheus/api/v1/rules", headers=bearer(theirs)
        )
        assert empty.json()["data"]["groups"] == []
