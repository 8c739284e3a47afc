"""Metrics in: count each format's data points and say what to forward to VictoriaMetrics.

Text and remote-write bodies are forwarded unchanged (counted without a Python object per
sample); OTLP and the simple JSON body are converted to Prometheus text first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from telemetry.decode.compression import decompress
from telemetry.decode.errors import not_utf8
from telemetry.decode.otlp_metrics import decode_otlp_metrics, export_metrics_response
from telemetry.decode.prom_text import count_prom_text
from telemetry.decode.remote_write import count_remote_write
from telemetry.decode.samples import samples_to_prom_text
from telemetry.decode.simple_json import decode_simple_metrics
from telemetry.limits import MAX_DECOMPRESSED_BYTES


class Route(enum.Enum):
    """Which VictoriaMetrics endpoint takes the forwarded body."""

    IMPORT_PROMETHEUS = "import_prometheus"
    REMOTE_WRITE = "remote_write"


@dataclass(frozen=True)
class PreparedMetrics:
    """What to forward, how many data points it holds, and what to answer on success."""

    points: int
    rejected: int
    route: Route
    body: bytes
    content_encoding: str | None
    answer: bytes
    answer_type: str


def prepare_prom_text(body: bytes, content_encoding: str | None) -> PreparedMetrics:
    """Prometheus text exposition: counted on the decompressed bytes, forwarded as sent."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    points = count_prom_text(plain)
    encoding = content_encoding if plain is not body else None
    return PreparedMetrics(points, 0, Route.IMPORT_PROMETHEUS, body, encoding, b"", "")


def prepare_remote_write(body: bytes) -> PreparedMetrics:
    """Prometheus remote write (snappy protobuf): counted, forwarded as sent."""
    info = count_remote_write(body, max_decompressed=MAX_DECOMPRESSED_BYTES)
    return PreparedMetrics(info.samples, 0, Route.REMOTE_WRITE, body, None, b"", "")


def prepare_otlp(
    body: bytes, content_type: str | None, content_encoding: str | None
) -> PreparedMetrics:
    """OTLP/HTTP metrics (protobuf or JSON): converted to samples, answered in kind."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    try:
        batch = decode_otlp_metrics(plain, content_type)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    answer = export_metrics_response(batch.rejected, batch.rejected_detail, content_type)
    answer_type = "application/json" if "json" in (content_type or "") else "application/x-protobuf"
    return PreparedMetrics(
        len(batch.samples),
        batch.rejected,
        Route.IMPORT_PROMETHEUS,
        samples_to_prom_text(batch.samples),
        None,
        answer,
        answer_type,
    )


def prepare_simple_json(body: bytes, content_encoding: str | None) -> PreparedMetrics:
    """The simple JSON body (`metric_name`, `value`, `labels` …), one object or an array."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    try:
        samples = decode_simple_metrics(plain)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    answer = msgspec.json.encode({"accepted": len(samples)})
    return PreparedMetrics(
        len(samples),
        0,
        Route.IMPORT_PROMETHEUS,
        samples_to_prom_text(samples),
        None,
        answer,
        "application/json",
    )
