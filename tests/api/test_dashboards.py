"""Dashboards of a project: the model, versions and optimistic concurrency, Grafana import and
export, templates, and another tenant's 404 on every route."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry.dashboards import limits
from tests.support.tenancy import add_member, bearer, org_key, use_fast_password_hashing
from tests.support.tenants import Tenant, sign_up

FIXTURES = Path(__file__).resolve().parent.parent / "telemetry" / "dashboards" / "fixtures"


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


def grafana(name: str) -> dict[str, Any]:
    """A Grafana dashboard JSON fixture."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return document


def model(**overrides: Any) -> dict[str, Any]:
    """A small but complete dashboard body."""
    body: dict[str, Any] = {
        "title": "Checkout",
        "tags": ["shop"],
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "variables": [
            {"name": "job", "kind": "query", "query": "label_values(up, job)"},
            {"name": "env", "kind": "custom", "values": ["prod", "staging"], "default": ["prod"]},
            {"name": "step", "kind": "interval", "values": ["1m", "5m"]},
        ],
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Requests",
                "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
                "queries": [{"ref": "A", "expr": 'sum(rate(up{job="$job"}[$step]))'}],
                "unit": "reqps",
                "thresholds": [{"color": "green"}, {"color": "red", "value": 100}],
            },
            {"id": 2, "type": "text", "title": "Notes", "content": "# Hello"},
            {
                "id": 3,
                "type": "logs",
                "title": "Errors",
                "grid": {"x": 12, "y": 0, "w": 12, "h": 8},
                "queries": [{"ref": "A", "logs_query": "level:ERROR"}],
            },
        ],
    }
    body.update(overrides)
    return body


def base(tenant: Tenant) -> str:
    return f"/v1/projects/{tenant.project_id}/dashboards"


async def create(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(base(tenant), json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestModel:
    async def test_a_dashboard_is_stored_as_sent_at_version_1(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-model")
        created = await create(client, owner, model())
        assert created["version"] == 1
        assert created["id"].startswith("dsh_")
        fetched = (await client.get(f"{base(owner)}/{created['id']}", headers=owner.auth)).json()
        assert fetched["panels"][0]["queries"] == [
            {"ref": "A", "expr": 'sum(rate(up{job="$job"}[$step]))'}
        ]
        assert fetched["panels"][0]["thresholds"][1] == {"color": "red", "value": 100.0}
        assert fetched["variables"][1]["default"] == ["prod"]
        listed = (await client.get(base(owner), headers=owner.auth)).json()
        assert [d["id"] for d in listed["items"]] == [created["id"]]

    async def test_bad_models_are_refused_naming_the_field_and_nothing_is_stored(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-bad")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"title": ""}, "body"),
            ({"panels": [{"id": 1, "type": "pie"}]}, "body"),
            ({"panels": [{"id": 1, "type": "stat", "grid": {"x": 20, "w": 8}}]}, "panels[0].grid"),
            ({"panels": [{"id": 1, "type": "text"}, {"id": 1, "type": "text"}]}, "panels[1].id"),
            (
                {"panels": [{"id": 1, "type": "logs", "queries": [{"ref": "A", "expr": "up"}]}]},
                "panels[0].queries[0]",
            ),
            (
                {"panels": [{"id": 1, "type": "stat", "queries": [{"ref": "A"}]}]},
                "panels[0].queries[0]",
            ),
            ({"variables": [{"name": "x", "kind": "query", "query": "up"}]}, "variables[0].query"),
            (
                {"variables": [{"name": "x", "kind": "interval", "values": ["soon"]}]},
                "variables[0].values[0]",
            ),
            ({"time": {"from": "yesterday", "to": "now"}}, "time.from"),
            (
                {
                    "panels": [
                        {"id": 1, "type": "logs", "queries": [{"ref": "A", "logs_query": "(a"}]}
                    ]
                },
                "panels[0].queries[0].logs_query",
            ),
            (
                {"panels": [{"id": n, "type": "text"} for n in range(1, limits.MAX_PANELS + 2)]},
                "body",
            ),
        ]
        for change, field in cases:
            response = await client.post(base(owner), json=model(**change), headers=owner.auth)
            assert response.status_code in (400, 422), (change, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json().get("field") == field, response.text
        assert (await client.get(base(owner), headers=owner.auth)).json()["items"] == []

    async def test_a_project_holds_a_bounded_number_of_dashboards(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(limits, "MAX_DASHBOARDS_PER_PROJECT", 2)
        owner = await sign_up(client, "dash-limit")
        for _ in range(2):
            await create(client, owner, model())
        refused = await client.post(base(owner), json=model(), headers=owner.auth)
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["limit"]) == ("plan_limit", 2)


class TestVersions:
    async def test_every_put_keeps_the_previous_version_and_restore_brings_it_back(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-versions")
        created = await create(client, owner, model())
        url = f"{base(owner)}/{created['id']}"
        edited = {**created, "title": "Checkout v2"}
        response = await client.put(url, json=edited, headers=owner.auth)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2
        again = {**response.json(), "title": "Checkout v3", "panels": []}
        assert (await client.put(url, json=again, headers=owner.auth)).json()["version"] == 3

        versions = (await client.get(f"{url}/versions", headers=owner.auth)).json()["items"]
        assert [(v["version"], v["title"]) for v in versions] == [
            (2, "Checkout v2"),
            (1, "Checkout"),
        ]
        restored = await client.post(f"{url}/versions/1/restore", headers=owner.auth)
        assert restored.status_code == 200, restored.text
        assert (restored.json()["version"], restored.json()["title"]) == (4, "Checkout")
        assert len(restored.json()["panels"]) == 3
        missing = await client.post(f"{url}/versions/99/restore", headers=owner.auth)
        assert missing.status_code == 404

    async def test_a_stale_version_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-stale")
        created = await create(client, owner, model())
        url = f"{base(owner)}/{created['id']}"
        first = await client.put(url, json={**created, "title": "Mine"}, headers=owner.auth)
        assert first.status_code == 200
        stale = await client.put(url, json={**created, "title": "Theirs"}, headers=owner.auth)
        assert stale.status_code == 409, stale.text
        assert stale.json()["field"] == "version"
        assert stale.json()["current_version"] == 2
        assert (await client.get(url, headers=owner.auth)).json()["title"] == "Mine"
        no_version = {k: v for k, v in created.items() if k != "version"}
        refused = await client.put(url, json=no_version, headers=owner.auth)
        assert refused.status_code == 422
        assert refused.json()["field"] == "version"


class TestPermissions:
    async def test_viewers_read_and_only_writers_change(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "dash-perm")
        created = await create(client, owner, model())
        viewer = await add_member(client, owner, "viewer")
        url = f"{base(owner)}/{created['id']}"
        assert (await client.get(url, headers=viewer.auth)).status_code == 200
        assert (await client.get(f"{url}/export", headers=viewer.auth)).status_code == 200
        assert (await client.put(url, json=created, headers=viewer.auth)).status_code == 403
        assert (await client.post(f"{url}/share", json={}, headers=viewer.auth)).status_code == 403
        key = bearer((await org_key(client, owner, ["project:admin"]))["key"])
        assert (await client.post(base(owner), json=model(), headers=key)).status_code == 201


class TestAnotherTenant:
    async def test_every_route_is_404_for_another_tenant(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "dash-own")
        other = await sign_up(client, "dash-other")
        created = await create(client, owner, model())
        await client.put(f"{base(owner)}/{created['id']}", json=created, headers=owner.auth)
        mine = base(owner)
        theirs = f"{mine}/{created['id']}"
        requests: list[tuple[str, str, Any]] = [
            ("GET", mine, None),
            ("POST", mine, model()),
            ("POST", f"{mine}/import", grafana("service_red")),
            ("GET", theirs, None),
            ("PUT", theirs, {**created, "version": 2}),
            ("DELETE", theirs, None),
            ("GET", f"{theirs}/versions", None),
            ("POST", f"{theirs}/versions/1/restore", None),
            ("GET", f"{theirs}/export", None),
            ("GET", f"{theirs}/data", None),
            ("POST", f"{theirs}/share", {}),
            ("DELETE", f"{theirs}/share", None),
        ]
        for method, path, body in requests:
            response = await client.request(method, path, json=body, headers=other.auth)
            assert response.status_code == 404, (method, path, response.text)
        # and the other tenant's own project does not see it either
        foreign = f"{base(other)}/{created['id']}"
        assert (await client.get(foreign, headers=other.auth)).status_code == 404
        assert (await client.get(theirs, headers=owner.auth)).json()["version"] == 2


class TestGrafana:
    async def test_a_node_exporter_dashboard_imports_with_what_did_not_map(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-node")
        response = await client.post(
            f"{base(owner)}/import", json=grafana("node_exporter_full"), headers=owner.auth
        )
        assert response.status_code == 201, response.text
        body = response.json()
        dashboard = body["dashboard"]
        assert dashboard["title"] == "Node Exporter Full"
        types = [p["type"] for p in dashboard["panels"]]
        assert len(types) == 19  # rows flattened, the collapsed row's panels included
        assert {"gauge", "stat", "timeseries", "table", "text", "logs"} == set(types)
        cpu = next(p for p in dashboard["panels"] if p["id"] == 3)  # legacy graph in a row
        assert cpu["type"] == "timeseries"
        assert cpu["unit"] == "percentunit"
        assert cpu["grid"] == {"x": 0, "y": 21, "w": 12, "h": 12}
        assert [q["ref"] for q in cpu["queries"]] == ["A", "B"]
        variables = {v["name"]: v for v in dashboard["variables"]}
        assert variables["node"]["query"] == 'label_values(node_uname_info{job="$job"}, instance)'
        assert variables["interval"]["kind"] == "interval"
        assert "datasource" not in variables  # ${DS_PROMETHEUS}/$datasource: the project's store
        reasons = {u["path"]: u["reason"] for u in body["unmapped"]}
        assert "heatmap" in reasons["panels[16].panels[2]"]
        assert "piechart" in reasons["panels[19]"]
        assert "adhoc" in reasons["templating.list[6]"]
        assert reasons["panels[16].panels[0].targets[2]"] == "hidden query"

    async def test_export_then_import_keeps_panels_and_queries(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-trip")
        imported = await client.post(
            f"{base(owner)}/import", json=grafana("service_red"), headers=owner.auth
        )
        first = imported.json()["dashboard"]
        exported = await client.get(
            f"{base(owner)}/{first['id']}/export", params={"format": "grafana"}, headers=owner.auth
        )
        assert exported.status_code == 200
        document = exported.json()
        assert document["__inputs"][0]["name"] == "DS_PROMETHEUS"
        assert document["panels"][0]["datasource"] == {
            "type": "prometheus",
            "uid": "${DS_PROMETHEUS}",
        }
        assert {"gridPos", "targets", "fieldConfig"} <= set(document["panels"][0])
        again = await client.post(f"{base(owner)}/import", json=document, headers=owner.auth)
        assert again.status_code == 201
        assert again.json()["unmapped"] == []
        second = again.json()["dashboard"]
        for key in ("title", "tags", "time", "variables", "panels"):
            assert second[key] == first[key], key
        tollgate = await client.get(
            f"{base(owner)}/{first['id']}/export", params={"format": "tollgate"}, headers=owner.auth
        )
        posted = await client.post(base(owner), json=tollgate.json(), headers=owner.auth)
        assert posted.status_code == 201
        assert posted.json()["panels"] == first["panels"]

    async def test_a_non_object_import_is_a_problem(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "dash-junk")
        for body in ([1, 2], {"panels": "nope"}, {"dashboard": {"title": "x" * 300}}):
            response = await client.post(f"{base(owner)}/import", json=body, headers=owner.auth)
            assert response.status_code < 500, response.text


class TestTemplates:
    async def test_templates_are_listed_and_instantiate_for_a_service(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(client, "dash-tpl")
        listed = (await client.get("/v1/dashboard-templates", headers=owner.auth)).json()
        assert {t["id"] for t in listed["items"]} == {"red", "golden-signals", "tollgate-usage"}
        red = await create(client, owner, {"template": "red", "service": "checkout"})
        assert red["title"].startswith("checkout")
        assert red["variables"][0]["default"] == ["checkout"]
        assert {p["type"] for p in red["panels"]} >= {"stat", "timeseries", "logs", "traces"}
        usage = await create(client, owner, {"template": "tollgate-usage"})
        assert all("usage" in q for p in usage["panels"] for q in p.get("queries", []))
        for body, field in (
            ({"template": "red"}, "service"),
            ({"template": "red", "service": 'x"}'}, "service"),
            ({"template": "nope", "service": "a"}, "template"),
            ({"template": "red", "service": "a", "panels": []}, "panels"),
        ):
            response = await client.post(base(owner), json=body, headers=owner.auth)
            assert response.status_code in (404, 422), response.text
            assert response.json()["field"] == field

    async def test_deleting_removes_the_dashboard(self, client: httpx.AsyncClient) -> None:
        owner = await sign_up(client, "dash-del")
        created = await create(client, owner, copy.deepcopy(model()))
        url = f"{base(owner)}/{created['id']}"
        assert (await client.delete(url, headers=owner.auth)).status_code == 204
        assert (await client.get(url, headers=owner.auth)).status_code == 404
