"""Normalization shared by the log and span decoders: ids, times, levels and attribute values.

Attribute values are flattened to what a document stores (`documents.AttributeValue`): a map
becomes dotted keys (`http: {method: GET}` -> `http.method`), a list of scalars stays a list, any
other list is kept as its JSON text, bytes become base64, and non-finite floats become the strings
of the protobuf JSON mapping ("NaN", "Infinity", "-Infinity"), which JSON has no number for.
Attributes with an empty key are dropped; an empty value or map is stored as null.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, TypeVar

import msgspec

from infra.ids import ID_BODY_LENGTH, base62
from telemetry.documents import LEVEL_NUMBERS, AttributeValue, Level, LogRecord, Span

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
TRACE_ID_BYTES: Final = 16
SPAN_ID_BYTES: Final = 8
MAX_ATTRIBUTE_DEPTH: Final = 32
MAX_NS: Final = 2**63 - 1
"""The latest time stored (2262-04-11): OTLP's times are (u)int64 nanoseconds."""

D = TypeVar("D", LogRecord, Span)
_T = TypeVar("_T")

# A plain attribute value: an AnyValue as Python data, bytes already base64.
Plain = str | int | float | bool | None | list["Plain"] | dict[str, "Plain"]
Scalar = str | int | float | bool


class InvalidRecord(Exception):
    """One record (log record or span) can't be stored; the rest of the request can."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- ids ------------------------------------------------------------------------------------


def id_from_bytes(raw: bytes, size: int, field: str) -> str | None:
    """Lower-case hex of a protobuf id; None when absent (empty)."""
    if not raw:
        return None
    if len(raw) != size:
        raise InvalidRecord(f"{field} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def id_from_text(text: str, size: int, field: str) -> str | None:
    """Lower-case hex of an OTLP/JSON id; None when absent (empty).

    OTLP/JSON sends ids as hex. Base64 (what protobuf's generic JSON mapping writes) is accepted
    too: it is told apart by its length (24 or 12 characters, never 32 or 16).
    """
    if not text:
        return None
    if len(text) == 2 * size:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidRecord(f"{field} is not hex: {text[:40]!r}") from None
        if len(raw) == size:  # fromhex skips whitespace
            return text.lower()
    elif len(text) == 4 * math.ceil(size / 3):
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) == size:
            return raw.hex()
    raise InvalidRecord(f"{field} must be {2 * size} hex digits, got {text[:40]!r}")


def is_zero_id(hex_id: str) -> bool:
    """Whether an id is the all-zero (invalid) id."""
    return hex_id.count("0") == len(hex_id)


def random_span_id() -> str:
    """A new random, valid (non-zero) span id."""
    while True:
        span_id = secrets.token_hex(SPAN_ID_BYTES)
        if not is_zero_id(span_id):
            return span_id


class RecordIds:
    """Unique document ids for the records of one request, the same for the same request.

    The base is derived from the tenant, project and body bytes, and each record adds its
    position: a client that resends a request after a timeout (OTLP exporters retry) sends the
    same records, which get the same ids and are stored once. Formatting a counter costs far
    less than a new id per record.
    """

    __slots__ = ("_base", "_next")

    def __init__(self, prefix: str, *, tenant: str, project: str, body: bytes) -> None:
        digest = hashlib.blake2b(body, digest_size=16, person=b"tollgate-records")
        digest.update(f"|{tenant}|{project}".encode())
        self._base = f"{prefix}_{base62(int.from_bytes(digest.digest()), ID_BODY_LENGTH)}"
        self._next = 0

    def __call__(self) -> str:
        """The next id."""
        number = self._next
        self._next = number + 1
        # 7 hex digits keep the order up to 268M records; 64 MiB can't hold more than ~33M.
        return f"{self._base}{number:07x}"


# --- times ----------------------------------------------------------------------------------


def datetime_from_ns(ns: int) -> datetime:
    """A UTC datetime from nanoseconds since the epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def ns_from_datetime(value: datetime) -> int:
    """Nanoseconds since the epoch; a naive datetime reads as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(microseconds=1) * 1000


def ns_from_number(value: int | float) -> int | None:
    """Nanoseconds since the epoch of seconds, ms, µs or ns told apart by magnitude.

    Now is ~1.7e9 s, 1.7e12 ms, 1.7e15 µs, 1.7e18 ns. A float is read as the decimal it prints
    as (1700000000250.0 ms is 1700000000250000000 ns, not a binary approximation). None for a
    negative, non-finite or too large number.
    """
    if not math.isfinite(value) or value < 0:
        return None
    exact = Decimal(repr(value)) if isinstance(value, float) else value
    if value < 1e11:
        ns = round(exact * 1_000_000_000)
    elif value < 1e14:
        ns = round(exact * 1_000_000)
    elif value < 1e17:
        ns = round(exact * 1_000)
    else:
        ns = round(exact)
    return ns if ns <= MAX_NS else None


# --- levels ---------------------------------------------------------------------------------

_LEVEL_NAMES: Final[dict[str, Level]] = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "INFORMATION": "INFO",
    "NOTICE": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "ALERT": "FATAL",
    "EMERG": "FATAL",
    "EMERGENCY": "FATAL",
    "PANIC": "FATAL",
}


def level_from_text(text: str) -> Level | None:
    """The level a severity name means (any case; OTel short names like `WARN2` too)."""
    name = text.strip().upper()
    level = _LEVEL_NAMES.get(name)
    if level is None and name[-1:] in ("2", "3", "4"):
        level = _LEVEL_NAMES.get(name[:-1])
    return level


def level_number(level: Level) -> int:
    """The OTLP severity number of a level."""
    return LEVEL_NUMBERS[level]


# --- attribute values -----------------------------------------------------------------------

_json_encoder = msgspec.json.Encoder()


def scalar(value: Scalar) -> Scalar:
    """A scalar as stored: non-finite floats as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def json_text(value: Plain) -> str:
    """JSON text of a plain value, non-finite floats as strings."""
    return _json_encoder.encode(_finite(value)).decode()


def _finite(value: Plain) -> Plain:
    """A copy of a plain value with non-finite floats replaced (json would write null)."""
    if isinstance(value, float):
        return scalar(value)
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def flatten(key: str, value: Plain, out: list[tuple[str, AttributeValue]]) -> None:
    """Append the stored attributes of one (key, plain value) to `out`."""
    if not key:
        return
    if isinstance(value, dict):
        if not value:
            out.append((key, None))
        for sub_key, sub_value in value.items():
            if sub_key:
                flatten(f"{key}.{sub_key}", sub_value, out)
    elif isinstance(value, list):
        if all(isinstance(item, str | int | float) for item in value):
            out.append((key, [scalar(item) for item in value]))  # type: ignore[arg-type]
        else:
            out.append((key, json_text(value)))
    elif isinstance(value, float):
        out.append((key, scalar(value)))
    else:
        out.append((key, value))


def flatten_mapping(values: Mapping[str, Plain]) -> dict[str, AttributeValue]:
    """Stored attributes of a plain key -> value mapping."""
    pairs: list[tuple[str, AttributeValue]] = []
    for key, value in values.items():
        flatten(key, value, pairs)
    return dict(pairs)


def body_text(value: Plain) -> str:
    """A log body as stored: a string as is, anything else as JSON text, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json_text(value)


# --- NUL characters ---------------------------------------------------------------------------

NUL: Final = "\x00"
REPLACEMENT: Final = "\ufffd"
_ESCAPED_NUL: Final = b"\\u0000"
"""How JSON writes U+0000: the only way a NUL can be in a JSON body or an encoded document."""


def may_hold_nul(encoded: bytes) -> bool:
    """Whether JSON text may hold a U+0000 (an escaped backslash gives false positives only)."""
    return _ESCAPED_NUL in encoded


def without_nul(documents: list[D]) -> list[D]:
    """The documents with every NUL in their text (keys and values) replaced by U+FFFD.

    PostgreSQL text and jsonb cannot hold U+0000, so every store gets the same replacement, done
    before units are counted: what is billed is what is stored. One encode of the batch finds
    out whether any document needs it; documents without one are returned as they are.
    """
    if not documents or not may_hold_nul(_json_encoder.encode(documents)):
        return documents
    return [
        _replace_nul(document) if may_hold_nul(_json_encoder.encode(document)) else document
        for document in documents
    ]


def _replace_nul(value: _T) -> _T:
    """A copy of a document value with NUL replaced in every string, at any depth."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)  # type: ignore[return-value]
    if isinstance(value, list):
        return [_replace_nul(item) for item in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {_replace_nul(k): _replace_nul(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, msgspec.Struct):
        changes = {name: _replace_nul(getattr(value, name)) for name in value.__struct_fields__}
        return msgspec.structs.replace(value, **changes)
    return value
