"""Bounded decompression of request bodies by their Content-Encoding."""

from __future__ import annotations

import mmap
import zlib

import cramjam

from telemetry.decode.errors import DecodeError, PayloadTooLarge, UnsupportedMediaType

SUPPORTED_ENCODINGS = ("identity", "gzip", "deflate", "zstd")
_ALIASES = {"x-gzip": "gzip"}
_MAX_LAYERS = 2
_GZIP_MAGIC = b"\x1f\x8b"
# cramjam reports "output buffer full" only through this message.
_ZSTD_OVERFLOW = "failed to write whole buffer"


def decompress(body: bytes, content_encoding: str | None, *, max_decompressed: int) -> bytes:
    """Undo `content_encoding`; never produce more than `max_decompressed` bytes."""
    encodings = _parse_encodings(content_encoding)
    for encoding in reversed(encodings):
        if encoding == "gzip":
            body = _inflate_gzip(body, max_decompressed)
        elif encoding == "deflate":
            body = _inflate_deflate(body, max_decompressed)
        else:
            body = _unzstd(body, max_decompressed)
    if len(body) > max_decompressed:
        raise PayloadTooLarge(f"body exceeds {max_decompressed} bytes")
    return body


def is_single_gzip(content_encoding: str | None) -> bool:
    """Whether the body is gzip once, the only Content-Encoding VictoriaMetrics 1.79 reads
    (exactly `gzip`: a forwarded body is labelled so, whatever alias or case it came with)."""
    return _parse_encodings(content_encoding) == ["gzip"]


def _parse_encodings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header in the order applied, without identity."""
    if not header:
        return []
    encodings = []
    for raw in header.split(","):
        encoding = raw.strip().lower()
        encoding = _ALIASES.get(encoding, encoding)
        if encoding in ("", "identity"):
            continue
        if encoding not in SUPPORTED_ENCODINGS:
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {raw.strip()!r}; "
                f"use one of {', '.join(SUPPORTED_ENCODINGS)}"
            )
        encodings.append(encoding)
    if len(encodings) > _MAX_LAYERS:
        raise UnsupportedMediaType(f"more than {_MAX_LAYERS} stacked Content-Encodings")
    return encodings


def _inflate_gzip(body: bytes, limit: int) -> bytes:
    """Inflate one or more concatenated gzip members."""
    out = bytearray()
    data = body
    while True:
        rest = _inflate_into(out, data, zlib.MAX_WBITS | 16, limit, "gzip")
        if not rest:
            return bytes(out)
        if not rest.startswith(_GZIP_MAGIC):
            raise DecodeError("gzip: trailing garbage after the compressed stream")
        data = rest


def _inflate_deflate(body: bytes, limit: int) -> bytes:
    """Inflate HTTP deflate: zlib-wrapped as RFC 9110 says, or raw deflate as many clients send."""
    if not _looks_like_zlib(body):
        return _inflate_single(body, -zlib.MAX_WBITS, limit)
    try:
        return _inflate_single(body, zlib.MAX_WBITS, limit)
    except DecodeError as zlib_error:
        # A raw stream whose first two bytes happen to form a zlib header?
        try:
            return _inflate_single(body, -zlib.MAX_WBITS, limit)
        except DecodeError:
            raise zlib_error from None


def _inflate_single(body: bytes, wbits: int, limit: int) -> bytes:
    """Inflate exactly one deflate stream."""
    out = bytearray()
    if _inflate_into(out, body, wbits, limit, "deflate"):
        raise DecodeError("deflate: trailing garbage after the compressed stream")
    return bytes(out)


def _looks_like_zlib(body: bytes) -> bool:
    """Whether the body starts with a valid zlib header (RFC 1950: CM=8, CINFO<=7, FCHECK)."""
    return (
        len(body) >= 2
        and body[0] & 0x0F == 8
        and body[0] >> 4 <= 7
        and ((body[0] << 8) | body[1]) % 31 == 0
    )


def _inflate_into(out: bytearray, data: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Inflate one stream onto `out`; return the bytes after its end."""
    inflater = zlib.decompressobj(wbits)
    try:
        while True:
            # zlib grows its output buffer as it goes, so a bomb allocates at most `limit + 1`.
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise PayloadTooLarge(f"body exceeds {limit} bytes once decompressed")
            if inflater.eof:
                return inflater.unused_data
            data = inflater.unconsumed_tail
            if not data:
                raise DecodeError(f"{name}: the compressed stream is truncated")
    except zlib.error as exc:
        raise DecodeError(f"{name}: corrupt compressed stream ({exc})") from None


def _unzstd(body: bytes, limit: int) -> bytes:
    """Decompress zstd frames into a buffer one byte larger than allowed."""
    # An anonymous mapping: pages the decoder never writes are never allocated (bytearray(n)
    # would zero, and so touch, all of them).
    with mmap.mmap(-1, limit + 1) as buffer:
        try:
            size = cramjam.zstd.decompress_into(body, buffer)
        except cramjam.DecompressionError as exc:
            if _ZSTD_OVERFLOW in str(exc):
                raise PayloadTooLarge(f"body exceeds {limit} bytes once decompressed") from None
            raise DecodeError(f"zstd: corrupt compressed stream ({exc})") from None
        if size > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes once decompressed")
        return buffer[:size]
