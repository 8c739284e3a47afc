"""OTLP metric points to Prometheus samples, after the OTel Prometheus compatibility spec.

Choices where the spec leaves room, or where VictoriaMetrics differs from Prometheus:

- Names: invalid characters become `_`, runs of `_` collapse, the unit is appended as a word
  (`ms` -> `_milliseconds`, `By/s` -> `_bytes_per_second`, `1` -> `_ratio` on gauges), and
  monotonic cumulative sums get `_total`.
- Labels: point attributes, sanitized (`key_`/`key` prefix for a leading digit or `_`, so `__name__`
  can't be set); attributes that sanitize to the same name are joined with `;` in the order of
  their original keys. `service.namespace`/`service.name` -> `job`, `service.instance.id` ->
  `instance`. A payload label that clashes with one we set is kept as `exported_<name>`: `tenant`
  and `project` always, `job` and `instance` when the resource sets them, `le` and `vmrange` on
  histograms, `quantile` on summaries. Empty values are dropped.
  Other resource attributes go to a `target_info` sample only when asked (it is billed: one
  sample per resource per request); scope name and version are not added.
- Delta sums and histograms are stored as sent: each sample is the increase over its interval
  (query them with `sum_over_time`, not `rate`), and delta sums get no `_total`.
- Exponential histograms become VictoriaMetrics `vmrange` buckets (non-cumulative, only non-empty
  ones, bounds from the scale), which `histogram_quantile` reads, plus `_sum` and `_count`.
- Points flagged "no recorded value" are skipped: a text import can't carry a staleness marker.
- Points that can't be converted (no value, unspecified temporality, bucket/bound mismatch, a name
  that sanitizes to nothing) are rejected and reported through `partial_success`.
- A timestamp of 0 means "now". Start timestamps and exemplars are ignored.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal

import msgspec

from telemetry.decode.samples import (
    TENANT_LABELS,
    Labels,
    Sample,
    format_float,
    sanitize_label_name,
    sanitize_metric_name,
)

Kind = Literal["gauge", "counter", "histogram", "summary"]
Attributes = list[tuple[str, str]]

MAX_ATTRIBUTE_DEPTH: Final = 32
NO_RECORDED_VALUE: Final = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
DELTA: Final = 1
CUMULATIVE: Final = 2

_KIND_LABELS: Final[dict[Kind, frozenset[str]]] = {
    "gauge": TENANT_LABELS,
    "counter": TENANT_LABELS,
    "histogram": TENANT_LABELS | {"le", "vmrange"},
    "summary": TENANT_LABELS | {"quantile"},
}

# --- naming ---------------------------------------------------------------------------------

_UNITS: Final = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tebibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "%": "percent",
    "1": "",
}
_PER_UNITS: Final = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_ANNOTATIONS = re.compile(r"\{[^}]*\}")
_NON_WORD = re.compile(r"[^a-zA-Z0-9]+")


@functools.lru_cache(maxsize=8192)
def metric_family_name(name: str, unit: str, kind: Kind) -> str | None:
    """The Prometheus family name of an OTLP metric, or None when its name is unusable."""
    family = sanitize_metric_name(name)
    if family is None:
        return None
    suffix = _unit_suffix(unit, kind)
    if suffix and not family.endswith("_" + suffix):
        family = f"{family}_{suffix}"
    if kind == "counter" and not family.endswith("_total"):
        family += "_total"
    return family


def _unit_suffix(unit: str, kind: Kind) -> str:
    """The name suffix for a UCUM unit (`{annotations}` dropped)."""
    unit = _ANNOTATIONS.sub("", unit).strip()
    if unit == "1":
        return "ratio" if kind == "gauge" else ""
    main, _, per = unit.partition("/")
    words = [_UNITS.get(main, main)]
    if per:
        words.append("per_" + _PER_UNITS.get(per, per))
    return _NON_WORD.sub("_", "_".join(word for word in words if word)).strip("_")


def sum_kind(temporality: int, monotonic: bool) -> Kind | None:
    """How a sum is stored: a counter, a gauge, or None when its temporality is invalid."""
    if temporality == CUMULATIVE:
        return "counter" if monotonic else "gauge"
    return "gauge" if temporality == DELTA else None


def histogram_kind(temporality: int) -> Kind | None:
    """How a histogram is stored, or None when its temporality is invalid."""
    return "histogram" if temporality in (DELTA, CUMULATIVE) else None


def attribute_label_value(value: object) -> str:
    """A decoded attribute value as a label value: lists and maps as JSON, bytes as base64."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, int):
        return str(value)
    return msgspec.json.encode(value).decode()


# --- conversion -----------------------------------------------------------------------------


class ResourceScope:
    """What one resource contributes to the labels of its points."""

    __slots__ = ("base", "labels", "latest_ms", "names", "others", "reserved")

    def __init__(self, attributes: Attributes) -> None:
        found = dict(attributes)
        name = found.pop("service.name", "")
        namespace = found.pop("service.namespace", "")
        instance = found.pop("service.instance.id", "")
        self.labels: dict[str, str] = {}
        if name:
            self.labels["job"] = f"{namespace}/{name}" if namespace else name
        if instance:
            self.labels["instance"] = instance
        self.base: Labels = tuple(sorted(self.labels.items()))
        self.others = list(found.items())
        self.reserved = {kind: own.union(self.labels) for kind, own in _KIND_LABELS.items()}
        # attribute key -> label name (None: dropped), per kind; "" is never a label name.
        self.names: dict[Kind, dict[str, str | None]] = {kind: {} for kind in _KIND_LABELS}
        self.latest_ms = -1


class Converter:
    """Turns the points of one request into samples and counts the ones it must reject."""

    def __init__(self, now_ms: int, *, target_info: bool) -> None:
        self.samples: list[Sample] = []
        self.rejected = 0
        self._first_reason: str | None = None
        self._first_count = 0
        self._now_ms = now_ms
        self._target_info = target_info

    def rejected_detail(self) -> str | None:
        """The first rejection reason and how many more points were rejected."""
        detail = self._first_reason
        if detail is not None and self.rejected > self._first_count:
            detail += f" (and {self.rejected - self._first_count} more rejected data points)"
        return detail

    def reject(self, points: int, reason: str) -> None:
        """Count data points that can't be converted; the first reason is reported."""
        if points <= 0:
            return
        if self._first_reason is None:
            self._first_reason = reason
            self._first_count = points
        self.rejected += points

    def end_resource(self, resource: ResourceScope) -> None:
        """Emit target_info for a resource when asked and it has more than job and instance."""
        if not (self._target_info and resource.others and resource.latest_ms >= 0):
            return
        labels = self._labels(resource, "gauge", resource.others)
        self.samples.append(Sample("target_info", labels, 1.0, resource.latest_ms))

    def family(self, name: str, unit: str, kind: Kind | None, points: int) -> str | None:
        """The family name, or None after rejecting the metric's points."""
        if kind is None:
            self.reject(points, f"metric {name!r}: aggregation temporality is unspecified")
            return None
        family = metric_family_name(name, unit, kind)
        if family is None:
            self.reject(points, f"metric name {name!r} has no usable character")
        return family

    def number(
        self,
        resource: ResourceScope,
        family: str,
        kind: Kind,
        attributes: Attributes,
        value: float | None,
        time_unix_nano: int,
    ) -> None:
        """A gauge or sum point."""
        if value is None:
            self.reject(1, f"metric {family!r}: data point without a value")
            return
        labels = self._labels(resource, kind, attributes)
        self.samples.append(
            Sample(family, labels, value, self._timestamp(resource, time_unix_nano))
        )

    def histogram(
        self,
        resource: ResourceScope,
        family: str,
        attributes: Attributes,
        time_unix_nano: int,
        count: int,
        total: float | None,
        bucket_counts: Sequence[int],
        bounds: Sequence[float],
    ) -> None:
        """An explicit-bucket histogram point: cumulative `_bucket{le}`, `_sum`, `_count`."""
        if bucket_counts and len(bucket_counts) != len(bounds) + 1:
            reason = f"{len(bucket_counts)} bucket counts for {len(bounds)} bounds"
            self.reject(1, f"metric {family!r}: {reason}")
            return
        if not _valid_bounds(bounds):
            self.reject(1, f"metric {family!r}: bounds are not finite and increasing")
            return
        labels = self._labels(resource, "histogram", attributes)
        timestamp_ms = self._timestamp(resource, time_unix_nano)
        bucket = family + "_bucket"
        append = self.samples.append
        cumulative = 0
        for bound, bucket_count in zip(bounds, bucket_counts, strict=False):
            cumulative += bucket_count
            le = ("le", format_float(bound))
            append(Sample(bucket, (*labels, le), float(cumulative), timestamp_ms))
        append(Sample(bucket, (*labels, ("le", "+Inf")), float(count), timestamp_ms))
        if total is not None:
            append(Sample(family + "_sum", labels, total, timestamp_ms))
        append(Sample(family + "_count", labels, float(count), timestamp_ms))

    def exponential_histogram(
        self,
        resource: ResourceScope,
        family: str,
        attributes: Attributes,
        time_unix_nano: int,
        count: int,
        total: float | None,
        scale: int,
        zero: tuple[int, float],
        positive: tuple[int, Sequence[int]],
        negative: tuple[int, Sequence[int]],
    ) -> None:
        """An exponential histogram point: VictoriaMetrics `_bucket{vmrange}`, `_sum`, `_count`."""
        if not -10 <= scale <= 20:
            self.reject(1, f"metric {family!r}: exponential histogram scale {scale} out of range")
            return
        zero_count, threshold = zero
        if not math.isfinite(threshold):
            self.reject(1, f"metric {family!r}: zero threshold {threshold} is not finite")
            return
        labels = self._labels(resource, "histogram", attributes)
        timestamp_ms = self._timestamp(resource, time_unix_nano)
        bucket = family + "_bucket"
        append = self.samples.append
        if zero_count:
            vmrange = f"{format_float(-abs(threshold))}...{format_float(abs(threshold))}"
            append(Sample(bucket, (*labels, ("vmrange", vmrange)), float(zero_count), timestamp_ms))
        for sign, (offset, counts) in ((1.0, positive), (-1.0, negative)):
            for index, bucket_count in enumerate(counts, offset):
                if not bucket_count:
                    continue
                low = sign * _exponential_bound(index, scale)
                high = sign * _exponential_bound(index + 1, scale)
                vmrange = f"{format_float(min(low, high))}...{format_float(max(low, high))}"
                labelled = (*labels, ("vmrange", vmrange))
                append(Sample(bucket, labelled, float(bucket_count), timestamp_ms))
        if total is not None:
            append(Sample(family + "_sum", labels, total, timestamp_ms))
        append(Sample(family + "_count", labels, float(count), timestamp_ms))

    def summary(
        self,
        resource: ResourceScope,
        family: str,
        attributes: Attributes,
        time_unix_nano: int,
        count: int,
        total: float,
        quantiles: Iterable[tuple[float, float]],
    ) -> None:
        """A summary point: `{quantile}` per quantile, `_sum`, `_count`."""
        labels = self._labels(resource, "summary", attributes)
        timestamp_ms = self._timestamp(resource, time_unix_nano)
        append = self.samples.append
        for quantile, value in quantiles:
            labelled = (*labels, ("quantile", format_float(quantile)))
            append(Sample(family, labelled, value, timestamp_ms))
        append(Sample(family + "_sum", labels, total, timestamp_ms))
        append(Sample(family + "_count", labels, float(count), timestamp_ms))

    def _timestamp(self, resource: ResourceScope, time_unix_nano: int) -> int:
        """Milliseconds of a point, now for 0; tracks the resource's latest for target_info."""
        timestamp_ms = time_unix_nano // 1_000_000 if time_unix_nano else self._now_ms
        if timestamp_ms > resource.latest_ms:
            resource.latest_ms = timestamp_ms
        return timestamp_ms

    def _labels(self, resource: ResourceScope, kind: Kind, attributes: Attributes) -> Labels:
        """Sorted labels of a point: its sanitized attributes, job and instance."""
        if not attributes:
            return resource.base
        names = resource.names[kind]
        labels = resource.labels.copy()
        collided = False
        for key, value in attributes:
            name = names.get(key, "")
            if name == "":
                name = names[key] = _label_name(key, resource.reserved[kind])
            if name is None or not value:
                continue
            # job and instance are reserved, so only two attributes can collide here.
            collided = collided or name in labels
            labels[name] = value
        if collided:
            _join_collisions(labels, attributes, names)
        return tuple(sorted(labels.items()))


def _label_name(key: str, reserved: frozenset[str]) -> str | None:
    """The label name of an attribute key, None to drop it."""
    name = sanitize_label_name(key)
    if name is not None and name in reserved:
        return "exported_" + name
    return name


def _join_collisions(
    labels: dict[str, str], attributes: Attributes, names: dict[str, str | None]
) -> None:
    """Join the values of attributes that map to one label with `;`, by original key."""
    grouped: dict[str, list[str]] = {}
    for key, value in sorted(attributes):
        name = names[key]
        if name is not None and value:
            grouped.setdefault(name, []).append(value)
    for name, values in grouped.items():
        if len(values) > 1:
            labels[name] = ";".join(values)


def _valid_bounds(bounds: Iterable[float]) -> bool:
    """Whether histogram bounds are finite and strictly increasing."""
    previous = -math.inf
    for bound in bounds:
        if not previous < bound < math.inf:  # also false for NaN
            return False
        previous = bound
    return True


def _exponential_bound(index: int, scale: int) -> float:
    """The lower bound of bucket `index`: base**index with base = 2**(2**-scale)."""
    try:
        return float(2.0 ** math.ldexp(index, -scale))
    except OverflowError:
        return math.inf
