"""Opaque, prefixed, time-sortable ids and base62 helpers."""

from __future__ import annotations

import secrets
import time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(BASE62)}
ID_BODY_LENGTH = 22


def base62(number: int, width: int) -> str:
    """Fixed-width base62 of a non-negative integer (left-padded with '0')."""
    if number < 0:
        raise ValueError("base62 encodes non-negative integers only")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    encoded = "".join(reversed(digits)).rjust(width, "0")
    if len(encoded) > width:
        raise ValueError(f"{number} does not fit in {width} base62 digits")
    return encoded


def is_base62(text: str) -> bool:
    """Whether every character is a base62 digit."""
    return all(c in _INDEX for c in text)


def random_base62(length: int) -> str:
    """Uniformly random base62 text from the OS CSPRNG."""
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_id(prefix: str) -> str:
    """`prefix_` + 48-bit milliseconds + 80 random bits, base62: unguessable and sortable."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return f"{prefix}_{base62(value, ID_BODY_LENGTH)}"


def looks_like_id(value: str, prefix: str) -> bool:
    """Cheap shape check so a malformed id is a 404 without touching the database."""
    head, _, body = value.partition("_")
    return head == prefix and len(body) == ID_BODY_LENGTH and is_base62(body)
