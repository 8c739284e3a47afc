"""Alert rules may name only their org's channels and escalation policies."""

from __future__ import annotations

import httpx

from tests.support.tenants import Tenant, sign_up
from tests.telemetry.notifications.conftest import create_channel, create_policy


class TestRuleTargets:
    async def test_a_rule_naming_another_orgs_channel_or_policy_is_a_422(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        stranger = await sign_up(client, "stranger")
        theirs = await create_channel(client, stranger, "email", {"to": ["x@example.com"]})
        their_policy = await create_policy(
            client, stranger, [{"after_minutes": 1, "channels": [theirs["id"]]}]
        )
        mine = await create_channel(client, owner, "email", {"to": ["me@example.com"]})
        path = f"/v1/projects/{owner.project_id}/alert-rules"
        base = {"name": "Up", "expr": "up == 0"}
        answers = {
            "channels": await client.post(
                path, json=base | {"channels": [mine["id"], theirs["id"]]}, headers=owner.auth
            ),
            "escalation_policy": await client.post(
                path, json=base | {"escalation_policy": their_policy["id"]}, headers=owner.auth
            ),
        }
        for field, response in answers.items():
            assert response.status_code == 422, response.text
            assert field in response.text
        assert (await client.get(path, headers=owner.auth)).json()["items"] == []
        ok = await client.post(path, json=base | {"channels": [mine["id"]]}, headers=owner.auth)
        assert ok.status_code == 201, ok.text

    async def test_seed_000_channel_type_names_map_to_the_orgs_channels_of_that_type(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        mail = await create_channel(client, owner, "email", {"to": ["me@example.com"]})
        slack = await create_channel(client, owner, "slack", {"url": "https://hooks.example.com/a"})
        off = await create_channel(
            client, owner, "slack", {"url": "https://hooks.example.com/b"}, enabled=False
        )
        stranger = await sign_up(client, "stranger")
        await create_channel(client, stranger, "webhook", {"url": "https://example.com/hook"})
        path = f"/v1/projects/{owner.project_id}/alert-rules"
        base = {"name": "Up", "expr": "up == 0"}
        made = await client.post(
            path, json=base | {"notification_channels": ["email", "slack"]}, headers=owner.auth
        )
        assert made.status_code == 201, made.text
        assert made.json()["channels"] == sorted([mail["id"], slack["id"]])  # not the disabled
        assert off["id"] not in made.json()["channels"]
        # another org's webhook channel does not count: this org has none of that type
        refused = await client.post(
            path, json=base | {"notification_channels": ["webhook"]}, headers=owner.auth
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "notification_channels" in refused.text
        assert len((await client.get(path, headers=owner.auth)).json()["items"]) == 1
        # PATCH maps type names too (ids and types may be mixed)
        patched = await client.patch(
            f"{path}/{made.json()['id']}",
            json={"channels": ["slack", mail["id"]]},
            headers=owner.auth,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["channels"] == [slack["id"], mail["id"]]
