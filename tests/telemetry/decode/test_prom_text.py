"""Counting and validating Prometheus text exposition bodies."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.errors import DecodeError, PayloadError
from telemetry.decode.prom_text import MAX_LINE_BYTES, count_prom_text, select_samples
from telemetry.decode.samples import Sample, samples_to_prom_text
from tests.telemetry.decode.strategies import SAMPLES

EXPOSITION = b"""\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
:rule:with_colon 1
_leading_underscore 2
# A histogram, which has a pretty complex representation in the text format:
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"""


class TestCountPromText:
    def test_counts_the_sample_lines_of_the_reference_example(self) -> None:
        assert count_prom_text(EXPOSITION) == 11

    def test_empty_body_has_no_samples(self) -> None:
        assert count_prom_text(b"") == 0

    def test_only_comments_and_blank_lines(self) -> None:
        assert count_prom_text(b"# HELP x y\n\n   \n\t\n# EOF\n") == 0

    def test_last_line_without_newline_counts(self) -> None:
        assert count_prom_text(b"a 1\nb 2") == 2

    def test_crlf_line_endings(self) -> None:
        assert count_prom_text(b"# TYPE a gauge\r\na 1\r\n\r\nb 2\r\n") == 2

    def test_leading_blanks_are_allowed(self) -> None:
        assert count_prom_text(b"  a 1\n\tb 2\n   # comment\n") == 2

    def test_utf8_label_values(self) -> None:
        assert count_prom_text('temp{city="Z\u00fcrich"} 21.5\n'.encode()) == 1

    @pytest.mark.parametrize(
        ("body", "line"),
        [
            (b"1abc 2\n", 1),
            (b'a 1\n{__name__="x"} 1\n', 2),
            (b"a 1\n\n# ok\n-x 1\n", 4),
            (b"a 1\n  .x 1\n", 2),
        ],
    )
    def test_line_not_starting_with_a_name_is_refused_with_its_number(
        self, body: bytes, line: int
    ) -> None:
        with pytest.raises(DecodeError, match=f"^line {line}: not a sample line") as caught:
            count_prom_text(body)
        assert caught.value.status_code == 400

    @pytest.mark.parametrize(
        ("body", "line"),
        [
            (b"a\n", 1),
            (b'a 1\nb{x="y"}\n', 2),
            (b"a 1\nb", 2),
            (b"a 1\r\nb\r\n", 2),
        ],
    )
    def test_sample_line_without_a_value_is_refused(self, body: bytes, line: int) -> None:
        with pytest.raises(DecodeError, match=f"^line {line}: "):
            count_prom_text(body)

    def test_error_quotes_the_offending_line_shortened(self) -> None:
        with pytest.raises(DecodeError) as caught:
            count_prom_text(b"ok 1\n" + b"9" * 500 + b" 1\n")
        assert "999" in caught.value.detail
        assert len(caught.value.detail) < 150

    def test_nul_byte_is_refused_with_its_line(self) -> None:
        with pytest.raises(DecodeError, match=r"^line 3: NUL byte"):
            count_prom_text(b"a 1\nb 2\nc\x00 3\n")

    def test_invalid_utf8_is_refused_with_its_line(self) -> None:
        with pytest.raises(DecodeError, match=r"^line 2: invalid UTF-8"):
            count_prom_text(b'a 1\nb{x="\xff"} 2\n')

    def test_gzip_body_without_content_encoding_gets_a_hint(self) -> None:
        with pytest.raises(DecodeError, match="Content-Encoding: gzip"):
            count_prom_text(gzip.compress(EXPOSITION))


class TestStrictLines:
    @pytest.mark.parametrize(
        "line",
        [
            b"this is { not prometheus",
            b'u 1 # {trace_id="abc"} 2',
            b"bad-name 3",
            b'm{__name__="other"} 1',
            b'm{__tenant="x"} 1',
            b"m .5",
            b"m 5.",
            b"m 0x10",
            b"m nan",
            b"m 1 1.5",
            b"m 1 12345678901234567890",
            b'm{a="\\t"} 1',
            b'm{a="x} 1',
            b'm{a="x" b="y"} 1',
            b"m{a} 1",
            b"m 1 2 3",
            b"m 1\r\r",
        ],
    )
    def test_a_line_victoriametrics_would_skip_or_misread_is_refused(self, line: bytes) -> None:
        with pytest.raises(DecodeError, match=r"^line 2: not a sample line"):
            count_prom_text(b"ok 1\n" + line + b"\nok 2\n")

    @pytest.mark.parametrize(
        "line",
        [
            b'm{a="1",} 1',
            b'm { a = "1" , b="2" } 1',
            b"m:sub:name 1",
            b"m +Inf",
            b"m -inf",
            b"m NaN",
            b"m -1.5e-3 -1",
            b'm{a="\\\\ \\" \\n"} 1',
            b"m{} 1",
            b"  m 1  ",
            b"m 1\r",
        ],
    )
    def test_lines_both_read_alike_are_accepted(self, line: bytes) -> None:
        assert count_prom_text(b"ok 1\n" + line + b"\nok 2\n") == 3

    def test_a_line_longer_than_victoriametrics_reads_is_refused(self) -> None:
        long = b'm{a="' + b"x" * MAX_LINE_BYTES + b'"} 1'
        with pytest.raises(DecodeError, match=r"^line 2: longer than"):
            count_prom_text(b"ok 1\n" + long + b"\n")
        fits = b"m " + b"1" * (MAX_LINE_BYTES - 2)
        assert count_prom_text(b"ok 1\n" + fits + b"\n") == 2


FLOOR, CEILING = 1_800_000_000_000, 1_800_086_400_000


class TestSelectSamples:
    def test_a_body_that_is_all_stored_is_forwarded_as_is(self) -> None:
        body = f"# TYPE a gauge\na 1 {FLOOR}\nb 2\nc +Inf {CEILING - 1}\n".encode()
        selected = select_samples(body, FLOOR, CEILING)
        assert (selected.samples, selected.dropped, selected.body) == (3, 0, body)

    def test_nan_and_samples_outside_the_window_are_left_out_and_reported(self) -> None:
        body = (
            f"a NaN\nb 1 {FLOOR - 1}\nc 2 {CEILING}\nd 3 {FLOOR}\r\n"
            f'e{{x="NaN"}} 4\nf 5 {FLOOR // 1000}\ng 6 -1\n'
        ).encode()
        selected = select_samples(body, FLOOR, CEILING)
        assert selected.samples == 3
        assert selected.dropped == 4
        assert selected.body == f'd 3 {FLOOR}\r\ne{{x="NaN"}} 4\nf 5 {FLOOR // 1000}\n'.encode()
        assert selected.detail is not None
        assert "1 NaN" in selected.detail
        assert "3 sample(s) dated outside" in selected.detail
        assert count_prom_text(selected.body) == selected.samples

    def test_a_timestamp_in_seconds_is_read_as_victoriametrics_reads_it(self) -> None:
        seconds = FLOOR // 1000 + 1
        selected = select_samples(f"a 1 {seconds}\n".encode(), FLOOR, CEILING)
        assert (selected.samples, selected.dropped) == (1, 0)

    def test_nothing_left_forwards_an_empty_body(self) -> None:
        selected = select_samples(b"a NaN\n", FLOOR, CEILING)
        assert (selected.samples, selected.dropped, selected.body) == (0, 1, b"")

    @settings(max_examples=200, deadline=None)
    @given(st.lists(SAMPLES, max_size=20))
    def test_what_is_kept_is_what_is_counted(self, samples: list[Sample]) -> None:
        selected = select_samples(samples_to_prom_text(samples), FLOOR, CEILING)
        kept = [
            s for s in samples if s.value == s.value and FLOOR <= _millis(s.timestamp_ms) < CEILING
        ]
        assert selected.samples == len(kept)
        assert selected.dropped == len(samples) - len(kept)
        assert count_prom_text(selected.body) == selected.samples


def _millis(stamp: int) -> int:
    return stamp * 1000 if stamp < 2**31 else stamp


# Comment text is any UTF-8 text a line can hold: NUL marks a binary body and is refused.
COMMENT_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=20
)


class TestCountPromTextProperties:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(SAMPLES, max_size=20))
    def test_counts_what_samples_to_prom_text_writes(self, samples: list[Sample]) -> None:
        assert count_prom_text(samples_to_prom_text(samples)) == len(samples)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(SAMPLES, max_size=10), st.lists(COMMENT_TEXT, max_size=5))
    def test_comments_and_blank_lines_are_not_counted(
        self, samples: list[Sample], comments: list[str]
    ) -> None:
        extra = "".join(f"# {comment}\n\n" for comment in comments)
        body = extra.encode() + samples_to_prom_text(samples) + extra.encode()
        assert count_prom_text(body) == len(samples)

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=512))
    def test_random_bytes_raise_only_decode_errors(self, body: bytes) -> None:
        try:
            samples = count_prom_text(body)
        except PayloadError:
            return
        assert 0 <= samples <= body.count(b"\n") + 1

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
    def test_random_text_raises_only_decode_errors(self, text: str) -> None:
        try:
            samples = count_prom_text(text.encode())
        except PayloadError:
            return
        assert 0 <= samples <= text.count("\n") + 1
