"""Prometheus text exposition: light validation and sample counting, no Python object per line.

The body goes to VictoriaMetrics unchanged. A line is blank, a comment (`#` first), or a sample
whose first non-blank character starts a metric name and that has a blank before its end (the
value). VictoriaMetrics skips lines it cannot parse and still answers 204, so refusing such a body
whole keeps what we count equal to what it stores. A NUL byte is refused even inside a label
value, where the format allows it: in practice it means a binary body.
"""

from __future__ import annotations

import re

from telemetry.decode.errors import DecodeError

# Every pattern has a variant for the first line and one anchored on "\n" for the others; the
# literal "\n" prefix lets the regex engine skip from newline to newline.
_SAMPLE = rb"[ \t]*+([a-zA-Z_:])"
_INVALID = rb"[ \t]*+(?:[^a-zA-Z_:#\s]|[a-zA-Z_:][^ \t\r\n]*+\r?(?:\n|\Z))"
_FIRST_SAMPLE = re.compile(_SAMPLE)
_NEXT_SAMPLES = re.compile(rb"\n" + _SAMPLE)
_FIRST_INVALID = re.compile(_INVALID)
_NEXT_INVALID = re.compile(rb"\n" + _INVALID)


def count_prom_text(body: bytes) -> int:
    """Number of samples in a text exposition body; DecodeError names the first bad line."""
    _check_text(body)
    invalid = _FIRST_INVALID.match(body)
    line_start = 0
    if invalid is None:
        invalid = _NEXT_INVALID.search(body)
        if invalid is not None:
            line_start = invalid.start() + 1
    if invalid is not None:
        line = _line_at(body, line_start)
        raise DecodeError(f"line {_line_number(body, line_start)}: not a sample line: {line!r}")
    first = 1 if _FIRST_SAMPLE.match(body) else 0
    # Single-byte bytes objects are interned, so findall only grows a list of pointers.
    return first + len(_NEXT_SAMPLES.findall(body))


def _check_text(body: bytes) -> None:
    """Refuse bodies that are not UTF-8 text."""
    if body.startswith(b"\x1f\x8b"):
        raise DecodeError("the body is gzip-compressed; send it with Content-Encoding: gzip")
    nul = body.find(b"\x00")
    if nul >= 0:
        raise DecodeError(f"line {_line_number(body, nul)}: NUL byte; the body is not text")
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"line {_line_number(body, exc.start)}: invalid UTF-8 at byte {exc.start}"
            ) from None


def _line_number(body: bytes, offset: int) -> int:
    """1-based number of the line holding `offset`."""
    return body.count(b"\n", 0, offset) + 1


def _line_at(body: bytes, start: int, limit: int = 80) -> str:
    """The line starting at `start`, shortened for an error message."""
    end = body.find(b"\n", start)
    line = body[start : end if end >= 0 else len(body)]
    text = line[:limit].decode("utf-8", "replace")
    return text + "…" if len(line) > limit else text
