"""Errors raised by the decoders; each carries the HTTP status the gateway answers with."""

from __future__ import annotations


class PayloadError(Exception):
    """A request body that cannot be accepted as sent."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class DecodeError(PayloadError):
    """The body is malformed; `detail` says where and why."""


class UnsupportedMediaType(DecodeError):
    """The content type or content encoding is not one the endpoint accepts."""

    status_code = 415


class PayloadTooLarge(PayloadError):
    """The body, once decompressed, is larger than the limit."""

    status_code = 413


def not_utf8(exc: UnicodeDecodeError) -> DecodeError:
    """The error for a JSON body with invalid UTF-8.

    msgspec raises UnicodeDecodeError, not its DecodeError, for invalid UTF-8 in a string.
    """
    return DecodeError(f"the JSON body is not valid UTF-8 ({exc.reason})")
