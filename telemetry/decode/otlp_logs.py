"""OTLP/HTTP logs: decode a request to stored log records and encode the response.

Normalization, the same for protobuf and JSON:
- `time` is the record's time, else its observed time, else the time of receipt.
- `service` is the resource's `service.name`, else "unknown"; resource attributes are kept apart
  from the record's, and the scope is kept by name.
- `level` comes from the severity number, else the severity text (`warning` -> WARN), else INFO;
  `severity_number` is the one sent or, when inferred, the level's.
- The body is stored as text: a string as is, bytes as base64, anything else as JSON.
- Attributes are flattened as `normalize` says; `event_name` becomes the attribute `event.name`.
  An attribute named `tenant` or `project` stays an attribute: it never sets the document's own.
- Ids are lower-case hex; an empty or all-zero id (the SDKs' "none") is no id.
A record with an id of the wrong length is rejected (counted for partial_success); the others
are kept. A body that doesn't parse is a DecodeError: nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, cast

import msgspec
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from telemetry.decode import otlp_json
from telemetry.decode.normalize import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    InvalidRecord,
    RecordIds,
    body_text,
    datetime_from_ns,
    id_from_bytes,
    id_from_text,
    is_zero_id,
    level_from_text,
    level_number,
)
from telemetry.decode.otlp_common import (
    AttributeDecoder,
    Rejections,
    decode_json,
    enum_number,
    json_attributes,
    json_export_response,
    parse,
    plain_json,
    plain_protobuf,
    trimmed_message_class,
)
from telemetry.decode.otlp_metrics import otlp_encoding
from telemetry.documents import Attributes, Level, LogRecord, level_of

_EVENT_NAME = "event.name"


class LogsBatch(NamedTuple):
    """Log records decoded from one request, and how many could not be kept."""

    records: list[LogRecord]
    rejected: int
    rejected_detail: str | None


def decode_otlp_logs(
    body: bytes, content_type: str | None, *, tenant: str, project: str, now: datetime
) -> LogsBatch:
    """Decode an ExportLogsServiceRequest; a malformed body raises DecodeError."""
    context = _Context(tenant, project, now, body)
    if otlp_encoding(content_type) == "protobuf":
        _decode_protobuf(body, context)
    else:
        _decode_json(body, context)
    return LogsBatch(context.records, context.rejections.count, context.rejections.detail())


def export_logs_response(rejected: int, message: str | None, content_type: str | None) -> bytes:
    """An ExportLogsServiceResponse in the request's encoding, with partial_success if needed."""
    if otlp_encoding(content_type) == "json":
        return json_export_response("rejectedLogRecords", rejected, message)
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message or ""
    return response.SerializeToString()


class _Context:
    """What every record of one request shares, and what the request has produced so far."""

    __slots__ = ("ids", "now", "project", "records", "rejections", "tenant")

    def __init__(self, tenant: str, project: str, now: datetime, body: bytes) -> None:
        self.tenant = tenant
        self.project = project
        self.now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        self.ids = RecordIds("log", tenant=tenant, project=project, body=body)
        self.records: list[LogRecord] = []
        self.rejections = Rejections("log records")


def service_of(resource: Attributes) -> str:
    """The service a resource names, or "unknown"."""
    name = resource.get("service.name")
    if isinstance(name, str):
        return name or "unknown"
    if isinstance(name, int | float):
        return str(name)
    return "unknown"


_LEVELS: tuple[Level, ...] = tuple(level_of(number) for number in range(25))


def _level(severity_number: int, severity_text: str) -> tuple[Level, int]:
    """The level and severity number of a record."""
    if 1 <= severity_number <= 24:
        return _LEVELS[severity_number], severity_number
    level = (level_from_text(severity_text) if severity_text else None) or "INFO"
    return level, level_number(level)


def _ids(trace_id: str | None, span_id: str | None) -> tuple[str | None, str | None]:
    """The ids, all-zero ones dropped."""
    if trace_id is not None and is_zero_id(trace_id):
        trace_id = None
    if span_id is not None and is_zero_id(span_id):
        span_id = None
    return trace_id, span_id


_ZERO_TRACE_ID = bytes(TRACE_ID_BYTES)
_ZERO_SPAN_ID = bytes(SPAN_ID_BYTES)


def _protobuf_ids(trace_id: bytes, span_id: bytes) -> tuple[str | None, str | None]:
    """The hex ids of a protobuf record; empty and all-zero ids are None."""
    if len(trace_id) not in (0, TRACE_ID_BYTES) or len(span_id) not in (0, SPAN_ID_BYTES):
        id_from_bytes(trace_id, TRACE_ID_BYTES, "trace_id")
        id_from_bytes(span_id, SPAN_ID_BYTES, "span_id")
    return (
        trace_id.hex() if trace_id and trace_id != _ZERO_TRACE_ID else None,
        span_id.hex() if span_id and span_id != _ZERO_SPAN_ID else None,
    )


# --- protobuf -------------------------------------------------------------------------------


class _LogRecord(Protocol):
    time_unix_nano: int
    observed_time_unix_nano: int
    severity_number: int
    severity_text: str
    body: common_pb2.AnyValue
    attributes: Sequence[bytes]
    trace_id: bytes
    span_id: bytes
    event_name: str


class _Scope(Protocol):
    name: str


class _ScopeLogs(Protocol):
    scope: _Scope
    log_records: Sequence[_LogRecord]


class _Resource(Protocol):
    attributes: Sequence[bytes]


class _ResourceLogs(Protocol):
    resource: _Resource
    scope_logs: Sequence[_ScopeLogs]


class _ExportLogsServiceRequest(Protocol):
    resource_logs: Sequence[_ResourceLogs]


_Request = trimmed_message_class(
    (logs_pb2, logs_service_pb2),
    logs_service_pb2.ExportLogsServiceRequest.DESCRIPTOR.full_name,
    frozenset({"attributes"}),
)


def _decode_protobuf(body: bytes, context: _Context) -> None:
    """Append the records of an OTLP/protobuf request to the context."""
    request = cast(_ExportLogsServiceRequest, parse(_Request, body, "ExportLogsServiceRequest"))
    attributes = AttributeDecoder()
    tenant, project, now = context.tenant, context.project, context.now
    new_id, append = context.ids, context.records.append
    for r_index, resource_logs in enumerate(request.resource_logs):
        resource = attributes(resource_logs.resource.attributes)
        service = service_of(resource)
        for s_index, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name or None
            for index, log in enumerate(scope_logs.log_records):
                try:
                    trace_id, span_id = _protobuf_ids(log.trace_id, log.span_id)
                except InvalidRecord as exc:
                    where = f"resourceLogs[{r_index}].scopeLogs[{s_index}].logRecords[{index}]"
                    context.rejections.add(where, exc.reason)
                    continue
                observed_ns = log.observed_time_unix_nano
                time_ns = log.time_unix_nano or observed_ns
                level, severity_number = _level(log.severity_number, log.severity_text)
                value = log.body
                text = (
                    value.string_value
                    if value.WhichOneof("value") == "string_value"
                    else body_text(plain_protobuf(value))
                )
                record_attributes = attributes(log.attributes)
                if log.event_name:
                    record_attributes.setdefault(_EVENT_NAME, log.event_name)
                append(
                    LogRecord(
                        id=new_id(),
                        tenant=tenant,
                        project=project,
                        time=datetime_from_ns(time_ns) if time_ns else now,
                        observed_time=datetime_from_ns(observed_ns) if observed_ns else None,
                        service=service,
                        level=level,
                        severity_number=severity_number,
                        body=text,
                        trace_id=trace_id,
                        span_id=span_id,
                        attributes=record_attributes,
                        resource=resource.copy(),
                        scope=scope,
                    )
                )


# --- JSON -----------------------------------------------------------------------------------


class _JsonLogRecord(msgspec.Struct, rename="camel", gc=False):
    time_unix_nano: otlp_json.UInt64 = 0
    observed_time_unix_nano: otlp_json.UInt64 = 0
    severity_number: int | str = 0
    severity_text: str = ""
    body: otlp_json.AnyValue | None = None
    attributes: list[otlp_json.KeyValue] = []
    trace_id: str = ""
    span_id: str = ""
    event_name: str = ""


class _JsonScope(msgspec.Struct, gc=False):
    name: str = ""


class _JsonScopeLogs(msgspec.Struct, rename="camel", gc=False):
    scope: _JsonScope | None = None
    log_records: list[_JsonLogRecord] = []


class _JsonResourceLogs(msgspec.Struct, rename="camel", gc=False):
    resource: otlp_json.Resource | None = None
    scope_logs: list[_JsonScopeLogs] = []


class _JsonRequest(msgspec.Struct, rename="camel", gc=False):
    resource_logs: list[_JsonResourceLogs] = []


_json_decoder = msgspec.json.Decoder(_JsonRequest, strict=False)
_SEVERITY_NAMES = dict(logs_pb2.SeverityNumber.items())


def _decode_json(body: bytes, context: _Context) -> None:
    """Append the records of an OTLP/JSON request to the context."""
    request = decode_json(body, _json_decoder, _JsonRequest)
    tenant, project, now = context.tenant, context.project, context.now
    new_id, append = context.ids, context.records.append
    for r_index, resource_logs in enumerate(request.resource_logs):
        resource = (
            json_attributes(resource_logs.resource.attributes) if resource_logs.resource else {}
        )
        service = service_of(resource)
        for s_index, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name or None if scope_logs.scope else None
            for index, log in enumerate(scope_logs.log_records):
                try:
                    trace_id, span_id = _ids(
                        id_from_text(log.trace_id, TRACE_ID_BYTES, "traceId"),
                        id_from_text(log.span_id, SPAN_ID_BYTES, "spanId"),
                    )
                except InvalidRecord as exc:
                    where = f"resourceLogs[{r_index}].scopeLogs[{s_index}].logRecords[{index}]"
                    context.rejections.add(where, exc.reason)
                    continue
                observed_ns = log.observed_time_unix_nano
                time_ns = log.time_unix_nano or observed_ns
                severity = enum_number(log.severity_number, _SEVERITY_NAMES)
                level, severity_number = _level(severity, log.severity_text)
                record_attributes = json_attributes(log.attributes)
                if log.event_name:
                    record_attributes.setdefault(_EVENT_NAME, log.event_name)
                append(
                    LogRecord(
                        id=new_id(),
                        tenant=tenant,
                        project=project,
                        time=datetime_from_ns(time_ns) if time_ns else now,
                        observed_time=datetime_from_ns(observed_ns) if observed_ns else None,
                        service=service,
                        level=level,
                        severity_number=severity_number,
                        body=body_text(plain_json(log.body)),
                        trace_id=trace_id,
                        span_id=span_id,
                        attributes=record_attributes,
                        resource=resource.copy(),
                        scope=scope,
                    )
                )
