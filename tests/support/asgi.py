"""Driving the app in-process, in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from litestar import Litestar

TEST_CLIENT_IP = "203.0.113.7"


@asynccontextmanager
async def app_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client driving the app, lifespan included, from a fixed client address."""
    # Requests go to the bare app: asgi-lifespan would hand every request the same
    # scope["state"] dict, where Litestar caches per-request data (uvicorn copies it).
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(TEST_CLIENT_IP, 50000)),
            base_url="http://testserver",
        ) as test_client,
    ):
        yield test_client
