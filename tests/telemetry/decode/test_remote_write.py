"""Counting samples of Prometheus remote write bodies."""

from __future__ import annotations

import contextlib
import math
import struct

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.errors import DecodeError, PayloadError, PayloadTooLarge, UnsupportedMediaType
from telemetry.decode.remote_write import RemoteWriteInfo, count_remote_write
from tests.telemetry.decode.builders import (
    T0_MS,
    length_delimited,
    remote_write_body,
    rw_request,
    rw_series,
    varint,
)

LIMIT = 1 << 20


def snappy(raw: bytes) -> bytes:
    """Snappy block format, as remote write sends it."""
    return bytes(cramjam.snappy.compress_raw(raw))


def count(raw: bytes) -> RemoteWriteInfo:
    """Count an uncompressed WriteRequest."""
    return count_remote_write(snappy(raw), max_decompressed=LIMIT)


class TestCountRemoteWrite:
    def test_counts_samples_and_series(self) -> None:
        raw = rw_request(
            [
                rw_series({"__name__": "up", "job": "a"}, [(1.0, T0_MS)]),
                rw_series({"__name__": "up", "job": "b"}, [(1.0, T0_MS), (0.0, T0_MS + 15_000)]),
                rw_series({"__name__": "x"}, [(float(n), T0_MS + n) for n in range(7)]),
            ]
        )
        assert count(raw) == RemoteWriteInfo(
            samples=10, series=3, histograms=0, decompressed_size=len(raw)
        )

    def test_a_prometheus_sized_batch(self) -> None:
        info = count(remote_write_body(2000, 1))
        assert (info.samples, info.series) == (2000, 2000)

    def test_native_histograms_are_counted_apart(self) -> None:
        raw = rw_request([rw_series({"__name__": "h"}, [], histograms=3), rw_series({}, [(1, 0)])])
        info = count(raw)
        assert (info.samples, info.histograms) == (1, 3)

    def test_metadata_is_not_a_sample(self) -> None:
        raw = rw_request([rw_series({"__name__": "up"}, [(1.0, T0_MS)])], metadata=5)
        assert count(raw).samples == 1

    def test_series_without_samples_count_nothing(self) -> None:
        assert count(rw_request([rw_series({"__name__": "up"}, [])])).samples == 0

    def test_empty_write_request_has_no_samples(self) -> None:
        assert count(b"") == RemoteWriteInfo(0, 0, 0, 0)

    def test_declared_size_over_the_limit_is_refused_before_decompressing(self) -> None:
        # A snappy block starts with its decompressed length; here 1 GiB, then nothing.
        body = varint(1 << 30) + b"\x00" * 16
        with pytest.raises(PayloadTooLarge):
            count_remote_write(body, max_decompressed=LIMIT)

    def test_limit_is_inclusive(self) -> None:
        raw = remote_write_body(100, 1)
        assert count_remote_write(snappy(raw), max_decompressed=len(raw)).samples == 100
        with pytest.raises(PayloadTooLarge):
            count_remote_write(snappy(raw), max_decompressed=len(raw) - 1)

    def test_body_that_is_not_snappy_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="snappy"):
            count_remote_write(
                b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", max_decompressed=LIMIT
            )

    def test_empty_body_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="snappy"):
            count_remote_write(b"", max_decompressed=LIMIT)

    def test_framed_snappy_is_a_decode_error(self) -> None:
        framed = bytes(cramjam.snappy.compress(remote_write_body(10, 1)))
        with pytest.raises(DecodeError):
            count_remote_write(framed, max_decompressed=LIMIT)

    def test_uncompressed_protobuf_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError):
            count_remote_write(remote_write_body(10, 1), max_decompressed=LIMIT)

    def test_snappy_of_garbage_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="not a valid WriteRequest"):
            count(b"\x0a\xff\xff\xff\x0f hello")

    def test_invalid_series_is_a_decode_error(self) -> None:
        broken_series = length_delimited(2, b"\x09\x00")  # a sample whose double is cut short
        with pytest.raises(DecodeError, match="not a valid WriteRequest"):
            count(rw_request([broken_series + b"\x12"]))

    def test_remote_write_2_is_unsupported(self) -> None:
        raw = length_delimited(4, b"") + length_delimited(4, b"__name__") + length_delimited(5, b"")
        with pytest.raises(UnsupportedMediaType, match=r"2\.0"):
            count(raw)


SERIES = st.lists(
    st.tuples(
        st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        st.lists(
            st.tuples(st.floats(allow_nan=True), st.integers(-(2**63), 2**63 - 1)), max_size=5
        ),
        st.integers(0, 2),
    ),
    max_size=20,
)


class TestCountRemoteWriteProperties:
    @settings(max_examples=200, deadline=None)
    @given(series=SERIES)
    def test_counts_every_sample(
        self, series: list[tuple[dict[str, str], list[tuple[float, int]], int]]
    ) -> None:
        raw = rw_request(rw_series(labels, samples, hists) for labels, samples, hists in series)
        info = count(raw)
        assert info.samples == sum(len(samples) for _, samples, _ in series)
        assert info.series == len(series)
        assert info.histograms == sum(hists for _, _, hists in series)

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=512))
    def test_random_bytes_raise_only_payload_errors(self, body: bytes) -> None:
        with contextlib.suppress(PayloadError):
            count_remote_write(body, max_decompressed=4096)

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=512))
    def test_random_snappy_payloads_raise_only_payload_errors(self, body: bytes) -> None:
        try:
            info = count(body)
        except PayloadError:
            return
        assert info.samples >= 0

    @settings(max_examples=300, deadline=None)
    @given(
        series=st.integers(1, 20),
        position=st.integers(0, 100_000),
        flip=st.integers(1, 255),
        mode=st.sampled_from(["flip-raw", "cut-raw", "flip-compressed", "cut-compressed"]),
    )
    def test_mutated_payloads_raise_only_payload_errors(
        self, series: int, position: int, flip: int, mode: str
    ) -> None:
        raw = bytearray(remote_write_body(series, 2))
        if mode.endswith("raw"):
            _mutate(raw, position, flip, cut=mode.startswith("cut"))
            body = snappy(bytes(raw))
        else:
            compressed = bytearray(snappy(bytes(raw)))
            _mutate(compressed, position, flip, cut=mode.startswith("cut"))
            body = bytes(compressed)
        with contextlib.suppress(PayloadError):
            count_remote_write(body, max_decompressed=LIMIT)


def _mutate(data: bytearray, position: int, flip: int, *, cut: bool) -> None:
    """Flip one byte or cut the tail, in place."""
    index = position % len(data)
    if cut:
        del data[index:]
    else:
        data[index] ^= flip


NOW_MS = 1_800_000_000_000
WINDOW = (NOW_MS - 7 * 86_400_000, NOW_MS + 86_400_000)
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def unstored(points: list[tuple[float, int]]) -> int:
    raw = rw_request(rw_series({"__name__": "m", "i": str(i)}, [p]) for i, p in enumerate(points))
    return count_remote_write(snappy(raw), max_decompressed=LIMIT, window=WINDOW).unstored


class TestUnstoredSamples:
    def test_samples_inside_the_window_are_all_stored(self) -> None:
        assert unstored([(1.0, NOW_MS), (0.0, NOW_MS - 1), (math.inf, WINDOW[0])]) == 0

    def test_nan_but_not_the_staleness_marker_is_unstored(self) -> None:
        assert unstored([(math.nan, NOW_MS), (STALE_NAN, NOW_MS), (1.0, NOW_MS)]) == 1

    def test_samples_dated_outside_the_window_are_unstored(self) -> None:
        points = [(1.0, WINDOW[0] - 1), (1.0, WINDOW[1]), (1.0, 0), (1.0, NOW_MS)]
        assert unstored(points) == 3

    def test_infinities_of_both_signs_are_stored(self) -> None:
        assert unstored([(math.inf, NOW_MS), (-math.inf, NOW_MS)]) == 0

    def test_without_a_window_nothing_is_checked(self) -> None:
        raw = rw_request([rw_series({"__name__": "m"}, [(math.nan, 0)])])
        assert count_remote_write(snappy(raw), max_decompressed=LIMIT).unstored == 0
