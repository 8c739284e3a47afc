"""Request ids: taken from the client when well-formed, bound into logs, echoed back."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from infra.logging import get_logger

REQUEST_ID_HEADER = "x-request-id"
_STATE_KEY = "tollgate_request"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
log = get_logger("tollgate.access")


@dataclass(frozen=True)
class RequestContext:
    """What we know of a request before any handler runs."""

    request_id: str
    started: float


def request_context(scope: Scope) -> RequestContext:
    """The request's context, created on first use (routed or not)."""
    state = scope.setdefault("state", {})
    context = state.get(_STATE_KEY)
    if isinstance(context, RequestContext):
        return context
    incoming = None
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            incoming = candidate if _VALID_ID.match(candidate) else None
    context = RequestContext(incoming or secrets.token_hex(8), time.perf_counter())
    state[_STATE_KEY] = context
    return context


class RequestIdMiddleware:
    """Binds the request id into structlog's context for everything a handler logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_context(scope).request_id)
        try:
            await self.app(scope, receive, send)
        finally:
            structlog.contextvars.clear_contextvars()


async def before_send(message: Message, scope: Scope) -> None:
    """Echo the request id and write one access-log line, for routed and unrouted requests."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    context = request_context(scope)
    headers = list(message.get("headers", []))
    headers.append((REQUEST_ID_HEADER.encode(), context.request_id.encode()))
    message["headers"] = headers
    log.info(
        "request",
        request_id=context.request_id,
        method=scope.get("method"),
        path=scope.get("path"),
        status=message["status"],
        duration_ms=round((time.perf_counter() - context.started) * 1000, 2),
    )
