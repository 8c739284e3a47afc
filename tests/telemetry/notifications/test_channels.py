"""Channel API: validation, secrets masked, test sends to real receivers, the outbound guard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from api.resources import Resources
from infra.outbound import FETCH_FAILED, OutboundClient
from tests.support.smtp import SmtpServer
from tests.support.tenancy import add_member
from tests.support.tenants import Tenant, sign_up
from tests.telemetry.notifications.conftest import Courier, Receivers, create_channel

PD_KEY = "R0UT1NGKEY0123456789abcdef012345"


class TestChannelApi:
    async def test_secrets_are_masked_and_never_listed(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        slack_url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
        slack = await create_channel(client, owner, "slack", {"url": slack_url})
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        hook = await create_channel(client, owner, "webhook", {"url": "https://h.example.com/x"})
        assert slack["config"] == {"url": "https://hooks.slack.com/…XXXX"}
        assert pd["config"] == {"routing_key": "…2345"}
        assert hook["secret"].startswith("whsec_")
        assert slack["secret"] is None
        base = f"/v1/orgs/{owner.org_id}/notification-channels"
        listed = await client.get(base, headers=owner.auth)
        one = await client.get(f"{base}/{hook['id']}", headers=owner.auth)
        for text in (listed.text, one.text):
            assert "secretXXXX" not in text
            assert PD_KEY not in text
            assert hook["secret"].removeprefix("whsec_") not in text
        assert [c["id"] for c in listed.json()["items"]] == [slack["id"], pd["id"], hook["id"]]
        assert one.json()["config"] == {
            "url": "https://h.example.com/x",
            "secret": "…" + hook["secret"][-4:],
        }

    async def test_patch_keeps_secrets_it_was_not_given(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        path = f"/v1/orgs/{owner.org_id}/notification-channels/{pd['id']}"
        renamed = await client.patch(
            path, json={"name": "PD", "enabled": False}, headers=owner.auth
        )
        assert renamed.status_code == 200, renamed.text
        assert (renamed.json()["name"], renamed.json()["enabled"]) == ("PD", False)
        assert renamed.json()["config"] == {"routing_key": "…2345"}
        rekeyed = await client.patch(
            path, json={"config": {"routing_key": "NEWKEY0123456789abcdefXYZW"}}, headers=owner.auth
        )
        assert rekeyed.json()["config"] == {"routing_key": "…XYZW"}
        assert (await client.delete(path, headers=owner.auth)).status_code == 204
        assert (await client.get(path, headers=owner.auth)).status_code == 404

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"type": "slack", "config": {"url": "ftp://x.example.com/a"}}, "config.url"),
            ({"type": "slack", "config": {"url": "https://u:p@x.example.com/a"}}, "config.url"),
            ({"type": "slack", "config": {}}, "config.url"),
            ({"type": "email", "config": {"to": ["not-an-address"]}}, "config.to"),
            ({"type": "email", "config": {"to": []}}, "config.to"),
            ({"type": "pagerduty", "config": {"routing_key": "short"}}, "config.routing_key"),
            ({"type": "webhook", "config": {"url": "https://a.example.com", "x": 1}}, "config.x"),
            ({"type": "sms", "config": {"to": ["12345"], "token": "tok_12345678"}}, "config.to"),
        ],
    )
    async def test_bad_config_is_a_422_naming_the_field(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        body: dict[str, Any],
        field: str,
    ) -> None:
        base = f"/v1/orgs/{owner.org_id}/notification-channels"
        response = await client.post(base, json={"name": "bad"} | body, headers=owner.auth)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
        assert (await client.get(base, headers=owner.auth)).json()["items"] == []

    async def test_viewers_read_but_do_not_manage(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        viewer = await add_member(client, owner, "viewer")
        base = f"/v1/orgs/{owner.org_id}/notification-channels"
        assert (await client.get(base, headers=viewer.auth)).status_code == 200
        answers = [
            await client.post(
                base,
                json={"name": "x", "type": "email", "config": {"to": ["a@b.co"]}},
                headers=viewer.auth,
            ),
            await client.patch(f"{base}/{pd['id']}", json={"name": "y"}, headers=viewer.auth),
            await client.delete(f"{base}/{pd['id']}", headers=viewer.auth),
            await client.post(f"{base}/{pd['id']}/test", headers=viewer.auth),
        ]
        assert [r.status_code for r in answers] == [403] * 4

    async def test_another_tenant_gets_404_on_every_route(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        stranger = await sign_up(client, "stranger")
        for org in (owner.org_id, stranger.org_id):
            path = f"/v1/orgs/{org}/notification-channels/{pd['id']}"
            answers = [
                await client.get(path, headers=stranger.auth),
                await client.patch(path, json={"name": "mine"}, headers=stranger.auth),
                await client.post(f"{path}/test", headers=stranger.auth),
                await client.delete(path, headers=stranger.auth),
            ]
            assert [r.status_code for r in answers] == [404] * 4
        listed = await client.get(
            f"/v1/orgs/{stranger.org_id}/notification-channels", headers=stranger.auth
        )
        assert listed.json()["items"] == []


async def _test(
    client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/notification-channels/{channel['id']}/test", headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.usefixtures("courier")
class TestTestSends:
    async def test_each_type_gets_its_payload(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        smtp_server: SmtpServer,
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        pd = await create_channel(client, owner, "pagerduty", {"routing_key": PD_KEY})
        hook = await create_channel(client, owner, "webhook", {"url": receivers.webhook.url})
        sms = await create_channel(
            client, owner, "sms", {"to": ["+15551230000"], "token": "sms-token-123456"}
        )
        mail = await create_channel(client, owner, "email", {"to": ["oncall@example.com"]})
        for channel in (slack, pd, hook, sms, mail):
            result = await _test(client, owner, channel)
            assert (result["kind"], result["status"], result["attempts"]) == (
                "test",
                "delivered",
                1,
            )
        [slack_body] = receivers.bodies("slack")
        assert slack_body["text"].startswith("[TEST] ")
        assert [b["type"] for b in slack_body["blocks"]] == ["header", "section", "context"]
        [pd_body] = receivers.bodies("pagerduty")
        assert pd_body["routing_key"] == PD_KEY
        assert pd_body["event_action"] == "trigger"
        assert pd_body["payload"]["severity"] == "info"
        assert pd_body["dedup_key"].startswith("test-")
        [request] = receivers.webhook.requests
        assert json.loads(request.body)["type"] == "notification.test"
        key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
        signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
        digest = base64.b64encode(hmac.new(key, signed + request.body, hashlib.sha256).digest())
        assert request.headers["webhook-signature"] == f"v1,{digest.decode()}"
        [sms_request] = receivers.sms.requests
        assert sms_request.path == "/messages"
        assert sms_request.headers["authorization"] == "Bearer sms-token-123456"
        assert json.loads(sms_request.body)["to"] == "+15551230000"
        [received] = smtp_server.to("oncall@example.com")
        assert received.subject.startswith("[TEST] ")

    async def test_a_failing_receiver_is_reported_not_retried(
        self, client: httpx.AsyncClient, owner: Tenant, receivers: Receivers, courier: Courier
    ) -> None:
        receivers.slack.statuses.append(500)
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        result = await _test(client, owner, slack)
        assert (result["status"], result["last_status"], result["last_error"]) == (
            "failed",
            500,
            "HTTP 500",
        )
        assert courier.pending() == []

    async def test_a_private_address_is_refused_with_an_empty_allow_list(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        receivers: Receivers,
        resources: Resources,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        slack = await create_channel(client, owner, "slack", {"url": receivers.slack.url})
        guarded = OutboundClient.from_cidrs("")
        monkeypatch.setattr(resources, "outbound", guarded)
        try:
            result = await _test(client, owner, slack)
        finally:
            await guarded.aclose()
        assert (result["status"], result["last_status"]) == ("failed", None)
        assert result["last_error"] == FETCH_FAILED
        assert receivers.slack.requests == []
