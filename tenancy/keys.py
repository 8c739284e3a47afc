"""API key and token format: prefix + 32 random base62 + 6-char base62 CRC32; SHA-256 at rest."""

from __future__ import annotations

import enum
import hashlib
import hmac
import zlib

from infra.ids import base62, is_base62, random_base62

SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = 4 + SECRET_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = 12


class KeyKind(enum.StrEnum):
    """What a token is, from its prefix."""

    PROJECT = "tgp_"
    ORG = "tgo_"
    SESSION = "tgs_"
    HUB = "tgh_"


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate(kind: KeyKind) -> str:
    """A new token of this kind; the checksum covers the prefix and the random part."""
    body = kind.value + random_base62(SECRET_LENGTH)
    return body + _checksum(body)


def parse_kind(token: str) -> KeyKind | None:
    """The kind of a well-formed token with a valid checksum, else None (no database needed)."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        kind = KeyKind(token[:4])
    except ValueError:
        return None
    body, checksum = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    if not is_base62(token[4:]) or not hmac.compare_digest(_checksum(body), checksum):
        return None
    return kind


def digest(token: str) -> bytes:
    """SHA-256 of a token: what we store and look up (tokens are high-entropy, no salt needed)."""
    return hashlib.sha256(token.encode()).digest()


def display_prefix(token: str) -> str:
    """The part shown in listings to recognise a key."""
    return token[:DISPLAY_PREFIX_LENGTH]
