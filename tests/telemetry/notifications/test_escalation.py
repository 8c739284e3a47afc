"""Escalation policies: the API, and the periodic sweep notifying a due step once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.tenants import Tenant, sign_up
from tests.telemetry.notifications.conftest import (
    Courier,
    Incidents,
    Receivers,
    create_channel,
    create_policy,
)
from tests.telemetry.notifications.test_dispatch import LABELS, deliveries, timeline
from workers.actor import run_inline


async def sweep(org_id: str, at: datetime) -> None:
    """The per-org sweep as the scheduler's job would run it, at a chosen time."""
    await run_inline("notifications.sweep_org", org_id, at.timestamp())


class TestPolicyApi:
    async def test_create_read_update_delete(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        a = await create_channel(client, owner, "email", {"to": ["a@example.com"]})
        b = await create_channel(client, owner, "email", {"to": ["b@example.com"]})
        policy = await create_policy(
            client,
            owner,
            [
                {"after_minutes": 5, "channels": [a["id"]]},
                {"after_minutes": 15, "channels": [b["id"]]},
            ],
        )
        assert policy["id"].startswith("esc_")
        path = f"/v1/orgs/{owner.org_id}/escalation-policies/{policy['id']}"
        assert (await client.get(path, headers=owner.auth)).json()["steps"][1] == {
            "after_minutes": 15,
            "channels": [b["id"]],
        }
        patched = await client.patch(
            path, json={"steps": [{"after_minutes": 1, "channels": [b["id"]]}]}, headers=owner.auth
        )
        assert patched.json()["steps"] == [{"after_minutes": 1, "channels": [b["id"]]}]
        assert (await client.delete(path, headers=owner.auth)).status_code == 204
        assert (await client.get(path, headers=owner.auth)).status_code == 404

    @pytest.mark.parametrize(
        ("steps", "field"),
        [
            ([{"after_minutes": 5, "channels": ["nch_missing"]}], "steps[0].channels"),
            (
                [{"after_minutes": 10, "channels": "X"}, {"after_minutes": 5, "channels": "X"}],
                "steps[1].after_minutes",
            ),
            ([{"after_minutes": -1, "channels": "X"}], "after_minutes"),
            ([], "steps"),
        ],
    )
    async def test_bad_steps_are_a_4xx_naming_the_field(
        self, client: httpx.AsyncClient, owner: Tenant, steps: list[dict[str, Any]], field: str
    ) -> None:
        channel = await create_channel(client, owner, "email", {"to": ["a@example.com"]})
        for step in steps:
            if step["channels"] == "X":
                step["channels"] = [channel["id"]]
        base = f"/v1/orgs/{owner.org_id}/escalation-policies"
        response = await client.post(base, json={"name": "p", "steps": steps}, headers=owner.auth)
        assert response.status_code in (400, 422), response.text
        assert field in response.text
        assert (await client.get(base, headers=owner.auth)).json()["items"] == []

    async def test_another_tenant_gets_404_and_cannot_use_foreign_channels(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        channel = await create_channel(client, owner, "email", {"to": ["a@example.com"]})
        policy = await create_policy(
            client, owner, [{"after_minutes": 1, "channels": [channel["id"]]}]
        )
        stranger = await sign_up(client, "stranger")
        for org in (owner.org_id, stranger.org_id):
            path = f"/v1/orgs/{org}/escalation-policies/{policy['id']}"
            answers = [
                await client.get(path, headers=stranger.auth),
                await client.patch(path, json={"name": "mine"}, headers=stranger.auth),
                await client.delete(path, headers=stranger.auth),
            ]
            assert [r.status_code for r in answers] == [404] * 3
        borrowed = await client.post(
            f"/v1/orgs/{stranger.org_id}/escalation-policies",
            json={"name": "p", "steps": [{"after_minutes": 1, "channels": [channel["id"]]}]},
            headers=stranger.auth,
        )
        assert borrowed.status_code == 422


class TestEscalation:
    async def test_a_due_step_notifies_its_channels_once_and_ack_stops_it(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
        session_factory: Any,
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        hook = await create_channel(client, owner, "webhook", {"url": receivers.webhook.url})
        pd = await create_channel(
            client, owner, "pagerduty", {"routing_key": "R0UT1NGKEY0123456789abcdef"}
        )
        policy = await create_policy(
            client,
            owner,
            [
                {"after_minutes": 5, "channels": [hook["id"]]},
                {"after_minutes": 30, "channels": [pd["id"]]},
            ],
        )
        started = datetime.now(UTC)
        incident = await incidents.fire(
            await incidents.rule([slack["id"]], policy["id"]), LABELS, started
        )
        await courier.run()
        await sweep(owner.org_id, started + timedelta(minutes=4))
        assert await courier.run() == 0  # not due yet
        await sweep(owner.org_id, started + timedelta(minutes=6))
        await sweep(owner.org_id, started + timedelta(minutes=7))  # the same step: nothing more
        assert await courier.run() == 1
        [message] = receivers.bodies("webhook")
        assert message["type"] == "incident.escalated"
        assert message["data"]["step"] == 0
        await incidents.change(incident, "acknowledged")
        await sweep(owner.org_id, started + timedelta(minutes=45))
        await courier.run()
        assert receivers.pagerduty.requests == []  # acknowledged: step 2 never fires
        events = [kind for kind, _ in await timeline(session_factory, owner, incident)]
        assert events.count("escalated") == 1
        kinds = sorted(d["kind"] for d in await deliveries(client, owner, incident))
        assert kinds == ["escalate", "trigger"]

    async def test_the_periodic_sweep_finds_orgs_with_channels(
        self, client: httpx.AsyncClient, owner: Tenant, courier: Courier
    ) -> None:
        await create_channel(client, owner, "email", {"to": ["a@example.com"]})
        await run_inline("notifications.sweep", time.time())
        orgs = [job.args[0] for job in courier.sent if job.actor == "notifications.sweep_org"]
        assert owner.org_id in orgs

    async def test_a_long_firing_incident_is_announced_again_after_repeat_interval(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        courier: Courier,
        incidents: Incidents,
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        incident = await incidents.fire(await incidents.rule([slack["id"]]), LABELS)
        await courier.run()
        now = datetime.now(UTC)
        await sweep(owner.org_id, now + timedelta(hours=1))
        assert await courier.run() == 0
        await sweep(owner.org_id, now + timedelta(hours=4, minutes=1))
        assert await courier.run() == 1
        assert [d["kind"] for d in await deliveries(client, owner, incident)] == ["trigger"] * 2
