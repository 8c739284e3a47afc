"""Incident changes reach real receivers: trigger, acknowledge, resolve, silences, grouping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.db import unit_of_work
from telemetry.alerting import incidents as incident_code
from telemetry.alerting.models import AlertIncident, AlertRule, IncidentEvent
from telemetry.notifications import dispatch
from tenancy.authz import system_context
from tests.support.smtp import SmtpServer
from tests.support.tenants import Tenant, sign_up
from tests.telemetry.notifications.conftest import (
    TEST_ACTOR,
    Courier,
    Incidents,
    Receivers,
    create_channel,
)

PD_KEY = "R0UT1NGKEY0123456789abcdef012345"
LABELS = {"service": "checkout", "env": "prod"}


async def every_channel(client: httpx.AsyncClient, owner: Tenant, r: Receivers) -> list[str]:
    made = [
        await create_channel(client, owner, "slack", {"url": r.slack.url}),
        await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY}),
        await create_channel(client, owner, "webhook", {"url": r.webhook.url}),
        await create_channel(client, owner, "email", {"to": ["oncall@example.com"]}),
        await create_channel(
            client, owner, "sms", {"to": ["+15551230000"], "token": "tok-12345678"}
        ),
    ]
    return [c["id"] for c in made]


async def timeline(
    factory: async_sessionmaker[AsyncSession], tenant: Tenant, incident_id: str
) -> list[tuple[str, dict[str, Any]]]:
    async with factory() as session:
        await system_context(session, tenant.org_id, TEST_ACTOR)
        rows = await session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
        return [(e.kind, e.detail) for e in rows]


async def deliveries(
    client: httpx.AsyncClient, tenant: Tenant, incident_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/projects/{tenant.project_id}/incidents/{incident_id}/deliveries",
        headers=tenant.auth,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestLifecycle:
    async def test_trigger_ack_resolve_reach_every_channel(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
        smtp_server: SmtpServer,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        rule = await incidents.rule(await every_channel(client, owner, receivers))
        incident = await incidents.fire(rule, LABELS)
        assert await courier.run() == 5
        [slack] = receivers.bodies("slack")
        assert slack["text"] == "[FIRING] Errors above 1/s"
        assert "service=checkout" in json.dumps(slack["blocks"])
        [pd] = receivers.bodies("pagerduty")
        assert pd["event_action"] == "trigger"
        assert pd["dedup_key"] == incident
        assert pd["payload"]["severity"] == "critical"
        assert pd["payload"]["source"] == f"tollgate/{owner.project_id}"
        [hook] = receivers.bodies("webhook")
        assert hook["type"] == "incident.triggered"
        assert hook["data"]["incident_id"] == incident
        assert hook["data"]["labels"] == LABELS
        [sms] = receivers.bodies("sms")
        assert sms == {"to": "+15551230000", "body": "[FIRING] Errors above 1/s"}
        [mail] = smtp_server.to("oncall@example.com")
        assert mail.subject == "[FIRING] Errors above 1/s"
        assert "Description: checkout is failing" in mail.text

        await incidents.change(incident, "acknowledged")
        assert await courier.run() == 1  # only PagerDuty hears about the acknowledgement
        assert [b["event_action"] for b in receivers.bodies("pagerduty")] == [
            "trigger",
            "acknowledge",
        ]

        await incidents.change(incident, "resolved")
        assert await courier.run() == 5
        pd_events = receivers.bodies("pagerduty")
        assert [e["event_action"] for e in pd_events] == ["trigger", "acknowledge", "resolve"]
        assert {e["dedup_key"] for e in pd_events} == {incident}
        assert receivers.bodies("slack")[-1]["text"] == "[RESOLVED] Errors above 1/s"
        assert receivers.bodies("webhook")[-1]["type"] == "incident.resolved"
        assert "Resolution: resolved by usr_tester" in smtp_server.to("oncall@example.com")[-1].text
        assert receivers.bodies("sms")[-1]["body"].startswith("[RESOLVED]")

        logged = await deliveries(client, owner, incident)
        assert (
            sorted(d["kind"] for d in logged) == ["acknowledge"] + ["resolve"] * 5 + ["trigger"] * 5
        )
        assert {d["status"] for d in logged} == {"delivered"}
        events = await timeline(session_factory, owner, incident)
        notified = [d for kind, d in events if kind == "notified"]
        assert len(notified) == 11
        assert {d["channel_type"] for d in notified} == {
            "slack",
            "pagerduty",
            "webhook",
            "email",
            "sms",
        }

    async def test_a_failed_delivery_is_retried_with_backoff_and_only_once(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
    ) -> None:
        receivers.webhook.statuses.append(503)
        hook = await create_channel(client, owner, "webhook", {"url": receivers.webhook.url})
        incident = await incidents.fire(await incidents.rule([hook["id"]]), LABELS)
        await courier.run()
        [failed] = await deliveries(client, owner, incident)
        assert (failed["status"], failed["attempts"], failed["last_status"]) == ("pending", 1, 503)
        [retry] = courier.pending()
        assert retry.delay is not None
        assert retry.delay > timedelta(seconds=9)  # 10 s, less the time since commit
        courier.sent.append(retry)  # a duplicate of the retry message
        await courier.run()
        first, second = receivers.webhook.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]  # receivers dedupe
        assert first.body == second.body
        [done] = await deliveries(client, owner, incident)
        assert (done["status"], done["attempts"], done["last_status"]) == ("delivered", 2, 200)

    async def test_resolved_before_the_group_wait_sends_nothing(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        incident = await incidents.fire(await incidents.rule([slack["id"]]), LABELS)
        await incidents.change(incident, "resolved")
        await courier.run()
        assert receivers.slack.requests == []
        [skipped] = await deliveries(client, owner, incident)
        assert (skipped["kind"], skipped["status"]) == ("trigger", "skipped")


class TestSilences:
    async def test_a_silence_suppresses_delivery_but_keeps_the_incident(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        rule = await incidents.rule([slack["id"]])
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        body = {
            "matchers": [
                {"label": "service", "op": "=~", "value": "check.*"},
                {"label": "env", "op": "!=", "value": "staging"},
            ],
            "ends_at": ends,
            "comment": "deploy",
        }
        response = await client.post(
            f"/v1/projects/{owner.project_id}/silences", json=body, headers=owner.auth
        )
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "active"
        silenced = await incidents.fire(rule, LABELS)
        loud = await incidents.fire(rule, {"service": "cart", "env": "prod"})
        assert await courier.run() == 1
        [message] = receivers.bodies("slack")
        assert "service=cart" in json.dumps(message)
        async with session_factory() as session:
            await system_context(session, owner.org_id, TEST_ACTOR)
            kept = await session.get(AlertIncident, silenced)
            assert kept is not None
            assert kept.status == "firing"
        events = await timeline(session_factory, owner, silenced)
        assert events == [("silenced", {"silence_id": response.json()["id"]})]
        assert await deliveries(client, owner, silenced) == []
        assert len(await deliveries(client, owner, loud)) == 1

    @pytest.mark.parametrize(
        ("matchers", "field"),
        [
            ([{"label": "service", "op": "=~", "value": "(unclosed"}], "matchers[0].value"),
            ([{"label": "9bad", "op": "=", "value": "x"}], "matchers[0].label"),
            ([], "matchers"),
        ],
    )
    async def test_bad_matchers_are_a_4xx_naming_the_field(
        self, client: httpx.AsyncClient, owner: Tenant, matchers: list[Any], field: str
    ) -> None:
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        path = f"/v1/projects/{owner.project_id}/silences"
        response = await client.post(
            path, json={"matchers": matchers, "ends_at": ends}, headers=owner.auth
        )
        assert response.status_code in (400, 422), response.text
        assert field in response.text
        assert (await client.get(path, headers=owner.auth)).json()["items"] == []

    async def test_another_tenant_gets_404(
        self, client: httpx.AsyncClient, owner: Tenant, incidents: Incidents
    ) -> None:
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        body = {"matchers": [{"label": "a", "op": "=", "value": "b"}], "ends_at": ends}
        base = f"/v1/projects/{owner.project_id}/silences"
        silence = (await client.post(base, json=body, headers=owner.auth)).json()
        incident = await incidents.fire(await incidents.rule([]), LABELS)
        stranger = await sign_up(client, "stranger")
        answers = [
            await client.get(base, headers=stranger.auth),
            await client.post(base, json=body, headers=stranger.auth),
            await client.delete(f"{base}/{silence['id']}", headers=stranger.auth),
            await client.get(
                f"/v1/projects/{owner.project_id}/incidents/{incident}/deliveries",
                headers=stranger.auth,
            ),
            await client.delete(
                f"/v1/projects/{stranger.project_id}/silences/{silence['id']}",
                headers=stranger.auth,
            ),
            await client.get(
                f"/v1/projects/{stranger.project_id}/incidents/{incident}/deliveries",
                headers=stranger.auth,
            ),
        ]
        assert [r.status_code for r in answers] == [404] * 6
        assert (
            await client.delete(f"{base}/{silence['id']}", headers=owner.auth)
        ).status_code == 204


class TestGrouping:
    def test_send_times_follow_group_wait_interval(self) -> None:
        timers = dispatch.Grouping()
        now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
        assert dispatch.send_time(None, now, timers) == now + timedelta(seconds=30)
        batch = now + timedelta(seconds=20)
        assert dispatch.send_time(batch, now, timers) == batch  # joins the waiting batch
        sent = now - timedelta(minutes=1)
        assert dispatch.send_time(sent, now, timers) == sent + timedelta(minutes=5)
        quiet = now - timedelta(minutes=6)
        assert dispatch.send_time(quiet, now, timers) == now + timedelta(seconds=30)

    async def test_incidents_of_one_rule_leave_together_after_group_wait(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(dispatch, "GROUPING", dispatch.Grouping())
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        rule = await incidents.rule([slack["id"]])
        first = await incidents.fire(rule, LABELS)
        second = await incidents.fire(rule, {"service": "cart"})
        delays = [job.delay for job in courier.pending()]
        assert all(
            d is not None and timedelta(seconds=25) < d <= timedelta(seconds=30) for d in delays
        )
        [a] = await deliveries(client, owner, first)
        [b] = await deliveries(client, owner, second)
        assert a["scheduled_at"] == b["scheduled_at"]


class TestWithTheIncidentCode:
    async def test_the_alerting_side_calls_reach_the_receivers(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        rule_id = await incidents.rule([pd["id"]])
        now = datetime.now(UTC)
        async with unit_of_work(session_factory) as session:
            context = await system_context(session, owner.org_id, TEST_ACTOR)
            rule = await session.get(AlertRule, rule_id)
            assert rule is not None
            opened = await incident_code.fire(session, context, rule, LABELS, {}, 2.0, now)
        await courier.run()
        async with unit_of_work(session_factory) as session:
            context = await system_context(session, owner.org_id, TEST_ACTOR)
            rule = await session.get(AlertRule, rule_id)
            assert rule is not None
            await incident_code.resolve_series(session, context, rule, LABELS, now, "cleared")
        await courier.run()
        events = receivers.bodies("pagerduty")
        assert [(e["event_action"], e["dedup_key"]) for e in events] == [
            ("trigger", opened.id),
            ("resolve", opened.id),
        ]
        assert events[0]["payload"]["summary"] == "High error rate is firing"
