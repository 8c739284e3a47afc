"""Metric rules on a real vmalert: a rule on a metric sent through the gateway fires, the
incident opens, the metric recovers and the incident resolves; vmalert's file is pinned."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from infra.local import vmalert
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings, Tier
from telemetry.alerting import sync, vmalert_files
from tests.support.gateway import Writer, flush, project_writer, unique_metric
from tests.support.tenants import Tenant
from tests.telemetry.alerting.conftest import Jobs, Vmalert, receiver_auth
from workers.actor import run_inline

RECEIVER = "/internal/alertmanager/api/v2/alerts"
WAIT_SECONDS = 20.0


async def send(client: httpx.AsyncClient, writer: Writer, metric: str, value: float) -> None:
    response = await client.post(
        writer.path("prometheus/api/v1/import/prometheus"),
        content=f'{metric}{{host="a"}} {value}\n'.encode(),
        headers=writer.auth | {"content-type": "text/plain"},
    )
    assert response.status_code in (200, 204), response.text


async def next_notification(
    shard: Vmalert, rule_id: str, seen: int, *, resolved: bool
) -> tuple[int, bytes]:
    """The first notification after `seen` with the rule's alert firing (or resolved)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        requests = shard.inbox.requests
        for index in range(seen, len(requests)):
            alerts: list[dict[str, Any]] = json.loads(requests[index].body)
            for alert in alerts:
                if alert["labels"].get("tollgate_rule_id") != rule_id:
                    continue
                ends = alert["endsAt"].rstrip("Z")[:26]
                done = ends <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                if done is resolved:
                    return index + 1, requests[index].body
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {'resolved' if resolved else 'firing'} alert from vmalert")


async def deliver(client: httpx.AsyncClient, settings: Settings, body: bytes) -> dict[str, Any]:
    """Hand vmalert's request to the app's internal receiver (as -notifier.url would)."""
    response = await client.post(RECEIVER, content=body, headers=receiver_auth(settings))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


class TestMetricRuleOnVmalert:
    async def test_fires_then_resolves_through_the_receiver(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        owner: Tenant,
        recorded: Jobs,
        vm_stores: list[VmInstance],
        vmalert_short: Vmalert,
    ) -> None:
        writer = await project_writer(client, owner)
        other = await project_writer(client, owner)  # same metric, another project
        metric = unique_metric("tg_alert")
        await send(client, writer, metric, 10)
        await send(client, other, metric, 10)
        await flush(vm_stores)
        created = await client.post(
            f"/v1/projects/{writer.project_id}/alert-rules",
            json={
                "name": "too high",
                "expr": f"{metric} > 5",
                "for": "0s",
                "interval": "1s",
                "severity": "critical",
                "annotations": {"summary": "value {{ $value }} on {{ $labels.host }}"},
            },
            headers=owner.auth,
        )
        assert created.status_code == 201, created.text
        rule = created.json()
        assert await recorded.run("alerting.render_project") == 1
        path = vmalert_files.project_file(settings, Tier.SHORT, writer.project_id)
        group = json.loads(path.read_text())["groups"][0]
        assert group["params"] == {
            "extra_label": [f"tenant={owner.org_id}", f"project={writer.project_id}"]
        }
        assert group["labels"] == {"tenant": owner.org_id, "project": writer.project_id}
        assert await recorded.run("alerting.reload_shard") == 1

        seen, body = await next_notification(vmalert_short, rule["id"], 0, resolved=False)
        alerts = json.loads(body)
        # pinned to the project: the other project's identical series never alerts
        assert {a["labels"]["project"] for a in alerts} == {writer.project_id}
        assert (await deliver(client, settings, body))["fired"] == 1
        await deliver(client, settings, body)  # renewals keep one incident
        listed = await client.get(
            f"/v1/projects/{writer.project_id}/incidents?status=firing", headers=owner.auth
        )
        (incident,) = listed.json()["items"]
        assert (incident["rule_id"], incident["value"]) == (rule["id"], 10.0)
        assert incident["annotations"] == {"summary": "value 10 on a"}

        await send(client, writer, metric, 1)
        await flush(vm_stores)
        _, body = await next_notification(vmalert_short, rule["id"], seen, resolved=True)
        assert (await deliver(client, settings, body))["resolved"] == 1
        one = await client.get(
            f"/v1/projects/{writer.project_id}/incidents/{incident['id']}", headers=owner.auth
        )
        assert one.json()["status"] == "resolved"
        assert [e["kind"] for e in one.json()["timeline"]] == ["fired", "resolved"]

        # vmalert's own view of the rule lands on it (state, last evaluation)
        await run_inline("alerting.poll_vmalert", time.time())
        got = await client.get(
            f"/v1/projects/{writer.project_id}/alert-rules/{rule['id']}", headers=owner.auth
        )
        assert got.json()["last_evaluation"] is not None
        assert got.json()["state"] == "inactive"
        assert got.json()["last_error"] is None


class TestRenderedFiles:
    def test_projects_hash_stably_across_shards(self) -> None:
        ids = [f"prj_{n:022d}" for n in range(200)]
        first = [vmalert_files.shard_of(p, 4) for p in ids]
        assert first == [vmalert_files.shard_of(p, 4) for p in ids]
        assert set(first) == {0, 1, 2, 3}

    def test_a_file_vmalert_refuses_is_not_written(self, settings: Settings) -> None:
        binary = vmalert.find_binary(settings)
        assert binary is not None
        bad = '{"groups": [{"name": "g", "rules": [{"alert": "a", "expr": "sum(("}]}]}'
        result = vmalert_files.write_project(settings, binary, Tier.SHORT, "prj_bad", bad)
        assert result.error is not None
        assert "expr" in result.error
        assert not vmalert_files.project_file(settings, Tier.SHORT, "prj_bad").exists()

    def test_vmalerts_empty_answer_has_no_states(self) -> None:
        assert sync.parse_rules({"status": "success", "data": {"groups": None}}) == {}


class TestFullSync:
    async def test_repairs_files_from_postgresql_and_removes_stale_ones(
        self, client: httpx.AsyncClient, settings: Settings, owner: Tenant, recorded: Jobs
    ) -> None:
        created = await client.post(
            f"/v1/projects/{owner.project_id}/alert-rules",
            json={"name": "r", "expr": "up == 0", "interval": "15s"},
            headers=owner.auth,
        )
        assert created.status_code == 201, created.text
        stale = vmalert_files.project_file(settings, Tier.SHORT, "prj_gone")
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_text('{"groups": []}\n')
        await run_inline("alerting.sync_all", time.time())
        mine = vmalert_files.project_file(settings, Tier.SHORT, owner.project_id)
        (group,) = json.loads(mine.read_text())["groups"]
        assert (group["name"], group["interval"]) == (f"{owner.project_id}/15s", "15s")
        assert not stale.exists()
        assert [j.args for j in recorded.named("alerting.reload_shard")] == [("short", 0)]
