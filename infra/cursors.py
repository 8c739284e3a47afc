"""Pagination cursors, checked before they reach a query: a forged cursor is a 400, never a 500.

Two kinds exist. A list of rows keyed by a prefixed id (projects, keys, invoices, webhooks …)
uses the last id of the page (`id_cursor`). A store with a compound sort position (logs and
traces: time, id) uses an opaque base64url JSON array (`encode_cursor` / `decode_cursor`) whose
values are bounded the way the stores bind them: int64 integers, short NUL-free strings.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Final

from infra.errors import AppError
from infra.ids import looks_like_id

MAX_CURSOR_LENGTH: Final = 8192
"""Room for the longest position we hand out (a 256-character id, JSON-escaped, base64)."""
MAX_CURSOR_TEXT: Final = 256
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class InvalidCursorError(AppError):
    """A pagination cursor that this API did not hand out."""

    code = "invalid_cursor"
    title = "Invalid cursor"

    def __init__(self, field: str = "cursor") -> None:
        super().__init__(f"{field}: use the next_cursor of a previous page", field=field)


def id_cursor(cursor: str | None, prefix: str, field: str = "cursor") -> str | None:
    """A cursor that is the id (`prefix_…`) of the last row seen; anything else is refused."""
    if cursor is not None and not looks_like_id(cursor, prefix):
        raise InvalidCursorError(field)
    return cursor


def encode_cursor(values: Sequence[str | int]) -> str:
    """An opaque cursor holding a backend's sort position."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...], field: str = "cursor") -> list[str | int]:
    """The sort position of a cursor, each value of the expected kind and within bounds."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursorError(field)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # json.loads of a long digit run raises ValueError (int max str digits): refused too.
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidCursorError(field) from None
    if (
        not isinstance(values, list)
        or len(values) != len(kinds)
        or not all(
            type(value) is kind and _in_bounds(value)
            for value, kind in zip(values, kinds, strict=True)
        )
    ):
        raise InvalidCursorError(field)
    return values


def _in_bounds(value: object) -> bool:
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, str):
        return len(value) <= MAX_CURSOR_TEXT and "\x00" not in value
    return False
