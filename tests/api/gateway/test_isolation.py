"""Tenant isolation of the metrics data plane: whatever a tenant writes or asks, it only ever
reaches its own series (VictoriaMetrics' extra_label, set by the gateway alone)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from infra.local.victoriametrics import VmInstance
from tests.support import gateway as gw

API = "prometheus/api/v1"
TEXT = "prometheus/api/v1/import/prometheus"
ALL = '{__name__=~".+"}'


@dataclass(frozen=True)
class Pair:
    """Victim A and attacker B, each with one fresh metric written and visible."""

    a: gw.Writer
    b: gw.Writer
    a_metric: str
    b_metric: str

    def leaks(self, payload: Any) -> list[str]:
        """Every trace of A found in a JSON answer given to B."""
        text = json.dumps(payload)
        return [
            marker
            for marker in (self.a.org_id, self.a.project_id, self.a_metric, "a-secret")
            if marker in text
        ]


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test here reads the same two tenants: one database transaction for the module."""
    return module_client


@pytest.fixture(scope="module")
async def pair(module_client: httpx.AsyncClient, vm_stores: list[VmInstance]) -> Pair:
    client = module_client
    a = await gw.writer(client, "victim")
    b = await gw.writer(client, "attacker")
    a_metric, b_metric = gw.unique_metric("victim"), gw.unique_metric("attacker")
    for w, metric, secret in ((a, a_metric, "a-secret"), (b, b_metric, "b-own")):
        # Two samples per series, so that subqueries with a 1m step see them too.
        body = gw.prom_text(metric, 2, ages=(90, 5), secret=secret)
        response = await client.post(w.path(TEXT), content=body, headers=w.auth)
        assert response.status_code == 204, response.text
    # Both tenants' data is in the store: an empty answer to B would prove nothing otherwise.
    assert len(await gw.wait_for(client, a, a_metric, vm_stores, 2)) == 2
    assert len(await gw.wait_for(client, b, b_metric, vm_stores, 2)) == 2
    return Pair(a, b, a_metric, b_metric)


async def b_query(client: httpx.AsyncClient, pair: Pair, promql: str) -> dict[str, Any]:
    response = await client.get(
        pair.b.path(f"{API}/query"), params={"query": promql}, headers=pair.b.auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def own_series_only(pair: Pair, result: list[dict[str, Any]]) -> None:
    for series in result:
        labels = series.get("metric", {})
        assert labels.get("tenant", pair.b.org_id) == pair.b.org_id, series
        assert labels.get("project", pair.b.project_id) == pair.b.project_id, series


class TestPromqlAttacks:
    @pytest.mark.parametrize(
        "template",
        [
            '{{tenant="{a_org}"}}',
            '{{project="{a_prj}"}}',
            '{{tenant="{a_org}", project="{a_prj}"}}',
            "{a_metric}",
            '{{__name__="{a_metric}"}}',
            'up or {{tenant="{a_org}"}}',
            '{b_metric} or {{tenant="{a_org}"}}',
            'label_replace({{tenant="{a_org}"}}, "tenant", "{b_org}", "", "")',
            'label_replace({{secret="a-secret"}}, "project", "{b_prj}", "", "")',
            'max_over_time({{tenant="{a_org}"}}[5m:1m])',
            'sum(rate({{__name__=~"victim.*"}}[5m:30s]))',
            'WITH (x = {{tenant="{a_org}"}}) x',
            '{{tenant=~"{a_org}|{b_org}"}}',
            '{{tenant!="{b_org}"}}',
            '{{tenant=""}}',
            '{{secret="a-secret"}} offset 1m',
            "{a_metric} unless {b_metric}",
            'vector(1) + on() group_left() {{tenant="{a_org}"}}',
        ],
    )
    async def test_selectors_aimed_at_another_tenant_find_nothing(
        self, client: httpx.AsyncClient, pair: Pair, template: str
    ) -> None:
        promql = template.format(
            a_org=pair.a.org_id,
            a_prj=pair.a.project_id,
            a_metric=pair.a_metric,
            b_org=pair.b.org_id,
            b_prj=pair.b.project_id,
            b_metric=pair.b_metric,
        )

        body = await b_query(client, pair, promql)

        assert pair.leaks(body) == [], promql
        own_series_only(pair, body["data"]["result"])

    @pytest.mark.parametrize(
        "promql",
        [
            ALL,
            f"max_over_time({ALL}[5m:1m])",
            f"count by (tenant) ({ALL})",
            f"count by (tenant, project, __name__) ({ALL})",
            f"topk(1000, {ALL})",
            f"last_over_time({ALL}[1h])",
            '{__name__=~".+", tenant=~".*"}',
            f'label_replace({ALL}, "tenant", "$1", "tenant", "(.*)")',
        ],
    )
    async def test_match_all_selectors_return_only_own_series(
        self, client: httpx.AsyncClient, pair: Pair, promql: str
    ) -> None:
        body = await b_query(client, pair, promql)

        result = body["data"]["result"]
        assert result, promql  # B's own data is there: the query did run
        assert pair.leaks(body) == [], promql
        own_series_only(pair, result)

    async def test_count_by_tenant_sees_one_tenant(
        self, client: httpx.AsyncClient, pair: Pair
    ) -> None:
        body = await b_query(client, pair, f"count by (tenant) ({ALL})")

        [only] = body["data"]["result"]
        assert only["metric"] == {"tenant": pair.b.org_id}
        assert only["value"][1] == "2"

    async def test_series_labels_and_values_are_scoped(
        self, client: httpx.AsyncClient, pair: Pair
    ) -> None:
        b = pair.b
        answers = [
            await client.get(b.path(f"{API}/series"), params={"match[]": ALL}, headers=b.auth),
            await client.get(
                b.path(f"{API}/series"),
                params={"match[]": f'{{tenant="{pair.a.org_id}"}}'},
                headers=b.auth,
            ),
            await client.get(b.path(f"{API}/labels"), headers=b.auth),
            await client.get(b.path(f"{API}/label/__name__/values"), headers=b.auth),
            await client.get(b.path(f"{API}/label/tenant/values"), headers=b.auth),
            await client.get(b.path(f"{API}/label/project/values"), headers=b.auth),
            await client.get(b.path(f"{API}/label/secret/values"), headers=b.auth),
        ]

        for response in answers:
            assert response.status_code == 200, response.text
            assert pair.leaks(response.json()) == [], response.request.url
        assert answers[4].json()["data"] == [b.org_id]
        assert answers[6].json()["data"] == ["b-own"]


class TestInjectedTenancyArguments:
    def injections(self, pair: Pair) -> list[tuple[str, str]]:
        a_filter = f'{{tenant="{pair.a.org_id}"}}'
        return [
            ("extra_label", f"tenant={pair.a.org_id}"),
            ("extra_label", f"project={pair.a.project_id}"),
            ("extra_filters", a_filter),
            ("extra_filters[]", a_filter),
            ("extra_filters[]", '{__name__=~".+"}'),
            (" extra_label", f"tenant={pair.a.org_id}"),
        ]

    async def test_in_the_url(self, client: httpx.AsyncClient, pair: Pair) -> None:
        b = pair.b
        for key, value in self.injections(pair):
            response = await client.get(
                b.path(f"{API}/query"), params=[("query", ALL), (key, value)], headers=b.auth
            )
            result = response.json()["data"]["result"]
            # B still sees its own two series: the injected argument never reached the store.
            assert len(result) == 2, (key, value, result)
            assert pair.leaks(response.json()) == [], (key, value)

    async def test_in_a_post_form_body(self, client: httpx.AsyncClient, pair: Pair) -> None:
        b = pair.b
        for key, value in self.injections(pair):
            response = await client.post(
                b.path(f"{API}/query"), data={"query": ALL, key: value}, headers=b.auth
            )
            result = response.json()["data"]["result"]
            assert len(result) == 2, (key, value, result)
            assert pair.leaks(response.json()) == [], (key, value)

    @pytest.mark.parametrize(
        "raw_key",
        [
            "extra%5Flabel",
            "extra%5flabel",
            "%65xtra_label",
            "extra_filters%5B%5D",
            "extra_filters%5b%5d",
            "extra%5Ffilters",
            "extra_label%20",
            "+extra_label",
        ],
    )
    async def test_percent_encoded_keys(
        self, client: httpx.AsyncClient, pair: Pair, raw_key: str
    ) -> None:
        b = pair.b
        a_value = (
            quote(f'{{tenant="{pair.a.org_id}"}}', safe="")
            if "filters" in raw_key
            else quote(f"tenant={pair.a.org_id}", safe="")
        )
        query = f"query={quote(ALL, safe='')}&{raw_key}={a_value}"

        in_url = await client.get(b.path(f"{API}/query") + "?" + query, headers=b.auth)
        in_body = await client.post(
            b.path(f"{API}/query"),
            content=query.encode(),
            headers={**b.auth, "Content-Type": "application/x-www-form-urlencoded"},
        )

        for response in (in_url, in_body):
            assert response.status_code == 200, response.text
            assert len(response.json()["data"]["result"]) == 2, raw_key
            assert pair.leaks(response.json()) == [], raw_key

    async def test_on_series_and_label_values(self, client: httpx.AsyncClient, pair: Pair) -> None:
        b = pair.b
        extra: gw.Params = [("extra_filters[]", f'{{tenant="{pair.a.org_id}"}}')]

        series = await client.get(
            b.path(f"{API}/series"), params=[("match[]", ALL), *extra], headers=b.auth
        )
        values = await client.get(
            b.path(f"{API}/label/tenant/values"), params=extra, headers=b.auth
        )

        assert len(series.json()["data"]) == 2
        assert values.json()["data"] == [b.org_id]


class TestPayloadLabelsCannotSpoofATenant:
    """A writer naming another tenant in its payload still writes under its own project."""

    async def check(
        self,
        client: httpx.AsyncClient,
        vm_stores: list[VmInstance],
        pair: Pair,
        metric: str,
        response: httpx.Response,
    ) -> None:
        assert response.status_code in (200, 204), response.text
        # A wrote it; it is A's series, labelled with A's ids whatever the payload said.
        [series] = await gw.wait_for(client, pair.a, metric, vm_stores)
        assert series["metric"]["tenant"] == pair.a.org_id
        assert series["metric"]["project"] == pair.a.project_id
        # And B, whose ids the payload named, sees nothing of it.
        body = await b_query(client, pair, f'{{__name__="{metric}"}}')
        assert body["data"]["result"] == []
        everything = await b_query(client, pair, ALL)
        assert metric not in json.dumps(everything)

    async def test_text_labels(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance], pair: Pair
    ) -> None:
        metric = gw.unique_metric("spoof")
        body = gw.prom_text(metric, tenant=pair.b.org_id, project=pair.b.project_id)

        response = await client.post(pair.a.path(TEXT), content=body, headers=pair.a.auth)

        await self.check(client, vm_stores, pair, metric, response)

    async def test_remote_write_labels(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance], pair: Pair
    ) -> None:
        metric = gw.unique_metric("spoof")
        body = gw.remote_write(metric, tenant=pair.b.org_id, project=pair.b.project_id)

        response = await client.post(pair.a.path(f"{API}/write"), content=body, headers=pair.a.auth)

        await self.check(client, vm_stores, pair, metric, response)

    async def test_otlp_attributes(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance], pair: Pair
    ) -> None:
        metric = gw.unique_metric("spoof")
        ids = {"tenant": pair.b.org_id, "project": pair.b.project_id}
        body = gw.otlp_gauge(metric, 1, ids, **ids).SerializeToString()

        response = await client.post(
            pair.a.path("otlp/v1/metrics"),
            content=body,
            headers={**pair.a.auth, "Content-Type": gw.PROTOBUF},
        )

        await self.check(client, vm_stores, pair, metric, response)

    async def test_simple_json_labels(
        self, client: httpx.AsyncClient, vm_stores: list[VmInstance], pair: Pair
    ) -> None:
        metric = gw.unique_metric("spoof")
        body = gw.simple_json(metric, tenant=pair.b.org_id, project=pair.b.project_id)

        response = await client.post(pair.a.path("ingest/metrics"), json=body, headers=pair.a.auth)

        await self.check(client, vm_stores, pair, metric, response)


def vm_requests(metrics_text: str) -> dict[str, float]:
    """VictoriaMetrics' own request counters by path."""
    counts: dict[str, float] = {}
    for match in re.finditer(
        r'^vm_http_requests_total\{path="([^"]+)"\} (\S+)$', metrics_text, re.M
    ):
        counts[match.group(1)] = float(match.group(2))
    return counts


async def all_vm_requests(
    http: httpx.AsyncClient, vm_stores: list[VmInstance]
) -> dict[tuple[str, str], float]:
    """Request counters of every tier's store, minus the scrapes of /metrics themselves."""
    counts = {}
    for instance in vm_stores:
        for path, value in vm_requests((await http.get(f"{instance.url}/metrics")).text).items():
            if path != "/metrics":
                counts[instance.tier.value, path] = value
    return counts


class TestBlockedStorePaths:
    @pytest.mark.parametrize(
        "path",
        [
            f"{API}/series/count",
            f"{API}/status/top_queries",
            f"{API}/status/active_queries",
            f"{API}/status/tsdb",
            f"{API}/admin/tsdb/delete_series",
            f"{API}/admin/tsdb/snapshot",
            f"{API}/export",
            f"{API}/export/native",
            f"{API}/import",
            f"{API}/query_exemplars",
            f"{API}/metadata",
            f"{API}/targets",
            "prometheus/tags",
            "prometheus/tags/autoComplete/tags",
            "prometheus/metrics/find",
            "prometheus/metrics/expand",
            "prometheus/federate",
            "prometheus/metrics",
            "prometheus/flags",
            "prometheus/internal/force_flush",
            "prometheus/snapshot/create",
            f"{API}/query/../series/count",
            f"{API}/label/__name__/values/../../../series/count",
        ],
    )
    async def test_never_proxied(
        self,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        vm_stores: list[VmInstance],
        pair: Pair,
        path: str,
    ) -> None:
        w = pair.b
        before = await all_vm_requests(http, vm_stores)

        answers = [
            await client.get(w.path(path), params={"match[]": ALL}, headers=w.auth),
            await client.post(w.path(path), data={"match[]": ALL}, headers=w.auth),
        ]

        for response in answers:
            assert response.status_code in (404, 405), (path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert await all_vm_requests(http, vm_stores) == before, path

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
    async def test_other_methods_on_read_paths_are_405(
        self, client: httpx.AsyncClient, pair: Pair, method: str
    ) -> None:
        w = pair.b

        response = await client.request(
            method, w.path(f"{API}/query"), params={"query": "up"}, headers=w.auth
        )

        assert response.status_code == 405, response.text
