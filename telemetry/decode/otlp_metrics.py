"""OTLP/HTTP metrics: decode a request to samples and encode the response.

The conversion rules are in `otlp_convert`; the two encodings in `otlp_protobuf` and `otlp_json`.
"""

from __future__ import annotations

import time
from typing import Literal, NamedTuple

import msgspec
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from telemetry.decode import otlp_json, otlp_protobuf
from telemetry.decode.errors import UnsupportedMediaType
from telemetry.decode.otlp_convert import Converter
from telemetry.decode.samples import Sample

Encoding = Literal["protobuf", "json"]


class OtlpMetricsBatch(NamedTuple):
    """Samples converted from one request, and how many data points could not be."""

    samples: list[Sample]
    rejected: int
    rejected_detail: str | None


def otlp_encoding(content_type: str | None) -> Encoding:
    """The OTLP/HTTP encoding a Content-Type names; UnsupportedMediaType for anything else."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in ("application/x-protobuf", "application/protobuf"):
        return "protobuf"
    if media_type == "application/json":
        return "json"
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type!r}; use application/x-protobuf or application/json"
    )


def decode_otlp_metrics(
    body: bytes, content_type: str | None, *, now_ms: int | None = None, target_info: bool = False
) -> OtlpMetricsBatch:
    """Convert an ExportMetricsServiceRequest to samples; a malformed body raises DecodeError.

    Points that are well-formed but can't be stored are counted in `rejected`, for the
    response's partial_success; the rest of the request is still accepted.
    """
    encoding = otlp_encoding(content_type)
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    converter = Converter(now, target_info=target_info)
    if encoding == "protobuf":
        otlp_protobuf.convert(body, converter)
    else:
        otlp_json.convert(body, converter)
    return OtlpMetricsBatch(converter.samples, converter.rejected, converter.rejected_detail())


def export_metrics_response(rejected: int, message: str | None, content_type: str | None) -> bytes:
    """An ExportMetricsServiceResponse in the request's encoding, with partial_success if needed."""
    encoding = otlp_encoding(content_type)
    if encoding == "protobuf":
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        if rejected or message:
            response.partial_success.rejected_data_points = rejected
            response.partial_success.error_message = message or ""
        return response.SerializeToString()
    if not (rejected or message):
        return b"{}"
    partial: dict[str, str] = {"rejectedDataPoints": str(rejected)}  # int64: a JSON string
    if message:
        partial["errorMessage"] = message
    return msgspec.json.encode({"partialSuccess": partial})
