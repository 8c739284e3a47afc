"""Session-wide fixtures: real PostgreSQL, Redis and VictoriaMetrics, one set per xdist worker.

Environment variables are set at import, before any settings are read, so that the app, the
workers started as subprocesses and the test code all see the same per-worker services.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
ROOT = Path(__file__).resolve().parent.parent
# TOLLGATE_TEST_SLOT lets several checkouts on one machine run the suite at once without sharing
# a database or a Redis db; CI leaves it unset.
SLOT = int(os.environ.get("TOLLGATE_TEST_SLOT", "0"))
TEST_DB = f"tollgate_test_{WORKER}" if SLOT == 0 else f"tollgate_test_s{SLOT}_{WORKER}"
REDIS_DB = 1 + (SLOT * 2 + WORKER) % 15
SESSION_DIR = Path(tempfile.mkdtemp(prefix=f"tollgate-test-w{WORKER}-"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Every test session gets its own VictoriaMetrics ports and data, so sessions never share stores.
VM_PORTS = {tier: _free_port() for tier in ("SHORT", "STANDARD", "LONG")}

os.environ.update(
    {
        "TOLLGATE_ENV": "test",
        "DATABASE_URL": f"postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/{TEST_DB}",
        "DATABASE_ADMIN_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{TEST_DB}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "TOLLGATE_DATA_DIR": str(SESSION_DIR),
        "TOLLGATE_ADMIN_TOKEN": "tga_test_operator_token",
        "TOLLGATE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "LOG_LEVEL": "WARNING",
        # Tests aim SSO and webhooks at loopback servers; tests/infra/test_outbound.py proves the
        # guard refuses them with an empty allow-list (the default everywhere).
        "OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        **{
            f"VM_{tier}_{mode}_URL": f"http://127.0.0.1:{port}"
            for tier, port in VM_PORTS.items()
            for mode in ("WRITE", "READ")
        },
    }
)

from api.app import create_app  # noqa: E402
from api.resources import Resources  # noqa: E402
from infra.bootstrap import migrate  # noqa: E402
from infra.db import create_engine  # noqa: E402
from infra.http import create_http_client  # noqa: E402
from infra.local import victoriametrics as vm  # noqa: E402
from infra.settings import Settings, get_settings  # noqa: E402
from tests.support.asgi import app_client  # noqa: E402
from tests.support.smtp import mailbox, smtp_server  # noqa: E402, F401 (fixtures)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings every test process shares."""
    return get_settings()


@pytest.fixture(scope="session")
def redis_url(settings: Settings) -> str:
    """This worker's own Redis database."""
    return settings.redis_url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A Redis client on an emptied database."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def migrated_database(settings: Settings) -> str:
    """A fresh database for this worker, built by the migrations (never create_all)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def drop() -> None:
        engine = create_async_engine(
            settings.database_admin_url.rsplit("/", 1)[0] + "/postgres",
            isolation_level="AUTOCOMMIT",
        )
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())
    migrate(settings)
    return TEST_DB


@pytest.fixture(scope="session")
def vm_stores(settings: Settings) -> Iterator[list[vm.VmInstance]]:
    """This worker's three VictoriaMetrics tiers, started once and stopped at the end."""
    instances = vm.start_all(settings, cache_root=ROOT / ".cache")
    yield instances
    vm.stop_all(settings)
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
async def app_engine(settings: Settings, migrated_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine connecting as the app's non-owner role."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_connection(app_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with app_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def session_factory(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints inside the test's transaction."""
    return async_sessionmaker(
        bind=db_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def db_session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session inside the test's transaction."""
    async with session_factory() as session:
        yield session


@pytest.fixture
async def resources(
    settings: Settings,
    app_engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    redis_client: aioredis.Redis,
    vm_stores: list[vm.VmInstance],
) -> AsyncIterator[Resources]:
    """The API's resources bound to the test's transaction and services."""
    http = create_http_client()
    yield Resources(
        settings=settings,
        engine=app_engine,
        session_factory=session_factory,
        redis=redis_client,
        http=http,
        owned=False,
    )
    await http.aclose()


@pytest.fixture
async def client(resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    async with app_client(create_app(resources=resources)) as test_client:
        yield test_client


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client for talking to real servers."""
    async with httpx.AsyncClient(timeout=10.0) as c:
        yield c
