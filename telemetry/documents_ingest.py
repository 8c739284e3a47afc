"""Logs and spans in: decompress and decode a body, keep what the tier may store, answer in kind.

OTLP bodies keep their valid records and report the others as partial success; the simple JSON
bodies are refused whole when one record is malformed (their errors name the array index). A
record dated before the tier's retention or more than a day ahead is not stored: a query could
never see it, or it would sit in a partition that is dropped at once. It is reported as rejected.
A NUL in any text of a record is stored as U+FFFD (no store can hold U+0000), before units count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Generic, Literal, TypeVar

import msgspec

from infra.settings import Tier
from telemetry.decode.compression import decompress
from telemetry.decode.errors import not_utf8
from telemetry.decode.normalize import may_hold_nul, without_nul
from telemetry.decode.otlp_logs import decode_otlp_logs, export_logs_response
from telemetry.decode.otlp_metrics import otlp_encoding
from telemetry.decode.otlp_traces import decode_otlp_traces, export_traces_response
from telemetry.decode.simple_logs import decode_simple_logs, decode_simple_spans
from telemetry.documents import LogRecord, Span
from telemetry.limits import MAX_DECOMPRESSED_BYTES
from telemetry.stores import retention_floor

D = TypeVar("D", LogRecord, Span)
Format = Literal["otlp", "simple"]
FUTURE_SLACK: Final = timedelta(days=1)
"""How far ahead of the gateway's clock a record may be dated (clients' clocks drift)."""


@dataclass(frozen=True)
class Decoded(Generic[D]):
    """Documents decoded from one request, and how many of its records could not be kept."""

    documents: list[D]
    rejected: int = 0
    detail: str | None = None


def decode_logs(
    body: bytes,
    form: Format,
    content_type: str | None,
    content_encoding: str | None,
    *,
    tenant: str,
    project: str,
    now: datetime,
) -> Decoded[LogRecord]:
    """Log records of an OTLP or simple JSON body; DecodeError when the body is malformed."""
    plain = _plain(body, form, content_type, content_encoding)
    try:
        if form == "simple":
            records = decode_simple_logs(plain, tenant=tenant, project=project, now=now)
            return Decoded(_nul_free(records, plain, form, content_type))
        batch = decode_otlp_logs(plain, content_type, tenant=tenant, project=project, now=now)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    records = _nul_free(batch.records, plain, form, content_type)
    return Decoded(records, batch.rejected, batch.rejected_detail)


def decode_spans(
    body: bytes,
    form: Format,
    content_type: str | None,
    content_encoding: str | None,
    *,
    tenant: str,
    project: str,
    now: datetime,
) -> Decoded[Span]:
    """Spans of an OTLP or simple JSON body; DecodeError when the body is malformed."""
    plain = _plain(body, form, content_type, content_encoding)
    try:
        if form == "simple":
            spans = decode_simple_spans(plain, tenant=tenant, project=project, now=now)
            return Decoded(_nul_free(spans, plain, form, content_type))
        batch = decode_otlp_traces(plain, content_type, tenant=tenant, project=project, now=now)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    spans = _nul_free(batch.spans, plain, form, content_type)
    return Decoded(spans, batch.rejected, batch.rejected_detail)


def _plain(
    body: bytes, form: Format, content_type: str | None, content_encoding: str | None
) -> bytes:
    """The decompressed body; 415 first for an OTLP body of an unsupported type."""
    if form == "otlp":
        otlp_encoding(content_type)
    return decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)


def _nul_free(documents: list[D], plain: bytes, form: Format, content_type: str | None) -> list[D]:
    """The documents with NUL replaced (see `normalize.without_nul`).

    A JSON body can only carry a NUL as the escape `\\u0000`: without one nothing is checked.
    """
    if (form == "simple" or otlp_encoding(content_type) == "json") and not may_hold_nul(plain):
        return documents
    return without_nul(documents)


def log_time(record: LogRecord) -> datetime:
    """The instant a log record is stored and searched under."""
    return record.time


def span_time(span: Span) -> datetime:
    """The instant a span is stored and searched under."""
    return span.start_time


def within_retention(
    decoded: Decoded[D], tier: Tier, now: datetime, time_of: Callable[[D], datetime]
) -> tuple[Decoded[D], list[D]]:
    """Split off documents dated outside what the tier stores: [now - retention, now + 1 day).

    Returns what to keep (the others counted as rejected) and what was dropped.
    """
    floor, ceiling = retention_floor(tier, now), now + FUTURE_SLACK
    kept: list[D] = []
    dropped: list[D] = []
    for document in decoded.documents:
        (kept if floor <= time_of(document) < ceiling else dropped).append(document)
    if not dropped:
        return decoded, dropped
    reason = (
        f"{len(dropped)} record(s) dated outside the stored window "
        f"[{floor.isoformat()}, {ceiling.isoformat()}) of the plan's retention"
    )
    detail = f"{decoded.detail}; {reason}" if decoded.detail else reason
    kept_batch = replace(
        decoded, documents=kept, rejected=decoded.rejected + len(dropped), detail=detail
    )
    return kept_batch, dropped


@dataclass(frozen=True)
class Answer:
    """The body and media type of a successful ingest response."""

    body: bytes
    media_type: str


def logs_answer(form: Format, content_type: str | None, decoded: Decoded[LogRecord]) -> Answer:
    """ExportLogsServiceResponse for OTLP; `{accepted, rejected[, detail]}` for simple JSON."""
    if form == "otlp":
        body = export_logs_response(decoded.rejected, decoded.detail, content_type)
        return Answer(body, _otlp_media_type(content_type))
    return _simple_answer(decoded.documents, decoded)


def spans_answer(form: Format, content_type: str | None, decoded: Decoded[Span]) -> Answer:
    """ExportTraceServiceResponse for OTLP; `{accepted, rejected[, detail]}` for simple JSON."""
    if form == "otlp":
        body = export_traces_response(decoded.rejected, decoded.detail, content_type)
        return Answer(body, _otlp_media_type(content_type))
    return _simple_answer(decoded.documents, decoded)


def _simple_answer(documents: Sequence[object], decoded: Decoded[D]) -> Answer:
    answer: dict[str, object] = {"accepted": len(documents), "rejected": decoded.rejected}
    if decoded.detail:
        answer["detail"] = decoded.detail
    return Answer(msgspec.json.encode(answer), "application/json")


def _otlp_media_type(content_type: str | None) -> str:
    return "application/json" if otlp_encoding(content_type) == "json" else "application/x-protobuf"
