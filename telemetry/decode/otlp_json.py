"""OTLP/JSON metrics requests as msgspec Structs.

`json_format.Parse` is not used: it is pure Python (slow) and reads the hex trace and span ids of
OTLP/JSON as base64. Only what the conversion needs is declared; unknown fields (exemplars,
descriptions, metadata) are ignored as the OTLP spec requires. Decoding is non-strict so the
64-bit integers OTLP/JSON sends as strings ("1700000000000000000") and the "NaN"/"Infinity"
strings of the protobuf JSON mapping are accepted. Keys are lowerCamelCase; bodies that use the
proto field names (snake_case) are accepted too, through a slower path. The Structs are untracked
by the garbage collector (a decoded tree has no cycles): decoding is then ~3x faster.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from telemetry.decode.errors import DecodeError
from telemetry.decode.otlp_convert import (
    CUMULATIVE,
    DELTA,
    MAX_ATTRIBUTE_DEPTH,
    NO_RECORDED_VALUE,
    Converter,
    Kind,
    ResourceScope,
    attribute_label_value,
    histogram_kind,
    sum_kind,
)

# msgspec bounds must fit an int64; uint64 counts and times past 2**63 don't occur in practice.
UInt64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]


class AnyValue(msgspec.Struct, rename="camel", gc=False):
    """An attribute value; at most one field is set."""

    string_value: str | None = None
    bool_value: bool | None = None
    int_value: Int64 | None = None
    double_value: float | None = None
    array_value: ArrayValue | None = None
    kvlist_value: KeyValueList | None = None
    bytes_value: str | None = None  # base64, as the protobuf JSON mapping sends bytes


class ArrayValue(msgspec.Struct, gc=False):
    """A list attribute value."""

    values: list[AnyValue] = []


class KeyValue(msgspec.Struct, gc=False):
    """One attribute."""

    key: str = ""
    value: AnyValue | None = None


class KeyValueList(msgspec.Struct, gc=False):
    """A map attribute value."""

    values: list[KeyValue] = []


class Resource(msgspec.Struct, gc=False):
    """The entity producing the metrics."""

    attributes: list[KeyValue] = []


class NumberDataPoint(msgspec.Struct, rename="camel", gc=False):
    """A gauge or sum point."""

    attributes: list[KeyValue] = []
    time_unix_nano: UInt64 = 0
    as_double: float | None = None
    as_int: Int64 | None = None
    flags: UInt32 = 0


class HistogramDataPoint(msgspec.Struct, rename="camel", gc=False):
    """An explicit-bucket histogram point; `bucket_counts` are per bucket, not cumulative."""

    attributes: list[KeyValue] = []
    time_unix_nano: UInt64 = 0
    count: UInt64 = 0
    sum: float | None = None
    bucket_counts: list[UInt64] = []
    explicit_bounds: list[float] = []
    flags: UInt32 = 0


class Buckets(msgspec.Struct, rename="camel", gc=False):
    """One side of an exponential histogram."""

    offset: Int32 = 0
    bucket_counts: list[UInt64] = []


class ExponentialHistogramDataPoint(msgspec.Struct, rename="camel", gc=False):
    """A base-2 exponential histogram point."""

    attributes: list[KeyValue] = []
    time_unix_nano: UInt64 = 0
    count: UInt64 = 0
    sum: float | None = None
    scale: Int32 = 0
    zero_count: UInt64 = 0
    positive: Buckets = msgspec.field(default_factory=Buckets)
    negative: Buckets = msgspec.field(default_factory=Buckets)
    flags: UInt32 = 0
    zero_threshold: float = 0.0


class ValueAtQuantile(msgspec.Struct, gc=False):
    """One quantile of a summary."""

    quantile: float = 0.0
    value: float = 0.0


class SummaryDataPoint(msgspec.Struct, rename="camel", gc=False):
    """A summary point."""

    attributes: list[KeyValue] = []
    time_unix_nano: UInt64 = 0
    count: UInt64 = 0
    sum: float = 0.0
    quantile_values: list[ValueAtQuantile] = []
    flags: UInt32 = 0


# Enums are integers in OTLP/JSON; the enum names of the protobuf JSON mapping are accepted too.
Temporality = int | str


class Gauge(msgspec.Struct, rename="camel", gc=False):
    """Gauge data."""

    data_points: list[NumberDataPoint] = []


class Sum(msgspec.Struct, rename="camel", gc=False):
    """Sum data."""

    data_points: list[NumberDataPoint] = []
    aggregation_temporality: Temporality = 0
    is_monotonic: bool = False


class Histogram(msgspec.Struct, rename="camel", gc=False):
    """Histogram data."""

    data_points: list[HistogramDataPoint] = []
    aggregation_temporality: Temporality = 0


class ExponentialHistogram(msgspec.Struct, rename="camel", gc=False):
    """Exponential histogram data."""

    data_points: list[ExponentialHistogramDataPoint] = []
    aggregation_temporality: Temporality = 0


class Summary(msgspec.Struct, rename="camel", gc=False):
    """Summary data."""

    data_points: list[SummaryDataPoint] = []


class Metric(msgspec.Struct, rename="camel", gc=False):
    """One metric; at most one of the data fields is set."""

    name: str = ""
    unit: str = ""
    gauge: Gauge | None = None
    sum: Sum | None = None
    histogram: Histogram | None = None
    exponential_histogram: ExponentialHistogram | None = None
    summary: Summary | None = None


class ScopeMetrics(msgspec.Struct, gc=False):
    """Metrics of one instrumentation scope."""

    metrics: list[Metric] = []


class ResourceMetrics(msgspec.Struct, rename="camel", gc=False):
    """Metrics of one resource."""

    resource: Resource = msgspec.field(default_factory=Resource)
    scope_metrics: list[ScopeMetrics] = []


class ExportMetricsServiceRequest(msgspec.Struct, rename="camel", gc=False):
    """The body of POST /v1/metrics."""

    resource_metrics: list[ResourceMetrics] = []


_decoder = msgspec.json.Decoder(ExportMetricsServiceRequest, strict=False)
# The end of an object key with an underscore. No lowerCamelCase OTLP key has one, and attribute
# keys are JSON values, never object keys, so this finds proto field names; a false positive only
# takes the slower path. Starting at "_" lets the regex engine jump between underscores.
_SNAKE_KEY = re.compile(rb'_[a-z0-9_]*"\s*:')


_TEMPORALITY_NAMES = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED": 0,
    "AGGREGATION_TEMPORALITY_DELTA": DELTA,
    "AGGREGATION_TEMPORALITY_CUMULATIVE": CUMULATIVE,
}


def convert(body: bytes, out: Converter) -> None:
    """Feed every point of an OTLP/JSON metrics request to the converter."""
    for resource_metrics in decode_request(body).resource_metrics:
        resource = ResourceScope(attribute_pairs(resource_metrics.resource.attributes))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _convert_metric(metric, resource, out)
        out.end_resource(resource)


def _convert_metric(metric: Metric, resource: ResourceScope, out: Converter) -> None:
    """Feed one metric's points to the converter."""
    if metric.gauge is not None or metric.sum is not None:
        if metric.gauge is not None:
            points = metric.gauge.data_points
            kind: Kind | None = "gauge"
        elif metric.sum is not None:
            points = metric.sum.data_points
            temporality = _temporality(metric.sum.aggregation_temporality)
            kind = sum_kind(temporality, metric.sum.is_monotonic)
        family = out.family(metric.name, metric.unit, kind, len(points))
        if family is None or kind is None:
            return
        for point in points:
            if point.flags & NO_RECORDED_VALUE:
                continue
            value = (
                point.as_double
                if point.as_double is not None
                else float(point.as_int)
                if point.as_int is not None
                else None
            )
            labels = attribute_pairs(point.attributes)
            out.number(resource, family, kind, labels, value, point.time_unix_nano)
    elif metric.histogram is not None:
        histogram = metric.histogram
        kind = histogram_kind(_temporality(histogram.aggregation_temporality))
        family = out.family(metric.name, metric.unit, kind, len(histogram.data_points))
        if family is None:
            return
        for hpoint in histogram.data_points:
            if hpoint.flags & NO_RECORDED_VALUE:
                continue
            out.histogram(
                resource,
                family,
                attribute_pairs(hpoint.attributes),
                hpoint.time_unix_nano,
                hpoint.count,
                hpoint.sum,
                hpoint.bucket_counts,
                hpoint.explicit_bounds,
            )
    elif metric.exponential_histogram is not None:
        exponential = metric.exponential_histogram
        kind = histogram_kind(_temporality(exponential.aggregation_temporality))
        family = out.family(metric.name, metric.unit, kind, len(exponential.data_points))
        if family is None:
            return
        for epoint in exponential.data_points:
            if epoint.flags & NO_RECORDED_VALUE:
                continue
            out.exponential_histogram(
                resource,
                family,
                attribute_pairs(epoint.attributes),
                epoint.time_unix_nano,
                epoint.count,
                epoint.sum,
                epoint.scale,
                (epoint.zero_count, epoint.zero_threshold),
                (epoint.positive.offset, epoint.positive.bucket_counts),
                (epoint.negative.offset, epoint.negative.bucket_counts),
            )
    elif metric.summary is not None:
        summary = metric.summary
        family = out.family(metric.name, metric.unit, "summary", len(summary.data_points))
        if family is None:
            return
        for spoint in summary.data_points:
            if spoint.flags & NO_RECORDED_VALUE:
                continue
            out.summary(
                resource,
                family,
                attribute_pairs(spoint.attributes),
                spoint.time_unix_nano,
                spoint.count,
                spoint.sum,
                [(q.quantile, q.value) for q in spoint.quantile_values],
            )


def _temporality(value: int | str) -> int:
    """An AggregationTemporality from its number or its enum name."""
    if isinstance(value, str):
        return int(value) if value.isdigit() else _TEMPORALITY_NAMES.get(value, 0)
    return value


def decode_request(body: bytes) -> ExportMetricsServiceRequest:
    """Decode an OTLP/JSON metrics request; DecodeError carries the JSON path of the problem."""
    try:
        if _SNAKE_KEY.search(body) is None:
            return _decoder.decode(body)
        return msgspec.convert(
            _camelize_keys(msgspec.json.decode(body)), ExportMetricsServiceRequest, strict=False
        )
    except msgspec.ValidationError as exc:
        raise DecodeError(f"OTLP/JSON: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"OTLP/JSON: {exc}") from None
    except RecursionError:
        raise DecodeError("OTLP/JSON: nested too deeply") from None


def _camelize_keys(document: Any) -> Any:
    """Rename snake_case object keys to lowerCamelCase, in place, without recursion."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [key for key in node if "_" in key]:
                head, *rest = key.split("_")
                camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
                node.setdefault(camel, node.pop(key))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return document


def attribute_pairs(attributes: list[KeyValue]) -> list[tuple[str, str]]:
    """The attributes as (key, label value) pairs."""
    pairs = []
    for attribute in attributes:
        value = attribute.value
        if value is not None and value.string_value is not None:
            pairs.append((attribute.key, value.string_value))
        else:
            pairs.append((attribute.key, attribute_label_value(_plain(value, 0))))
    return pairs


def _plain(value: AnyValue | None, depth: int) -> object:
    """An AnyValue as plain Python data (bytes stay base64)."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise DecodeError("OTLP/JSON: an attribute value is nested too deeply")
    if value is None:
        return None
    if value.array_value is not None:
        return [_plain(item, depth + 1) for item in value.array_value.values]
    if value.kvlist_value is not None:
        return {kv.key: _plain(kv.value, depth + 1) for kv in value.kvlist_value.values}
    for scalar in (
        value.string_value,
        value.bool_value,
        value.int_value,
        value.double_value,
        value.bytes_value,
    ):
        if scalar is not None:
            return scalar
    return None
