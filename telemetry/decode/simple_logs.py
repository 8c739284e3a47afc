"""The simple JSON log and span bodies of the original Observatory API: one object or an array.

Logs: `{"service_id": "svc-1", "level": "INFO", "message": "User login successful",
"trace_id": "<uuid4 or 32 hex>", "attributes": {"user_id": "123"}, "timestamp": "...Z"}`.
Spans (the original's "traces" are spans): `{"service_id": "svc-1", "trace_id": "<uuid4>",
"trace_name": "GET /api/users", "start_time": "2025-08-08T12:00:00.123456", "http_method": "GET",
"http_url": "/api/users", "http_status_code": 200}`.

Unknown fields are refused (a typo would otherwise lose data silently); every error names the
field and array index. A trace id may be a UUID (the original's examples send `uuid4()`): it is
stored as its 32 hex digits. A numeric time is read by magnitude as seconds, milliseconds,
microseconds or nanoseconds since the epoch. A log `timestamp` must carry its timezone; span
times may be naive and then read as UTC, because the original's examples send
`datetime.utcnow().isoformat()`. `http_method`, `http_url` and `http_status_code` become the
attributes `http.method`, `http.url` and `http.status_code`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final, TypeVar, get_args

import msgspec

from telemetry.decode.errors import DecodeError
from telemetry.decode.normalize import (
    MAX_NS,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    InvalidRecord,
    RecordIds,
    datetime_from_ns,
    flatten_mapping,
    id_from_text,
    is_zero_id,
    level_from_text,
    level_number,
    ns_from_datetime,
    ns_from_number,
    random_span_id,
)
from telemetry.documents import Level, LogRecord, Span, SpanKind, SpanStatus

T = TypeVar("T")
E = TypeVar("E", bound=str)
Scalar = str | int | float | bool
Time = datetime | int | float
_KINDS: Final[dict[str, SpanKind]] = {kind: kind for kind in get_args(SpanKind)}
_STATUSES: Final[dict[str, SpanStatus]] = {status: status for status in get_args(SpanStatus)}
_HTTP_SERVER_ERROR: Final = 500


class SimpleLog(msgspec.Struct, forbid_unknown_fields=True):
    """One log record as the simple ingest endpoint takes it."""

    message: str
    level: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Scalar | None] = {}
    service_id: str | int | None = None
    timestamp: Annotated[datetime, msgspec.Meta(tz=True)] | int | float | None = None


class SimpleSpan(msgspec.Struct, forbid_unknown_fields=True):
    """One span as the simple ingest endpoint takes it."""

    trace_id: str
    span_id: str | None = None
    parent_span_id: str | None = None
    name: str | None = None
    trace_name: str | None = None
    service_id: str | int | None = None
    start_time: Time | None = None
    end_time: Time | None = None
    duration_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    status: str | None = None
    status_message: str | None = None
    kind: str | None = None
    attributes: dict[str, Scalar | None] = {}
    http_method: str | None = None
    http_url: str | None = None
    http_status_code: Annotated[int, msgspec.Meta(ge=0, le=999)] | None = None


_log_decoder = msgspec.json.Decoder(SimpleLog | list[SimpleLog])
_span_decoder = msgspec.json.Decoder(SimpleSpan | list[SimpleSpan])


def decode_simple_logs(body: bytes, *, tenant: str, project: str, now: datetime) -> list[LogRecord]:
    """Log records of a simple JSON body; DecodeError names the field and array index."""
    decoded = _decode(_log_decoder, body)
    logs = [decoded] if isinstance(decoded, SimpleLog) else decoded
    # A resent body gets the same ids (stored once), unless a record is dated by its receipt:
    # two identical bodies sent a second apart are then two events, not a retry.
    seed = (
        body if all(log.timestamp is not None for log in logs) else body + now.isoformat().encode()
    )
    ids = RecordIds("log", tenant=tenant, project=project, body=seed)
    if isinstance(decoded, SimpleLog):
        return [_log(decoded, "$", tenant, project, now, ids)]
    return [_log(log, f"$[{index}]", tenant, project, now, ids) for index, log in enumerate(logs)]


def decode_simple_spans(body: bytes, *, tenant: str, project: str, now: datetime) -> list[Span]:
    """Spans of a simple JSON body; DecodeError names the field and array index."""
    decoded = _decode(_span_decoder, body)
    now_ns = ns_from_datetime(now)
    if isinstance(decoded, SimpleSpan):
        return [_span(decoded, "$", tenant, project, now_ns)]
    return [
        _span(span, f"$[{index}]", tenant, project, now_ns) for index, span in enumerate(decoded)
    ]


def _decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode with msgspec; its messages already end with the JSON path."""
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(str(exc)) from None


def _log(
    log: SimpleLog, path: str, tenant: str, project: str, now: datetime, ids: RecordIds
) -> LogRecord:
    """One stored log record."""
    level: Level = "INFO"
    if log.level is not None:
        found = level_from_text(log.level)
        if found is None:
            raise DecodeError(
                f"level {log.level!r} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
                f" - at `{path}.level`"
            )
        level = found
    time = now if log.timestamp is None else datetime_from_ns(_ns(log.timestamp, path, "timestamp"))
    return LogRecord(
        id=ids(),
        tenant=tenant,
        project=project,
        time=time,
        service=_service(log.service_id),
        level=level,
        severity_number=level_number(level),
        body=log.message,
        trace_id=_trace_id(log.trace_id, path),
        span_id=_span_id(log.span_id, path, "span_id"),
        attributes=flatten_mapping(log.attributes),
    )


def _span(span: SimpleSpan, path: str, tenant: str, project: str, now_ns: int) -> Span:
    """One stored span."""
    if span.name is not None and span.trace_name is not None:
        raise DecodeError(f"give `name` or `trace_name`, not both - at `{path}`")
    name = span.name if span.name is not None else span.trace_name
    if name is None:
        raise DecodeError(f"Object missing required field `name` - at `{path}`")
    start_ns = now_ns if span.start_time is None else _ns(span.start_time, path, "start_time")
    if span.end_time is not None and span.duration_ms is not None:
        raise DecodeError(f"give `end_time` or `duration_ms`, not both - at `{path}`")
    if span.end_time is not None:
        end_ns = _ns(span.end_time, path, "end_time")
        if end_ns < start_ns:
            raise DecodeError(f"end_time is before start_time - at `{path}.end_time`")
    else:
        end_ns = start_ns + round((span.duration_ms or 0.0) * 1_000_000)
        if end_ns > MAX_NS:
            raise DecodeError(f"duration_ms ends after {MAX_NS} ns - at `{path}.duration_ms`")
    trace_id = _trace_id(span.trace_id, path)
    if trace_id is None:
        raise DecodeError(f"trace_id is empty - at `{path}.trace_id`")
    attributes = flatten_mapping(span.attributes)
    for key, value in (
        ("http.method", span.http_method),
        ("http.url", span.http_url),
        ("http.status_code", span.http_status_code),
    ):
        if value is not None:
            attributes[key] = value
    return Span(
        tenant=tenant,
        project=project,
        trace_id=trace_id,
        span_id=_span_id(span.span_id, path, "span_id") or random_span_id(),
        parent_span_id=_span_id(span.parent_span_id, path, "parent_span_id"),
        name=name,
        service=_service(span.service_id),
        kind="unspecified" if span.kind is None else _choice(span.kind, _KINDS, path, "kind"),
        start_time=datetime_from_ns(start_ns),
        end_time=datetime_from_ns(end_ns),
        duration_ns=end_ns - start_ns,
        status=_status(span, path),
        status_message=span.status_message or None,
        attributes=attributes,
    )


def _status(span: SimpleSpan, path: str) -> SpanStatus:
    """The explicit status, else error for an HTTP 5xx, else unset."""
    if span.status is not None:
        return _choice(span.status, _STATUSES, path, "status")
    if span.http_status_code is not None and span.http_status_code >= _HTTP_SERVER_ERROR:
        return "error"
    return "unset"


def _choice(value: str, allowed: Mapping[str, E], path: str, field: str) -> E:
    """An enum value, in any case."""
    found = allowed.get(value.strip().lower())
    if found is None:
        raise DecodeError(
            f"{field} {value!r} is not one of {', '.join(allowed)} - at `{path}.{field}`"
        )
    return found


def _service(service_id: str | int | None) -> str:
    """The service a `service_id` names, or "unknown"."""
    if service_id is None or service_id == "":
        return "unknown"
    return str(service_id)


def _ns(value: Time, path: str, field: str) -> int:
    """Nanoseconds since the epoch of an ISO-8601 or numeric time."""
    if isinstance(value, datetime):
        ns = ns_from_datetime(value)
        if not 0 <= ns <= MAX_NS:
            raise DecodeError(f"{field} must be between 1970 and 2262 - at `{path}.{field}`")
        return ns
    number = ns_from_number(value)
    if number is None:
        raise DecodeError(
            f"{field} must be a positive number of s, ms, µs or ns before 2262"
            f" - at `{path}.{field}`"
        )
    return number


def _trace_id(value: str | None, path: str) -> str | None:
    """32 lower-case hex digits of a hex or UUID trace id; None when absent."""
    if value is None or value == "":
        return None
    text = value.strip()
    if len(text) != 2 * TRACE_ID_BYTES:
        try:
            text = uuid.UUID(text).hex
        except ValueError:
            raise DecodeError(
                f"trace_id must be 32 hex digits or a UUID, got {value[:40]!r}"
                f" - at `{path}.trace_id`"
            ) from None
    try:
        trace_id = id_from_text(text, TRACE_ID_BYTES, "trace_id")
    except InvalidRecord as exc:
        raise DecodeError(f"{exc.reason} - at `{path}.trace_id`") from None
    if trace_id is not None and is_zero_id(trace_id):
        raise DecodeError(f"trace_id is all zeros - at `{path}.trace_id`")
    return trace_id


def _span_id(value: str | None, path: str, field: str) -> str | None:
    """16 lower-case hex digits; None when absent."""
    if value is None or value == "":
        return None
    if len(value) != 2 * SPAN_ID_BYTES:
        raise DecodeError(
            f"{field} must be 16 hex digits, got {value[:40]!r} - at `{path}.{field}`"
        )
    try:
        span_id = id_from_text(value, SPAN_ID_BYTES, field)
    except InvalidRecord as exc:
        raise DecodeError(f"{exc.reason} - at `{path}.{field}`") from None
    if span_id is not None and is_zero_id(span_id):
        raise DecodeError(f"{field} is all zeros - at `{path}.{field}`")
    return span_id
