"""Request ids: taken from the client when well-formed, bound into logs, echoed back."""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from infra.logging import get_logger, redact_path, redact_query

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


def parse_trusted_proxies(value: str) -> list[str]:
    """TRUSTED_PROXIES as CIDRs; a malformed entry (or `*`) is a start-up error."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from None
    return networks


class ClientAddressMiddleware:
    """The client address: the peer, or from X-Forwarded-For only through trusted proxies.

    With TRUSTED_PROXIES empty (the default) X-Forwarded-For is ignored: every client could
    write its own. Behind trusted proxies the address is the right-most one of the chain that
    is not a trusted proxy (entries left of it were written by the client and prove nothing).
    Uvicorn must not apply the header itself (the launchers pass --no-proxy-headers).
    """

    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        self._proxied: Any = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
        self._any = bool(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._any:
            await self._proxied(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def client_address_middleware(trusted_proxies: str) -> DefineMiddleware:
    """ClientAddressMiddleware for the TRUSTED_PROXIES setting."""
    return DefineMiddleware(ClientAddressMiddleware, trusted=parse_trusted_proxies(trusted_proxies))


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
    query = scope.get("query_string", b"").decode("latin-1")
    log.info(
        "request",
        request_id=context.request_id,
        method=scope.get("method"),
        # Invite and reset tokens travel in paths the contract fixes: never log them.
        path=redact_path(scope.get("path", "")),
        query=redact_query(query) if query else None,
        status=message["status"],
        duration_ms=round((time.perf_counter() - context.started) * 1000, 2),
    )
