"""OTLP/HTTP traces: decode a request to stored spans and encode the response.

Normalization, the same for protobuf and JSON (see `otlp_logs` for service, attributes and ids):
- `kind` and `status` become the documents' names; an empty status message is none.
- An empty or all-zero `parent_span_id` makes a root span (a billed trace).
- `duration_ns` is end - start, exact; times are stored to the microsecond.
- Events are kept (time 0 reads as the span's start); links are not stored.
A span is rejected (counted for partial_success, the others kept) when its trace or span id is
missing, all zeros or of the wrong length, its parent id is of the wrong length, it has no start
time, or it ends before it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final, NamedTuple, Protocol, cast

import msgspec
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from telemetry.decode import otlp_json
from telemetry.decode.normalize import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    InvalidRecord,
    datetime_from_ns,
    id_from_bytes,
    id_from_text,
    is_zero_id,
)
from telemetry.decode.otlp_common import (
    AttributeDecoder,
    Rejections,
    decode_json,
    enum_number,
    json_attributes,
    json_export_response,
    parse,
    trimmed_message_class,
)
from telemetry.decode.otlp_logs import service_of
from telemetry.decode.otlp_metrics import otlp_encoding
from telemetry.documents import Attributes, Span, SpanEvent, SpanKind, SpanStatus

KINDS: Final[tuple[SpanKind, ...]] = (
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
)
STATUSES: Final[tuple[SpanStatus, ...]] = ("unset", "ok", "error")
_KIND_NAMES: Final = dict(trace_pb2.Span.SpanKind.items())
_STATUS_NAMES: Final = dict(trace_pb2.Status.StatusCode.items())


class SpansBatch(NamedTuple):
    """Spans decoded from one request, and how many could not be kept."""

    spans: list[Span]
    rejected: int
    rejected_detail: str | None


def decode_otlp_traces(
    body: bytes, content_type: str | None, *, tenant: str, project: str, now: datetime
) -> SpansBatch:
    """Decode an ExportTraceServiceRequest; a malformed body raises DecodeError.

    `now` is not needed (a span without times is rejected) but kept for symmetry with logs.
    """
    del now
    spans: list[Span] = []
    rejections = Rejections("spans")
    if otlp_encoding(content_type) == "protobuf":
        _decode_protobuf(body, tenant, project, spans, rejections)
    else:
        _decode_json(body, tenant, project, spans, rejections)
    return SpansBatch(spans, rejections.count, rejections.detail())


def export_traces_response(rejected: int, message: str | None, content_type: str | None) -> bytes:
    """An ExportTraceServiceResponse in the request's encoding, with partial_success if needed."""
    if otlp_encoding(content_type) == "json":
        return json_export_response("rejectedSpans", rejected, message)
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message or ""
    return response.SerializeToString()


class _SpanSource(NamedTuple):
    """The resource and scope every span of one ScopeSpans shares."""

    tenant: str
    project: str
    service: str
    resource: Attributes
    scope: str | None


def _span(
    source: _SpanSource,
    ids: tuple[str | None, str | None, str | None],
    name: str,
    kind: int,
    times: tuple[int, int],
    attributes: Attributes,
    events: list[SpanEvent],
    status: tuple[int, str],
) -> Span:
    """A stored span from normalized ids and raw OTLP fields; InvalidRecord if it can't be."""
    trace_id, span_id, parent_span_id = ids
    if trace_id is None or is_zero_id(trace_id):
        raise InvalidRecord("trace_id is missing or all zeros")
    if span_id is None or is_zero_id(span_id):
        raise InvalidRecord("span_id is missing or all zeros")
    if parent_span_id is not None and is_zero_id(parent_span_id):
        parent_span_id = None
    start_ns, end_ns = times
    if not start_ns:
        raise InvalidRecord("start_time_unix_nano is missing")
    if end_ns < start_ns:
        raise InvalidRecord("end_time_unix_nano is before start_time_unix_nano")
    code, message = status
    return Span(
        tenant=source.tenant,
        project=source.project,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        service=source.service,
        kind=KINDS[kind] if 0 <= kind < len(KINDS) else "unspecified",
        start_time=datetime_from_ns(start_ns),
        end_time=datetime_from_ns(end_ns),
        duration_ns=end_ns - start_ns,
        status=STATUSES[code] if 0 <= code < len(STATUSES) else "unset",
        status_message=message or None,
        attributes=attributes,
        resource=source.resource.copy(),
        events=events,
        scope=source.scope,
    )


# --- protobuf -------------------------------------------------------------------------------


class _Event(Protocol):
    time_unix_nano: int
    name: str
    attributes: Sequence[bytes]


class _Status(Protocol):
    code: int
    message: str


class _Span(Protocol):
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: Sequence[bytes]
    events: Sequence[_Event]
    status: _Status


class _Scope(Protocol):
    name: str


class _ScopeSpans(Protocol):
    scope: _Scope
    spans: Sequence[_Span]


class _Resource(Protocol):
    attributes: Sequence[bytes]


class _ResourceSpans(Protocol):
    resource: _Resource
    scope_spans: Sequence[_ScopeSpans]


class _ExportTraceServiceRequest(Protocol):
    resource_spans: Sequence[_ResourceSpans]


_Request = trimmed_message_class(
    (trace_pb2, trace_service_pb2),
    trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR.full_name,
    frozenset({"attributes", "links"}),
)


def _decode_protobuf(
    body: bytes, tenant: str, project: str, spans: list[Span], rejections: Rejections
) -> None:
    """Append the spans of an OTLP/protobuf request."""
    request = cast(_ExportTraceServiceRequest, parse(_Request, body, "ExportTraceServiceRequest"))
    attributes = AttributeDecoder()
    for r_index, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        service = service_of(resource)
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            source = _SpanSource(tenant, project, service, resource, scope_spans.scope.name or None)
            for index, span in enumerate(scope_spans.spans):
                start_ns = span.start_time_unix_nano
                try:
                    ids = (
                        id_from_bytes(span.trace_id, TRACE_ID_BYTES, "trace_id"),
                        id_from_bytes(span.span_id, SPAN_ID_BYTES, "span_id"),
                        id_from_bytes(span.parent_span_id, SPAN_ID_BYTES, "parent_span_id"),
                    )
                    stored = _span(
                        source,
                        ids,
                        span.name,
                        span.kind,
                        (start_ns, span.end_time_unix_nano),
                        attributes(span.attributes),
                        _events(span.events, start_ns, attributes),
                        (span.status.code, span.status.message),
                    )
                except InvalidRecord as exc:
                    where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                    rejections.add(where, exc.reason)
                    continue
                spans.append(stored)


def _events(
    events: Sequence[_Event], start_ns: int, attributes: Callable[[Sequence[bytes]], Attributes]
) -> list[SpanEvent]:
    """The stored events of a protobuf span."""
    return [
        SpanEvent(
            time=datetime_from_ns(event.time_unix_nano or start_ns),
            name=event.name,
            attributes=attributes(event.attributes),
        )
        for event in events
    ]


# --- JSON -----------------------------------------------------------------------------------


class _JsonStatus(msgspec.Struct, gc=False):
    message: str = ""
    code: int | str = 0


class _JsonEvent(msgspec.Struct, rename="camel", gc=False):
    time_unix_nano: otlp_json.UInt64 = 0
    name: str = ""
    attributes: list[otlp_json.KeyValue] = []


class _JsonSpan(msgspec.Struct, rename="camel", gc=False):
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    name: str = ""
    kind: int | str = 0
    start_time_unix_nano: otlp_json.UInt64 = 0
    end_time_unix_nano: otlp_json.UInt64 = 0
    attributes: list[otlp_json.KeyValue] = []
    events: list[_JsonEvent] = []
    status: _JsonStatus | None = None


class _JsonScope(msgspec.Struct, gc=False):
    name: str = ""


class _JsonScopeSpans(msgspec.Struct, rename="camel", gc=False):
    scope: _JsonScope | None = None
    spans: list[_JsonSpan] = []


class _JsonResourceSpans(msgspec.Struct, rename="camel", gc=False):
    resource: otlp_json.Resource | None = None
    scope_spans: list[_JsonScopeSpans] = []


class _JsonRequest(msgspec.Struct, rename="camel", gc=False):
    resource_spans: list[_JsonResourceSpans] = []


_json_decoder = msgspec.json.Decoder(_JsonRequest, strict=False)


def _decode_json(
    body: bytes, tenant: str, project: str, spans: list[Span], rejections: Rejections
) -> None:
    """Append the spans of an OTLP/JSON request."""
    request = decode_json(body, _json_decoder, _JsonRequest)
    for r_index, resource_spans in enumerate(request.resource_spans):
        resource = (
            json_attributes(resource_spans.resource.attributes) if resource_spans.resource else {}
        )
        service = service_of(resource)
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name or None if scope_spans.scope else None
            source = _SpanSource(tenant, project, service, resource, scope)
            for index, span in enumerate(scope_spans.spans):
                start_ns = span.start_time_unix_nano
                status = span.status or _JsonStatus()
                try:
                    ids = (
                        id_from_text(span.trace_id, TRACE_ID_BYTES, "traceId"),
                        id_from_text(span.span_id, SPAN_ID_BYTES, "spanId"),
                        id_from_text(span.parent_span_id, SPAN_ID_BYTES, "parentSpanId"),
                    )
                    stored = _span(
                        source,
                        ids,
                        span.name,
                        enum_number(span.kind, _KIND_NAMES),
                        (start_ns, span.end_time_unix_nano),
                        json_attributes(span.attributes),
                        [
                            SpanEvent(
                                time=datetime_from_ns(event.time_unix_nano or start_ns),
                                name=event.name,
                                attributes=json_attributes(event.attributes),
                            )
                            for event in span.events
                        ],
                        (enum_number(status.code, _STATUS_NAMES), status.message),
                    )
                except InvalidRecord as exc:
                    where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                    rejections.add(where, exc.reason)
                    continue
                spans.append(stored)
