"""OTLP logs to stored log records, in protobuf and JSON."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime

import msgspec
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord as SdkLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from telemetry.decode.errors import DecodeError, PayloadError, UnsupportedMediaType
from telemetry.decode.otlp_logs import LogsBatch, decode_otlp_logs, export_logs_response
from telemetry.documents import LogRecord
from tests.telemetry.decode.builders import T0_NS, attributes

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
ID_FIELDS = frozenset({"traceId", "spanId", "trace_id", "span_id"})


def log_request(
    *records: logs_pb2.LogRecord, resource: list[KeyValue] | None = None, scope: str = "app"
) -> ExportLogsServiceRequest:
    """A request with one resource and one scope holding `records`."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        attributes(service__name="api") if resource is None else resource
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope
    scope_logs.log_records.extend(records)
    return request


def record(body: str = "hello", **fields: object) -> logs_pb2.LogRecord:
    """A log record at T0 with a string body."""
    fields.setdefault("time_unix_nano", T0_NS)
    return logs_pb2.LogRecord(body=AnyValue(string_value=body), **fields)  # type: ignore[arg-type]


def otlp_json(request: ExportLogsServiceRequest, *, snake: bool = False) -> bytes:
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


def without_ids(batch: LogsBatch) -> LogsBatch:
    """The batch with document ids blanked (they differ between decodes)."""
    records = [msgspec.structs.replace(one, id="") for one in batch.records]
    return LogsBatch(records, batch.rejected, batch.rejected_detail)


def decode(request: ExportLogsServiceRequest) -> LogsBatch:
    """Decode as protobuf, check JSON (camelCase and snake_case) agrees, return it."""
    batch = decode_otlp_logs(
        request.SerializeToString(), PROTOBUF, tenant="org_1", project="prj_1", now=NOW
    )
    for snake in (False, True):
        other = decode_otlp_logs(
            otlp_json(request, snake=snake), JSON, tenant="org_1", project="prj_1", now=NOW
        )
        # Details differ only in the field names of each encoding.
        assert without_ids(other)[:2] == without_ids(batch)[:2], f"JSON (snake={snake}) disagrees"
    return batch


def records(*logs: logs_pb2.LogRecord, resource: list[KeyValue] | None = None) -> list[LogRecord]:
    """The stored records of one request, none rejected."""
    batch = decode(log_request(*logs, resource=resource))
    assert batch.rejected == 0, batch.rejected_detail
    return batch.records


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


class TestNormalization:
    def test_every_field_of_a_record(self) -> None:
        log = record(
            "user logged in",
            observed_time_unix_nano=T0_NS + 5_000,
            severity_number=logs_pb2.SEVERITY_NUMBER_WARN2,
            severity_text="WARN2",
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(SPAN_ID),
            attributes=attributes(user__id="u1", retries=2),
        )
        (stored,) = records(log, resource=attributes(service__name="auth", host__name="h1"))
        assert stored.id.startswith("log_")
        assert msgspec.structs.replace(stored, id="") == LogRecord(
            id="",
            tenant="org_1",
            project="prj_1",
            time=T0,
            observed_time=datetime(2023, 11, 14, 22, 13, 20, 5, tzinfo=UTC),
            service="auth",
            level="WARN",
            severity_number=14,
            body="user logged in",
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            attributes={"user.id": "u1", "retries": 2},
            resource={"service.name": "auth", "host.name": "h1"},
            scope="app",
        )

    def test_time_falls_back_to_observed_time_then_now(self) -> None:
        observed_only = record(time_unix_nano=0, observed_time_unix_nano=T0_NS)
        neither = record(time_unix_nano=0)
        first, second = records(observed_only, neither)
        assert (first.time, first.observed_time) == (T0, T0)
        assert (second.time, second.observed_time) == (NOW, None)

    def test_time_keeps_microseconds(self) -> None:
        (stored,) = records(record(time_unix_nano=T0_NS + 123_456_789))
        assert stored.time == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)

    def test_service_is_unknown_without_service_name(self) -> None:
        (stored,) = records(record(), resource=attributes(host__name="h"))
        assert stored.service == "unknown"
        assert stored.resource == {"host.name": "h"}

    @pytest.mark.parametrize(
        ("number", "level"),
        [
            (1, "TRACE"),
            (4, "TRACE"),
            (5, "DEBUG"),
            (9, "INFO"),
            (12, "INFO"),
            (13, "WARN"),
            (17, "ERROR"),
            (20, "ERROR"),
            (21, "FATAL"),
            (24, "FATAL"),
        ],
    )
    def test_level_from_severity_number(self, number: int, level: str) -> None:
        (stored,) = records(record(severity_number=number, severity_text="ignored"))
        assert (stored.level, stored.severity_number) == (level, number)

    @pytest.mark.parametrize(
        ("text", "level", "number"),
        [
            ("warning", "WARN", 13),
            ("Error", "ERROR", 17),
            ("CRITICAL", "FATAL", 21),
            ("debug3", "DEBUG", 5),
            ("chatty", "INFO", 9),
            ("", "INFO", 9),
        ],
    )
    def test_level_from_severity_text_without_a_number(
        self, text: str, level: str, number: int
    ) -> None:
        (stored,) = records(record(severity_text=text))
        assert (stored.level, stored.severity_number) == (level, number)

    @pytest.mark.parametrize(
        ("value", "body"),
        [
            (AnyValue(), ""),
            (AnyValue(int_value=42), "42"),
            (AnyValue(bool_value=True), "true"),
            (AnyValue(double_value=float("nan")), '"NaN"'),
            (AnyValue(bytes_value=b"\x00\xff"), "AP8="),
            (
                AnyValue(
                    kvlist_value=KeyValueList(
                        values=[kv("user", AnyValue(string_value="ann")), kv("n", AnyValue())]
                    )
                ),
                '{"user":"ann","n":null}',
            ),
            (
                AnyValue(
                    array_value=ArrayValue(
                        values=[AnyValue(int_value=1), AnyValue(string_value="a")]
                    )
                ),
                '[1,"a"]',
            ),
        ],
    )
    def test_body_other_than_a_string_is_json(self, value: AnyValue, body: str) -> None:
        (stored,) = records(logs_pb2.LogRecord(time_unix_nano=T0_NS, body=value))
        assert stored.body == body

    def test_nested_maps_become_dotted_keys(self) -> None:
        inner = KeyValueList(values=[kv("status_code", AnyValue(int_value=200))])
        outer = KeyValueList(
            values=[
                kv("method", AnyValue(string_value="GET")),
                kv("response", AnyValue(kvlist_value=inner)),
                kv("empty", AnyValue(kvlist_value=KeyValueList())),
            ]
        )
        (stored,) = records(record(attributes=[kv("http", AnyValue(kvlist_value=outer))]))
        assert stored.attributes == {
            "http.method": "GET",
            "http.response.status_code": 200,
            "http.empty": None,
        }

    def test_arrays_of_scalars_are_kept_other_arrays_are_json(self) -> None:
        scalars = ArrayValue(
            values=[AnyValue(string_value="a"), AnyValue(int_value=2), AnyValue(bool_value=False)]
        )
        mixed = ArrayValue(
            values=[
                AnyValue(int_value=1),
                AnyValue(kvlist_value=KeyValueList(values=[kv("k", AnyValue(int_value=2))])),
                AnyValue(),
            ]
        )
        (stored,) = records(
            record(
                attributes=[
                    kv("tags", AnyValue(array_value=scalars)),
                    kv("mixed", AnyValue(array_value=mixed)),
                    kv("none", AnyValue(array_value=ArrayValue())),
                ]
            )
        )
        assert stored.attributes == {
            "tags": ["a", 2, False],
            "mixed": '[1,{"k":2},null]',
            "none": [],
        }

    def test_bytes_are_base64_and_non_finite_floats_strings(self) -> None:
        (stored,) = records(
            record(
                attributes=[
                    kv("raw", AnyValue(bytes_value=b"\x01\x02")),
                    kv("ratio", AnyValue(double_value=float("inf"))),
                    kv("", AnyValue(string_value="dropped: no key")),
                ]
            )
        )
        assert stored.attributes == {"raw": "AQI=", "ratio": "Infinity"}

    def test_tenant_and_project_attributes_never_set_the_documents_own(self) -> None:
        log = record(attributes=attributes(tenant="org_evil", project="prj_evil"))
        (stored,) = records(log, resource=attributes(tenant="org_evil", project="prj_evil"))
        assert (stored.tenant, stored.project) == ("org_1", "prj_1")
        assert stored.attributes == {"tenant": "org_evil", "project": "prj_evil"}
        encoded = json.loads(msgspec.json.encode(stored))
        assert (encoded["tenant"], encoded["project"]) == ("org_1", "prj_1")

    def test_empty_and_all_zero_ids_are_no_id(self) -> None:
        zeros = record(trace_id=bytes(16), span_id=bytes(8))
        (empty, zero) = records(record(), zeros)
        assert (empty.trace_id, empty.span_id) == (None, None)
        assert (zero.trace_id, zero.span_id) == (None, None)

    def test_id_of_the_wrong_length_rejects_only_that_record(self) -> None:
        bad = record("bad", trace_id=b"\x01" * 5)
        worse = record("worse", span_id=b"\x01" * 9)
        batch = decode(log_request(record("good"), bad, worse))
        assert [stored.body for stored in batch.records] == ["good"]
        assert batch.rejected == 2
        assert batch.rejected_detail == (
            "resourceLogs[0].scopeLogs[0].logRecords[1]: trace_id must be 16 bytes, got 5"
            " (and 1 more rejected log records)"
        )

    def test_ids_are_unique_and_sorted_in_request_order(self) -> None:
        stored = records(*(record(str(index)) for index in range(300)))
        ids = [one.id for one in stored]
        assert len(set(ids)) == 300
        assert ids == sorted(ids)
        again = records(record())
        assert again[0].id not in ids

    def test_event_name_becomes_an_attribute(self) -> None:
        (stored,) = records(record(event_name="user.login"))
        assert stored.attributes == {"event.name": "user.login"}

    def test_records_do_not_share_mutable_attributes(self) -> None:
        tags = kv("tags", AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")])))
        first, second = records(record(attributes=[tags]), record(attributes=[tags]))
        assert isinstance(first.attributes["tags"], list)
        first.attributes["tags"].append("b")
        first.resource["x"] = 1
        assert second.attributes == {"tags": ["a"]}
        assert "x" not in second.resource

    def test_deeply_nested_attribute_is_a_decode_error(self) -> None:
        value = AnyValue(string_value="leaf")
        for _ in range(40):
            value = AnyValue(array_value=ArrayValue(values=[value]))
        body = log_request(record(attributes=[kv("deep", value)])).SerializeToString()
        with pytest.raises(DecodeError, match="nested"):
            decode_otlp_logs(body, PROTOBUF, tenant="t", project="p", now=NOW)


class TestJson:
    def test_otlp_json_as_the_collector_writes_it(self) -> None:
        body = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]
                    },
                    "scopeLogs": [
                        {
                            "scope": {"name": "nginx", "version": "1"},
                            "logRecords": [
                                {
                                    "timeUnixNano": "1700000000000000000",
                                    "observedTimeUnixNano": "1700000000000000000",
                                    "severityNumber": 17,
                                    "severityText": "Error",
                                    "body": {"stringValue": "upstream timed out"},
                                    "attributes": [
                                        {"key": "http.status_code", "value": {"intValue": "504"}},
                                        {"key": "retry", "value": {"boolValue": True}},
                                    ],
                                    "droppedAttributesCount": 0,
                                    "flags": 1,
                                    "traceId": TRACE_ID.upper(),
                                    "spanId": SPAN_ID,
                                }
                            ],
                            "schemaUrl": "https://opentelemetry.io/schemas/1.24.0",
                        }
                    ],
                }
            ]
        }
        batch = decode_otlp_logs(
            json.dumps(body).encode(), JSON, tenant="org_1", project="prj_1", now=NOW
        )
        assert batch.rejected == 0
        (stored,) = batch.records
        assert msgspec.structs.replace(stored, id="") == LogRecord(
            id="",
            tenant="org_1",
            project="prj_1",
            time=T0,
            observed_time=T0,
            service="web",
            level="ERROR",
            severity_number=17,
            body="upstream timed out",
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            attributes={"http.status_code": 504, "retry": True},
            resource={"service.name": "web"},
            scope="nginx",
        )

    def test_enum_names_are_accepted(self) -> None:
        log = {"severityNumber": "SEVERITY_NUMBER_FATAL"}
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [log]}]}]}).encode()
        (stored,) = decode_otlp_logs(body, JSON, tenant="t", project="p", now=NOW).records
        assert (stored.level, stored.severity_number, stored.time) == ("FATAL", 21, NOW)

    def test_base64_ids_of_the_generic_protobuf_mapping_are_tolerated(self) -> None:
        request = log_request(
            record(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID))
        )
        body = json_format.MessageToJson(request).encode()
        (stored,) = decode_otlp_logs(body, JSON, tenant="t", project="p", now=NOW).records
        assert (stored.trace_id, stored.span_id) == (TRACE_ID, SPAN_ID)

    @pytest.mark.parametrize(
        ("trace_id", "reason"),
        [
            ("zz" * 16, "traceId is not hex"),
            ("abc", "traceId must be 32 hex digits"),
            ("ab cd" + "0" * 27, "traceId is not hex"),
        ],
    )
    def test_bad_id_rejects_the_record(self, trace_id: str, reason: str) -> None:
        log = {"traceId": trace_id, "body": {"stringValue": "x"}}
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [log, {}]}]}]})
        batch = decode_otlp_logs(body.encode(), JSON, tenant="t", project="p", now=NOW)
        assert (len(batch.records), batch.rejected) == (1, 1)
        assert batch.rejected_detail is not None
        assert reason in batch.rejected_detail

    @pytest.mark.parametrize(
        ("body", "where"),
        [
            (b"{", "truncated"),
            (b"[]", "Expected `object`"),
            (b'{"resourceLogs": {}}', "$.resourceLogs"),
            (
                b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}',
                "$.resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano",
            ),
            (
                b'{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":-1}]}]}]}',
                "timeUnixNano",
            ),
        ],
    )
    def test_invalid_json_names_the_path(self, body: bytes, where: str) -> None:
        with pytest.raises(DecodeError, match=r"^OTLP/JSON: ") as caught:
            decode_otlp_logs(body, JSON, tenant="t", project="p", now=NOW)
        assert where in caught.value.detail


class TestEncodings:
    @pytest.mark.parametrize("content_type", [None, "text/plain", "application/grpc"])
    def test_other_content_types_are_unsupported(self, content_type: str | None) -> None:
        with pytest.raises(UnsupportedMediaType):
            decode_otlp_logs(b"", content_type, tenant="t", project="p", now=NOW)

    @pytest.mark.parametrize(("body", "content_type"), [(b"", PROTOBUF), (b"{}", JSON)])
    def test_empty_request_has_no_records(self, body: bytes, content_type: str) -> None:
        batch = decode_otlp_logs(body, content_type, tenant="t", project="p", now=NOW)
        assert batch == LogsBatch([], 0, None)

    def test_garbage_protobuf_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="not a valid ExportLogsServiceRequest"):
            decode_otlp_logs(b"\x0a\x05hello", PROTOBUF, tenant="t", project="p", now=NOW)

    def test_invalid_utf8_in_an_attribute_is_a_decode_error(self) -> None:
        body = (
            log_request(record(attributes=attributes(host="HOSTX")))
            .SerializeToString()
            .replace(b"HOSTX", b"\xff\xfe\xfd\xfc\xfb")
        )
        with pytest.raises(DecodeError, match="KeyValue"):
            decode_otlp_logs(body, PROTOBUF, tenant="t", project="p", now=NOW)

    def test_payload_from_the_opentelemetry_sdk(self) -> None:
        exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        resource = Resource.create({"service.name": "shop", "service.instance.id": "i-1"})
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        tracer_provider = TracerProvider(resource=resource)
        logger = logger_provider.get_logger("shop.orders")
        with tracer_provider.get_tracer("shop").start_as_current_span("checkout") as span:
            logger.emit(
                SdkLogRecord(
                    severity_number=SeverityNumber.WARN,
                    severity_text="WARN",
                    body="low stock",
                    attributes={"sku": "A1", "qty": 3, "sizes": ("S", "M")},
                )
            )
        logger.emit(SdkLogRecord(body={"event": "restock", "count": 2}))
        logger_provider.shutdown()
        tracer_provider.shutdown()
        batch = decode(encode_logs(exporter.get_finished_logs()))
        assert batch.rejected == 0
        warning, structured = batch.records
        context = span.get_span_context()
        assert warning.trace_id == f"{context.trace_id:032x}"
        assert warning.span_id == f"{context.span_id:016x}"
        assert (warning.service, warning.level, warning.body) == ("shop", "WARN", "low stock")
        assert warning.attributes == {"sku": "A1", "qty": 3, "sizes": ["S", "M"]}
        assert warning.resource["service.instance.id"] == "i-1"
        assert warning.scope == "shop.orders"
        # The SDK sets only the observed time when the record has no timestamp.
        assert warning.observed_time is not None
        assert warning.time == warning.observed_time
        assert json.loads(structured.body) == {"event": "restock", "count": 2}
        assert (structured.trace_id, structured.span_id) == (None, None)


class TestExportLogsResponse:
    def test_protobuf_partial_success(self) -> None:
        body = export_logs_response(3, "3 records had bad ids", PROTOBUF)
        response = ExportLogsServiceResponse.FromString(body)
        assert response.partial_success.rejected_log_records == 3
        assert response.partial_success.error_message == "3 records had bad ids"

    def test_protobuf_full_success_is_empty(self) -> None:
        body = export_logs_response(0, None, PROTOBUF)
        assert not ExportLogsServiceResponse.FromString(body).HasField("partial_success")

    def test_json_partial_success_parses_as_otlp_json(self) -> None:
        body = export_logs_response(2, "bad", "application/json; charset=utf-8")
        response = json_format.Parse(body, ExportLogsServiceResponse())
        assert response.partial_success.rejected_log_records == 2
        assert json.loads(body) == {
            "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad"}
        }

    def test_json_full_success_is_an_empty_object(self) -> None:
        assert export_logs_response(0, None, JSON) == b"{}"


def rich_request() -> ExportLogsServiceRequest:
    """One request with every kind of value, for the fuzzers to mutate."""
    nested = KeyValueList(
        values=[
            kv("a", AnyValue(array_value=ArrayValue(values=[AnyValue(double_value=1.5)]))),
            kv("b", AnyValue(bytes_value=b"\x00")),
        ]
    )
    return log_request(
        record(
            "first",
            severity_number=9,
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(SPAN_ID),
            attributes=[*attributes(k="v", n=1, ok=True), kv("m", AnyValue(kvlist_value=nested))],
        ),
        logs_pb2.LogRecord(
            observed_time_unix_nano=T0_NS,
            severity_text="warn",
            body=AnyValue(kvlist_value=nested),
            event_name="e",
        ),
        resource=attributes(service__name="api", zone="z"),
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
    """Decode; a payload error is fine, anything else fails; records must be storable."""
    try:
        batch = decode_otlp_logs(body, content_type, tenant="t", project="p", now=NOW)
    except PayloadError:
        return
    for stored in batch.records:
        assert (stored.tenant, stored.project) == ("t", "p")
        assert stored.trace_id is None or len(stored.trace_id) == 32
        assert stored.span_id is None or len(stored.span_id) == 16
        assert stored.time.tzinfo is UTC
        assert msgspec.json.decode(msgspec.json.encode(stored), type=LogRecord) == stored


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


class TestOtlpLogsFuzz:
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
            body = body.replace(b'"logRecords"', b'"log_records"')
        check_if_decoded(body, JSON)

    @settings(max_examples=100, deadline=None)
    @given(document=JSON_VALUES)
    def test_random_json_raises_only_payload_errors(self, document: object) -> None:
        check_if_decoded(json.dumps(document).encode(), JSON)


class TestRecordIds:
    def test_a_resent_body_gets_the_same_ids(self) -> None:
        body = log_request(record("a"), record("b")).SerializeToString()

        def ids(project: str = "prj_1", now: datetime = NOW) -> list[str]:
            batch = decode_otlp_logs(body, PROTOBUF, tenant="org_1", project=project, now=now)
            return [one.id for one in batch.records]

        first = ids()
        assert len(set(first)) == 2
        assert ids(now=datetime(2027, 1, 1, tzinfo=UTC)) == first  # a retry, later
        assert set(ids(project="prj_2")).isdisjoint(first)

    def test_different_bodies_get_different_ids(self) -> None:
        one, other = (
            decode_otlp_logs(
                log_request(record(text)).SerializeToString(),
                PROTOBUF,
                tenant="org_1",
                project="prj_1",
                now=NOW,
            )
            .records[0]
            .id
            for text in ("a", "b")
        )
        assert one != other
