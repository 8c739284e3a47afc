"""The shared outbound HTTP client, with explicit timeouts."""

from __future__ import annotations

import httpx


def create_http_client(timeout: float = 5.0) -> httpx.AsyncClient:
    """One pooled client per process for stores and adapters."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=2.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
