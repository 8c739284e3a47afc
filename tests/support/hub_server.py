"""A real local hub server: records every call, keeps registered products, fails on demand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class HubCall:
    """One request as the hub saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HubServer:
    """Where the hub listens, what it got, who is registered, and the failures it will answer."""

    url: str
    calls: list[HubCall] = field(default_factory=list)
    registered: dict[str, Any] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next `count` calls with `status` (then behave)."""
        with self.lock:
            self.failures.extend([status] * count)

    def of(self, method: str, suffix: str = "") -> list[HubCall]:
        """The calls of one method whose path ends with `suffix`."""
        return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]


@contextmanager
def hub_server() -> Iterator[HubServer]:
    """A hub on a free loopback port speaking the wire format of infra/hub.py."""
    state = HubServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.calls.append(HubCall(self.command, self.path, headers, body))
                status = state.failures.pop(0) if state.failures else self._route(body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def _route(self, body: Any) -> int:
            parts = self.path.strip("/").split("/")
            if self.command == "POST" and self.path == "/v1/products/register":
                state.registered[body["product_id"]] = body
                return 200
            if self.command == "POST" and len(parts) == 4 and parts[3] == "heartbeat":
                return 200 if parts[2] in state.registered else 404
            if self.command == "DELETE" and len(parts) == 3:
                return 200 if state.registered.pop(parts[2], None) is not None else 404
            return 404

        do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
