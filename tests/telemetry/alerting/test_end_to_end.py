"""Issue 12's "done means", end to end: a metric sent through the gateway crosses a rule's
threshold on a real vmalert, the incident opens, each channel's receiver gets one trigger,
acknowledging stops escalation, and the metric's recovery sends one resolve to each."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from infra.local.victoriametrics import VmInstance
from infra.mail import SmtpMailer, SmtpTarget
from infra.settings import Settings
from telemetry.notifications import dispatch
from tests.support.gateway import flush, project_writer, unique_metric
from tests.support.receiver import receiver
from tests.support.smtp import MAIL_FROM, SmtpServer
from tests.support.tenants import Tenant
from tests.telemetry.alerting.conftest import Jobs, Vmalert
from tests.telemetry.alerting.test_vmalert import deliver, next_notification, send
from workers.actor import run_inline
from workers.actors import accounts as account_actors

DELIVER = "notifications.deliver"
PD_KEY = "R0UT1NGKEY0123456789abcdef012345"


async def channel(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, config: dict[str, Any]
) -> str:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/notification-channels",
        json={"name": f"{kind} channel", "type": kind, "config": config},
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    made: str = response.json()["id"]
    return made


def bodies(requests: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in requests]


class TestDoneMeans:
    async def test_metric_to_incident_to_each_receiver_and_back(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        owner: Tenant,
        recorded: Jobs,
        vm_stores: list[VmInstance],
        vmalert_short: Vmalert,
        smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Triggers leave at once (the grouping timers are tested in the notification tests).
        monkeypatch.setattr(dispatch, "GROUPING", dispatch.Grouping(group_wait=timedelta(0)))
        smtp_server.clear()
        monkeypatch.setattr(settings, "smtp_url", SecretStr(smtp_server.url))
        account_actors.use_mailer(SmtpMailer(SmtpTarget.parse(smtp_server.url), MAIL_FROM))
        try:
            with receiver() as slack, receiver() as hook, receiver() as pd, receiver() as later:
                monkeypatch.setattr(settings, "pagerduty_events_url", pd.url)
                await self._scenario(
                    client,
                    settings,
                    owner,
                    recorded,
                    vm_stores,
                    vmalert_short,
                    smtp_server,
                    slack=slack,
                    hook=hook,
                    pd=pd,
                    later=later,
                )
        finally:
            account_actors.use_mailer(None)

    async def _scenario(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        owner: Tenant,
        recorded: Jobs,
        vm_stores: list[VmInstance],
        vmalert_short: Vmalert,
        smtp_server: SmtpServer,
        **r: Any,
    ) -> None:
        ids = [
            await channel(client, owner, "slack", {"url": r["slack"].url}),
            await channel(client, owner, "webhook", {"url": r["hook"].url}),
            await channel(client, owner, "pagerduty", {"routing_key": PD_KEY}),
            await channel(client, owner, "email", {"to": ["oncall@example.com"]}),
        ]
        later = await channel(client, owner, "webhook", {"url": r["later"].url})
        policy = await client.post(
            f"/v1/orgs/{owner.org_id}/escalation-policies",
            json={"name": "on call", "steps": [{"after_minutes": 5, "channels": [later]}]},
            headers=owner.auth,
        )
        assert policy.status_code == 201, policy.text

        writer = await project_writer(client, owner)
        metric = unique_metric("tg_e2e")
        await send(client, writer, metric, 1)
        await flush(vm_stores)
        created = await client.post(
            f"/v1/projects/{writer.project_id}/alert-rules",
            json={
                "name": "queue too deep",
                "expr": f"{metric} > 5",
                "for": "0s",
                "interval": "1s",
                "severity": "critical",
                "annotations": {"summary": "queue at {{ $value }}"},
                "channels": ids,
                "escalation_policy": policy.json()["id"],
            },
            headers=owner.auth,
        )
        assert created.status_code == 201, created.text
        rule = created.json()
        assert await recorded.run("alerting.render_project") == 1
        assert await recorded.run("alerting.reload_shard") == 1

        # The metric crosses the threshold: vmalert fires, the incident opens, one trigger each.
        started = datetime.now(UTC)
        await send(client, writer, metric, 10)
        await flush(vm_stores)
        seen, body = await next_notification(vmalert_short, rule["id"], 0, resolved=False)
        assert (await deliver(client, settings, body))["fired"] == 1
        await deliver(client, settings, body)  # vmalert's renewal: no second incident or message
        assert await recorded.run(DELIVER) == 4
        listed = await client.get(
            f"/v1/projects/{writer.project_id}/incidents?status=firing", headers=owner.auth
        )
        (incident,) = listed.json()["items"]
        [slack] = bodies(r["slack"].requests)
        assert slack["text"] == "[FIRING] queue at 10"
        [hook] = bodies(r["hook"].requests)
        assert (hook["type"], hook["data"]["incident_id"]) == ("incident.triggered", incident["id"])
        [pd] = bodies(r["pd"].requests)
        assert (pd["event_action"], pd["dedup_key"]) == ("trigger", incident["id"])
        [mail] = smtp_server.to("oncall@example.com")
        assert mail.subject == "[FIRING] queue at 10"

        # Acknowledged: PagerDuty hears of it, and the 5-minute escalation step never fires.
        path = f"/v1/projects/{writer.project_id}/incidents/{incident['id']}"
        acked = await client.post(f"{path}/acknowledge", json={}, headers=owner.auth)
        assert acked.status_code == 200, acked.text
        await run_inline(
            "notifications.sweep_org", owner.org_id, (started + timedelta(minutes=30)).timestamp()
        )
        await recorded.run(DELIVER)
        assert [b["event_action"] for b in bodies(r["pd"].requests)] == ["trigger", "acknowledge"]
        assert r["later"].requests == []

        # The metric recovers: vmalert resolves, one resolve message to each receiver.
        await send(client, writer, metric, 1)
        await flush(vm_stores)
        _, body = await next_notification(vmalert_short, rule["id"], seen, resolved=True)
        assert (await deliver(client, settings, body))["resolved"] == 1
        assert await recorded.run(DELIVER) == 4
        assert [b["text"] for b in bodies(r["slack"].requests)] == [
            "[FIRING] queue at 10",
            "[RESOLVED] queue at 10",
        ]
        assert [b["type"] for b in bodies(r["hook"].requests)] == [
            "incident.triggered",
            "incident.resolved",
        ]
        assert [b["event_action"] for b in bodies(r["pd"].requests)] == [
            "trigger",
            "acknowledge",
            "resolve",
        ]
        assert [m.subject for m in smtp_server.to("oncall@example.com")] == [
            "[FIRING] queue at 10",
            "[RESOLVED] queue at 10",
        ]
        assert r["later"].requests == []
        timeline = (await client.get(path, headers=owner.auth)).json()["timeline"]
        kinds = [e["kind"] for e in timeline]
        assert (kinds.count("fired"), kinds.count("acknowledged"), kinds.count("resolved")) == (
            1,
            1,
            1,
        )
        assert "escalated" not in kinds
