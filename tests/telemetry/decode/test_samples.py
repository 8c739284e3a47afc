"""Samples, name sanitizing and the text exposition output."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.otlp_convert import attribute_label_value
from telemetry.decode.samples import (
    Sample,
    format_float,
    samples_to_prom_text,
    sanitize_label_name,
    sanitize_metric_name,
)
from tests.telemetry.decode.strategies import SAMPLES

_LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+) (-?\d+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_line(line: str) -> Sample:
    """A reference parser for one line of our output (not used by the code under test)."""
    match = _LINE.fullmatch(line)
    assert match is not None, line
    name, label_text, value, timestamp = match.groups()
    labels = []
    position = 0
    while label_text and position < len(label_text):
        label = _LABEL.match(label_text, position)
        assert label is not None, label_text[position:]
        escaped = label.group(2)
        unescaped = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), escaped)
        labels.append((label.group(1), unescaped))
        position = label.end()
    number = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}.get(value)
    return Sample(name, tuple(labels), float(value) if number is None else number, int(timestamp))


def same(a: Sample, b: Sample) -> bool:
    """Equality that treats NaN as equal to NaN."""
    both_nan = math.isnan(a.value) and math.isnan(b.value)
    return (a.name, a.labels, a.timestamp_ms) == (b.name, b.labels, b.timestamp_ms) and (
        both_nan or a.value == b.value
    )


class TestFormatFloat:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-3.0, "-3"),
            (0.5, "0.5"),
            (1e-9, "1e-09"),
            (1e15, "1000000000000000"),
            (1e16, "1e+16"),
            (123456789012.0, "123456789012"),
            (math.nan, "NaN"),
            (math.inf, "+Inf"),
            (-math.inf, "-Inf"),
        ],
    )
    def test_prometheus_forms(self, value: float, text: str) -> None:
        assert format_float(value) == text

    @given(st.floats())
    def test_round_trips(self, value: float) -> None:
        text = format_float(value)
        parsed = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}.get(text)
        back = float(text) if parsed is None else parsed
        assert back == value or (math.isnan(back) and math.isnan(value))


class TestSanitize:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("http_requests_total", "http_requests_total"),
            ("http.server.duration", "http_server_duration"),
            ("a..b--c", "a_b_c"),
            ("ns:rule:rate5m", "ns:rule:rate5m"),
            ("2xx.count", "_2xx_count"),
            ("caf\u00e9", "caf_"),
            ("", None),
            ("...", None),
        ],
    )
    def test_metric_names(self, name: str, expected: str | None) -> None:
        assert sanitize_metric_name(name) == expected

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("http.method", "http_method"),
            ("k8s.pod:name", "k8s_pod_name"),
            ("0day", "key_0day"),
            ("_private", "key_private"),
            ("__name__", "key__name__"),
            ("", None),
        ],
    )
    def test_label_names(self, name: str, expected: str | None) -> None:
        assert sanitize_label_name(name) == expected

    @given(st.text())
    def test_results_are_valid_names(self, name: str) -> None:
        metric = sanitize_metric_name(name)
        assert metric is None or re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", metric)
        label = sanitize_label_name(name)
        assert label is None or re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", label)


class TestAttributeLabelValue:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ("x", "x"),
            (None, ""),
            (True, "true"),
            (False, "false"),
            (42, "42"),
            (2.5, "2.5"),
            ([1, "a", [True]], '[1,"a",[true]]'),
            ({"k": "v"}, '{"k":"v"}'),
        ],
    )
    def test_values(self, value: object, text: str) -> None:
        assert attribute_label_value(value) == text


class TestSamplesToPromText:
    def test_renders_lines_with_timestamps(self) -> None:
        samples = [
            Sample("up", (), 1.0, 1_700_000_000_000),
            Sample("http_requests_total", (("code", "200"), ("job", "api")), 5.5, 17),
        ]
        assert samples_to_prom_text(samples) == (
            b'up 1 1700000000000\nhttp_requests_total{code="200",job="api"} 5.5 17\n'
        )

    def test_escapes_backslash_quote_and_newline(self) -> None:
        text = samples_to_prom_text([Sample("m", (("v", 'a\\b"c\nd'),), 1.0, 0)])
        assert text == b'm{v="a\\\\b\\"c\\nd"} 1 0\n'

    def test_special_values(self) -> None:
        samples = [Sample("m", (), value, 0) for value in (math.nan, math.inf, -math.inf)]
        assert samples_to_prom_text(samples) == b"m NaN 0\nm +Inf 0\nm -Inf 0\n"

    def test_non_ascii_label_values_are_utf8(self) -> None:
        assert samples_to_prom_text([Sample("m", (("city", "Z\u00fcrich"),), 1.0, 0)]) == (
            'm{city="Z\u00fcrich"} 1 0\n'.encode()
        )

    def test_no_samples_is_an_empty_body(self) -> None:
        assert samples_to_prom_text([]) == b""

    @settings(max_examples=200, deadline=None)
    @given(st.lists(SAMPLES, max_size=10))
    def test_a_reference_parser_reads_back_every_sample(self, samples: list[Sample]) -> None:
        lines = samples_to_prom_text(samples).decode().split("\n")
        assert lines.pop() == ""
        assert len(lines) == len(samples)
        for line, sample in zip(lines, samples, strict=True):
            assert same(parse_line(line), sample)
