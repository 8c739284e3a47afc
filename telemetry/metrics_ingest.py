"""Metrics in: count each format's data points and say what to forward to VictoriaMetrics.

What is counted (billed) is what VictoriaMetrics stores. Text bodies are validated strictly
(`telemetry.decode.prom_text`) and forwarded unchanged when every sample will be stored,
gzip-compressed only when that was their one Content-Encoding (the only one VictoriaMetrics 1.79
reads), else decompressed; samples it would drop (NaN, dated outside the tier's window) are left
out of the forwarded body and reported as rejected. Remote-write bodies are forwarded unchanged
(counted without a Python object per sample); OTLP and the simple JSON body are converted to
Prometheus text first, keeping only samples that will be stored.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import msgspec

from infra.settings import Tier
from telemetry.decode.compression import decompress, is_single_gzip
from telemetry.decode.errors import UnsupportedMediaType, not_utf8
from telemetry.decode.otlp_metrics import decode_otlp_metrics, export_metrics_response
from telemetry.decode.prom_text import select_samples
from telemetry.decode.remote_write import count_remote_write
from telemetry.decode.samples import Sample, samples_to_prom_text
from telemetry.decode.simple_json import decode_simple_metrics
from telemetry.limits import MAX_DECOMPRESSED_BYTES
from telemetry.stores import retention_floor

FUTURE_SLACK: Final = timedelta(days=1)
"""How far ahead a sample may be dated (VictoriaMetrics itself takes up to 2 days)."""
RETENTION_MARGIN: Final = timedelta(minutes=5)
"""Samples this close to the retention floor are not counted (nor forwarded, for text):
VictoriaMetrics' clock decides at insert time, a little later, and could drop them after we
counted them. Erring this way under-bills a few edge samples rather than billing unstored ones."""


@dataclass(frozen=True, slots=True)
class Window:
    """The sample timestamps (Unix milliseconds) a tier's store keeps: `[floor, ceiling)`."""

    floor_ms: int
    ceiling_ms: int

    @classmethod
    def of(cls, tier: Tier, now: datetime) -> Window:
        """What a write made now into the tier is sure to be stored with."""
        floor = retention_floor(tier, now) + RETENTION_MARGIN
        return cls(
            math.ceil(floor.timestamp() * 1000), int((now + FUTURE_SLACK).timestamp() * 1000)
        )

    def keeps(self, sample: Sample) -> bool:
        """Whether VictoriaMetrics stores this sample: dated inside, and not NaN."""
        return self.floor_ms <= sample.timestamp_ms < self.ceiling_ms and not math.isnan(
            sample.value
        )


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


def prepare_prom_text(body: bytes, content_encoding: str | None, window: Window) -> PreparedMetrics:
    """Prometheus text exposition: validated and counted on the decompressed bytes; answered
    204, or 200 `{accepted, rejected, detail}` when samples were left out."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    selected = select_samples(plain, window.floor_ms, window.ceiling_ms)
    if selected.dropped:
        answer = msgspec.json.encode(
            {"accepted": selected.samples, "rejected": selected.dropped, "detail": selected.detail}
        )
        return PreparedMetrics(
            selected.samples,
            selected.dropped,
            Route.IMPORT_PROMETHEUS,
            selected.body,
            None,
            answer,
            "application/json",
        )
    if plain is not body and is_single_gzip(content_encoding):
        return PreparedMetrics(selected.samples, 0, Route.IMPORT_PROMETHEUS, body, "gzip", b"", "")
    return PreparedMetrics(selected.samples, 0, Route.IMPORT_PROMETHEUS, plain, None, b"", "")


def prepare_remote_write(
    body: bytes, content_encoding: str | None, window: Window
) -> PreparedMetrics:
    """Prometheus remote write (snappy protobuf): counted, forwarded as sent; samples that
    VictoriaMetrics drops itself (NaN, dated outside the window) are not counted as accepted."""
    if (content_encoding or "snappy").strip().lower() != "snappy":
        raise UnsupportedMediaType(
            f"unsupported Content-Encoding {content_encoding!r} for remote write; use snappy"
        )
    info = count_remote_write(
        body,
        max_decompressed=MAX_DECOMPRESSED_BYTES,
        window=(window.floor_ms, window.ceiling_ms),
    )
    stored = info.samples - info.unstored
    return PreparedMetrics(stored, info.unstored, Route.REMOTE_WRITE, body, None, b"", "")


def prepare_otlp(
    body: bytes, content_type: str | None, content_encoding: str | None, window: Window
) -> PreparedMetrics:
    """OTLP/HTTP metrics (protobuf or JSON): converted to samples, answered in kind."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    try:
        batch = decode_otlp_metrics(plain, content_type)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    samples, dropped, reason = _stored(batch.samples, window)
    rejected = batch.rejected + dropped
    detail = "; ".join(filter(None, (batch.rejected_detail, reason))) or None
    answer = export_metrics_response(rejected, detail, content_type)
    answer_type = "application/json" if "json" in (content_type or "") else "application/x-protobuf"
    return PreparedMetrics(
        len(samples),
        rejected,
        Route.IMPORT_PROMETHEUS,
        samples_to_prom_text(samples),
        None,
        answer,
        answer_type,
    )


def prepare_simple_json(
    body: bytes, content_encoding: str | None, window: Window
) -> PreparedMetrics:
    """The simple JSON body (`metric_name`, `value`, `labels` …), one object or an array."""
    plain = decompress(body, content_encoding, max_decompressed=MAX_DECOMPRESSED_BYTES)
    try:
        decoded = decode_simple_metrics(plain)
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from None
    samples, dropped, reason = _stored(decoded, window)
    answer: dict[str, object] = {"accepted": len(samples)}
    if dropped:
        answer |= {"rejected": dropped, "detail": reason}
    return PreparedMetrics(
        len(samples),
        dropped,
        Route.IMPORT_PROMETHEUS,
        samples_to_prom_text(samples),
        None,
        msgspec.json.encode(answer),
        "application/json",
    )


def _stored(samples: Sequence[Sample], window: Window) -> tuple[list[Sample], int, str | None]:
    """The samples VictoriaMetrics will store, how many it would not, and why."""
    kept = [sample for sample in samples if window.keeps(sample)]
    dropped = len(samples) - len(kept)
    if not dropped:
        return kept, 0, None
    return kept, dropped, f"{dropped} point(s) not stored: NaN, or dated outside the stored window"
