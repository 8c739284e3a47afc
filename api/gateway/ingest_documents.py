"""Logs and spans in: OTLP/HTTP and simple JSON, admitted whole, written to the log/trace store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

from litestar import Controller, Request, Response, post
from litestar.params import FromPath

from api.deps import AppResources
from api.gateway.admit import (
    PayloadProblem,
    admit_or_refuse,
    count_accepted,
    record_invalid,
    refund_duplicates,
    store_failed,
)
from api.gateway.protocol import key_from, rate_limit_headers
from billing.quotas.base import Category
from telemetry.decode.errors import PayloadError
from telemetry.documents import LogRecord, Span
from telemetry.documents_ingest import (
    Answer,
    Decoded,
    Format,
    decode_logs,
    decode_spans,
    log_time,
    logs_answer,
    span_time,
    spans_answer,
    within_retention,
)
from telemetry.stores import Scope as StoreScope
from telemetry.stores import TelemetryStore
from telemetry.units import log_units, trace_units
from tenancy.authz import authenticate_ingest
from tenancy.roles import Scope

D = TypeVar("D", LogRecord, Span)


def _log_units(records: list[LogRecord]) -> dict[Category, int]:
    return {Category.LOGS: log_units(records)}


def _span_units(spans: list[Span]) -> dict[Category, int]:
    units = trace_units(spans)
    # A batch of child spans only bills no trace: leave the zero out rather than check it.
    counted = {Category.TRACES: units.traces, Category.SPANS: units.spans}
    return {category: n for category, n in counted.items() if n}


@dataclass(frozen=True)
class Signal(Generic[D]):
    """What differs between logs and spans on the way in."""

    scope: Scope
    decode: Callable[..., Decoded[D]]
    time_of: Callable[[D], datetime]
    units_of: Callable[[list[D]], Mapping[Category, int]]
    answer: Callable[[Format, str | None, Decoded[D]], Answer]
    writer: Callable[[TelemetryStore], Callable[[StoreScope, list[D]], Awaitable[list[D]]]]


LOGS: Final = Signal[LogRecord](
    Scope.LOGS_WRITE, decode_logs, log_time, _log_units, logs_answer, lambda s: s.write_logs
)
SPANS: Final = Signal[Span](
    Scope.TRACES_WRITE, decode_spans, span_time, _span_units, spans_answer, lambda s: s.write_spans
)


async def _ingest(
    request: Request[Any, Any, Any],
    resources: AppResources,
    project_id: str,
    signal: Signal[D],
    form: Format,
) -> Response[bytes]:
    now = datetime.now(UTC)
    token = key_from(request)
    key = await authenticate_ingest(resources.key_lookup, token, project_id, signal.scope, now)
    content_type = request.headers.get("content-type")
    try:
        decoded = signal.decode(
            await request.body(),
            form,
            content_type,
            request.headers.get("content-encoding"),
            tenant=key.org_id,
            project=project_id,
            now=now,
        )
    except PayloadError as exc:
        raise PayloadProblem(exc) from None
    # The tier decides what may be stored; the admission below reads the same cached entry.
    tier = (await resources.admission.entitlements(key.org_id, now)).plan.tier
    kept, dropped = within_retention(decoded, tier, now, signal.time_of)
    for category, quantity in signal.units_of(dropped).items():
        await record_invalid(resources, key, project_id, category, quantity, now)
    if not kept.documents:
        reply = signal.answer(form, content_type, kept)
        return Response(reply.body, status_code=200, media_type=reply.media_type)
    units = signal.units_of(kept.documents)
    admitted = await admit_or_refuse(resources, key, project_id, units, now)
    scope = StoreScope(key.org_id, project_id, admitted.entitlements.plan.tier)
    try:
        stored = await signal.writer(resources.telemetry)(scope, kept.documents)
    except Exception as exc:  # any failure after admission: refund, then 503
        raise await store_failed(resources, admitted, "log/trace", exc) from None
    if len(stored) < len(kept.documents):  # a retry: bill only what this request stored
        units = await refund_duplicates(resources, admitted, signal.units_of(stored))
    count_accepted(units)
    reply = signal.answer(form, content_type, kept)
    return Response(
        reply.body,
        status_code=200,
        media_type=reply.media_type,
        headers=rate_limit_headers(admitted.decision, units),
    )


class LogsIngestController(Controller):
    """Logs and spans in: OTLP/HTTP (protobuf or JSON) and the simple JSON bodies."""

    path = "/p/{project_id:str}"
    tags = ["data plane"]

    @post("/otlp/v1/logs", operation_id="otlp_logs", status_code=200)
    async def otlp_logs(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """OTLP/HTTP logs, protobuf or JSON, gzip or deflate."""
        return await _ingest(request, resources, project_id, LOGS, "otlp")

    @post("/otlp/v1/traces", operation_id="otlp_traces", status_code=200)
    async def otlp_traces(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """OTLP/HTTP traces, protobuf or JSON (hex trace and span ids), gzip or deflate."""
        return await _ingest(request, resources, project_id, SPANS, "otlp")

    @post("/ingest/logs", operation_id="ingest_logs", status_code=200)
    async def ingest_logs(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """Simple JSON: one `{level, message, trace_id, attributes, service_id}` or an array."""
        return await _ingest(request, resources, project_id, LOGS, "simple")

    @post("/ingest/spans", operation_id="ingest_spans", status_code=200)
    async def ingest_spans(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """Simple JSON: one `{trace_id, trace_name, start_time, …}` or an array."""
        return await _ingest(request, resources, project_id, SPANS, "simple")
