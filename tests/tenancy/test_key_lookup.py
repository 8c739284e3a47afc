"""Forged tokens: one query per distinct token, none on repeat, bounded caches that a flood of
them cannot empty, and creation and revocation reaching every process through pub/sub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenancy import keys, projects
from tenancy.key_lookup import KeyLookup
from tests.support.tenancy import bearer, org_key
from tests.support.tenants import Tenant, sign_up

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEY_TABLES = ("tg_lookup_key", "user_sessions", "hub_keys")


class Queries:
    """Statements the app's engine ran that look a token up (keys, sessions, hub keys)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, *args: Any) -> None:
        statement = args[2]
        if any(table in statement for table in KEY_TABLES):
            self.statements.append(statement)

    def __len__(self) -> int:
        return len(self.statements)


@pytest.fixture
def token_queries(app_engine: AsyncEngine) -> Iterator[Queries]:
    """A SQLAlchemy listener counting every token lookup that reaches PostgreSQL."""
    queries = Queries()
    event.listen(app_engine.sync_engine, "before_cursor_execute", queries)
    yield queries
    event.remove(app_engine.sync_engine, "before_cursor_execute", queries)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "forged")


def _forged(kind: keys.KeyKind, n: int) -> list[str]:
    """Checksum-valid tokens that match nothing (anyone can compute the public checksum)."""
    return [keys.generate(kind) for _ in range(n)]


class TestForgedTokens:
    @pytest.mark.parametrize("kind", [keys.KeyKind.ORG, keys.KeyKind.PROJECT])
    async def test_api_keys_cost_one_query_each_then_none(
        self, client: httpx.AsyncClient, token_queries: Queries, kind: keys.KeyKind
    ) -> None:
        forged = _forged(kind, 20)
        for _ in range(3):
            for token in forged:
                response = await client.get("/v1/orgs", headers=bearer(token))
                assert response.status_code == 401
        assert len(token_queries) == len(forged), token_queries.statements

    async def test_session_tokens_cost_one_query_each_then_none(
        self, client: httpx.AsyncClient, token_queries: Queries
    ) -> None:
        forged = _forged(keys.KeyKind.SESSION, 20)
        for _ in range(3):
            for token in forged:
                assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
        assert len(token_queries) == len(forged), token_queries.statements

    async def test_hub_keys_cost_one_query_each_then_none(
        self, client: httpx.AsyncClient, token_queries: Queries
    ) -> None:
        forged = _forged(keys.KeyKind.HUB, 20)
        for _ in range(3):
            for token in forged:
                response = await client.get(
                    "/v1/hub/orgs/org_x/entitlements", headers=bearer(token)
                )
                assert response.status_code == 401
        assert len(token_queries) == len(forged), token_queries.statements

    async def test_forged_data_plane_keys_cost_one_query_each_then_none(
        self, client: httpx.AsyncClient, owner: Tenant, token_queries: Queries
    ) -> None:
        forged = _forged(keys.KeyKind.PROJECT, 10)
        for _ in range(3):
            for token in forged:
                response = await client.post(
                    f"/p/{owner.project_id}/ingest/metrics",
                    json={"metric_name": "m", "value": 1},
                    headers=bearer(token),
                )
                assert response.status_code == 401
        assert len(token_queries) == len(forged), token_queries.statements

    async def test_a_logged_out_session_is_refused_from_memory(
        self, client: httpx.AsyncClient, owner: Tenant, token_queries: Queries
    ) -> None:
        assert (await client.post("/v1/auth/logout", headers=owner.auth)).is_success
        before = len(token_queries)
        for _ in range(3):
            assert (await client.get("/v1/me", headers=owner.auth)).status_code == 401
        assert len(token_queries) == before + 1


class TestBoundedCaches:
    async def test_a_flood_of_forged_tokens_never_grows_past_the_bound(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
    ) -> None:
        lookup = KeyLookup(session_factory, redis_client, max_entries=5, max_unknown_entries=8)
        for token in _forged(keys.KeyKind.PROJECT, 40):
            assert await lookup.find(token, now=NOW) is None
            assert lookup.sizes["unknown"] <= 8
        assert lookup.sizes["unknown"] == 8

    async def test_a_flood_does_not_evict_keys_in_use(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
        token_queries: Queries,
    ) -> None:
        # On main a full cache was cleared wholesale: every real key cost a query again.
        secret = (await org_key(client, owner))["key"]
        lookup = KeyLookup(session_factory, redis_client, max_entries=5, max_unknown_entries=8)
        now = datetime.now(UTC)
        assert await lookup.find(secret, now=now) is not None
        for token in _forged(keys.KeyKind.ORG, 50):
            await lookup.find(token, now=now)
        before = len(token_queries)
        assert await lookup.find(secret, now=now) is not None
        assert len(token_queries) == before
        assert lookup.sizes["keys"] == 1

    async def test_project_owners_are_bounded_too(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
    ) -> None:
        lookup = KeyLookup(session_factory, redis_client, max_entries=4)
        for n in range(12):
            assert await lookup.project_org(f"prj_{n:026d}") is None
        assert lookup.sizes["projects"] <= 4


class TestInvalidation:
    async def test_an_eviction_during_a_lookup_keeps_its_answer_out_of_the_cache(
        self, session_factory: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
    ) -> None:
        # The miss may predate the commit the eviction announced (a key created meanwhile).
        lookup = KeyLookup(session_factory, redis_client)
        secret_hash = keys.digest(keys.generate(keys.KeyKind.ORG))

        async def raced() -> None:
            lookup.evict([secret_hash])

        assert await lookup.unless_unknown(secret_hash, raced) is None
        assert lookup.sizes["unknown"] == 0

    async def test_a_key_created_after_its_hash_was_cached_as_unknown_works_at_once(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Another process (long TTL) saw the token before the key existed; the creation's
        # pub/sub message must clear its negative entry.
        token = keys.generate(keys.KeyKind.ORG)
        elsewhere = KeyLookup(session_factory, redis_client, ttl_seconds=3600)
        listener = asyncio.create_task(elsewhere.listen())
        try:
            await _until_listening(elsewhere, KeyLookup(session_factory, redis_client))
            assert await elsewhere.find(token, now=datetime.now(UTC)) is None
            monkeypatch.setattr(projects.keys, "generate", lambda kind: token)
            created = await client.post(
                f"/v1/orgs/{owner.org_id}/keys", json={"name": "late"}, headers=owner.auth
            )
            assert created.status_code == 201, created.text
            assert created.json()["key"] == token
            deadline = time.monotonic() + 2.0
            while await elsewhere.find(token, now=datetime.now(UTC)) is None:
                assert time.monotonic() < deadline, "the creation never reached the listener"
                await asyncio.sleep(0.02)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def test_a_revocation_still_reaches_every_process(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
    ) -> None:
        created = await org_key(client, owner)
        elsewhere = KeyLookup(session_factory, redis_client, ttl_seconds=3600)
        listener = asyncio.create_task(elsewhere.listen())
        try:
            await _until_listening(elsewhere, KeyLookup(session_factory, redis_client))
            assert await elsewhere.find(created["key"], now=datetime.now(UTC)) is not None
            for token in _forged(keys.KeyKind.ORG, 20):
                await elsewhere.find(token, now=datetime.now(UTC))
            revoked = await client.delete(
                f"/v1/orgs/{owner.org_id}/keys/{created['id']}", headers=owner.auth
            )
            assert revoked.status_code == 204
            deadline = time.monotonic() + 2.0
            while await elsewhere.find(created["key"], now=datetime.now(UTC)) is not None:
                assert time.monotonic() < deadline, "the revocation never reached the listener"
                await asyncio.sleep(0.02)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def test_a_subscription_gap_forgets_everything(
        self, session_factory: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
    ) -> None:
        lookup = KeyLookup(session_factory, redis_client)
        for token in _forged(keys.KeyKind.ORG, 3):
            await lookup.find(token, now=NOW)
        lookup.clear()
        assert lookup.sizes == {"keys": 0, "unknown": 0, "projects": 0}


async def _until_listening(listener: KeyLookup, publisher: KeyLookup) -> None:
    """Wait until `listener` acts on invalidations: a probe's negative entry disappears."""
    probe = keys.generate(keys.KeyKind.ORG)
    probe_hash = keys.digest(probe)
    deadline = time.monotonic() + 2.0
    while True:
        await listener.find(probe, now=NOW)
        await publisher.publish_invalidation([probe_hash])
        await asyncio.sleep(0.02)
        if listener.sizes["unknown"] == 0:
            return
        assert time.monotonic() < deadline, "the listener never subscribed"
