"""Payload builders for the decoder tests; remote write is encoded by hand, independently of the
trimmed schema the decoder uses."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import TypeAlias

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

Temporality: TypeAlias = metrics_pb2.AggregationTemporality.ValueType
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
UNSPECIFIED = metrics_pb2.AGGREGATION_TEMPORALITY_UNSPECIFIED
T0_NS = 1_700_000_000_000_000_000
T0_MS = 1_700_000_000_000


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 as its two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A wire-type-2 field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def rw_sample(value: float, timestamp_ms: int) -> bytes:
    """A prometheus.Sample."""
    return varint(1 << 3 | 1) + struct.pack("<d", value) + varint(2 << 3) + varint(timestamp_ms)


def rw_series(
    labels: Mapping[str, str], samples: Iterable[tuple[float, int]], histograms: int = 0
) -> bytes:
    """A prometheus.TimeSeries; each histogram is an empty message (field 4)."""
    out = bytearray()
    for name, label_value in labels.items():
        label = length_delimited(1, name.encode()) + length_delimited(2, label_value.encode())
        out += length_delimited(1, label)
    for value, timestamp_ms in samples:
        out += length_delimited(2, rw_sample(value, timestamp_ms))
    for _ in range(histograms):
        out += length_delimited(4, b"")
    return bytes(out)


def rw_request(series: Iterable[bytes], metadata: int = 0) -> bytes:
    """A prometheus.WriteRequest, optionally with empty metadata entries (field 3)."""
    body = b"".join(length_delimited(1, one) for one in series)
    return body + b"".join(length_delimited(3, b"") for _ in range(metadata))


def remote_write_body(series: int, samples_per_series: int) -> bytes:
    """An uncompressed WriteRequest shaped like Prometheus output."""
    return rw_request(
        rw_series(
            {
                "__name__": "http_requests_total",
                "job": "api",
                "instance": f"host-{index % 50}:9100",
                "path": f"/p/{index}",
            },
            ((float(index + n), T0_MS + n * 15_000) for n in range(samples_per_series)),
        )
        for index in range(series)
    )


def attributes(**values: str | int | float | bool) -> list[KeyValue]:
    """OTLP attributes from keyword arguments (`__` in a name stands for `.`)."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        out.append(KeyValue(key=key.replace("__", "."), value=any_value))
    return out


def otlp_request(
    *metrics: metrics_pb2.Metric, resource: Iterable[KeyValue] = ()
) -> ExportMetricsServiceRequest:
    """A request with one resource and one scope holding `metrics`."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(resource)
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return request


def gauge(name: str, *points: metrics_pb2.NumberDataPoint, unit: str = "") -> metrics_pb2.Metric:
    """A gauge metric."""
    return metrics_pb2.Metric(name=name, unit=unit, gauge=metrics_pb2.Gauge(data_points=points))


def counter(
    name: str,
    *points: metrics_pb2.NumberDataPoint,
    unit: str = "",
    monotonic: bool = True,
    temporality: Temporality = CUMULATIVE,
) -> metrics_pb2.Metric:
    """A sum metric."""
    data = metrics_pb2.Sum(
        data_points=points, aggregation_temporality=temporality, is_monotonic=monotonic
    )
    return metrics_pb2.Metric(name=name, unit=unit, sum=data)


def number(
    value: float | int | None, time_unix_nano: int = T0_NS, **attrs: str | int | float | bool
) -> metrics_pb2.NumberDataPoint:
    """A number point; an int value goes to as_int."""
    point = metrics_pb2.NumberDataPoint(
        time_unix_nano=time_unix_nano, attributes=attributes(**attrs)
    )
    if isinstance(value, int):
        point.as_int = value
    elif value is not None:
        point.as_double = value
    return point
