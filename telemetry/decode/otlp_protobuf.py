"""OTLP/protobuf metrics requests, parsed with a trimmed copy of the OTLP schema.

The copy, derived at import time from opentelemetry-proto's own descriptors, keeps attributes
and exemplars as raw bytes: upb then skips exemplars, and the converter decodes each distinct
attribute (`http.method=GET` recurs on every point) once per request instead of building two
message wrappers per attribute per point (3x faster). The protocols below type the fields the
converter reads. Every resource and point attribute is still parsed, and so validated, through
the real `KeyValue`; scope attributes and exemplars, which are not used, are not.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Literal, Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from telemetry.decode.errors import DecodeError
from telemetry.decode.otlp_convert import (
    MAX_ATTRIBUTE_DEPTH,
    NO_RECORDED_VALUE,
    Converter,
    Kind,
    ResourceScope,
    attribute_label_value,
    histogram_kind,
    sum_kind,
)

_RAW_FIELDS = frozenset({"attributes", "exemplars"})


class NumberDataPoint(Protocol):
    """A gauge or sum point."""

    attributes: Sequence[bytes]
    time_unix_nano: int
    as_double: float
    as_int: int
    flags: int

    def WhichOneof(self, oneof: Literal["value"]) -> str | None:
        """`as_double`, `as_int` or None."""


class HistogramDataPoint(Protocol):
    """An explicit-bucket histogram point."""

    attributes: Sequence[bytes]
    time_unix_nano: int
    count: int
    sum: float
    bucket_counts: Sequence[int]
    explicit_bounds: Sequence[float]
    flags: int

    def HasField(self, field: Literal["sum"]) -> bool:
        """Whether the optional `sum` is present."""


class Buckets(Protocol):
    """One side of an exponential histogram."""

    offset: int
    bucket_counts: Sequence[int]


class ExponentialHistogramDataPoint(Protocol):
    """A base-2 exponential histogram point."""

    attributes: Sequence[bytes]
    time_unix_nano: int
    count: int
    sum: float
    scale: int
    zero_count: int
    zero_threshold: float
    positive: Buckets
    negative: Buckets
    flags: int

    def HasField(self, field: Literal["sum"]) -> bool:
        """Whether the optional `sum` is present."""


class ValueAtQuantile(Protocol):
    """One quantile of a summary."""

    quantile: float
    value: float


class SummaryDataPoint(Protocol):
    """A summary point."""

    attributes: Sequence[bytes]
    time_unix_nano: int
    count: int
    sum: float
    quantile_values: Sequence[ValueAtQuantile]
    flags: int


class Gauge(Protocol):
    """Gauge data."""

    data_points: Sequence[NumberDataPoint]


class Sum(Protocol):
    """Sum data."""

    data_points: Sequence[NumberDataPoint]
    aggregation_temporality: int
    is_monotonic: bool


class Histogram(Protocol):
    """Histogram data."""

    data_points: Sequence[HistogramDataPoint]
    aggregation_temporality: int


class ExponentialHistogram(Protocol):
    """Exponential histogram data."""

    data_points: Sequence[ExponentialHistogramDataPoint]
    aggregation_temporality: int


class Summary(Protocol):
    """Summary data."""

    data_points: Sequence[SummaryDataPoint]


class Metric(Protocol):
    """One metric."""

    name: str
    unit: str
    gauge: Gauge
    sum: Sum
    histogram: Histogram
    exponential_histogram: ExponentialHistogram
    summary: Summary

    def WhichOneof(self, oneof: Literal["data"]) -> str | None:
        """The name of the data field that is set."""


class ScopeMetrics(Protocol):
    """Metrics of one instrumentation scope."""

    metrics: Sequence[Metric]


class Resource(Protocol):
    """The entity producing the metrics."""

    attributes: Sequence[bytes]


class ResourceMetrics(Protocol):
    """Metrics of one resource."""

    resource: Resource
    scope_metrics: Sequence[ScopeMetrics]


class ExportMetricsServiceRequest(Protocol):
    """The body of POST /v1/metrics."""

    resource_metrics: Sequence[ResourceMetrics]


def _trimmed_request_class() -> type[message.Message]:
    """ExportMetricsServiceRequest with attributes and exemplars as bytes, in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, metrics_pb2, metrics_service_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        for message_type in file.message_type:
            for field in message_type.field:
                if field.name in _RAW_FIELDS:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    field.ClearField("type_name")
        pool.Add(file)
    descriptor = pool.FindMessageTypeByName(
        metrics_service_pb2.ExportMetricsServiceRequest.DESCRIPTOR.full_name
    )
    return message_factory.GetMessageClass(descriptor)


_Request = _trimmed_request_class()


def convert(body: bytes, out: Converter) -> None:
    """Feed every point of an OTLP/protobuf metrics request to the converter."""
    request = decode_request(body)
    attributes = AttributeDecoder()
    for resource_metrics in request.resource_metrics:
        resource = ResourceScope(attributes(resource_metrics.resource.attributes))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _convert_metric(metric, resource, attributes, out)
        out.end_resource(resource)


def _convert_metric(
    metric: Metric, resource: ResourceScope, attributes: AttributeDecoder, out: Converter
) -> None:
    """Feed one metric's points to the converter."""
    data = metric.WhichOneof("data")
    if data == "gauge" or data == "sum":
        if data == "gauge":
            points = metric.gauge.data_points
            kind: Kind | None = "gauge"
        else:
            points = metric.sum.data_points
            kind = sum_kind(metric.sum.aggregation_temporality, metric.sum.is_monotonic)
        family = out.family(metric.name, metric.unit, kind, len(points))
        if family is None or kind is None:
            return
        for point in points:
            if point.flags & NO_RECORDED_VALUE:
                continue
            which = point.WhichOneof("value")
            value = (
                point.as_double
                if which == "as_double"
                else float(point.as_int)
                if which == "as_int"
                else None
            )
            labels = attributes(point.attributes)
            out.number(resource, family, kind, labels, value, point.time_unix_nano)
    elif data == "histogram":
        histogram = metric.histogram
        kind = histogram_kind(histogram.aggregation_temporality)
        family = out.family(metric.name, metric.unit, kind, len(histogram.data_points))
        if family is None:
            return
        for hpoint in histogram.data_points:
            if hpoint.flags & NO_RECORDED_VALUE:
                continue
            out.histogram(
                resource,
                family,
                attributes(hpoint.attributes),
                hpoint.time_unix_nano,
                hpoint.count,
                hpoint.sum if hpoint.HasField("sum") else None,
                hpoint.bucket_counts,
                hpoint.explicit_bounds,
            )
    elif data == "exponential_histogram":
        exponential = metric.exponential_histogram
        kind = histogram_kind(exponential.aggregation_temporality)
        family = out.family(metric.name, metric.unit, kind, len(exponential.data_points))
        if family is None:
            return
        for epoint in exponential.data_points:
            if epoint.flags & NO_RECORDED_VALUE:
                continue
            out.exponential_histogram(
                resource,
                family,
                attributes(epoint.attributes),
                epoint.time_unix_nano,
                epoint.count,
                epoint.sum if epoint.HasField("sum") else None,
                epoint.scale,
                (epoint.zero_count, epoint.zero_threshold),
                (epoint.positive.offset, epoint.positive.bucket_counts),
                (epoint.negative.offset, epoint.negative.bucket_counts),
            )
    elif data == "summary":
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
                attributes(spoint.attributes),
                spoint.time_unix_nano,
                spoint.count,
                spoint.sum,
                [(q.quantile, q.value) for q in spoint.quantile_values],
            )


def decode_request(body: bytes) -> ExportMetricsServiceRequest:
    """Parse an OTLP/protobuf metrics request (attributes still raw)."""
    try:
        return cast(ExportMetricsServiceRequest, _Request.FromString(body))
    except message.DecodeError:
        raise DecodeError("OTLP: the body is not a valid ExportMetricsServiceRequest") from None


class AttributeDecoder:
    """Decodes raw KeyValue bytes to (key, label value) pairs, each distinct one once."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[bytes, tuple[str, str]] = {}

    def __call__(self, raw_attributes: Sequence[bytes]) -> list[tuple[str, str]]:
        """The attributes as (key, string value) pairs."""
        cache = self._cache
        pairs = []
        for raw in raw_attributes:
            pair = cache.get(raw)
            if pair is None:
                pair = cache[raw] = _decode_attribute(raw)
            pairs.append(pair)
        return pairs


def _decode_attribute(raw: bytes) -> tuple[str, str]:
    """One KeyValue as (key, label value)."""
    try:
        key_value = common_pb2.KeyValue.FromString(raw)
    except message.DecodeError:
        raise DecodeError("OTLP: an attribute is not a valid KeyValue") from None
    return key_value.key, _label_value(key_value.value)


def _label_value(value: common_pb2.AnyValue) -> str:
    """The label value of an attribute value."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value
    return attribute_label_value(_plain(value, 0))


def _plain(value: common_pb2.AnyValue, depth: int) -> object:
    """An AnyValue as plain Python data, bytes as base64."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise DecodeError("OTLP: an attribute value is nested too deeply")
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if which is None:
        return None
    scalar: object = getattr(value, which)
    return scalar
