"""A Redis that does not answer admission: a 503 to retry, never a bare 500, nothing billed."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from api.resources import Resources
from billing.admission import AdmissionService
from billing.quotas.redis import RedisQuotaBackend
from tests.support import gateway as gw

PROBLEM = "application/problem+json"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


@contextlib.asynccontextmanager
async def admission_on_a_dead_redis(resources: Resources) -> AsyncIterator[None]:
    """Admission on a real Redis client whose server is gone (connection refused)."""
    dead = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=0.5
    )
    working = resources.admission
    resources.admission = AdmissionService(resources.session_factory, RedisQuotaBackend(dead), dead)
    try:
        yield
    finally:
        resources.admission = working
        await dead.aclose()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("ingest/logs", {"json": {"message": "hello"}}),
        ("prometheus/api/v1/import/prometheus", {"content": b"m 1\n"}),
    ],
)
async def test_a_quota_store_that_does_not_answer_is_a_503_to_retry(
    client: httpx.AsyncClient, resources: Resources, path: str, body: dict[str, Any]
) -> None:
    w = await gw.writer(client)
    async with admission_on_a_dead_redis(resources):
        response = await client.post(w.path(path), headers=w.auth, **body)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "quota_unavailable"
    assert 1 <= int(response.headers["retry-after"]) <= 5
    assert not await gw.usage(client, w, "logs")
