"""Prometheus text exposition: strict validation and sample counting, no Python object per line.

What is counted must be what VictoriaMetrics stores, and VictoriaMetrics 1.79 answers 204 while
it skips lines it cannot parse (`this is { not prometheus`), reads some invalid ones its own way
(`u 1 # {a="b"} 2`, an OpenMetrics exemplar, becomes the series `u 1 #`), and drops NaN values
and samples dated outside its retention. So every line must match a strict grammar, a subset of
what VictoriaMetrics reads the same way as Prometheus does, or the body is refused whole:

    line   = blank* ( "#" anything | sample )? blank* "\r"?
    sample = name ( blank* "{" labels "}" )? blank+ value ( blank+ timestamp )? blank*

with names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` not starting with
`__` (reserved: `__name__` would rename the series), label values with only the `\\`, `\"`
and `\n` escapes, values as Prometheus writes them (`1`, `-2.5e-3`, `+Inf`, `NaN`) and integer
millisecond timestamps (a value below 2^31 is read as seconds, as VictoriaMetrics does). A NUL
byte is refused even inside a label value, where the format allows it: in practice it means a
binary body.

`select_samples` then keeps the body as sent when every sample will be stored; otherwise it
forwards only the lines that will be (no NaN, dated inside the stored window) and reports how
many it left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from telemetry.decode.errors import DecodeError

_NAME = rb"[a-zA-Z_:][a-zA-Z0-9_:]*+"
_VALUE_TEXT = rb'"[^"\\\n]*+(?:\\[\\"n][^"\\\n]*+)*+"'
_LABEL_NAME = rb"(?!__)[a-zA-Z_][a-zA-Z0-9_]*+"
_LABEL = _LABEL_NAME + rb"[ \t]*+=[ \t]*+" + _VALUE_TEXT
_LABELS = (
    rb"\{[ \t]*+(?:" + _LABEL + rb"(?:[ \t]*+,[ \t]*+" + _LABEL + rb")*+[ \t]*+,?+)?+[ \t]*+\}"
)
_SERIES = _NAME + rb"(?:[ \t]*+" + _LABELS + rb")?+"
# The same without blanks inside the braces, as every client library writes it: half the work.
_TIGHT_LABEL = _LABEL_NAME + rb"=" + _VALUE_TEXT
_TIGHT_SERIES = _NAME + rb"(?:\{(?:" + _TIGHT_LABEL + rb"(?:," + _TIGHT_LABEL + rb")*+,?+)?+\})?+"
_VALUE = rb"(?:[+-]?+(?:[0-9]++(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+|Inf|inf)|NaN)"
_TIMESTAMP = rb"-?+[0-9]{1,19}+"


def _line(series: bytes) -> bytes:
    """Any valid line, capturing the timestamp of a sample line (empty when it has none): a
    sample, or a comment or blank line. A body is valid when every line matches."""
    sample = series + rb"[ \t]++" + _VALUE + rb"(?:[ \t]++(" + _TIMESTAMP + rb"))?+[ \t]*+\r?+"
    return rb"[ \t]*+(?:" + sample + rb"|#[^\n]*+|\r?+)(?=\n|\Z)"


_NOT_SAMPLE = rb"[ \t]*+(?:#|\r?+(?=\n|\Z))"

# Every pattern has a variant for the first line and one anchored on "\n" for the others; the
# literal "\n" prefix lets the regex engine skip from newline to newline.
_FIRST_LINE = re.compile(_line(_SERIES))
_NEXT_LINES = re.compile(rb"\n" + _line(_SERIES))
_FIRST_TIGHT_LINE = re.compile(_line(_TIGHT_SERIES))
_NEXT_TIGHT_LINES = re.compile(rb"\n" + _line(_TIGHT_SERIES))
_FIRST_NOT_SAMPLE = re.compile(_NOT_SAMPLE)
_NEXT_NOT_SAMPLES = re.compile(rb"\n" + _NOT_SAMPLE)
_NAN = rb"[ \t]*+" + _SERIES + rb"[ \t]++NaN"
_FIRST_NAN = re.compile(_NAN)
_NEXT_NAN = re.compile(rb"\n" + _NAN)
_PARTS = re.compile(
    rb"[ \t]*+" + _SERIES + rb"[ \t]++(" + _VALUE + rb")(?:[ \t]++(" + _TIMESTAMP + rb"))?+"
)
MAX_LINE_BYTES: Final = 256 * 1024 - 1
"""The longest line VictoriaMetrics reads: it refuses a whole body with a longer one."""
_SECONDS_BELOW: Final = 1 << 31
"""VictoriaMetrics reads a timestamp t with -2^31 <= t < 2^31 as seconds (OpenMetrics)."""


@dataclass(frozen=True, slots=True)
class PromTextSamples:
    """What to forward, how many samples it holds, and how many were left out and why."""

    samples: int
    body: bytes
    dropped: int = 0
    detail: str | None = None


def count_prom_text(body: bytes) -> int:
    """Number of samples in a text exposition body; DecodeError names the first bad line."""
    return _scan(body)[0]


def select_samples(body: bytes, floor_ms: int, ceiling_ms: int) -> PromTextSamples:
    """The samples of a valid body that VictoriaMetrics will store: not NaN, dated (when they
    carry a timestamp) in `[floor_ms, ceiling_ms)`; the body itself when that is all of them."""
    samples, stamps = _scan(body)
    if b"NaN" in body and (_FIRST_NAN.match(body) or _NEXT_NAN.search(body)):
        return _filtered(body, floor_ms, ceiling_ms)
    dated = list(filter(None, stamps))
    if dated:
        low, high = _bounds(dated)
        # A timestamp read as seconds is checked line by line; real bodies use milliseconds.
        if not floor_ms <= low <= high < ceiling_ms or -_SECONDS_BELOW <= low < _SECONDS_BELOW:
            return _filtered(body, floor_ms, ceiling_ms)
    return PromTextSamples(samples, body)


def _bounds(stamps: list[bytes]) -> tuple[int, int]:
    """The lowest and highest of timestamps written as decimal integers."""
    low, high = min(stamps), max(stamps)
    # Digits only, all of one length (what real bodies hold): text order is numeric order.
    if low[:1] != b"-" and len(set(map(len, stamps))) == 1:
        return int(low), int(high)
    numbers = list(map(int, stamps))
    return min(numbers), max(numbers)


def _scan(body: bytes) -> tuple[int, list[bytes]]:
    """How many samples a valid body holds, and a list of their timestamps (an empty one for a
    sample without, and for each comment or blank line); DecodeError names the first bad line."""
    _check_text(body)
    # One strict pass over all lines: every line must match it, or the body is refused. The
    # tight grammar first; the one allowing blanks inside braces only if that fails.
    lines = body.count(b"\n") + 1
    stamps = _stamps(body, _FIRST_TIGHT_LINE, _NEXT_TIGHT_LINES)
    if len(stamps) != lines:
        stamps = _stamps(body, _FIRST_LINE, _NEXT_LINES)
        if len(stamps) != lines:
            _refuse_line(body, _first_bad_line(body))
    if len(body) > MAX_LINE_BYTES:
        _check_line_lengths(body)
    others = len(_NEXT_NOT_SAMPLES.findall(body)) + (_FIRST_NOT_SAMPLE.match(body) is not None)
    return len(stamps) - others, stamps


def _stamps(
    body: bytes, first_line: re.Pattern[bytes], next_lines: re.Pattern[bytes]
) -> list[bytes]:
    """One entry per line that matches: its timestamp, or empty."""
    stamps = next_lines.findall(body)
    first = first_line.match(body)
    if first is not None:
        stamps.append(first.group(1) or b"")
    return stamps


def _check_line_lengths(body: bytes) -> None:
    """Refuse a body with a line VictoriaMetrics would refuse the whole body for."""
    # A line longer than 2 blocks holds a whole aligned block: when every block has a newline,
    # no line is too long (a few memchr calls per MiB instead of a list of every line).
    block = (MAX_LINE_BYTES + 1) // 2
    if all(body.find(b"\n", start, start + block) >= 0 for start in range(0, len(body), block)):
        return
    lengths = list(map(len, body.split(b"\n")))
    if max(lengths) > MAX_LINE_BYTES:
        number = next(i for i, n in enumerate(lengths) if n > MAX_LINE_BYTES)
        raise DecodeError(f"line {number + 1}: longer than {MAX_LINE_BYTES} bytes")


def _first_bad_line(body: bytes) -> int:
    """Where the first line that is neither a sample, a comment nor blank begins."""
    offset = 0
    for line in body.split(b"\n"):
        if not _FIRST_LINE.match(line):
            return offset
        offset += len(line) + 1
    raise AssertionError("a line failed in the body but not alone")  # pragma: no cover


def _refuse_line(body: bytes, line_start: int) -> None:
    line = _line_at(body, line_start)
    raise DecodeError(f"line {_line_number(body, line_start)}: not a sample line: {line!r}")


def _filtered(body: bytes, floor_ms: int, ceiling_ms: int) -> PromTextSamples:
    """Keep the lines VictoriaMetrics will store; count the sample lines left out."""
    kept: list[bytes] = []
    samples = nans = outside = 0
    for line in body.split(b"\n"):
        parts = _PARTS.match(line)
        if parts is None:  # blank or comment: the body was validated
            continue
        value, stamp = parts.group(1), parts.group(2)
        if value == b"NaN":
            nans += 1
            continue
        if stamp is not None and not floor_ms <= _millis(int(stamp)) < ceiling_ms:
            outside += 1
            continue
        samples += 1
        kept.append(line)
    reasons = []
    if nans:
        reasons.append(f"{nans} NaN value(s) (VictoriaMetrics stores none)")
    if outside:
        reasons.append(f"{outside} sample(s) dated outside the stored window")
    detail = "not stored: " + "; ".join(reasons)
    return PromTextSamples(
        samples, b"\n".join(kept) + b"\n" if kept else b"", nans + outside, detail
    )


def _millis(stamp: int) -> int:
    """A timestamp in milliseconds, as VictoriaMetrics reads it."""
    return stamp * 1000 if -_SECONDS_BELOW <= stamp < _SECONDS_BELOW else stamp


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
