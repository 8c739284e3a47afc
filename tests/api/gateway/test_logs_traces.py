"""Logs and traces through the gateway: every format in, search, stats, trace trees and analysis,
units metered as §4 says, refusals as §4/§5 say, and no tenant reaching another's documents."""

from __future__ import annotations

import functools
import gzip
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.support import gateway as gw
from tests.support.tenants import Tenant, sign_up

PROBLEM = "application/problem+json"
PROTOBUF = "application/x-protobuf"


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction for the module: most tests need a project, not a new tenant."""
    return module_client


@pytest.fixture(scope="module")
async def owner(module_client: httpx.AsyncClient) -> Tenant:
    """The org whose fresh projects most tests write to."""
    return await sign_up(module_client, "docs")


@pytest.fixture
def new_writer(client: httpx.AsyncClient, owner: Tenant) -> gw.NewWriter:
    """A new project of the shared org and a key of it."""
    return functools.partial(gw.project_writer, client, owner)


def ns(moment: datetime) -> int:
    """Nanoseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000_000)


def hex_id(size: int) -> str:
    """A random lower-case hex id of `size` bytes."""
    return secrets.token_hex(size)


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_logs(
    *messages: str, service: str = "checkout", trace_id: str | None = None, age_s: float = 1.0
) -> ExportLogsServiceRequest:
    """An ExportLogsServiceRequest with one record per message (ERROR when it says 'failed')."""
    at = ns(datetime.now(UTC) - timedelta(seconds=age_s))
    records = [
        logs_pb2.LogRecord(
            time_unix_nano=at,
            severity_number=17 if "failed" in message else 9,
            body=AnyValue(string_value=message),
            attributes=[_kv("user_id", "42")],
            trace_id=bytes.fromhex(trace_id) if trace_id else b"",
        )
        for message in messages
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource={"attributes": [_kv("service.name", service)]},
                scope_logs=[logs_pb2.ScopeLogs(log_records=records)],
            )
        ]
    )


def otlp_trace(trace_id: str, *, error: bool = False) -> ExportTraceServiceRequest:
    """A trace of three spans: frontend root → checkout → payments (optionally failing)."""
    start = datetime.now(UTC) - timedelta(seconds=2)
    root, child, grandchild = hex_id(8), hex_id(8), hex_id(8)

    def span(
        span_id: str, parent: str, name: str, offset_ms: int, length_ms: int, failed: bool = False
    ) -> trace_pb2.Span:
        begin = start + timedelta(milliseconds=offset_ms)
        return trace_pb2.Span(
            trace_id=bytes.fromhex(trace_id),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent) if parent else b"",
            name=name,
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=ns(begin),
            end_time_unix_nano=ns(begin + timedelta(milliseconds=length_ms)),
            status=trace_pb2.Status(code=2 if failed else 1, message="boom" if failed else ""),
        )

    def resource(service: str, spans: list[trace_pb2.Span]) -> trace_pb2.ResourceSpans:
        return trace_pb2.ResourceSpans(
            resource={"attributes": [_kv("service.name", service)]},
            scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
        )

    return ExportTraceServiceRequest(
        resource_spans=[
            resource("frontend", [span(root, "", "GET /checkout", 0, 100)]),
            resource("checkout", [span(child, root, "place order", 10, 80)]),
            resource("payments", [span(grandchild, child, "charge", 20, 50, failed=error)]),
        ]
    )


async def search(
    client: httpx.AsyncClient, w: gw.Writer, **body: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    response = await client.post(w.path("logs/search"), json=body, headers=w.auth)
    items = response.json().get("items", []) if response.status_code == 200 else []
    return response, items


class TestLogsIn:
    async def test_otlp_protobuf_logs_are_searchable(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = otlp_logs("payment failed for order 17", "order 17 shipped").SerializeToString()
        response = await client.post(
            w.path("otlp/v1/logs"), content=body, headers=w.auth | {"content-type": PROTOBUF}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == PROTOBUF
        answer = ExportLogsServiceResponse.FromString(response.content)
        assert not answer.HasField("partial_success")
        assert "RateLimit" in response.headers

        _, found = await search(client, w, query='"payment failed"')
        assert [r["body"] for r in found] == ["payment failed for order 17"]
        assert found[0]["service"] == "checkout"
        assert found[0]["level"] == "ERROR"
        assert found[0]["attributes"] == {"user_id": "42"}
        assert found[0]["project"] == w.project_id

        _, by_level = await search(client, w, level="error")
        assert len(by_level) == 1
        _, by_attribute = await search(client, w, query="user_id:42 AND shipped")
        assert [r["body"] for r in by_attribute] == ["order 17 shipped"]

    async def test_a_resent_request_is_stored_once(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = otlp_logs("retried after a timeout").SerializeToString()
        for _ in range(2):  # the exporter's retry after a lost answer
            response = await client.post(
                w.path("otlp/v1/logs"), content=body, headers=w.auth | {"content-type": PROTOBUF}
            )
            assert response.status_code == 200, response.text
        _, found = await search(client, w, query="retried")
        assert len(found) == 1

    async def test_otlp_json_gzip_logs(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        trace_id = hex_id(16)
        payload = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                    },
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": str(ns(datetime.now(UTC))),
                                    "severityText": "warning",
                                    "body": {"stringValue": "disk almost full"},
                                    "traceId": trace_id.upper(),
                                }
                            ]
                        }
                    ],
                }
            ]
        }
        response = await client.post(
            w.path("otlp/v1/logs"),
            content=gzip.compress(json.dumps(payload).encode()),
            headers=w.auth | {"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {}
        _, found = await search(client, w, trace_id=trace_id)
        assert [(r["level"], r["service"], r["trace_id"]) for r in found] == [
            ("WARN", "api", trace_id)
        ]

    async def test_simple_json_logs_of_the_original_api(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = [
            {"service_id": "svc-1", "level": "INFO", "message": "User login successful"},
            {
                "service_id": "svc-1",
                "level": "ERROR",
                "message": "Database timeout",
                "trace_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "attributes": {"user_id": "123"},
            },
        ]
        response = await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 2, "rejected": 0}
        _, found = await search(client, w, query="timeout", service="svc-1")
        assert found[0]["trace_id"] == "0f8fad5bd9cb469fa16570867728950e"

    async def test_logs_are_metered_in_stored_bytes(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = {"message": "x" * 1000}
        response = await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        assert response.status_code == 200
        used = await gw.usage(client, w, "logs")
        _, found = await search(client, w)
        stored = dict(found[0])
        # The metered unit is the normalized document; the API shows the same fields.
        assert 1000 < used["accepted"] < 1000 + len(json.dumps(stored))

    async def test_records_outside_retention_are_rejected_not_stored(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        old = (datetime.now(UTC) - timedelta(days=30)).isoformat()
        body = [{"message": "ancient", "timestamp": old}, {"message": "fresh"}]
        response = await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        assert response.status_code == 200
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (1, 1)
        assert "retention" in answer["detail"]
        _, found = await search(client, w)
        assert [r["body"] for r in found] == ["fresh"]
        assert (await gw.usage(client, w, "logs"))["invalid"] > 0

    @pytest.mark.parametrize(
        ("path", "content", "headers", "status"),
        [
            ("otlp/v1/logs", b"\x0a\xff\xff", {"content-type": PROTOBUF}, 400),
            ("otlp/v1/logs", b"{}", {"content-type": "text/plain"}, 415),
            ("otlp/v1/traces", b"not json", {"content-type": "application/json"}, 400),
            ("ingest/logs", b'{"mesage": "typo"}', {"content-type": "application/json"}, 400),
            ("ingest/spans", b"[{}]", {"content-type": "application/json"}, 400),
            ("otlp/v1/logs", b"\x1f\x8bnot gzip", {"content-encoding": "gzip"}, 400),
        ],
    )
    async def test_bad_bodies_are_problems_and_store_nothing(
        self,
        client: httpx.AsyncClient,
        new_writer: gw.NewWriter,
        path: str,
        content: bytes,
        headers: dict[str, str],
        status: int,
    ) -> None:
        w = await new_writer()
        headers = {"content-type": PROTOBUF} | headers
        response = await client.post(w.path(path), content=content, headers=w.auth | headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["detail"]
        assert not await gw.usage(client, w, "logs")
        assert not await gw.usage(client, w, "spans")

    async def test_a_quota_refusal_stores_nothing(
        self, client: httpx.AsyncClient, owner: Tenant
    ) -> None:
        tenant = await sign_up(client, "capped")
        response = await client.put(
            f"/v1/admin/orgs/{tenant.org_id}/overrides",
            json={"included": {"logs": 300}},
            headers=gw.OPERATOR,
        )
        assert response.status_code == 200, response.text
        w = await gw.project_writer(client, tenant)
        first = await client.post(w.path("ingest/logs"), json={"message": "a"}, headers=w.auth)
        assert first.status_code == 200, first.text
        refused = await client.post(
            w.path("ingest/logs"), json={"message": "b" * 400}, headers=w.auth
        )
        assert refused.status_code == 429
        assert refused.json()["reason"] == "quota_exceeded"
        assert refused.json()["category"] == "logs"
        assert int(refused.headers["retry-after"]) >= 1
        _, found = await search(client, w)
        assert [r["body"] for r in found] == ["a"]

    async def test_a_key_without_the_scope_is_403(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer(scopes=["metrics:write"])
        response = await client.post(w.path("ingest/logs"), json={"message": "a"}, headers=w.auth)
        assert response.status_code == 403
        response = await client.post(w.path("logs/search"), json={}, headers=w.auth)
        assert response.status_code == 403


class TestLogReads:
    async def test_pages_are_newest_first_and_cursor_continues(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        start = datetime.now(UTC) - timedelta(minutes=5)
        body = [
            {"message": f"line {i}", "timestamp": (start + timedelta(seconds=i)).isoformat()}
            for i in range(5)
        ]
        await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        seen: list[str] = []
        cursor = None
        while True:
            response, items = await search(client, w, limit=2, cursor=cursor)
            seen += [r["body"] for r in items]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"line {i}" for i in reversed(range(5))]

    async def test_stats_count_by_level_and_service(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        body = [
            {"message": "a", "level": "INFO", "service_id": "web"},
            {"message": "b", "level": "INFO", "service_id": "web"},
            {"message": "c", "level": "ERROR", "service_id": "db"},
        ]
        await client.post(w.path("ingest/logs"), json=body, headers=w.auth)
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        response = await client.get(
            w.path("logs/stats"), params={"start": start, "bucket": 7200}, headers=w.auth
        )
        assert response.status_code == 200, response.text
        counts = {(r["level"], r["service"]): r["count"] for r in response.json()["items"]}
        assert counts == {("INFO", "web"): 2, ("ERROR", "db"): 1}

        errors = await client.get(w.path("logs/errors"), headers=w.auth)
        assert errors.status_code == 200, errors.text
        assert [r["body"] for r in errors.json()["items"]] == ["c"]
        assert errors.json()["by_service"] == {"db": 1}

    @pytest.mark.parametrize(
        "body",
        [
            {"query": "(unclosed"},
            {"query": "level:LOUD"},
            {"level": "LOUD"},
            {"trace_id": "xyz"},
            {"start": "2026-01-01T00:00:00"},
            {"limit": 0},
            {"cursor": "bm90IG91cnM"},
            {"unknown": 1},
        ],
    )
    async def test_bad_searches_are_4xx_problems(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter, body: dict[str, Any]
    ) -> None:
        w = await new_writer()
        response, _ = await search(client, w, **body)
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].startswith(PROBLEM)


class TestTraces:
    async def test_trace_tree_analysis_services_and_topology(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        trace_id = hex_id(16)
        response = await client.post(
            w.path("otlp/v1/traces"),
            content=otlp_trace(trace_id, error=True).SerializeToString(),
            headers=w.auth | {"content-type": PROTOBUF},
        )
        assert response.status_code == 200, response.text
        assert not ExportTraceServiceResponse.FromString(response.content).HasField(
            "partial_success"
        )
        units = await gw.usage(client, w, "traces"), await gw.usage(client, w, "spans")
        assert (units[0]["accepted"], units[1]["accepted"]) == (1, 3)

        tree = (await client.get(w.path(f"traces/{trace_id}"), headers=w.auth)).json()
        assert tree["span_count"] == 3
        assert [span["name"] for span in tree["spans"]] == [
            "GET /checkout",
            "place order",
            "charge",
        ]
        [root] = tree["roots"]
        assert root["service"] == "frontend"
        assert root["children"][0]["service"] == "checkout"
        assert root["children"][0]["children"][0]["name"] == "charge"

        analysis = (await client.get(w.path(f"traces/{trace_id}/analysis"), headers=w.auth)).json()
        assert analysis["span_count"] == 3
        assert [e["service"] for e in analysis["errors"]] == ["payments"]
        assert analysis["critical_path"][0]["service"] == "frontend"
        assert set(analysis["self_time_by_service"]) == {"frontend", "checkout", "payments"}

        found = await client.get(w.path("traces"), params={"status": "error"}, headers=w.auth)
        assert [t["trace_id"] for t in found.json()["items"]] == [trace_id]
        slow = await client.get(w.path("traces"), params={"min_duration_ms": 90}, headers=w.auth)
        assert [t["root_service"] for t in slow.json()["items"]] == ["frontend"]

        services = (await client.get(w.path("services"), headers=w.auth)).json()["items"]
        assert {s["name"]: s["error_count"] for s in services} == {
            "frontend": 0,
            "checkout": 0,
            "payments": 1,
        }
        edges = (await client.get(w.path("topology"), headers=w.auth)).json()["edges"]
        assert {(e["parent_service"], e["child_service"], e["calls"]) for e in edges} == {
            ("frontend", "checkout", 1),
            ("checkout", "payments", 1),
        }

    async def test_simple_spans_and_logs_of_a_trace(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        trace_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
        span = {
            "service_id": "svc-1",
            "trace_id": trace_id,
            "trace_name": "GET /api/users",
            "start_time": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "duration_ms": 12.5,
            "http_method": "GET",
            "http_url": "/api/users",
            "http_status_code": 200,
        }
        response = await client.post(w.path("ingest/spans"), json=span, headers=w.auth)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
        log = {"message": "served users", "trace_id": trace_id}
        await client.post(w.path("ingest/logs"), json=log, headers=w.auth)

        hex_trace = trace_id.replace("-", "")
        tree = (await client.get(w.path(f"traces/{hex_trace}"), headers=w.auth)).json()
        assert tree["roots"][0]["name"] == "GET /api/users"
        assert tree["roots"][0]["attributes"]["http.status_code"] == 200
        logs = (await client.get(w.path(f"traces/{hex_trace}/logs"), headers=w.auth)).json()
        assert [r["body"] for r in logs["items"]] == ["served users"]

    async def test_unknown_or_malformed_trace_ids(
        self, client: httpx.AsyncClient, new_writer: gw.NewWriter
    ) -> None:
        w = await new_writer()
        assert (await client.get(w.path(f"traces/{hex_id(16)}"), headers=w.auth)).status_code == 404
        assert (await client.get(w.path("traces/nothex"), headers=w.auth)).status_code == 422
        response = await client.get(w.path(f"traces/{hex_id(16)}/analysis"), headers=w.auth)
        assert response.status_code == 404
        response = await client.get(w.path("traces"), params={"status": "weird"}, headers=w.auth)
        assert response.status_code == 400


class TestIsolation:
    async def test_another_tenant_never_sees_documents(self, client: httpx.AsyncClient) -> None:
        a, b = await gw.writer(client, "alpha"), await gw.writer(client, "beta")
        trace_id = hex_id(16)
        await client.post(
            a.path("otlp/v1/logs"),
            content=otlp_logs("alpha secret", trace_id=trace_id).SerializeToString(),
            headers=a.auth | {"content-type": PROTOBUF},
        )
        await client.post(
            a.path("otlp/v1/traces"),
            content=otlp_trace(trace_id).SerializeToString(),
            headers=a.auth | {"content-type": PROTOBUF},
        )
        # B's key on A's project: 404 on every route, writes and reads alike.
        for method, path in [
            ("POST", "logs/search"),
            ("GET", "logs/stats"),
            ("GET", "logs/errors"),
            ("GET", "traces"),
            ("GET", f"traces/{trace_id}"),
            ("GET", f"traces/{trace_id}/analysis"),
            ("GET", f"traces/{trace_id}/logs"),
            ("GET", "services"),
            ("GET", "topology"),
            ("POST", "ingest/logs"),
            ("POST", "otlp/v1/traces"),
        ]:
            body = {} if method == "POST" else None
            response = await client.request(
                method, f"/p/{a.project_id}/{path}", json=body, headers=b.auth
            )
            assert response.status_code == 404, (path, response.text)
        # B's own project: queries naming A's tenant or project find nothing.
        for query in [
            f"tenant:{a.org_id}",
            f"project:{a.project_id}",
            f"tenant:{a.org_id} OR secret",
            "NOT tenant:nobody",
            "alpha",
        ]:
            response, found = await search(client, b, query=query)
            assert response.status_code in (200, 400), response.text
            assert found == []
        assert (await client.get(b.path(f"traces/{trace_id}"), headers=b.auth)).status_code == 404
        _, own = await search(client, a, query="alpha")
        assert len(own) == 1
