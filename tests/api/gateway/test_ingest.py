"""Metrics ingestion through the gateway: every format lands in VictoriaMetrics, limits hold, and
every refusal follows the protocol of ARCHITECTURE §4/§5 and is metered as what it was."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import socket
import zlib
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from api.app import create_app
from api.resources import Resources
from infra.local.victoriametrics import VmInstance
from tests.support import gateway as gw
from tests.support.asgi import app_client
from tests.support.tenants import Tenant, sign_up

TEXT = "prometheus/api/v1/import/prometheus"
WRITE = "prometheus/api/v1/write"
OTLP = "otlp/v1/metrics"
SIMPLE = "ingest/metrics"
QUERY = "prometheus/api/v1/query"
PROBLEM = "application/problem+json"
MiB = 1024 * 1024


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction for the module: most tests need a project, not a new tenant."""
    return module_client


@pytest.fixture(scope="module")
async def owner(module_client: httpx.AsyncClient) -> Tenant:
    """The org whose fresh projects most tests write to (usage is read per project)."""
    return await sign_up(module_client, "ingest")


@pytest.fixture
def new_writer(client: httpx.AsyncClient, owner: Tenant) -> gw.NewWriter:
    """Makes a new project of the shared org and a key of it (key body as keyword arguments)."""
    return functools.partial(gw.project_writer, client, owner)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a problem+json of `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


class TestPrometheusTextImport:
    async def test_samples_are_stored_under_the_project_and_queryable(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()

        response = await client.post(w.path(TEXT), content=gw.prom_text(metric, 3), headers=w.auth)

        assert response.status_code == 204, response.text
        result = await gw.wait_for(client, w, metric, vm_stores, 3)
        assert sorted(float(s["value"][1]) for s in result) == [1.0, 2.0, 3.0]
        assert {(s["metric"]["tenant"], s["metric"]["project"]) for s in result} == {
            (w.org_id, w.project_id)
        }
        assert (await gw.usage(client, w)) == {"accepted": 3}

    async def test_gzip_body_is_accepted(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()

        response = await client.post(
            w.path(TEXT),
            content=gzip.compress(gw.prom_text(metric, 2)),
            headers={**w.auth, "Content-Encoding": "gzip"},
        )

        assert response.status_code == 204, response.text
        assert len(await gw.wait_for(client, w, metric, vm_stores, 2)) == 2
        assert (await gw.usage(client, w)) == {"accepted": 2}

    async def test_comments_and_blank_lines_are_not_counted(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = f"# HELP {metric} a gauge\n# TYPE {metric} gauge\n\n".encode() + gw.prom_text(metric)

        response = await client.post(w.path(TEXT), content=body, headers=w.auth)

        assert response.status_code == 204, response.text
        assert len(await gw.wait_for(client, w, metric, vm_stores)) == 1
        assert (await gw.usage(client, w)) == {"accepted": 1}


class TestRemoteWrite:
    async def test_snappy_protobuf_is_stored_and_queryable(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()

        response = await client.post(
            w.path(WRITE),
            content=gw.remote_write(metric, 4),
            headers={
                **w.auth,
                "Content-Type": gw.PROTOBUF,
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
        )

        assert response.status_code == 204, response.text
        result = await gw.wait_for(client, w, metric, vm_stores, 4)
        assert sorted(s["metric"]["i"] for s in result) == ["0", "1", "2", "3"]
        assert (await gw.usage(client, w)) == {"accepted": 4}


class TestOtlpMetrics:
    async def test_protobuf_is_answered_with_an_empty_export_response(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = gw.otlp_gauge(metric, 2, resource={"service.name": "checkout"}).SerializeToString()

        response = await client.post(
            w.path(OTLP), content=body, headers={**w.auth, "Content-Type": gw.PROTOBUF}
        )

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(gw.PROTOBUF)
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert not answer.HasField("partial_success")
        result = await gw.wait_for(client, w, metric, vm_stores, 2)
        assert {s["metric"]["job"] for s in result} == {"checkout"}
        assert (await gw.usage(client, w)) == {"accepted": 2}

    @pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
    async def test_json_is_answered_in_json(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        vm_stores: list[VmInstance],
        encoding: str | None,
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = gw.otlp_json(gw.otlp_gauge(metric, 3))
        headers = {**w.auth, "Content-Type": "application/json"}
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "deflate":
            body = zlib.compress(body)
        if encoding:
            headers["Content-Encoding"] = encoding

        response = await client.post(w.path(OTLP), content=body, headers=headers)

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {}
        assert len(await gw.wait_for(client, w, metric, vm_stores, 3)) == 3
        assert (await gw.usage(client, w)) == {"accepted": 3}

    async def test_rejected_points_are_reported_as_partial_success(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        request = gw.otlp_gauge(metric, 2)
        gauge = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge
        gauge.data_points.append(metrics_pb2.NumberDataPoint(time_unix_nano=gw.now_ms() * 10**6))

        response = await client.post(
            w.path(OTLP),
            content=request.SerializeToString(),
            headers={**w.auth, "Content-Type": gw.PROTOBUF},
        )

        assert response.status_code == 200, response.text
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_data_points == 1
        assert "without a value" in answer.partial_success.error_message
        assert len(await gw.wait_for(client, w, metric, vm_stores, 2)) == 2
        assert (await gw.usage(client, w)) == {"accepted": 2, "invalid": 1}

    async def test_json_partial_success_names_the_rejected_points(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        request = gw.otlp_gauge(gw.unique_metric(), 1)
        gauge = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge
        gauge.data_points.append(metrics_pb2.NumberDataPoint(time_unix_nano=gw.now_ms() * 10**6))

        response = await client.post(
            w.path(OTLP),
            content=gw.otlp_json(request),
            headers={**w.auth, "Content-Type": "application/json"},
        )

        assert response.status_code == 200, response.text
        partial = response.json()["partialSuccess"]
        assert partial["rejectedDataPoints"] == "1"
        assert "without a value" in partial["errorMessage"]

    async def test_all_points_rejected_writes_nothing(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        request = gw.otlp_gauge(gw.unique_metric(), 0)
        gauge = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge
        gauge.data_points.append(metrics_pb2.NumberDataPoint(time_unix_nano=gw.now_ms() * 10**6))

        response = await client.post(
            w.path(OTLP),
            content=request.SerializeToString(),
            headers={**w.auth, "Content-Type": gw.PROTOBUF},
        )

        assert response.status_code == 200, response.text
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_data_points == 1
        assert (await gw.usage(client, w)) == {"invalid": 1}


class TestSimpleJson:
    async def test_one_object(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = {
            "metric_name": metric,
            "value": 100,
            "metric_type": "counter",
            "labels": {"endpoint": "/api/users"},
            "service_id": "svc-1",
        }

        response = await client.post(w.path(SIMPLE), json=body, headers=w.auth)

        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 1}
        [series] = await gw.wait_for(client, w, metric, vm_stores)
        assert series["metric"]["endpoint"] == "/api/users"
        assert series["metric"]["service"] == "svc-1"
        assert series["value"][1] == "100"
        assert (await gw.usage(client, w)) == {"accepted": 1}

    async def test_array_gzip(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()
        body = gzip.compress(json.dumps(gw.simple_json(metric, 5)).encode())

        response = await client.post(
            w.path(SIMPLE),
            content=body,
            headers={**w.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 5}
        assert len(await gw.wait_for(client, w, metric, vm_stores, 5)) == 5
        assert (await gw.usage(client, w)) == {"accepted": 5}

    async def test_empty_array_is_a_no_op(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()

        response = await client.post(w.path(SIMPLE), json=[], headers=w.auth)

        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 0}
        assert (await gw.usage(client, w)) == {}


class TestIngestAuth:
    async def test_no_key_is_401_problem(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()

        response = await client.post(w.path(TEXT), content=gw.prom_text("m"))

        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize(
        "header",
        [
            {"Authorization": "Bearer tgp_garbage"},
            {"Authorization": "Bearer " + "tgp_" + "A" * 38},
            {"X-API-Key": "not-a-key"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ],
    )
    async def test_garbage_key_is_401(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, header: dict[str, str]
    ) -> None:
        w = await new_writer()

        response = await client.post(w.path(TEXT), content=gw.prom_text("m"), headers=header)

        assert_problem(response, 401)

    async def test_x_api_key_header_works(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        metric = gw.unique_metric()

        response = await client.post(
            w.path(TEXT), content=gw.prom_text(metric), headers={"X-API-Key": w.key}
        )

        assert response.status_code == 204, response.text
        assert len(await gw.wait_for(client, w, metric, vm_stores)) == 1

    async def test_revoked_key_is_401(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        ok = await client.post(w.path(TEXT), content=gw.prom_text("m"), headers=w.auth)
        assert ok.status_code == 204
        keys = await client.get(f"/v1/projects/{w.project_id}/keys", headers=w.tenant.auth)
        [key] = [k for k in keys.json()["items"] if w.key.startswith(k["prefix"])]
        revoked = await client.delete(
            f"/v1/projects/{w.project_id}/keys/{key['id']}", headers=w.tenant.auth
        )
        assert revoked.status_code == 204

        response = await client.post(w.path(TEXT), content=gw.prom_text("m"), headers=w.auth)

        assert_problem(response, 401)

    async def test_key_of_another_project_is_404(self, client: httpx.AsyncClient) -> None:
        a = await gw.writer(client, "alpha")
        b = await gw.writer(client, "bravo")

        response = await client.post(a.path(TEXT), content=gw.prom_text("m"), headers=b.auth)

        assert_problem(response, 404)
        assert (await gw.usage(client, a.tenant)) == {}
        assert (await gw.usage(client, b.tenant)) == {}

    async def test_key_of_another_project_of_the_same_org_is_404(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        created = await client.post(
            f"/v1/orgs/{w.org_id}/projects", json={"name": "second"}, headers=w.tenant.auth
        )
        assert created.status_code == 201, created.text

        response = await client.post(
            f"/p/{created.json()['id']}/{TEXT}", content=gw.prom_text("m"), headers=w.auth
        )

        assert_problem(response, 404)

    async def test_unknown_project_is_404(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        other = await gw.org_key(client, w.tenant, ["metrics:write"])

        for key in (w.key, other):
            response = await client.post(
                f"/p/prj_doesnotexist00000000/{TEXT}",
                content=gw.prom_text("m"),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert_problem(response, 404)

    async def test_org_key_of_the_projects_org_writes_and_reads(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, vm_stores: list[VmInstance]
    ) -> None:
        w = await new_writer()
        key = await gw.org_key(client, w.tenant, ["metrics:write", "metrics:read"])
        org_writer = gw.Writer(w.tenant, key, w.project_id)
        metric = gw.unique_metric()

        response = await client.post(
            w.path(TEXT), content=gw.prom_text(metric), headers=org_writer.auth
        )

        assert response.status_code == 204, response.text
        [series] = await gw.wait_for(client, org_writer, metric, vm_stores)
        assert series["metric"]["project"] == w.project_id
        assert (await gw.usage(client, w)) == {"accepted": 1}

    async def test_org_key_of_another_org_is_404(self, client: httpx.AsyncClient) -> None:
        a = await gw.writer(client, "alpha")
        b = await gw.writer(client, "bravo")
        key = await gw.org_key(client, b.tenant, ["metrics:write", "metrics:read"])

        write = await client.post(
            a.path(TEXT), content=gw.prom_text("m"), headers={"Authorization": f"Bearer {key}"}
        )
        read = await client.get(
            a.path(QUERY), params={"query": "up"}, headers={"Authorization": f"Bearer {key}"}
        )

        assert_problem(write, 404)
        assert_problem(read, 404)

    async def test_org_key_without_metrics_write_is_403(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        key = await gw.org_key(client, w.tenant, ["org:admin"])

        response = await client.post(
            w.path(TEXT), content=gw.prom_text("m"), headers={"Authorization": f"Bearer {key}"}
        )

        assert_problem(response, 403)

    @pytest.mark.parametrize("path", [TEXT, WRITE, OTLP, SIMPLE])
    async def test_key_without_metrics_write_is_403(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, path: str
    ) -> None:
        w = await new_writer(scopes=["metrics:read", "logs:write"])

        response = await client.post(w.path(path), content=b"", headers=w.auth)

        assert "metrics:write" in assert_problem(response, 403)["detail"]

    async def test_read_with_only_metrics_write_is_403(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer(scopes=["metrics:write"])

        get = await client.get(w.path(QUERY), params={"query": "up"}, headers=w.auth)
        post = await client.post(w.path(QUERY), data={"query": "up"}, headers=w.auth)
        labels = await client.get(w.path("prometheus/api/v1/labels"), headers=w.auth)

        for response in (get, post, labels):
            assert "metrics:read" in assert_problem(response, 403)["detail"]


class TestBodyLimits:
    async def test_body_over_10_mib_is_413(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = b"m 1\n" * (10 * MiB // 4 + 1)

        response = await client.post(w.path(TEXT), content=body, headers=w.auth)

        assert_problem(response, 413)
        assert (await gw.usage(client, w)) == {}

    async def test_chunked_body_over_10_mib_is_413(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()

        async def chunks() -> Any:
            for _ in range(11):
                yield b"m 1\n" * (MiB // 4)

        response = await client.post(w.path(TEXT), content=chunks(), headers=w.auth)

        assert_problem(response, 413)
        assert (await gw.usage(client, w)) == {}

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [(TEXT, "text/plain"), (OTLP, "application/json"), (SIMPLE, "application/json")],
    )
    async def test_gzip_bomb_is_413(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, path: str, content_type: str
    ) -> None:
        w = await new_writer()
        bomb = gzip.compress(b" " * (64 * MiB + 1), compresslevel=9)
        assert len(bomb) < MiB

        response = await client.post(
            w.path(path),
            content=bomb,
            headers={**w.auth, "Content-Type": content_type, "Content-Encoding": "gzip"},
        )

        assert "decompressed" in assert_problem(response, 413)["detail"]
        assert (await gw.usage(client, w)) == {}

    async def test_remote_write_declaring_a_huge_block_is_413(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        # A snappy block starts with its decompressed length as a varint: claim 1 GiB.
        from tests.telemetry.decode.builders import varint

        body = varint(1 << 30) + b"\x00" * 16

        response = await client.post(w.path(WRITE), content=body, headers=w.auth)

        assert_problem(response, 413)
        assert (await gw.usage(client, w)) == {}

    @pytest.mark.parametrize(
        ("path", "content_type", "body", "detail"),
        [
            (TEXT, "text/plain", b'ok 1\nbroken{a="b"\n', "line 2"),
            (TEXT, "text/plain", b"m 1\n\x00\x01", "NUL"),
            (WRITE, gw.PROTOBUF, b"not snappy at all", "snappy"),
            (OTLP, gw.PROTOBUF, b"\xff\xff\xff\xff", ""),
            (OTLP, "application/json", b'{"resourceMetrics": [{"scopeMetrics": 3}]}', ""),
            (SIMPLE, "application/json", b'{"metric_name": "m"}', "value"),
            (
                SIMPLE,
                "application/json",
                b'[{"metric_name": "m", "value": 1, "lables": {}}]',
                "lables",
            ),
            (SIMPLE, "application/json", b"{", ""),
            (SIMPLE, "application/json", b'[{"\x80metric_name": "m", "value": 1}]', "UTF-8"),
            (
                OTLP,
                "application/json",
                b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "\xff"}]}]}]}',
                "UTF-8",
            ),
        ],
    )
    async def test_malformed_payload_is_400_with_a_detail(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        path: str,
        content_type: str,
        body: bytes,
        detail: str,
    ) -> None:
        w = await new_writer()

        response = await client.post(
            w.path(path), content=body, headers={**w.auth, "Content-Type": content_type}
        )

        problem = assert_problem(response, 400)
        assert detail in problem["detail"]
        assert problem["code"] == "invalid_payload"
        assert (await gw.usage(client, w)).get("accepted", 0) == 0

    async def test_malformed_remote_write_protobuf_is_400(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        import cramjam

        w = await new_writer()
        body = bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\xff\x0f"))

        response = await client.post(w.path(WRITE), content=body, headers=w.auth)

        assert "WriteRequest" in assert_problem(response, 400)["detail"]
        assert (await gw.usage(client, w)) == {}

    async def test_corrupt_gzip_is_400(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()

        response = await client.post(
            w.path(TEXT),
            content=gzip.compress(b"m 1\n")[:-6],
            headers={**w.auth, "Content-Encoding": "gzip"},
        )

        assert "gzip" in assert_problem(response, 400)["detail"]

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [(TEXT, "text/plain"), (OTLP, gw.PROTOBUF), (SIMPLE, "application/json")],
    )
    async def test_unsupported_content_encoding_is_415(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, path: str, content_type: str
    ) -> None:
        w = await new_writer()

        response = await client.post(
            w.path(path),
            content=b"m 1\n",
            headers={**w.auth, "Content-Type": content_type, "Content-Encoding": "br"},
        )

        assert "Content-Encoding" in assert_problem(response, 415)["detail"]
        assert (await gw.usage(client, w)) == {}

    async def test_otlp_with_an_unknown_content_type_is_415(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()

        response = await client.post(
            w.path(OTLP), content=b"{}", headers={**w.auth, "Content-Type": "text/plain"}
        )

        assert "Content-Type" in assert_problem(response, 415)["detail"]


class TestRefusalProtocol:
    async def test_admitted_responses_carry_ratelimit_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await gw.writer(client)
        await gw.set_overrides(client, w.org_id, rate=100, burst=1000)

        response = await client.post(w.path(TEXT), content=gw.prom_text("m", 10), headers=w.auth)

        assert response.status_code == 204, response.text
        assert response.headers["ratelimit-policy"] == '"metrics";q=1000'
        assert response.headers["ratelimit"].startswith('"metrics";r=990;t=')
        assert "x-tollgate-rate-limits" not in response.headers

    @pytest.mark.parametrize("fmt", gw.FORMATS)
    async def test_over_the_rate_limit_is_429_and_refused_whole(
        self, client: httpx.AsyncClient, fmt: str
    ) -> None:
        path, content_type, body = gw.payload(fmt, gw.unique_metric(), 5)
        w = await gw.writer(client)
        await gw.set_overrides(client, w.org_id, rate=1, burst=8)
        headers = {**w.auth, "Content-Type": content_type}
        first = await client.post(w.path(path), content=body, headers=headers)
        assert first.status_code in (200, 204), first.text
        assert first.headers["ratelimit-policy"] == '"metrics";q=8'

        response = await client.post(w.path(path), content=body, headers=headers)

        problem = assert_problem(response, 429)
        assert problem["category"] == "metrics"
        assert problem["scope"] == "project"
        assert problem["reason"] == "rate_limited"
        assert problem["type"].endswith("/rate_limited")
        retry_after = response.headers["retry-after"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        assert response.headers["x-tollgate-rate-limits"] == (
            f"{retry_after}:metrics:project:rate_limited"
        )
        assert response.headers["ratelimit-policy"] == '"metrics";q=8'
        assert (await gw.usage(client, w.tenant)) == {"accepted": 5, "rate_limited": 5}

    async def test_quota_exceeded_on_the_free_plan_is_429(self, client: httpx.AsyncClient) -> None:
        w = await gw.writer(client)
        await gw.set_overrides(client, w.org_id, included=10)
        ok = await client.post(w.path(TEXT), content=gw.prom_text("m", 7), headers=w.auth)
        assert ok.status_code == 204, ok.text

        response = await client.post(w.path(TEXT), content=gw.prom_text("m", 4), headers=w.auth)

        problem = assert_problem(response, 429)
        assert (problem["category"], problem["scope"], problem["reason"]) == (
            "metrics",
            "org",
            "quota_exceeded",
        )
        assert problem["type"].endswith("/quota_exceeded")
        retry_after = response.headers["retry-after"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1  # the end of the billing period
        assert response.headers["x-tollgate-rate-limits"] == (
            f"{retry_after}:metrics:org:quota_exceeded"
        )
        # What is left of the quota still fits.
        fits = await client.post(w.path(TEXT), content=gw.prom_text("m", 3), headers=w.auth)
        assert fits.status_code == 204, fits.text
        assert (await gw.usage(client, w.tenant)) == {"accepted": 10, "quota_exceeded": 4}

    async def test_a_request_larger_than_the_burst_leaves_the_bucket_in_debt(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await gw.writer(client)
        await gw.set_overrides(client, w.org_id, rate=1, burst=3)

        big = await client.post(w.path(TEXT), content=gw.prom_text("m", 6), headers=w.auth)
        response = await client.post(w.path(TEXT), content=gw.prom_text("m", 1), headers=w.auth)

        assert big.status_code == 204, big.text
        assert assert_problem(response, 429)["reason"] == "rate_limited"
        # 3 tokens of debt plus the one sample asked for, at 1 token/s.
        assert int(response.headers["retry-after"]) >= 3
        assert (await gw.usage(client, w.tenant)) == {"accepted": 6, "rate_limited": 1}

    async def test_key_rate_limit_is_reported_with_the_key_scope(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer(rate_limits={"metrics": {"rate": 1, "burst": 2}})

        first = await client.post(w.path(TEXT), content=gw.prom_text("m", 2), headers=w.auth)
        second = await client.post(w.path(TEXT), content=gw.prom_text("m", 2), headers=w.auth)

        assert first.status_code == 204, first.text
        problem = assert_problem(second, 429)
        assert (problem["scope"], problem["reason"]) == ("key", "rate_limited")
        assert (await gw.usage(client, w)) == {"accepted": 2, "rate_limited": 2}


class TestStoreUnavailable:
    @pytest.fixture
    async def dead_store_client(self, module_resources: Resources) -> Any:
        resources = module_resources
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = resources.settings.model_copy(update={"vm_short_write_url": dead})
        broken = dataclasses.replace(resources, settings=settings)
        async with app_client(create_app(resources=broken)) as dead_client:
            yield dead_client

    @pytest.mark.parametrize("fmt", gw.FORMATS)
    async def test_503_with_retry_after_and_units_metered_as_store_unavailable(
        self,
        client: httpx.AsyncClient,
        dead_store_client: httpx.AsyncClient,
        fmt: str,
    ) -> None:
        path, content_type, body = gw.payload(fmt, gw.unique_metric(), 3)
        w = await gw.writer(client)
        await gw.set_overrides(client, w.org_id, rate=1, burst=5)

        response = await dead_store_client.post(
            w.path(path), content=body, headers={**w.auth, "Content-Type": content_type}
        )

        problem = assert_problem(response, 503)
        assert problem["code"] == "store_unavailable"
        assert 1 <= int(response.headers["retry-after"]) <= 5
        assert (await gw.usage(client, w.tenant)) == {"store_unavailable": 3}
        # The units were refunded: the whole burst is still there.
        again = await client.post(w.path(TEXT), content=gw.prom_text("m", 5), headers=w.auth)
        assert again.status_code == 204, again.text
