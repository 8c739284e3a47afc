"""Counting and validating Prometheus text exposition bodies."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.errors import DecodeError, PayloadError
from telemetry.decode.prom_text import count_prom_text
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
