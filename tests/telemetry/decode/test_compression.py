"""Bounded decompression of request bodies."""

from __future__ import annotations

import gzip
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.decode.compression import decompress, is_single_gzip
from telemetry.decode.errors import (
    DecodeError,
    PayloadError,
    PayloadTooLarge,
    UnsupportedMediaType,
)

LIMIT = 1 << 20
TEXT = b'http_requests_total{path="/"} 1\n' * 1000
GIB = 1 << 30


def zlib_deflate(data: bytes) -> bytes:
    """RFC 1950 zlib stream."""
    return zlib.compress(data)


def raw_deflate(data: bytes) -> bytes:
    """RFC 1951 deflate stream without a wrapper."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd(data: bytes) -> bytes:
    """One zstd frame."""
    return bytes(cramjam.zstd.compress(data))


def gzip_bomb(size: int = GIB) -> bytes:
    """A valid gzip stream of `size` zeros (1 GiB: ~1 MB), built without compressing them all."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    # After a full flush the compressor forgets its history, so every further MiB of zeros
    # compresses to the same bytes: repeat them instead of compressing again.
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-8]  # the final block, without the trailer made for 2 MiB
    crc = 0
    for _ in range(size // len(zeros)):
        crc = zlib.crc32(zeros, crc)
    blocks = size // len(zeros) - 1
    return head + block * blocks + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def zstd_bomb() -> bytes:
    """A zstd stream of 1 GiB of zeros (~32 KB)."""
    compressor = cramjam.zstd.Compressor()
    zeros = bytes(1 << 20)
    for _ in range(GIB // len(zeros)):
        compressor.compress(zeros)
    return bytes(compressor.finish())


class TestDecompress:
    @pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY"])
    def test_identity_returns_the_body(self, encoding: str | None) -> None:
        assert decompress(TEXT, encoding, max_decompressed=LIMIT) is TEXT

    @pytest.mark.parametrize(
        ("encoding", "compress"),
        [
            ("gzip", gzip.compress),
            ("x-gzip", gzip.compress),
            (" GZip ", gzip.compress),
            ("deflate", zlib_deflate),
            ("deflate", raw_deflate),
            ("zstd", zstd),
        ],
    )
    def test_round_trips(self, encoding: str, compress: Callable[[bytes], bytes]) -> None:
        assert decompress(compress(TEXT), encoding, max_decompressed=LIMIT) == TEXT

    def test_concatenated_gzip_members_are_one_body(self) -> None:
        body = gzip.compress(b"a 1\n") + gzip.compress(b"b 2\n")
        assert decompress(body, "gzip", max_decompressed=LIMIT) == b"a 1\nb 2\n"

    def test_concatenated_zstd_frames_are_one_body(self) -> None:
        body = zstd(b"a 1\n") + zstd(b"b 2\n")
        assert decompress(body, "zstd", max_decompressed=LIMIT) == b"a 1\nb 2\n"

    def test_stacked_encodings_are_undone_last_first(self) -> None:
        body = gzip.compress(zlib_deflate(TEXT))
        assert decompress(body, "deflate, gzip", max_decompressed=LIMIT) == TEXT

    def test_identity_in_a_list_is_ignored(self) -> None:
        assert decompress(gzip.compress(TEXT), "identity, gzip", max_decompressed=LIMIT) == TEXT

    @pytest.mark.parametrize("encoding", ["br", "snappy", "compress", "gzip;q=1"])
    def test_unknown_encoding_is_unsupported_media_type(self, encoding: str) -> None:
        with pytest.raises(UnsupportedMediaType, match="Content-Encoding") as caught:
            decompress(TEXT, encoding, max_decompressed=LIMIT)
        assert caught.value.status_code == 415
        assert isinstance(caught.value, DecodeError)

    def test_more_than_two_layers_is_refused(self) -> None:
        with pytest.raises(UnsupportedMediaType, match="stacked"):
            decompress(TEXT, "gzip, gzip, gzip", max_decompressed=LIMIT)

    @pytest.mark.parametrize(
        ("encoding", "compress"),
        [("gzip", gzip.compress), ("deflate", zlib_deflate), ("deflate", raw_deflate)],
    )
    def test_truncated_stream_is_a_decode_error(
        self, encoding: str, compress: Callable[[bytes], bytes]
    ) -> None:
        body = compress(TEXT)
        with pytest.raises(DecodeError, match="truncated") as caught:
            decompress(body[: len(body) // 2], encoding, max_decompressed=LIMIT)
        assert caught.value.status_code == 400

    def test_truncated_zstd_is_a_decode_error(self) -> None:
        body = zstd(TEXT)
        with pytest.raises(DecodeError, match="zstd"):
            decompress(body[: len(body) // 2], "zstd", max_decompressed=LIMIT)

    def test_empty_gzip_body_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="truncated"):
            decompress(b"", "gzip", max_decompressed=LIMIT)

    def test_corrupt_gzip_is_a_decode_error(self) -> None:
        body = bytearray(gzip.compress(TEXT))
        body[len(body) // 2] ^= 0xFF
        with pytest.raises(DecodeError, match="gzip"):
            decompress(bytes(body), "gzip", max_decompressed=LIMIT)

    def test_trailing_garbage_after_gzip_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="trailing garbage"):
            decompress(gzip.compress(TEXT) + b"junk", "gzip", max_decompressed=LIMIT)

    def test_uncompressed_body_sent_as_gzip_is_a_decode_error(self) -> None:
        with pytest.raises(DecodeError, match="gzip"):
            decompress(TEXT, "gzip", max_decompressed=LIMIT)

    @pytest.mark.parametrize(
        ("encoding", "compress"),
        [
            (None, bytes),
            ("gzip", gzip.compress),
            ("deflate", zlib_deflate),
            ("deflate", raw_deflate),
            ("zstd", zstd),
        ],
    )
    def test_limit_is_inclusive(
        self, encoding: str | None, compress: Callable[[bytes], bytes]
    ) -> None:
        body = compress(bytes(1000))
        assert len(decompress(body, encoding, max_decompressed=1000)) == 1000
        with pytest.raises(PayloadTooLarge) as caught:
            decompress(body, encoding, max_decompressed=999)
        assert caught.value.status_code == 413

    @pytest.mark.parametrize(("encoding", "bomb"), [("gzip", gzip_bomb), ("zstd", zstd_bomb)])
    def test_bomb_stops_at_the_limit_without_inflating_it(
        self, encoding: str, bomb: Callable[[], bytes]
    ) -> None:
        body = bomb()
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(PayloadTooLarge):
                decompress(body, encoding, max_decompressed=LIMIT)
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert elapsed < 1.0
        assert peak < 4 * LIMIT

    def test_the_gzip_bomb_is_a_valid_stream(self) -> None:
        size = 64 << 20
        assert decompress(gzip_bomb(size), "gzip", max_decompressed=size) == bytes(size)


ENCODINGS = st.sampled_from(["gzip", "deflate", "zstd", None])


class TestDecompressProperties:
    @settings(max_examples=200, deadline=None)
    @given(data=st.binary(max_size=4096), level=st.integers(1, 9))
    def test_gzip_and_deflate_round_trip(self, data: bytes, level: int) -> None:
        assert decompress(gzip.compress(data, level), "gzip", max_decompressed=LIMIT) == data
        deflated = zlib.compress(data, level)
        assert decompress(deflated, "deflate", max_decompressed=LIMIT) == data
        assert decompress(raw_deflate(data), "deflate", max_decompressed=LIMIT) == data

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=2048), encoding=ENCODINGS)
    def test_random_bytes_raise_only_payload_errors(
        self, body: bytes, encoding: str | None
    ) -> None:
        try:
            out = decompress(body, encoding, max_decompressed=4096)
        except PayloadError:
            return
        assert len(out) <= 4096

    @settings(max_examples=300, deadline=None)
    @given(
        data=st.binary(min_size=1, max_size=2048),
        encoding=st.sampled_from(["gzip", "deflate", "zstd"]),
        position=st.integers(0, 10_000),
        flip=st.integers(1, 255),
        cut=st.booleans(),
    )
    def test_mutated_streams_raise_only_payload_errors(
        self, data: bytes, encoding: str, position: int, flip: int, cut: bool
    ) -> None:
        compress = {"gzip": gzip.compress, "deflate": zlib_deflate, "zstd": zstd}[encoding]
        body = bytearray(compress(data))
        index = position % len(body)
        if cut:
            del body[index:]
        else:
            body[index] ^= flip
        try:
            out = decompress(bytes(body), encoding, max_decompressed=4096)
        except PayloadError:
            return
        assert len(out) <= 4096


class TestIsSingleGzip:
    @pytest.mark.parametrize("header", ["gzip", "GZIP", "x-gzip", " gzip ", "gzip, identity"])
    def test_one_gzip_layer_may_be_forwarded_as_is(self, header: str) -> None:
        assert is_single_gzip(header)

    @pytest.mark.parametrize("header", [None, "", "identity", "deflate", "zstd", "gzip, gzip"])
    def test_anything_else_is_forwarded_decompressed(self, header: str | None) -> None:
        assert not is_single_gzip(header)
