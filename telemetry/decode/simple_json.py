"""The simple JSON metric body of the original Observatory API: one object or an array of them.

`{"metric_name": "http_requests_total", "value": 100, "metric_type": "counter",
"labels": {"endpoint": "/api/users"}, "service_id": "svc-1", "timestamp": "2025-08-08T12:00:00Z"}`

Unknown fields are refused (a typo such as `"lables"` would otherwise lose data silently).
Names are sanitized as for OTLP (`http.requests` -> `http_requests`) but get no suffix: the name is
the one the client chose. `metric_type` is checked, not stored: the text import has no metadata.
`service_id` becomes the label `service`; a payload label `tenant` or `project` (and `service` when
`service_id` is given) is kept as `exported_<name>`. A numeric timestamp is read by magnitude as
seconds, milliseconds, microseconds or nanoseconds since the epoch.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal

import msgspec

from telemetry.decode.errors import DecodeError
from telemetry.decode.samples import (
    TENANT_LABELS,
    Sample,
    sanitize_label_name,
    sanitize_metric_name,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
_SERVICE_LABEL: Final = "service"


class SimpleMetric(msgspec.Struct, forbid_unknown_fields=True):
    """One metric value as the simple ingest endpoint takes it."""

    metric_name: str
    value: float
    metric_type: Literal["counter", "gauge", "histogram", "summary"] | None = None
    labels: dict[str, str] = {}
    service_id: str | int | None = None
    timestamp: Annotated[datetime, msgspec.Meta(tz=True)] | float | None = None


_decoder = msgspec.json.Decoder(SimpleMetric | list[SimpleMetric])


def decode_simple_metrics(body: bytes, *, now_ms: int | None = None) -> list[Sample]:
    """Samples of a simple JSON metrics body; DecodeError names the field and array index."""
    try:
        decoded = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise DecodeError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise DecodeError(str(exc)) from None
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    if isinstance(decoded, SimpleMetric):
        return [_sample(decoded, "$", now_ms)]
    return [_sample(metric, f"$[{index}]", now_ms) for index, metric in enumerate(decoded)]


def _sample(metric: SimpleMetric, path: str, now_ms: int) -> Sample:
    """One sample, or DecodeError with the JSON path of the offending field."""
    name = sanitize_metric_name(metric.metric_name)
    if name is None:
        raise DecodeError(
            f"metric_name {metric.metric_name!r} has no usable character - at `{path}`"
        )
    has_service = metric.service_id is not None and metric.service_id != ""
    reserved = TENANT_LABELS | {_SERVICE_LABEL} if has_service else TENANT_LABELS
    labels: dict[str, str] = {}
    for key, value in metric.labels.items():
        label = sanitize_label_name(key)
        if label is None:
            raise DecodeError(f"empty label name - at `{path}.labels`")
        if label in reserved:
            label = "exported_" + label
        if label in labels:
            raise DecodeError(
                f"labels {key!r} and another label both become {label!r} - at `{path}.labels`"
            )
        if value:
            labels[label] = value
    if has_service:
        labels[_SERVICE_LABEL] = str(metric.service_id)
    return Sample(
        name,
        tuple(sorted(labels.items())),
        metric.value,
        _timestamp_ms(metric.timestamp, f"{path}.timestamp", now_ms),
    )


def _timestamp_ms(timestamp: datetime | float | None, path: str, now_ms: int) -> int:
    """Milliseconds since the epoch."""
    if timestamp is None:
        return now_ms
    if isinstance(timestamp, datetime):
        return (timestamp - _EPOCH) // _MILLISECOND
    if not math.isfinite(timestamp) or timestamp < 0:
        raise DecodeError(f"timestamp must be a positive number - at `{path}`")
    # Now is ~1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns: the unit is plain from the magnitude.
    if timestamp < 1e11:
        return round(timestamp * 1000)
    if timestamp < 1e14:
        return round(timestamp)
    if timestamp < 1e17:
        return round(timestamp / 1e3)
    return round(timestamp / 1e6)
