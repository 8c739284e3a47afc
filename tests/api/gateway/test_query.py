"""The PromQL read API of a project: the allow-listed Prometheus endpoints, proxied to
VictoriaMetrics with the project's extra_label, answering as Prometheus does (for Grafana)."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.resources import Resources
from infra.local.victoriametrics import VmInstance
from tests.support import gateway as gw
from tests.support.asgi import app_client

API = "prometheus/api/v1"
TEXT = "prometheus/api/v1/import/prometheus"


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test here reads the same project: one database transaction for the module."""
    return module_client


@pytest.fixture(scope="module")
async def written(
    module_client: httpx.AsyncClient, vm_stores: list[VmInstance]
) -> tuple[gw.Writer, str]:
    """A project with three series of one fresh metric, flushed and visible."""
    client = module_client
    w = await gw.writer(client)
    metric = gw.unique_metric()
    body = gw.prom_text(metric, 3, env="prod")
    response = await client.post(w.path(TEXT), content=body, headers=w.auth)
    assert response.status_code == 204, response.text
    assert len(await gw.wait_for(client, w, metric, vm_stores, 3)) == 3
    return w, metric


class TestInstantQuery:
    async def test_get_answers_a_prometheus_vector(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written

        response = await client.get(
            w.path(f"{API}/query"), params={"query": f"sum({metric})"}, headers=w.auth
        )

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["status"] == "success"
        assert body["data"]["resultType"] == "vector"
        [sample] = body["data"]["result"]
        assert sample["value"][1] == "6"

    async def test_post_form_is_the_same_as_get(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written

        response = await client.post(
            w.path(f"{API}/query"), data={"query": f"count({metric})"}, headers=w.auth
        )

        assert response.status_code == 200, response.text
        assert response.json()["data"]["result"][0]["value"][1] == "3"

    async def test_post_without_a_form_body_is_422(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written

        response = await client.post(w.path(f"{API}/query"), json={"query": metric}, headers=w.auth)

        assert response.status_code == 422, response.text
        assert "x-www-form-urlencoded" in response.json()["detail"]

    async def test_bad_promql_is_the_stores_client_error(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, _ = written

        response = await client.get(
            w.path(f"{API}/query"), params={"query": "sum(("}, headers=w.auth
        )

        assert 400 <= response.status_code < 500, response.text
        assert response.json()["status"] == "error"

    async def test_query_string_that_is_not_utf8_is_422(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, _ = written

        response = await client.get(w.path(f"{API}/query") + "?query=%ff%fe", headers=w.auth)

        assert response.status_code == 422, response.text
        assert "query arguments" in response.json()["detail"]

    async def test_org_key_with_metrics_read_reads_the_project(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written
        key = await gw.org_key(client, w.tenant, ["metrics:read"])

        result = await gw.query(client, gw.Writer(w.tenant, key), metric)

        assert len(result) == 3


class TestQueryTier:
    async def test_queries_use_the_cached_entitlements(
        self,
        client: httpx.AsyncClient,
        module_resources: Resources,
        written: tuple[gw.Writer, str],
    ) -> None:
        w, metric = written
        module_resources.admission.evict(w.org_id)

        result = await gw.query(client, w, metric)

        assert len(result) == 3
        # The tier came through the admission cache, which the next queries reuse.
        assert module_resources.admission.cached(w.org_id) is not None


class TestQueryRange:
    async def test_answers_a_matrix(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written
        now = time.time()

        response = await client.get(
            w.path(f"{API}/query_range"),
            params={"query": metric, "start": now - 60, "end": now, "step": "1s"},
            headers=w.auth,
        )

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["resultType"] == "matrix"
        assert len(data["result"]) == 3
        assert all(series["values"] for series in data["result"])


class TestSeriesAndLabels:
    async def test_series(self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]) -> None:
        w, metric = written

        response = await client.get(
            w.path(f"{API}/series"), params={"match[]": metric}, headers=w.auth
        )

        assert response.status_code == 200, response.text
        series = response.json()["data"]
        assert sorted(s["i"] for s in series) == ["0", "1", "2"]
        assert {s["tenant"] for s in series} == {w.org_id}

    async def test_labels(self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]) -> None:
        w, _ = written

        response = await client.post(w.path(f"{API}/labels"), headers=w.auth)

        assert response.status_code == 200, response.text
        assert {"__name__", "env", "i", "project", "tenant"} <= set(response.json()["data"])

    async def test_label_values(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, metric = written

        names = await client.get(w.path(f"{API}/label/__name__/values"), headers=w.auth)
        tenants = await client.get(w.path(f"{API}/label/tenant/values"), headers=w.auth)

        assert names.status_code == 200, names.text
        assert names.json()["data"] == [metric]
        assert tenants.json()["data"] == [w.org_id]

    @pytest.mark.parametrize("name", ["1abc", "a-b", "a.b", "__name__%2F..%2F..%2Fseries"])
    async def test_label_values_of_a_bad_label_name_is_refused(
        self, client: httpx.AsyncClient, written: tuple[gw.Writer, str], name: str
    ) -> None:
        w, _ = written

        response = await client.get(w.path(f"{API}/label/{name}/values"), headers=w.auth)

        assert response.status_code in (404, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")


class TestQueryStoreUnavailable:
    @pytest.fixture
    async def dead_read_client(
        self, module_resources: Resources
    ) -> AsyncIterator[httpx.AsyncClient]:
        resources = module_resources
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = resources.settings.model_copy(update={"vm_short_read_url": dead})
        async with app_client(
            create_app(resources=dataclasses.replace(resources, settings=settings))
        ) as dead_client:
            yield dead_client

    async def test_503_with_retry_after(
        self, dead_read_client: httpx.AsyncClient, written: tuple[gw.Writer, str]
    ) -> None:
        w, _ = written

        response = await dead_read_client.get(
            w.path(f"{API}/query"), params={"query": "up"}, headers=w.auth
        )

        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(response.headers["retry-after"]) <= 5
