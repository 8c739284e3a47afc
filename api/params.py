"""Edge checks shared by every route: no NUL anywhere in a URL, bounded numeric query parameters.

PostgreSQL text cannot hold U+0000, so a NUL that reached a query would fail there as a 500.
No path segment or query parameter of this API has a use for one: the request is refused before
routing hands it to a handler, guard or dependency — a path with one names no resource (404, as
every malformed id), a query parameter with one is a 400 naming the parameter.
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import parse_qsl

from litestar.middleware import ASGIMiddleware
from litestar.params import QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send

from infra.errors import AppError, NotFoundError

MAX_DURATION_MS: Final = 1e12
"""About 31 years: durations are stored as int64 nanoseconds (at most 9.2e12 ms)."""
MAX_BUCKET_SECONDS: Final = 366 * 86400

DurationMs = Annotated[float | None, QueryParameter(ge=0, le=MAX_DURATION_MS)]
"""A span duration filter in milliseconds (finite: NaN and infinities are refused)."""
BucketSeconds = Annotated[int | None, QueryParameter(ge=1, le=MAX_BUCKET_SECONDS)]
"""A stats bucket width in seconds, one second to a year."""


def nul_parameter(path: str, query_string: bytes) -> str | None:
    """The name of the first URL part holding a NUL (`path` or a query parameter), if any."""
    if "\x00" in path:
        return "path"
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    text = query_string.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\ufffd") or "query"
    return "query"


class MalformedParameterError(AppError):
    """A URL part that no route of this API could take; named in `field`."""

    code = "invalid_request"
    title = "Bad request"


class NulFreeUrlMiddleware(ASGIMiddleware):
    """Refuse a request whose decoded path (404) or query string (400) holds a NUL."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Check the URL, then pass the request on."""
        found = nul_parameter(scope.get("path", ""), scope.get("query_string", b""))
        if found == "path":
            raise NotFoundError("No resource at this path")
        if found is not None:
            raise MalformedParameterError(f"{found}: NUL characters are not allowed", field=found)
        await next_app(scope, receive, send)
