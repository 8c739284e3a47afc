"""Readiness probes of every dependency; each answers ok or a short reason."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.settings import Settings, Tier

PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    """The state of one dependency."""

    name: str
    ok: bool
    detail: str = "ok"


async def _guard(name: str, check: asyncio.Future[object] | object) -> Probe:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await check  # type: ignore[misc]
    except TimeoutError:
        return Probe(name, False, "timed out")
    except Exception as exc:
        return Probe(name, False, type(exc).__name__)
    return Probe(name, True)


async def _postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _victoriametrics(http: httpx.AsyncClient, url: str) -> None:
    parts = urlsplit(url)
    response = await http.get(f"{parts.scheme}://{parts.netloc}/health")
    response.raise_for_status()


async def _opensearch(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(f"{url.rstrip('/')}/_cluster/health")
    response.raise_for_status()


async def probe_all(
    settings: Settings, engine: AsyncEngine, redis: aioredis.Redis, http: httpx.AsyncClient
) -> list[Probe]:
    """Probe PostgreSQL, Redis, every VictoriaMetrics tier and the log store, concurrently."""
    checks = [
        _guard("postgres", _postgres(engine)),
        _guard("redis", redis.ping()),
        *(
            _guard(
                f"victoriametrics_{tier.value}", _victoriametrics(http, settings.vm_read_url(tier))
            )
            for tier in Tier
        ),
    ]
    if settings.log_store_backend == "opensearch":
        checks.append(_guard("log_store", _opensearch(http, settings.opensearch_url)))
    else:
        checks.append(_guard("log_store", _postgres(engine)))
    return list(await asyncio.gather(*checks))
