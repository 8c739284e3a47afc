"""Fuzzing the logs and spans ingest endpoints: arbitrary bytes and mutated valid payloads, with
every content type and encoding, never make them fail (5xx)."""

from __future__ import annotations

import base64
import json
import secrets
import time

import httpx
import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.api.gateway.test_fuzz import (
    CONTENT_TYPES,
    ENCODINGS,
    FUZZ,
    assert_handled,
    encode,
    mutated,
    post,
)
from tests.support import gateway as gw

PATHS = ["otlp/v1/logs", "otlp/v1/traces", "ingest/logs", "ingest/spans"]


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_logs() -> ExportLogsServiceRequest:
    now = time.time_ns()
    return ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource={"attributes": [_kv("service.name", "fuzz")]},
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        log_records=[
                            logs_pb2.LogRecord(
                                time_unix_nano=now,
                                severity_number=17,
                                severity_text="ERROR",
                                body=AnyValue(string_value="fuzz failed"),
                                attributes=[_kv("user_id", "42")],
                                trace_id=bytes.fromhex("ab" * 16),
                                span_id=bytes.fromhex("cd" * 8),
                            )
                        ]
                    )
                ],
            )
        ]
    )


def otlp_spans() -> ExportTraceServiceRequest:
    now = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=bytes.fromhex("ab" * 16),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent) if parent else b"",
            name=name,
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 5_000_000,
            attributes=[_kv("http.method", "GET")],
            status=trace_pb2.Status(code=1),
        )
        for span_id, parent, name in [("01" * 8, "", "root"), ("02" * 8, "01" * 8, "child")]
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [_kv("service.name", "fuzz")]},
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )


def otlp_json_hex(message: ExportLogsServiceRequest | ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as the spec says: trace and span ids in hex, not protobuf JSON's base64."""
    data = json_format.MessageToDict(message)

    def hexify(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hexify(value)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(data)
    return json.dumps(data).encode()


def seeds() -> list[tuple[str, str, bytes]]:
    """A valid payload of every format of the four endpoints."""
    logs, spans = otlp_logs(), otlp_spans()
    simple_log = {
        "service_id": "svc-1",
        "level": "ERROR",
        "message": "Database timeout",
        "trace_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "attributes": {"user_id": "123"},
    }
    simple_span = {
        "service_id": "svc-1",
        "trace_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "trace_name": "GET /api/users",
        "duration_ms": 12.5,
        "http_method": "GET",
        "http_url": "/api/users",
        "http_status_code": 200,
    }
    return [
        (PATHS[0], gw.PROTOBUF, logs.SerializeToString()),
        (PATHS[0], "application/json", otlp_json_hex(logs)),
        (PATHS[1], gw.PROTOBUF, spans.SerializeToString()),
        (PATHS[1], "application/json", otlp_json_hex(spans)),
        (PATHS[2], "application/json", json.dumps(simple_log).encode()),
        (PATHS[2], "application/json", json.dumps([simple_log, {"message": "x"}]).encode()),
        (PATHS[3], "application/json", json.dumps(simple_span).encode()),
        (PATHS[3], "application/json", json.dumps([simple_span]).encode()),
    ]


SEEDS = seeds()


@pytest.fixture
def client(module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """One database transaction (and one tenant) for the module."""
    return module_client


@pytest.fixture(scope="module")
async def fuzz_writer(module_client: httpx.AsyncClient) -> gw.Writer:
    """A tenant whose logs and traces limits never get in the way of fuzzing."""
    w = await gw.writer(module_client, f"fuzzdocs{secrets.token_hex(2)}")
    categories = ("logs", "traces", "spans")
    response = await module_client.put(
        f"/v1/admin/orgs/{w.org_id}/overrides",
        json={
            "included": dict.fromkeys(categories, 10**12),
            "rate_limits": {c: {"rate": 10**9, "burst": 10**10} for c in categories},
        },
        headers=gw.OPERATOR,
    )
    assert response.status_code == 200, response.text
    return w


class TestArbitraryBytes:
    @pytest.mark.parametrize("path", PATHS)
    @FUZZ
    @given(
        body=st.binary(max_size=4096),
        content_type=st.sampled_from(CONTENT_TYPES),
        encoding=st.sampled_from(ENCODINGS),
        compress=st.booleans(),
    )
    async def test_never_a_server_error(
        self,
        client: httpx.AsyncClient,
        fuzz_writer: gw.Writer,
        path: str,
        body: bytes,
        content_type: str | None,
        encoding: str | None,
        compress: bool,
    ) -> None:
        if compress:
            body = encode(body, encoding)

        response = await post(client, fuzz_writer, path, body, content_type, encoding)

        assert_handled(response)


class TestMutatedPayloads:
    @FUZZ
    @given(data=st.data())
    async def test_never_a_server_error(
        self, client: httpx.AsyncClient, fuzz_writer: gw.Writer, data: st.DataObject
    ) -> None:
        path, seed_type, seed = data.draw(st.sampled_from(SEEDS))
        body = data.draw(mutated(seed))
        content_type: str | None = seed_type
        if data.draw(st.booleans()):
            content_type = data.draw(st.sampled_from(CONTENT_TYPES))
        encoding = data.draw(st.sampled_from([None, "gzip", "x-gzip", "deflate"]))

        response = await post(
            client, fuzz_writer, path, encode(body, encoding), content_type, encoding
        )

        assert_handled(response)

    @pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
    async def test_the_seeds_themselves_are_accepted(
        self, client: httpx.AsyncClient, fuzz_writer: gw.Writer, encoding: str | None
    ) -> None:
        for path, content_type, body in SEEDS:
            response = await post(
                client, fuzz_writer, path, encode(body, encoding), content_type, encoding
            )
            assert response.status_code == 200, (path, content_type, response.text)
            if content_type == "application/json" and path.startswith("ingest/"):
                assert response.json()["rejected"] == 0, (path, response.text)
