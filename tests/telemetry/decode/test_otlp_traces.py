"""OTLP traces to stored spans, in protobuf and JSON."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from telemetry.decode.errors import DecodeError, PayloadError, UnsupportedMediaType
from telemetry.decode.otlp_traces import SpansBatch, decode_otlp_traces, export_traces_response
from telemetry.documents import Span, SpanEvent
from tests.telemetry.decode.builders import T0_NS, attributes

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT_ID = "eee19b7ec3c1b174"
CHILD_ID = "0102030405060708"
ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)


def trace_request(
    *spans: trace_pb2.Span, resource: list[KeyValue] | None = None, scope: str = "app"
) -> ExportTraceServiceRequest:
    """A request with one resource and one scope holding `spans`."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        attributes(service__name="api") if resource is None else resource
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request


def span(
    span_id: str = ROOT_ID,
    parent: str = "",
    *,
    start_ns: int = T0_NS,
    duration_ns: int = 1_500_000,
    **fields: object,
) -> trace_pb2.Span:
    """A span of TRACE_ID."""
    fields.setdefault("trace_id", bytes.fromhex(TRACE_ID))
    fields.setdefault("name", "GET /users")
    return trace_pb2.Span(
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent),
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        **fields,  # type: ignore[arg-type]
    )


def otlp_json(request: ExportTraceServiceRequest, *, snake: bool = False) -> bytes:
    """The request as OTLP/JSON, as the collector writes it: hex ids, enums as numbers."""
    document = json_format.MessageToDict(
        request, preserving_proto_field_name=snake, use_integers_for_enums=True
    )
    _hex_ids(document)
    return json.dumps(document).encode()


def _hex_ids(node: object) -> None:
    """Rewrite the base64 ids of protobuf's JSON mapping to hex, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def decode(request: ExportTraceServiceRequest) -> SpansBatch:
    """Decode as protobuf, check JSON (camelCase and snake_case) agrees, return it."""
    batch = decode_otlp_traces(
        request.SerializeToString(), PROTOBUF, tenant="org_1", project="prj_1", now=NOW
    )
    for snake in (False, True):
        other = decode_otlp_traces(
            otlp_json(request, snake=snake), JSON, tenant="org_1", project="prj_1", now=NOW
        )
        # Details differ only in the field names of each encoding.
        assert other[:2] == batch[:2], f"JSON (snake_case={snake}) disagrees"
    return batch


def spans(*sent: trace_pb2.Span, resource: list[KeyValue] | None = None) -> list[Span]:
    """The stored spans of one request, none rejected."""
    batch = decode(trace_request(*sent, resource=resource))
    assert batch.rejected == 0, batch.rejected_detail
    return batch.spans


class TestNormalization:
    def test_every_field_of_a_span(self) -> None:
        event = trace_pb2.Span.Event(
            time_unix_nano=T0_NS + 1_000, name="retry", attributes=attributes(attempt=2)
        )
        sent = span(
            CHILD_ID,
            ROOT_ID,
            duration_ns=1_500_123,
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
            attributes=attributes(http__method="GET", tenant="org_evil"),
            events=[event],
            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="boom"),
            links=[trace_pb2.Span.Link(trace_id=bytes(16), span_id=bytes(8))],
        )
        (stored,) = spans(sent, resource=attributes(service__name="web", host__name="h1"))
        assert stored == Span(
            tenant="org_1",
            project="prj_1",
            trace_id=TRACE_ID,
            span_id=CHILD_ID,
            parent_span_id=ROOT_ID,
            name="GET /users",
            service="web",
            kind="client",
            start_time=T0,
            end_time=T0 + timedelta(microseconds=1500),
            duration_ns=1_500_123,
            status="error",
            status_message="boom",
            attributes={"http.method": "GET", "tenant": "org_evil"},
            resource={"service.name": "web", "host.name": "h1"},
            events=[
                SpanEvent(
                    time=T0 + timedelta(microseconds=1), name="retry", attributes={"attempt": 2}
                )
            ],
            scope="app",
        )
        assert not stored.is_root

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            (0, "unspecified"),
            (1, "internal"),
            (2, "server"),
            (3, "client"),
            (4, "producer"),
            (5, "consumer"),
            (9, "unspecified"),
        ],
    )
    def test_kinds(self, kind: int, expected: str) -> None:
        (stored,) = spans(span(kind=kind))
        assert stored.kind == expected

    @pytest.mark.parametrize(("code", "expected"), [(0, "unset"), (1, "ok"), (2, "error")])
    def test_statuses(self, code: int, expected: str) -> None:
        (stored,) = spans(span(status=trace_pb2.Status(code=code)))  # type: ignore[arg-type]
        assert (stored.status, stored.status_message) == (expected, None)

    @pytest.mark.parametrize("parent", ["", "0000000000000000"])
    def test_empty_or_zero_parent_makes_a_root(self, parent: str) -> None:
        (stored,) = spans(span(parent=parent))
        assert stored.parent_span_id is None
        assert stored.is_root

    def test_event_without_a_time_is_at_the_span_start(self) -> None:
        (stored,) = spans(span(events=[trace_pb2.Span.Event(name="exception")]))
        assert stored.events == [SpanEvent(time=T0, name="exception")]

    def test_zero_duration_is_kept(self) -> None:
        (stored,) = spans(span(duration_ns=0))
        assert (stored.duration_ns, stored.end_time) == (0, stored.start_time)

    @pytest.mark.parametrize(
        ("sent", "reason"),
        [
            (span(duration_ns=-1), "end_time_unix_nano is before start_time_unix_nano"),
            (span(start_ns=0), "start_time_unix_nano is missing"),
            (span(trace_id=b""), "trace_id is missing or all zeros"),
            (span(trace_id=bytes(16)), "trace_id is missing or all zeros"),
            (span(trace_id=b"\x01" * 8), "trace_id must be 16 bytes, got 8"),
            (span("0000000000000000"), "span_id is missing or all zeros"),
            (span(parent="01"), "parent_span_id must be 8 bytes, got 1"),
        ],
    )
    def test_invalid_span_is_rejected_alone(self, sent: trace_pb2.Span, reason: str) -> None:
        batch = decode(trace_request(span(CHILD_ID), sent))
        assert [stored.span_id for stored in batch.spans] == [CHILD_ID]
        assert batch.rejected == 1
        assert batch.rejected_detail is not None
        assert batch.rejected_detail.startswith("resourceSpans[0].scopeSpans[0].spans[1]: ")
        if "bytes" not in reason:  # JSON names ids in camelCase and counts hex digits
            json_batch = decode_otlp_traces(
                otlp_json(trace_request(sent)), JSON, tenant="t", project="p", now=NOW
            )
            assert json_batch.rejected_detail is not None
            assert reason in json_batch.rejected_detail
        assert reason in batch.rejected_detail


class TestJson:
    def test_otlp_json_as_the_collector_writes_it(self) -> None:
        body = {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "http"},
                            "spans": [
                                {
                                    "traceId": TRACE_ID,
                                    "spanId": CHILD_ID,
                                    "parentSpanId": ROOT_ID.upper(),
                                    "traceState": "",
                                    "flags": 256,
                                    "name": "SELECT users",
                                    "kind": 3,
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000002000000",
                                    "attributes": [
                                        {"key": "db.system", "value": {"stringValue": "pg"}}
                                    ],
                                    "events": [
                                        {
                                            "timeUnixNano": "1700000000001000000",
                                            "name": "exception",
                                            "attributes": [
                                                {
                                                    "key": "exception.message",
                                                    "value": {"stringValue": "timeout"},
                                                }
                                            ],
                                        }
                                    ],
                                    "links": [{"traceId": TRACE_ID, "spanId": ROOT_ID}],
                                    "status": {"code": 2, "message": "timeout"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        batch = decode_otlp_traces(
            json.dumps(body).encode(), JSON, tenant="org_1", project="prj_1", now=NOW
        )
        assert batch.rejected == 0
        (stored,) = batch.spans
        assert (stored.span_id, stored.parent_span_id) == (CHILD_ID, ROOT_ID)
        assert (stored.kind, stored.status, stored.status_message) == ("client", "error", "timeout")
        assert (stored.duration_ns, stored.start_time) == (2_000_000, T0)
        assert stored.attributes == {"db.system": "pg"}
        assert stored.events == [
            SpanEvent(
                time=T0 + timedelta(milliseconds=1),
                name="exception",
                attributes={"exception.message": "timeout"},
            )
        ]

    def test_enum_names_are_accepted(self) -> None:
        sent = {
            "traceId": TRACE_ID,
            "spanId": ROOT_ID,
            "startTimeUnixNano": "1",
            "endTimeUnixNano": "2",
            "kind": "SPAN_KIND_SERVER",
            "status": {"code": "STATUS_CODE_OK"},
        }
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [sent]}]}]}).encode()
        (stored,) = decode_otlp_traces(body, JSON, tenant="t", project="p", now=NOW).spans
        assert (stored.kind, stored.status, stored.service) == ("server", "ok", "unknown")

    @pytest.mark.parametrize("kind", ["SPAN_KIND_SIDEWAYS", "²", "9" * 5000, 17])
    def test_unknown_enum_values_read_as_unspecified(self, kind: object) -> None:
        sent = {"traceId": TRACE_ID, "spanId": ROOT_ID, "startTimeUnixNano": "1", "kind": kind}
        sent["endTimeUnixNano"] = "1"
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [sent]}]}]}).encode()
        (stored,) = decode_otlp_traces(body, JSON, tenant="t", project="p", now=NOW).spans
        assert stored.kind == "unspecified"

    def test_invalid_json_names_the_path(self) -> None:
        body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"x"}]}]}]}'
        with pytest.raises(DecodeError, match=r"scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano"):
            decode_otlp_traces(body, JSON, tenant="t", project="p", now=NOW)


class TestEncodings:
    def test_unsupported_content_type(self) -> None:
        with pytest.raises(UnsupportedMediaType):
            decode_otlp_traces(b"", "text/plain", tenant="t", project="p", now=NOW)

    @pytest.mark.parametrize(("body", "content_type"), [(b"", PROTOBUF), (b"{}", JSON)])
    def test_empty_request_has_no_spans(self, body: bytes, content_type: str) -> None:
        batch = decode_otlp_traces(body, content_type, tenant="t", project="p", now=NOW)
        assert batch == SpansBatch([], 0, None)

    def test_garbage_protobuf_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="not a valid ExportTraceServiceRequest"):
            decode_otlp_traces(b"\x0a\x05hello", PROTOBUF, tenant="t", project="p", now=NOW)

    def test_payload_from_the_opentelemetry_sdk(self) -> None:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("shop.http")
        with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.route", "/checkout")
            with (
                pytest.raises(ValueError, match="declined"),
                tracer.start_as_current_span("charge", kind=SpanKind.CLIENT),
            ):
                raise ValueError("card declined")
            with tracer.start_as_current_span("notify") as notify:
                notify.set_status(Status(StatusCode.OK))
        provider.shutdown()
        batch = decode(encode_spans(exporter.get_finished_spans()))
        assert batch.rejected == 0
        by_name = {stored.name: stored for stored in batch.spans}
        server, charge, notify_span = (
            by_name["POST /checkout"],
            by_name["charge"],
            by_name["notify"],
        )
        context = root.get_span_context()
        assert server.trace_id == f"{context.trace_id:032x}"
        assert server.span_id == f"{context.span_id:016x}"
        assert (server.is_root, server.kind, server.service) == (True, "server", "shop")
        assert server.attributes == {"http.route": "/checkout"}
        assert server.scope == "shop.http"
        assert charge.parent_span_id == server.span_id
        assert (charge.kind, charge.status) == ("client", "error")
        assert charge.status_message == "ValueError: card declined"
        (exception,) = charge.events
        assert exception.name == "exception"
        assert exception.attributes["exception.type"] == "ValueError"
        assert notify_span.status == "ok"
        assert server.duration_ns >= charge.duration_ns + notify_span.duration_ns


class TestExportTracesResponse:
    def test_protobuf_partial_success(self) -> None:
        body = export_traces_response(2, "2 spans had no start", PROTOBUF)
        response = ExportTraceServiceResponse.FromString(body)
        assert response.partial_success.rejected_spans == 2
        assert response.partial_success.error_message == "2 spans had no start"

    def test_protobuf_full_success_is_empty(self) -> None:
        body = export_traces_response(0, None, PROTOBUF)
        assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")

    def test_json_partial_success_parses_as_otlp_json(self) -> None:
        body = export_traces_response(1, "bad", JSON)
        response = json_format.Parse(body, ExportTraceServiceResponse())
        assert response.partial_success.rejected_spans == 1
        assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "bad"}}

    def test_json_full_success_is_an_empty_object(self) -> None:
        assert export_traces_response(0, None, JSON) == b"{}"


def rich_request() -> ExportTraceServiceRequest:
    """A root and a child with events, links and a status, for the fuzzers to mutate."""
    return trace_request(
        span(kind=2, attributes=attributes(http__method="GET", n=1)),
        span(
            CHILD_ID,
            ROOT_ID,
            start_ns=T0_NS + 10,
            duration_ns=100,
            events=[trace_pb2.Span.Event(time_unix_nano=T0_NS + 20, name="exception")],
            links=[trace_pb2.Span.Link(trace_id=bytes.fromhex(TRACE_ID))],
            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="x"),
        ),
        resource=attributes(service__name="api"),
    )


RICH_PROTOBUF = rich_request().SerializeToString()
RICH_JSON = json.loads(otlp_json(rich_request()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def check_if_decoded(body: bytes, content_type: str) -> None:
    """Decode; a payload error is fine, anything else fails; spans must be storable."""
    try:
        batch = decode_otlp_traces(body, content_type, tenant="t", project="p", now=NOW)
    except PayloadError:
        return
    for stored in batch.spans:
        assert (stored.tenant, stored.project) == ("t", "p")
        assert len(stored.trace_id) == 32
        assert len(stored.span_id) == 16
        assert stored.parent_span_id is None or len(stored.parent_span_id) == 16
        assert stored.duration_ns >= 0
        assert stored.end_time >= stored.start_time
        assert msgspec.json.decode(msgspec.json.encode(stored), type=Span) == stored


def json_paths(document: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a JSON document."""
    paths = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            paths += json_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            paths += json_paths(value, (*prefix, index))
    return paths


RICH_JSON_PATHS = json_paths(RICH_JSON)[1:]


class TestOtlpTracesFuzz:
    @settings(max_examples=200, deadline=None)
    @given(body=st.binary(max_size=512), content_type=st.sampled_from([PROTOBUF, JSON]))
    def test_random_bytes_raise_only_payload_errors(self, body: bytes, content_type: str) -> None:
        check_if_decoded(body, content_type)

    @settings(max_examples=200, deadline=None)
    @given(
        position=st.integers(0, len(RICH_PROTOBUF) - 1),
        flip=st.integers(1, 255),
        cut=st.booleans(),
    )
    def test_mutated_protobuf_raises_only_payload_errors(
        self, position: int, flip: int, cut: bool
    ) -> None:
        body = bytearray(RICH_PROTOBUF)
        if cut:
            del body[position:]
        else:
            body[position] ^= flip
        check_if_decoded(bytes(body), PROTOBUF)

    @settings(max_examples=200, deadline=None)
    @given(path=st.sampled_from(RICH_JSON_PATHS), value=JSON_VALUES, snake=st.booleans())
    def test_json_with_a_replaced_value_raises_only_payload_errors(
        self, path: tuple[object, ...], value: object, snake: bool
    ) -> None:
        document = copy.deepcopy(RICH_JSON)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
        body = json.dumps(document).encode()
        if snake:
            body = body.replace(b'"scopeSpans"', b'"scope_spans"')
        check_if_decoded(body, JSON)

    @settings(max_examples=100, deadline=None)
    @given(document=JSON_VALUES)
    def test_random_json_raises_only_payload_errors(self, document: object) -> None:
        check_if_decoded(json.dumps(document).encode(), JSON)
