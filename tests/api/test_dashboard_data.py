"""The data call: variables from the project's own label values, every panel's queries pinned
to the project, logs and usage panels, step selection, bounds; and share links serving one
dashboard and its data, read-only, until they expire or are revoked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.local.victoriametrics import VmInstance
from tests.support import gateway as gw
from tests.support.tenancy import use_fast_password_hashing
from tests.support.tenants import Tenant


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


def _spec(metric: str) -> dict[str, Any]:
    return {
        "title": "Fleet",
        "time": {"from": "now-15m", "to": "now"},
        "variables": [
            {"name": "job", "kind": "query", "query": f"label_values({metric}, job)"},
            {
                "name": "instance",
                "kind": "query",
                "query": f'label_values({metric}{{job="$job"}}, instance)',
                "multi": True,
                "include_all": True,
            },
        ],
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Value",
                "queries": [
                    {
                        "ref": "A",
                        "expr": f'sum by (instance) ({metric}{{job="$job",instance=~"$instance"}})',
                        "legend": "{{instance}}",
                    },
                    {"ref": "B", "expr": "sum(rate(nonsense[$__rate_interval])) +"},
                ],
            },
            {
                "id": 2,
                "type": "stat",
                "title": "Everything",
                "interval": "5m",
                "queries": [{"ref": "A", "expr": f"count({metric})"}],
            },
            {
                "id": 3,
                "type": "logs",
                "title": "Errors",
                "queries": [{"ref": "A", "logs_query": '"disk full"'}],
            },
            {
                "id": 4,
                "type": "table",
                "title": "Usage",
                "queries": [{"ref": "A", "usage": {"group_by": ["category", "outcome"]}}],
            },
        ],
    }


async def _seed(client: httpx.AsyncClient, w: gw.Writer, metric: str, vm: list[VmInstance]) -> None:
    lines = "".join(
        f'{metric}{{job="{job}",instance="{inst}"}} {n} {gw.now_ms(-age)}\n'
        for n, (job, inst) in enumerate(
            [("api", "a:1"), ("api", "a:2"), ("api", "a:3"), ("batch", "b:1")], start=1
        )
        for age in (120, 60, 5)
    )
    response = await client.post(
        w.path("prometheus/api/v1/import/prometheus"), content=lines.encode(), headers=w.auth
    )
    assert response.status_code == 204, response.text
    body = [{"service_id": "disk", "level": "ERROR", "message": "disk full on a:1"}]
    assert (await client.post(w.path("ingest/logs"), json=body, headers=w.auth)).is_success
    await gw.wait_for(client, w, f"count({metric})", vm)


async def _dashboard(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> str:
    response = await client.post(
        f"/v1/projects/{tenant.project_id}/dashboards", json=body, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    dashboard_id: str = response.json()["id"]
    return dashboard_id


def _panel(data: dict[str, Any], panel_id: int) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in data["panels"] if p["id"] == panel_id)
    return found


class TestDataCall:
    async def test_variables_and_every_panel_resolve_in_one_call_inside_the_project(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance]
    ) -> None:
        metric = gw.unique_metric("dash")
        w = await gw.writer(client, "dash-data")
        other = await gw.writer(client, "dash-data-other")  # same metric, other tenant
        await _seed(client, other, metric, vm_stores)
        await _seed(client, w, metric, vm_stores)
        dashboard = await _dashboard(client, w.tenant, _spec(metric))
        url = f"/v1/projects/{w.project_id}/dashboards/{dashboard}/data"

        response = await client.get(url, headers=w.tenant.auth)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["variables"]["job"] == {"options": ["api", "batch"], "selected": ["api"]}
        assert data["variables"]["instance"]["options"] == ["a:1", "a:2", "a:3"]
        assert data["variables"]["instance"]["selected"] == ["$__all"]
        value, broken = _panel(data, 1)["queries"]
        assert value["status"] == "ok"
        assert sorted(s["name"] for s in value["series"]) == ["a:1", "a:2", "a:3"]
        assert all("tenant" not in s["labels"] for s in value["series"])
        assert broken["status"] == "error"  # one bad query does not fail the dashboard
        counted = _panel(data, 2)
        assert counted["step"] >= 300  # the panel's min interval
        # only this project's four series: the other tenant's identical ones are not counted
        assert {p[1] for p in counted["queries"][0]["series"][0]["points"]} == {4.0}
        logs = _panel(data, 3)["queries"][0]
        assert [r["body"] for r in logs["records"]] == ["disk full on a:1"]
        usage = _panel(data, 4)["queries"][0]
        assert usage["status"] == "ok"
        assert {s["labels"]["category"] for s in usage["series"]} >= {"metrics", "logs"}

        picked = await client.get(
            url,
            params=[("var.job", "api"), ("var.instance", "a:1"), ("var.instance", "a:3")],
            headers=w.tenant.auth,
        )
        names = [s["name"] for s in _panel(picked.json(), 1)["queries"][0]["series"]]
        assert sorted(names) == ["a:1", "a:3"]

    async def test_step_follows_max_data_points_and_bad_input_is_422(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance]
    ) -> None:
        metric = gw.unique_metric("dash_step")
        w = await gw.writer(client, "dash-step")
        dashboard = await _dashboard(client, w.tenant, _spec(metric))
        url = f"/v1/projects/{w.project_id}/dashboards/{dashboard}/data"
        day = await client.get(
            url,
            params={"from": "now-24h", "to": "now", "max_data_points": 100},
            headers=w.tenant.auth,
        )
        assert day.status_code == 200, day.text
        assert day.json()["step"] == 900  # 86400 s / 100 = 864 s, rounded up to 15 min
        for params, field in (
            ({"from": "yesterday"}, "from"),
            ({"from": "now", "to": "now-1h"}, "from"),
            ({"from": "now-200d"}, "from"),
            ({"var.job": 'api"} or vector(1) or {a="'}, "var.job"),
            ({"var.nope": "x"}, "var.nope"),
        ):
            response = await client.get(url, params=params, headers=w.tenant.auth)
            assert response.status_code == 422, (params, response.text)
            assert response.json()["field"] == field
        too_many = await client.get(url, params={"max_data_points": 10**6}, headers=w.tenant.auth)
        assert too_many.status_code == 400


class TestShareLinks:
    async def test_a_link_serves_that_dashboard_and_its_data_until_revoked(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance]
    ) -> None:
        metric = gw.unique_metric("dash_share")
        w = await gw.writer(client, "dash-share")
        other = await gw.writer(client, "dash-share-other")
        await _seed(client, w, metric, vm_stores)
        shared = await _dashboard(client, w.tenant, _spec(metric))
        private = await _dashboard(client, w.tenant, {**_spec(metric), "title": "Private"})
        theirs = await _dashboard(client, other.tenant, {**_spec(metric), "title": "Theirs"})
        base = f"/v1/projects/{w.project_id}/dashboards"

        created = await client.post(f"{base}/{shared}/share", json={}, headers=w.tenant.auth)
        assert created.status_code == 201, created.text
        link = created.json()["url"]
        token = link.rsplit("/", 1)[1]
        assert token.startswith("tgd_")
        path = f"/share/{token}"

        opened = await client.get(path)  # no credentials: the link is the credential
        assert opened.status_code == 200, opened.text
        assert (opened.json()["id"], opened.json()["read_only"]) == (shared, True)
        assert private not in opened.text
        data = await client.get(f"{path}/data", params={"var.job": "api"})
        assert data.status_code == 200, data.text
        assert len(_panel(data.json(), 1)["queries"][0]["series"]) == 3
        refused = await client.get(f"{path}/data", params={"var.job": "batch2"})
        assert refused.status_code == 422  # only the variable's own options
        for method in ("PUT", "DELETE", "POST"):
            assert (await client.request(method, path, json={})).status_code in (404, 405)

        # another tenant's link opens only their dashboard
        their_link = await client.post(
            f"/v1/projects/{other.project_id}/dashboards/{theirs}/share",
            json={},
            headers=other.tenant.auth,
        )
        their_path = "/share/" + their_link.json()["url"].rsplit("/", 1)[1]
        their_data = (await client.get(f"{their_path}/data")).json()
        assert (await client.get(their_path)).json()["id"] == theirs
        assert _panel(their_data, 1)["queries"][0]["series"] == []  # none of w's metrics

        revoked = await client.delete(f"{base}/{shared}/share", headers=w.tenant.auth)
        assert revoked.status_code == 204
        assert (await client.get(path)).status_code == 404
        assert (await client.get(f"{path}/data")).status_code == 404
        assert (await client.get(their_path)).status_code == 200

    async def test_expired_and_forged_links_are_404(self, client: httpx.AsyncClient) -> None:
        w = await gw.writer(client, "dash-expire")
        dashboard = await _dashboard(client, w.tenant, _spec("up"))
        url = f"/v1/projects/{w.project_id}/dashboards/{dashboard}/share"
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        created = await client.post(url, json={"expires_at": soon}, headers=w.tenant.auth)
        assert created.status_code == 201, created.text
        path = "/share/" + created.json()["url"].rsplit("/", 1)[1]
        assert (await client.get(path)).status_code == 200
        await asyncio.sleep(1.1)
        assert (await client.get(path)).status_code == 404
        for forged in ("tgd_" + "a" * 40, "nope", "tgd_%00", "tgp_" + "a" * 38):
            assert (await client.get(f"/share/{forged}")).status_code == 404
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        refused = await client.post(url, json={"expires_at": past}, headers=w.tenant.auth)
        assert refused.status_code == 422
        assert refused.json()["field"] == "expires_at"
