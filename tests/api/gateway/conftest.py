"""An app whose database work lasts a whole module (still rolled back at its end), for test
modules that read the same tenants' data many times over."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.app import create_app
from api.resources import Resources
from infra.http import create_http_client
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings
from tests.support.asgi import app_client


@pytest.fixture(scope="module")
async def module_resources(
    settings: Settings, app_engine: AsyncEngine, vm_stores: list[VmInstance]
) -> AsyncIterator[Resources]:
    """The API's resources on one connection whose transaction is rolled back after the module."""
    async with app_engine.connect() as conn:
        transaction = await conn.begin()
        redis = aioredis.Redis.from_url(settings.redis_url)
        http = create_http_client()
        try:
            yield Resources(
                settings=settings,
                engine=app_engine,
                session_factory=async_sessionmaker(
                    bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
                ),
                redis=redis,
                http=http,
                owned=False,
            )
        finally:
            await http.aclose()
            await redis.aclose()
            await transaction.rollback()


@pytest.fixture(scope="module")
async def module_client(module_resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process on the module's resources."""
    async with app_client(create_app(resources=module_resources)) as client:
        yield client
