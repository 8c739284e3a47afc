"""Throughput of the metrics decoders on one core: `.venv/bin/python -m bench.decode_metrics`."""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import Callable

import cramjam
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from telemetry.decode.compression import decompress
from telemetry.decode.otlp_metrics import decode_otlp_metrics
from telemetry.decode.prom_text import count_prom_text
from telemetry.decode.remote_write import count_remote_write
from telemetry.decode.samples import samples_to_prom_text
from telemetry.decode.simple_json import decode_simple_metrics
from tests.telemetry.decode.builders import remote_write_body

LIMIT = 64 << 20


def rate(label: str, units: int, unit: str, run: Callable[[], object], repeat: int = 5) -> None:
    """Print the best of `repeat` runs as units per second."""
    best = min(_timed(run) for _ in range(repeat))
    print(f"{label:<58} {units / best / 1e6:8.2f} M {unit}/s  ({best * 1e3:7.1f} ms)")


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def otlp_request(points: int, attributes: int = 4) -> ExportMetricsServiceRequest:
    """A request of gauges and cumulative sums with a few attributes each."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    for key, value in (("service.name", "api"), ("service.instance.id", "i-1"), ("host", "h")):
        resource_metrics.resource.attributes.add(key=key, value=AnyValue(string_value=value))
    scope = resource_metrics.scope_metrics.add()
    for index in range(points // 100):
        metric = scope.metrics.add(name=f"app.requests.{index}", unit="{request}")
        metric.sum.aggregation_temporality = 2
        metric.sum.is_monotonic = True
        for point_index in range(100):
            point = metric.sum.data_points.add(
                as_int=point_index, time_unix_nano=1_700_000_000_000_000_000
            )
            for attribute in range(attributes):
                point.attributes.add(
                    key=f"attr.{attribute}", value=AnyValue(string_value=f"v{point_index}")
                )
    return request


def otlp_histograms(points: int, buckets: int = 10) -> ExportMetricsServiceRequest:
    """A request of histograms with `buckets` explicit bounds."""
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    metric = scope.metrics.add(name="http.server.duration", unit="ms")
    metric.histogram.aggregation_temporality = 2
    for index in range(points):
        point = metric.histogram.data_points.add(
            count=100, sum=5.0, time_unix_nano=1_700_000_000_000_000_000
        )
        point.explicit_bounds.extend(float(2**i) for i in range(buckets))
        point.bucket_counts.extend([10] * (buckets + 1))
        point.attributes.add(key="route", value=AnyValue(string_value=f"/r/{index}"))
    return request


def main() -> None:
    """Run every benchmark."""
    random.seed(1)
    for series, per in ((100_000, 1), (10_000, 10), (1_000, 100)):
        body = bytes(cramjam.snappy.compress_raw(remote_write_body(series, per)))
        rate(
            f"remote write count, {series} series x {per} samples",
            series * per,
            "samples",
            lambda body=body: count_remote_write(body, max_decompressed=LIMIT),
        )

    text = b"".join(
        b'http_requests_total{method="GET",path="/api/v1/users/%d",status="200"} %d 1700000000000\n'
        % (i, i)
        for i in range(200_000)
    )
    rate("prometheus text count, 200k lines", 200_000, "samples", lambda: count_prom_text(text))
    gz = gzip.compress(text, 6)
    rate(
        "gzip decompress of that text",
        len(text),
        "bytes",
        lambda: decompress(gz, "gzip", max_decompressed=LIMIT),
    )

    request = otlp_request(50_000)
    protobuf = request.SerializeToString()
    rate(
        "OTLP protobuf sums, 4 attributes",
        50_000,
        "samples",
        lambda: decode_otlp_metrics(protobuf, "application/x-protobuf"),
    )
    as_json = json_format.MessageToJson(request, indent=None).encode()
    rate(
        "OTLP/JSON sums, 4 attributes",
        50_000,
        "samples",
        lambda: decode_otlp_metrics(as_json, "application/json"),
    )
    histograms = otlp_histograms(5_000).SerializeToString()
    rate(
        "OTLP protobuf histograms, 10 bounds (13 samples/point)",
        5_000 * 13,
        "samples",
        lambda: decode_otlp_metrics(histograms, "application/x-protobuf"),
    )

    samples = decode_otlp_metrics(protobuf, "application/x-protobuf").samples
    rate("samples_to_prom_text", len(samples), "samples", lambda: samples_to_prom_text(samples))

    simple = (
        b"["
        + b",".join(
            b'{"metric_name":"http_requests_total","value":%d,"metric_type":"counter",'
            b'"labels":{"endpoint":"/api/users","method":"GET"},"service_id":"svc"}' % i
            for i in range(50_000)
        )
        + b"]"
    )
    rate("simple JSON", 50_000, "samples", lambda: decode_simple_metrics(simple))


if __name__ == "__main__":
    main()
