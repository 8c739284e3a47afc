"""OTLP metrics to Prometheus samples, in protobuf and JSON."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from telemetry.decode.errors import DecodeError, PayloadError, UnsupportedMediaType
from telemetry.decode.otlp_metrics import (
    OtlpMetricsBatch,
    decode_otlp_metrics,
    export_metrics_response,
    otlp_encoding,
)
from telemetry.decode.prom_text import count_prom_text
from telemetry.decode.samples import Sample, samples_to_prom_text
from tests.telemetry.decode.builders import (
    CUMULATIVE,
    DELTA,
    T0_MS,
    T0_NS,
    UNSPECIFIED,
    Temporality,
    attributes,
    counter,
    gauge,
    number,
    otlp_request,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NOW_MS = 1_800_000_000_000
TRACE_ID = "5b8efff798038103d269b633813fc60c"  # OTLP/JSON ids are hex, not base64


def decode(request: ExportMetricsServiceRequest, *, target_info: bool = False) -> OtlpMetricsBatch:
    """Decode a request as protobuf, check JSON (camelCase and snake_case) agrees, return it."""
    batch = decode_otlp_metrics(
        request.SerializeToString(), PROTOBUF, now_ms=NOW_MS, target_info=target_info
    )
    for snake in (False, True):
        body = json_format.MessageToJson(request, preserving_proto_field_name=snake, indent=None)
        other = decode_otlp_metrics(body.encode(), JSON, now_ms=NOW_MS, target_info=target_info)
        assert same(other, batch), f"JSON (snake_case={snake}) disagrees with protobuf"
    return batch


def same(a: OtlpMetricsBatch, b: OtlpMetricsBatch) -> bool:
    """Equality of batches where NaN equals NaN."""
    return (a.rejected, a.rejected_detail) == (b.rejected, b.rejected_detail) and (
        samples_to_prom_text(a.samples) == samples_to_prom_text(b.samples)
    )


def samples(*metrics: metrics_pb2.Metric, resource: list[KeyValue] | None = None) -> list[Sample]:
    """The samples of a request holding `metrics`, none rejected."""
    batch = decode(otlp_request(*metrics, resource=resource or []))
    assert batch.rejected == 0, batch.rejected_detail
    return batch.samples


def histogram(
    name: str,
    *points: metrics_pb2.HistogramDataPoint,
    unit: str = "",
    temporality: Temporality = CUMULATIVE,
) -> metrics_pb2.Metric:
    """A histogram metric."""
    data = metrics_pb2.Histogram(data_points=points, aggregation_temporality=temporality)
    return metrics_pb2.Metric(name=name, unit=unit, histogram=data)


def exponential(
    name: str, *points: metrics_pb2.ExponentialHistogramDataPoint
) -> metrics_pb2.Metric:
    """A cumulative exponential histogram metric."""
    data = metrics_pb2.ExponentialHistogram(data_points=points, aggregation_temporality=CUMULATIVE)
    return metrics_pb2.Metric(name=name, exponential_histogram=data)


class TestNumbers:
    def test_gauge_is_one_sample_with_a_millisecond_timestamp(self) -> None:
        point = number(0.25, T0_NS + 123_456_789, host="h1")
        assert samples(gauge("cpu.load", point)) == [
            Sample("cpu_load", (("host", "h1"),), 0.25, T0_MS + 123)
        ]

    def test_integer_values_become_floats(self) -> None:
        (sample,) = samples(gauge("queue", number(-7)))
        assert sample.value == -7.0
        assert isinstance(sample.value, float)

    def test_monotonic_cumulative_sum_is_a_total(self) -> None:
        (sample,) = samples(counter("http.requests", number(5)))
        assert sample.name == "http_requests_total"

    def test_total_suffix_is_not_doubled(self) -> None:
        assert samples(counter("jobs_total", number(1)))[0].name == "jobs_total"

    def test_non_monotonic_sum_is_a_gauge(self) -> None:
        (sample,) = samples(counter("inflight", number(3), monotonic=False))
        assert (sample.name, sample.value) == ("inflight", 3.0)

    def test_delta_sum_is_stored_as_sent_without_total(self) -> None:
        (sample,) = samples(counter("requests", number(4), temporality=DELTA))
        assert (sample.name, sample.value) == ("requests", 4.0)

    @pytest.mark.parametrize(
        ("name", "unit", "make", "expected"),
        [
            ("http.server.duration", "ms", gauge, "http_server_duration_milliseconds"),
            ("memory.used", "By", gauge, "memory_used_bytes"),
            ("net.io", "By/s", gauge, "net_io_bytes_per_second"),
            ("cpu.utilization", "1", gauge, "cpu_utilization_ratio"),
            ("requests", "{request}", counter, "requests_total"),
            ("cpu.time", "s", counter, "cpu_time_seconds_total"),
            ("latency_seconds", "s", gauge, "latency_seconds"),
            ("hits", "1", counter, "hits_total"),
            ("temp", "Cel", gauge, "temp_celsius"),
            ("odd", "furlongs/fortnight", gauge, "odd_furlongs_per_fortnight"),
        ],
    )
    def test_unit_becomes_a_suffix(self, name: str, unit: str, make: object, expected: str) -> None:
        assert make in (gauge, counter)
        metric = (
            gauge(name, number(1), unit=unit)
            if make is gauge
            else counter(name, number(1), unit=unit)
        )
        assert samples(metric)[0].name == expected

    def test_timestamp_zero_means_now(self) -> None:
        assert samples(gauge("g", number(1.0, 0)))[0].timestamp_ms == NOW_MS

    def test_nan_and_infinite_values_are_kept(self) -> None:
        values = [s.value for s in samples(gauge("g", number(math.nan), number(math.inf)))]
        assert math.isnan(values[0])
        assert values[1] == math.inf

    def test_point_flagged_no_recorded_value_is_skipped(self) -> None:
        point = number(1.0)
        point.flags = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
        assert samples(gauge("g", point, number(2.0))) == [Sample("g", (), 2.0, T0_MS)]


class TestLabels:
    def test_service_name_and_instance_become_job_and_instance(self) -> None:
        resource = attributes(service__name="api", service__instance__id="i-1", region="eu")
        (sample,) = samples(gauge("g", number(1.0, code="200")), resource=resource)
        assert sample.labels == (("code", "200"), ("instance", "i-1"), ("job", "api"))

    def test_service_namespace_prefixes_job(self) -> None:
        resource = attributes(service__name="api", service__namespace="shop")
        assert samples(gauge("g", number(1.0)), resource=resource)[0].labels == (
            ("job", "shop/api"),
        )

    def test_tenant_and_project_attributes_are_exported_not_trusted(self) -> None:
        point = number(1.0, tenant="victim", project="prj_x")
        assert samples(gauge("g", point))[0].labels == (
            ("exported_project", "prj_x"),
            ("exported_tenant", "victim"),
        )

    def test_attribute_cannot_set_the_metric_name(self) -> None:
        point = number(1.0)
        point.attributes.append(KeyValue(key="__name__", value=AnyValue(string_value="other")))
        labels = samples(gauge("g", point))[0].labels
        assert labels == (("key__name__", "other"),)

    def test_job_attribute_is_exported_when_the_resource_sets_job(self) -> None:
        resource = attributes(service__name="api")
        labels = samples(gauge("g", number(1.0, job="batch")), resource=resource)[0].labels
        assert labels == (("exported_job", "batch"), ("job", "api"))

    def test_job_attribute_is_kept_without_a_service_name(self) -> None:
        assert samples(gauge("g", number(1.0, job="batch")))[0].labels == (("job", "batch"),)

    def test_keys_are_sanitized(self) -> None:
        point = number(1.0, http__method="GET")
        point.attributes.append(KeyValue(key="0day", value=AnyValue(string_value="y")))
        assert samples(gauge("g", point))[0].labels == (("http_method", "GET"), ("key_0day", "y"))

    def test_colliding_keys_are_joined_in_key_order(self) -> None:
        point = number(1.0)
        for key, value in (("a_b", "2"), ("a.b", "1"), ("a-b", "3")):
            point.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
        assert samples(gauge("g", point))[0].labels == (("a_b", "3;1;2"),)

    def test_empty_values_and_keys_are_dropped(self) -> None:
        point = number(1.0, empty="")
        point.attributes.append(KeyValue(key="", value=AnyValue(string_value="x")))
        point.attributes.append(KeyValue(key="unset"))
        assert samples(gauge("g", point))[0].labels == ()

    def test_non_string_values(self) -> None:
        point = number(1.0, flag=True, count=3, ratio=0.5)
        point.attributes.extend(
            [
                KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\xff")),
                KeyValue(
                    key="list",
                    value=AnyValue(
                        array_value=ArrayValue(
                            values=[AnyValue(int_value=1), AnyValue(string_value="a")]
                        )
                    ),
                ),
                KeyValue(
                    key="map",
                    value=AnyValue(
                        kvlist_value=KeyValueList(
                            values=[KeyValue(key="k", value=AnyValue(bool_value=False))]
                        )
                    ),
                ),
            ]
        )
        assert dict(samples(gauge("g", point))[0].labels) == {
            "flag": "true",
            "count": "3",
            "ratio": "0.5",
            "raw": "AP8=",
            "list": '[1,"a"]',
            "map": '{"k":false}',
        }

    def test_deeply_nested_attribute_is_a_decode_error(self) -> None:
        value = AnyValue(string_value="x")
        for _ in range(40):
            value = AnyValue(array_value=ArrayValue(values=[value]))
        point = number(1.0)
        point.attributes.append(KeyValue(key="deep", value=value))
        body = otlp_request(gauge("g", point)).SerializeToString()
        with pytest.raises(DecodeError, match="nested"):
            decode_otlp_metrics(body, PROTOBUF)

    def test_target_info_carries_other_resource_attributes_when_asked(self) -> None:
        resource = attributes(service__name="api", host__name="h1", service__version="2")
        request = otlp_request(gauge("g", number(1.0)), resource=resource)
        assert decode(request).samples == [Sample("g", (("job", "api"),), 1.0, T0_MS)]
        assert decode(request, target_info=True).samples[-1] == Sample(
            "target_info",
            (("host_name", "h1"), ("job", "api"), ("service_version", "2")),
            1.0,
            T0_MS,
        )


def hpoint(
    counts: list[int], bounds: list[float], total: float | None = 12.5, **attrs: str
) -> metrics_pb2.HistogramDataPoint:
    """A histogram point whose count is the sum of its buckets."""
    point = metrics_pb2.HistogramDataPoint(
        time_unix_nano=T0_NS,
        count=sum(counts),
        bucket_counts=counts,
        explicit_bounds=bounds,
        attributes=attributes(**attrs),
    )
    if total is not None:
        point.sum = total
    return point


class TestHistograms:
    def test_buckets_are_cumulative_with_sum_and_count(self) -> None:
        got = samples(histogram("http.duration", hpoint([1, 2, 3], [0.5, 10]), unit="s"))
        base = "http_duration_seconds"
        assert [(s.name, s.labels, s.value) for s in got] == [
            (f"{base}_bucket", (("le", "0.5"),), 1.0),
            (f"{base}_bucket", (("le", "10"),), 3.0),
            (f"{base}_bucket", (("le", "+Inf"),), 6.0),
            (f"{base}_sum", (), 12.5),
            (f"{base}_count", (), 6.0),
        ]

    def test_each_bucket_sum_and_count_is_a_unit(self) -> None:
        bounds = [float(b) for b in range(10)]
        assert len(samples(histogram("h", hpoint([1] * 11, bounds)))) == 13

    def test_sum_is_omitted_when_absent(self) -> None:
        names = [s.name for s in samples(histogram("h", hpoint([1, 1], [1.0], total=None)))]
        assert names == ["h_bucket", "h_bucket", "h_count"]

    def test_point_without_buckets_has_only_inf_sum_and_count(self) -> None:
        point = metrics_pb2.HistogramDataPoint(time_unix_nano=T0_NS, count=4, sum=2.0)
        got = samples(histogram("h", point))
        assert [(s.name, s.labels, s.value) for s in got] == [
            ("h_bucket", (("le", "+Inf"),), 4.0),
            ("h_sum", (), 2.0),
            ("h_count", (), 4.0),
        ]

    def test_le_attribute_is_exported(self) -> None:
        got = samples(histogram("h", hpoint([1], [], le="mine")))
        assert got[0].labels == (("exported_le", "mine"), ("le", "+Inf"))

    def test_mismatched_buckets_reject_only_that_point(self) -> None:
        request = otlp_request(histogram("h", hpoint([1, 2], [1.0, 2.0]), hpoint([1, 1], [1.0])))
        batch = decode(request)
        assert batch.rejected == 1
        assert batch.rejected_detail == "metric 'h': 2 bucket counts for 2 bounds"
        assert len(batch.samples) == 4

    @pytest.mark.parametrize("bounds", [[2.0, 1.0], [1.0, 1.0], [math.nan], [math.inf]])
    def test_bounds_must_be_finite_and_increasing(self, bounds: list[float]) -> None:
        batch = decode(otlp_request(histogram("h", hpoint([0] * (len(bounds) + 1), bounds))))
        assert (batch.rejected, batch.samples) == (1, [])

    def test_delta_histogram_is_stored_as_sent(self) -> None:
        got = samples(histogram("h", hpoint([1, 1], [1.0]), temporality=DELTA))
        assert [s.value for s in got] == [1.0, 2.0, 12.5, 2.0]

    def test_unspecified_temporality_rejects_the_metric(self) -> None:
        request = otlp_request(
            histogram("h", hpoint([1], []), hpoint([1], []), temporality=UNSPECIFIED)
        )
        batch = decode(request)
        assert (batch.rejected, batch.samples) == (2, [])
        assert batch.rejected_detail == "metric 'h': aggregation temporality is unspecified"


class TestExponentialHistograms:
    def test_buckets_become_vmrange_with_sum_and_count(self) -> None:
        point = metrics_pb2.ExponentialHistogramDataPoint(
            time_unix_nano=T0_NS, count=10, sum=9.0, scale=0, zero_count=1, zero_threshold=0.5
        )
        point.positive.offset = 0
        point.positive.bucket_counts.extend([2, 0, 3])
        point.negative.offset = -1
        point.negative.bucket_counts.extend([4])
        got = samples(exponential("latency", point))
        assert [(s.name, s.labels, s.value) for s in got] == [
            ("latency_bucket", (("vmrange", "-0.5...0.5"),), 1.0),
            ("latency_bucket", (("vmrange", "1...2"),), 2.0),
            ("latency_bucket", (("vmrange", "4...8"),), 3.0),
            ("latency_bucket", (("vmrange", "-1...-0.5"),), 4.0),
            ("latency_sum", (), 9.0),
            ("latency_count", (), 10.0),
        ]

    def test_fine_scale_bounds(self) -> None:
        point = metrics_pb2.ExponentialHistogramDataPoint(time_unix_nano=T0_NS, count=1, scale=2)
        point.positive.offset = 4
        point.positive.bucket_counts.append(1)
        (bucket, _) = samples(exponential("e", point))
        low, high = (float(bound) for bound in dict(bucket.labels)["vmrange"].split("..."))
        assert low == 2.0
        assert high == pytest.approx(2 ** (5 / 4))

    def test_huge_offsets_saturate_to_infinity(self) -> None:
        point = metrics_pb2.ExponentialHistogramDataPoint(time_unix_nano=T0_NS, count=1, scale=0)
        point.positive.offset = 2_000_000
        point.positive.bucket_counts.append(1)
        assert dict(samples(exponential("e", point))[0].labels)["vmrange"] == "+Inf...+Inf"

    def test_infinite_zero_threshold_is_rejected(self) -> None:
        point = metrics_pb2.ExponentialHistogramDataPoint(
            time_unix_nano=T0_NS, count=1, zero_count=1, zero_threshold=math.inf
        )
        assert decode(otlp_request(exponential("e", point))).rejected == 1

    def test_scale_out_of_range_is_rejected(self) -> None:
        point = metrics_pb2.ExponentialHistogramDataPoint(time_unix_nano=T0_NS, count=1, scale=21)
        batch = decode(otlp_request(exponential("e", point)))
        assert batch.rejected == 1
        assert "scale 21" in (batch.rejected_detail or "")


class TestSummaries:
    def test_quantiles_sum_and_count(self) -> None:
        point = metrics_pb2.SummaryDataPoint(time_unix_nano=T0_NS, count=3, sum=1.5)
        point.quantile_values.add(quantile=0.5, value=0.4)
        point.quantile_values.add(quantile=1.0, value=0.9)
        metric = metrics_pb2.Metric(
            name="rpc.duration", unit="s", summary=metrics_pb2.Summary(data_points=[point])
        )
        assert [(s.name, s.labels, s.value) for s in samples(metric)] == [
            ("rpc_duration_seconds", (("quantile", "0.5"),), 0.4),
            ("rpc_duration_seconds", (("quantile", "1"),), 0.9),
            ("rpc_duration_seconds_sum", (), 1.5),
            ("rpc_duration_seconds_count", (), 3.0),
        ]


class TestRejections:
    def test_point_without_value_is_rejected_others_kept(self) -> None:
        batch = decode(otlp_request(gauge("g", number(None), number(1.0), number(None))))
        assert batch.rejected == 2
        assert batch.rejected_detail == (
            "metric 'g': data point without a value (and 1 more rejected data points)"
        )
        assert len(batch.samples) == 1

    def test_unusable_name_rejects_the_metric(self) -> None:
        batch = decode(otlp_request(gauge("...", number(1.0), number(2.0))))
        assert (batch.rejected, batch.samples) == (2, [])

    def test_metric_without_data_is_ignored(self) -> None:
        batch = decode(otlp_request(metrics_pb2.Metric(name="empty")))
        assert batch == OtlpMetricsBatch([], 0, None)


class TestEncodings:
    @pytest.mark.parametrize(
        ("content_type", "encoding"),
        [
            ("application/x-protobuf", "protobuf"),
            ("application/protobuf", "protobuf"),
            ("Application/JSON; charset=utf-8", "json"),
        ],
    )
    def test_content_types(self, content_type: str, encoding: str) -> None:
        assert otlp_encoding(content_type) == encoding

    @pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/grpc"])
    def test_other_content_types_are_unsupported(self, content_type: str | None) -> None:
        with pytest.raises(UnsupportedMediaType) as caught:
            decode_otlp_metrics(b"", content_type)
        assert caught.value.status_code == 415

    def test_empty_body_is_an_empty_request(self) -> None:
        assert decode_otlp_metrics(b"", PROTOBUF) == OtlpMetricsBatch([], 0, None)

    def test_garbage_protobuf_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="not a valid ExportMetricsServiceRequest"):
            decode_otlp_metrics(b"\x0a\x05hello", PROTOBUF)

    def test_invalid_utf8_in_an_attribute_is_a_decode_error(self) -> None:
        point = number(1.0, host="HOSTX")
        body = (
            otlp_request(gauge("g", point))
            .SerializeToString()
            .replace(b"HOSTX", b"\xff\xfe\xfd\xfc\xfb")
        )
        with pytest.raises(DecodeError, match="KeyValue"):
            decode_otlp_metrics(body, PROTOBUF)

    def test_otlp_json_as_exporters_send_it(self) -> None:
        body = {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                    },
                    "scopeMetrics": [
                        {
                            "scope": {"name": "manual", "version": "1"},
                            "metrics": [
                                {
                                    "name": "requests",
                                    "description": "ignored",
                                    "sum": {
                                        "aggregationTemporality": 2,
                                        "isMonotonic": True,
                                        "dataPoints": [
                                            {
                                                "asInt": "42",
                                                "startTimeUnixNano": "1699999990000000000",
                                                "timeUnixNano": "1700000000000000000",
                                                "attributes": [
                                                    {"key": "code", "value": {"intValue": "200"}}
                                                ],
                                                "exemplars": [
                                                    {
                                                        "asDouble": 1,
                                                        "traceId": TRACE_ID,
                                                        "spanId": "eee19b7ec3c1b174",
                                                    }
                                                ],
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        batch = decode_otlp_metrics(json.dumps(body).encode(), JSON)
        assert batch == OtlpMetricsBatch(
            [Sample("requests_total", (("code", "200"), ("job", "api")), 42.0, T0_MS)], 0, None
        )

    def test_json_enum_names_and_special_floats(self) -> None:
        body = {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": "h",
                                    "histogram": {
                                        "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                        "dataPoints": [
                                            {"count": "1", "sum": "NaN", "timeUnixNano": "0"}
                                        ],
                                    },
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        batch = decode_otlp_metrics(json.dumps(body).encode(), JSON, now_ms=NOW_MS)
        assert [s.name for s in batch.samples] == ["h_bucket", "h_sum", "h_count"]
        assert math.isnan(batch.samples[1].value)

    @pytest.mark.parametrize(
        ("body", "where"),
        [
            (b"{", "truncated"),
            (b"{]", "malformed"),
            (b"[]", "Expected `object`"),
            (b'{"resourceMetrics": {}}', "$.resourceMetrics"),
            (
                b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":'
                b'[{"asInt":"x"}]}}]}]}]}',
                "$.resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt",
            ),
            (
                b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":'
                b'[{"timeUnixNano":-1}]}}]}]}]}',
                "timeUnixNano",
            ),
        ],
    )
    def test_invalid_json_names_the_path(self, body: bytes, where: str) -> None:
        with pytest.raises(DecodeError, match=r"^OTLP/JSON: ") as caught:
            decode_otlp_metrics(body, JSON)
        assert where in caught.value.detail

    def test_deeply_nested_json_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError):
            decode_otlp_metrics(b"[" * 100_000, JSON)

    def test_payload_from_the_opentelemetry_sdk(self) -> None:
        reader = InMemoryMetricReader()
        provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "shop", "service.instance.id": "i-1"}),
        )
        meter = provider.get_meter("test")
        meter.create_counter("orders", unit="{order}").add(3, {"region": "eu"})
        meter.create_histogram("checkout.duration", unit="ms").record(42.0)
        meter.create_up_down_counter("carts").add(-2)
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        batch = decode(encode_metrics(data))
        assert batch.rejected == 0
        by_name = {(s.name, dict(s.labels).get("le")): s for s in batch.samples}
        assert by_name["orders_total", None].value == 3.0
        assert dict(by_name["orders_total", None].labels) == {
            "job": "shop",
            "instance": "i-1",
            "region": "eu",
        }
        assert by_name["carts", None].value == -2.0
        assert by_name["checkout_duration_milliseconds_count", None].value == 1.0
        assert by_name["checkout_duration_milliseconds_bucket", "+Inf"].value == 1.0
        # The SDK's default buckets: 15 bounds, so 16 buckets + _sum + _count.
        assert sum(s.name.startswith("checkout_duration") for s in batch.samples) == 18


class TestExportMetricsResponse:
    def test_protobuf_partial_success(self) -> None:
        body = export_metrics_response(3, "3 points had no value", PROTOBUF)
        response = ExportMetricsServiceResponse.FromString(body)
        assert response.partial_success.rejected_data_points == 3
        assert response.partial_success.error_message == "3 points had no value"

    def test_protobuf_full_success_is_empty(self) -> None:
        body = export_metrics_response(0, None, PROTOBUF)
        assert not ExportMetricsServiceResponse.FromString(body).HasField("partial_success")

    def test_json_partial_success_parses_as_otlp_json(self) -> None:
        body = export_metrics_response(2, "bad", "application/json; charset=utf-8")
        response = json_format.Parse(body, ExportMetricsServiceResponse())
        assert response.partial_success.rejected_data_points == 2
        assert json.loads(body) == {
            "partialSuccess": {"rejectedDataPoints": "2", "errorMessage": "bad"}
        }

    def test_json_full_success_is_an_empty_object(self) -> None:
        assert export_metrics_response(0, None, JSON) == b"{}"


def rich_request() -> ExportMetricsServiceRequest:
    """One request with every kind of metric, for the fuzzers to mutate."""
    epoint = metrics_pb2.ExponentialHistogramDataPoint(
        time_unix_nano=T0_NS, count=3, sum=1.0, scale=3, zero_count=1
    )
    epoint.positive.bucket_counts.extend([1, 1])
    spoint = metrics_pb2.SummaryDataPoint(time_unix_nano=T0_NS, count=1, sum=1.0)
    spoint.quantile_values.add(quantile=0.5, value=1.0)
    return otlp_request(
        gauge("g", number(1.5, host="h", ok=True)),
        counter("c", number(3, code=200), unit="By"),
        histogram("h", hpoint([1, 2, 3], [1.0, 2.0], route="/x")),
        exponential("e", epoint),
        metrics_pb2.Metric(name="s", summary=metrics_pb2.Summary(data_points=[spoint])),
        resource=attributes(service__name="api", service__instance__id="i", zone="z"),
    )


RICH_PROTOBUF = rich_request().SerializeToString()
RICH_JSON = json.loads(json_format.MessageToJson(rich_request()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_if_decoded(body: bytes, content_type: str) -> None:
    """Decode; a payload error is fine, anything else fails; samples must be well-formed."""
    try:
        batch = decode_otlp_metrics(body, content_type, now_ms=NOW_MS, target_info=True)
    except PayloadError:
        return
    for sample in batch.samples:
        assert _METRIC_NAME.fullmatch(sample.name), sample
        names = [name for name, _ in sample.labels]
        assert len(set(names)) == len(names), sample
        assert all(_LABEL_NAME.fullmatch(name) and value for name, value in sample.labels)
    text = samples_to_prom_text(batch.samples)
    if b"\x00" not in text:
        assert count_prom_text(text) == len(batch.samples)


def json_paths(document: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a JSON document."""
    paths = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            paths += json_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            paths += json_paths(value, (*prefix, index))
    return paths


RICH_JSON_PATHS = json_paths(RICH_JSON)[1:]


class TestOtlpFuzz:
    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=512), content_type=st.sampled_from([PROTOBUF, JSON]))
    def test_random_bytes_raise_only_payload_errors(self, body: bytes, content_type: str) -> None:
        check_if_decoded(body, content_type)

    @settings(max_examples=300, deadline=None)
    @given(
        position=st.integers(0, len(RICH_PROTOBUF) - 1),
        flip=st.integers(1, 255),
        cut=st.booleans(),
    )
    def test_mutated_protobuf_raises_only_payload_errors(
        self, position: int, flip: int, cut: bool
    ) -> None:
        body = bytearray(RICH_PROTOBUF)
        if cut:
            del body[position:]
        else:
            body[position] ^= flip
        check_if_decoded(bytes(body), PROTOBUF)

    @settings(max_examples=300, deadline=None)
    @given(path=st.sampled_from(RICH_JSON_PATHS), value=JSON_VALUES, snake=st.booleans())
    def test_json_with_a_replaced_value_raises_only_payload_errors(
        self, path: tuple[object, ...], value: object, snake: bool
    ) -> None:
        document = copy.deepcopy(RICH_JSON)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
        body = json.dumps(document).encode()
        if snake:
            body = body.replace(b'"dataPoints"', b'"data_points"')
        check_if_decoded(body, JSON)

    @settings(max_examples=200, deadline=None)
    @given(document=JSON_VALUES)
    def test_random_json_raises_only_payload_errors(self, document: object) -> None:
        check_if_decoded(json.dumps(document).encode(), JSON)
