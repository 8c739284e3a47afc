"""The simple JSON metric body of seed 000."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.errors import DecodeError, PayloadError
from telemetry.decode.prom_text import count_prom_text
from telemetry.decode.samples import Sample, samples_to_prom_text
from telemetry.decode.simple_json import decode_simple_metrics

NOW_MS = 1_800_000_000_000
SEED_EXAMPLE = {
    "service_id": "svc-42",
    "metric_name": "http_requests_total",
    "value": 100,
    "metric_type": "counter",
    "labels": {"endpoint": "/api/users", "method": "GET"},
}


def decode(body: object) -> list[Sample]:
    """Decode a JSON-serializable body."""
    return decode_simple_metrics(json.dumps(body).encode(), now_ms=NOW_MS)


def error(body: object) -> str:
    """The detail of the DecodeError a body raises."""
    with pytest.raises(DecodeError) as caught:
        decode(body)
    assert caught.value.status_code == 400
    return caught.value.detail


class TestDecodeSimpleMetrics:
    def test_the_seed_example(self) -> None:
        assert decode(SEED_EXAMPLE) == [
            Sample(
                "http_requests_total",
                (("endpoint", "/api/users"), ("method", "GET"), ("service", "svc-42")),
                100.0,
                NOW_MS,
            )
        ]

    def test_only_the_required_fields(self) -> None:
        assert decode({"metric_name": "up", "value": 1}) == [Sample("up", (), 1.0, NOW_MS)]

    def test_an_array(self) -> None:
        got = decode([SEED_EXAMPLE, {"metric_name": "up", "value": 0.5}])
        assert [(s.name, s.value) for s in got] == [("http_requests_total", 100.0), ("up", 0.5)]

    def test_an_empty_array(self) -> None:
        assert decode([]) == []

    def test_numeric_service_id(self) -> None:
        assert decode({"metric_name": "up", "value": 1, "service_id": 7})[0].labels == (
            ("service", "7"),
        )

    def test_names_are_sanitized(self) -> None:
        got = decode({"metric_name": "http.requests", "value": 1, "labels": {"http.method": "GET"}})
        assert (got[0].name, got[0].labels) == ("http_requests", (("http_method", "GET"),))

    def test_tenant_and_project_labels_are_exported(self) -> None:
        labels = {"tenant": "victim", "project": "p", "__name__": "x"}
        assert decode({"metric_name": "up", "value": 1, "labels": labels})[0].labels == (
            ("exported_project", "p"),
            ("exported_tenant", "victim"),
            ("key__name__", "x"),
        )

    def test_service_label_is_exported_only_when_service_id_is_given(self) -> None:
        body = {"metric_name": "up", "value": 1, "labels": {"service": "mine"}}
        assert decode(body)[0].labels == (("service", "mine"),)
        assert decode({**body, "service_id": "s"})[0].labels == (
            ("exported_service", "mine"),
            ("service", "s"),
        )

    def test_empty_label_values_are_dropped(self) -> None:
        assert decode({"metric_name": "up", "value": 1, "labels": {"a": ""}})[0].labels == ()

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("2025-08-08T12:00:00Z", 1_754_654_400_000),
            ("2025-08-08T14:00:00.250+02:00", 1_754_654_400_250),
            (1_754_654_400, 1_754_654_400_000),
            (1_754_654_400.5, 1_754_654_400_500),
            (1_754_654_400_250, 1_754_654_400_250),
            (1_754_654_400_250_000, 1_754_654_400_250),
            (1_754_654_400_250_000_000, 1_754_654_400_250),
        ],
    )
    def test_timestamps(self, timestamp: object, expected: int) -> None:
        body = {"metric_name": "up", "value": 1, "timestamp": timestamp}
        assert decode(body)[0].timestamp_ms == expected

    def test_timestamp_without_timezone_is_refused(self) -> None:
        detail = error({"metric_name": "up", "value": 1, "timestamp": "2025-08-08T12:00:00"})
        assert detail == "Expected `datetime` with a timezone component - at `$.timestamp`"

    def test_negative_timestamp_is_refused(self) -> None:
        detail = error([{"metric_name": "up", "value": 1, "timestamp": -5}])
        assert detail == "timestamp must be a positive number - at `$[0].timestamp`"

    def test_unknown_field_is_named_with_its_index(self) -> None:
        body = [SEED_EXAMPLE, {"metric_name": "up", "value": 1, "lables": {}}]
        assert error(body) == "Object contains unknown field `lables` - at `$[1]`"

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"value": 1}, "Object missing required field `metric_name`"),
            ([{"metric_name": "up"}], "Object missing required field `value` - at `$[0]`"),
            ({"metric_name": "up", "value": "1"}, "Expected `float`, got `str` - at `$.value`"),
            ({"metric_name": "up", "value": True}, "Expected `float`, got `bool` - at `$.value`"),
            (
                {"metric_name": "up", "value": 1, "labels": {"a": 1}},
                "Expected `str`, got `int` - at `$.labels[...]`",
            ),
            (
                {"metric_name": "up", "value": 1, "metric_type": "meter"},
                "Invalid enum value 'meter' - at `$.metric_type`",
            ),
            (
                [{"metric_name": "up", "value": 1}, {"metric_name": "...", "value": 1}],
                "metric_name '...' has no usable character - at `$[1]`",
            ),
            (
                {"metric_name": "up", "value": 1, "labels": {"": "x"}},
                "empty label name - at `$.labels`",
            ),
            (
                {"metric_name": "up", "value": 1, "labels": {"a.b": "1", "a_b": "2"}},
                "labels 'a_b' and another label both become 'a_b' - at `$.labels`",
            ),
            ("up", "Expected `object | array`, got `str`"),
        ],
    )
    def test_invalid_bodies_name_the_field(self, body: object, detail: str) -> None:
        assert error(body) == detail

    def test_malformed_json(self) -> None:
        with pytest.raises(DecodeError, match="malformed"):
            decode_simple_metrics(b'{"metric_name": "up", "value": 1,,}')

    def test_default_timestamp_is_now(self) -> None:
        (sample,) = decode_simple_metrics(b'{"metric_name": "up", "value": 1}')
        assert sample.timestamp_ms > 1_700_000_000_000


SIMPLE_METRICS = st.fixed_dictionaries(
    {
        "metric_name": st.text(min_size=1, max_size=10),
        "value": st.floats(allow_nan=False, allow_infinity=False),
    },
    optional={
        "labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
        "service_id": st.text(max_size=5) | st.integers(),
        "metric_type": st.sampled_from(["counter", "gauge", "histogram", "summary"]),
        "timestamp": st.integers(0, 2**62) | st.datetimes(timezones=st.timezones()).map(str),
    },
)


class TestDecodeSimpleMetricsProperties:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(SIMPLE_METRICS, max_size=5))
    def test_valid_bodies_give_one_sample_each_or_a_decode_error(
        self, body: list[dict[str, object]]
    ) -> None:
        try:
            got = decode(body)
        except DecodeError:
            return
        assert len(got) == len(body)
        text = samples_to_prom_text(got)
        if b"\x00" not in text:
            assert count_prom_text(text) == len(body)

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=256))
    def test_random_bytes_raise_only_payload_errors(self, body: bytes) -> None:
        with contextlib.suppress(PayloadError):
            decode_simple_metrics(body)

    @settings(max_examples=200, deadline=None)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["metric_name", "value", "labels", "timestamp", "x"])
                    | st.text(),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=10,
        )
    )
    def test_random_json_raises_only_payload_errors(self, body: object) -> None:
        with contextlib.suppress(PayloadError):
            decode(body)
