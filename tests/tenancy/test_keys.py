"""Keys: format and checksum, the lookup cache, revocation across processes, last-used batching."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.resources import Resources
from infra.ids import BASE62
from infra.settings import Settings
from tenancy import keys
from tenancy.key_lookup import USAGE_KEY, USAGE_PROCESSING_KEY, KeyLookup, persist_usage
from tenancy.repository import GlobalKeyRepository
from tests.support.asgi import app_client
from tests.support.servers import ApiProcess, start_api, wait_healthy
from tests.support.tenancy import as_org, bearer, org_key
from tests.support.tenants import Tenant, project_key, sign_up
from workers import runtime
from workers.actor import run_inline

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client, "keys")


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every database lookup of a key hash, in any KeyLookup of this process."""
    seen: list[bytes] = []
    original = GlobalKeyRepository.lookup

    async def counting(self: GlobalKeyRepository, secret_hash: bytes) -> Any:
        seen.append(secret_hash)
        return await original(self, secret_hash)

    monkeypatch.setattr(GlobalKeyRepository, "lookup", counting)
    return seen


def _no_database() -> Any:
    raise AssertionError("the database was consulted")


class TestKeyFormat:
    @pytest.mark.parametrize("kind", list(keys.KeyKind))
    def test_prefix_32_random_base62_and_a_6_char_checksum(self, kind: keys.KeyKind) -> None:
        token = keys.generate(kind)
        assert token.startswith(kind.value)
        assert len(token) == 4 + 32 + 6 == keys.TOKEN_LENGTH
        assert all(c in BASE62 for c in token[4:])
        assert keys.parse_kind(token) is kind

    def test_tokens_are_unique(self) -> None:
        assert len({keys.generate(keys.KeyKind.PROJECT) for _ in range(1000)}) == 1000

    def test_every_single_character_change_fails_the_checksum(self) -> None:
        token = keys.generate(keys.KeyKind.PROJECT)
        for position in range(4, len(token)):
            for replacement in "0aZ9":
                if replacement == token[position]:
                    continue
                typo = token[:position] + replacement + token[position + 1 :]
                assert keys.parse_kind(typo) is None, typo

    def test_swapping_the_prefix_fails_the_checksum(self) -> None:
        token = keys.generate(keys.KeyKind.PROJECT)
        assert keys.parse_kind("tgo_" + token[4:]) is None

    @pytest.mark.parametrize(
        "token",
        ["", "tgp_", "tgp_short", "tgx_" + "a" * 38, "tgp_" + "a" * 37 + "!", "TGP_" + "a" * 38],
    )
    def test_malformed_tokens_have_no_kind(self, token: str) -> None:
        assert keys.parse_kind(token) is None

    def test_stored_as_sha256_and_listed_by_prefix(self) -> None:
        token = keys.generate(keys.KeyKind.ORG)
        assert keys.digest(token) == hashlib.sha256(token.encode()).digest()
        assert keys.display_prefix(token) == token[:12]

    async def test_only_the_hash_reaches_the_database(
        self, client: httpx.AsyncClient, owner: Tenant, db_session: AsyncSession
    ) -> None:
        created = await project_key(client, owner)
        await as_org(db_session, owner.org_id)
        row = (
            await db_session.execute(
                text("SELECT secret_hash, prefix, api_keys::text AS everything FROM api_keys")
            )
        ).one()
        assert bytes(row.secret_hash) == hashlib.sha256(created["key"].encode()).digest()
        assert row.prefix == created["prefix"]
        assert created["key"] not in row.everything


class TestKeyLookupCache:
    async def test_a_bad_checksum_is_refused_without_the_database(
        self, redis_client: aioredis.Redis
    ) -> None:
        lookup = KeyLookup(_no_database, redis_client)  # type: ignore[arg-type]
        token = keys.generate(keys.KeyKind.PROJECT)
        typo = token[:-1] + ("x" if token[-1] != "x" else "y")  # a real change of one character
        assert await lookup.find(typo, now=NOW) is None
        assert await lookup.find("tgp_not-even-close", now=NOW) is None

    async def test_a_mistyped_key_costs_no_query_over_http(
        self, client: httpx.AsyncClient, owner: Tenant, lookups: list[bytes]
    ) -> None:
        secret = (await org_key(client, owner))["key"]
        typo = secret[:-2] + ("AA" if secret[-2:] != "AA" else "BB")
        response = await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(typo))
        assert response.status_code == 401
        assert lookups == []

    async def test_a_second_use_is_served_from_memory(
        self, client: httpx.AsyncClient, owner: Tenant, lookups: list[bytes]
    ) -> None:
        secret = (await org_key(client, owner))["key"]
        for _ in range(3):
            response = await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(secret))
            assert response.status_code == 200
        assert lookups == [keys.digest(secret)]

    async def test_unknown_keys_are_cached_too(
        self, client: httpx.AsyncClient, lookups: list[bytes]
    ) -> None:
        unknown = keys.generate(keys.KeyKind.ORG)
        for _ in range(3):
            assert (await client.get("/v1/orgs", headers=bearer(unknown))).status_code == 401
        assert lookups == [keys.digest(unknown)]

    async def test_entries_live_for_the_ttl(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
        lookups: list[bytes],
    ) -> None:
        lookup = KeyLookup(session_factory, redis_client, ttl_seconds=0.05)
        token = keys.generate(keys.KeyKind.PROJECT)
        await lookup.find(token, now=NOW)
        await lookup.find(token, now=NOW)
        await asyncio.sleep(0.1)
        await lookup.find(token, now=NOW)
        assert len(lookups) == 2

    async def test_a_cached_key_is_refused_once_it_expires(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
        lookups: list[bytes],
    ) -> None:
        expires = datetime.now(UTC) + timedelta(hours=1)
        secret = (await org_key(client, owner, expires_at=expires.isoformat()))["key"]
        lookup = KeyLookup(session_factory, redis_client)
        assert await lookup.find(secret, now=datetime.now(UTC)) is not None
        assert await lookup.find(secret, now=expires + timedelta(seconds=1)) is None
        assert len(lookups) == 1

    async def test_an_invalidation_evicts_the_key_in_every_listening_process(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        session_factory: async_sessionmaker[AsyncSession],
        redis_client: aioredis.Redis,
        lookups: list[bytes],
    ) -> None:
        # A second KeyLookup with a long TTL stands in for another gateway process.
        created = await org_key(client, owner)
        elsewhere = KeyLookup(session_factory, redis_client, ttl_seconds=3600)
        listener = asyncio.create_task(elsewhere.listen())
        try:
            await _until_listening(elsewhere, KeyLookup(session_factory, redis_client), lookups)
            assert await elsewhere.find(created["key"], now=datetime.now(UTC)) is not None
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

    async def test_the_listener_stops_promptly_whenever_it_is_cancelled(
        self, session_factory: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
    ) -> None:
        # Cancelling while redis-py is inside asyncio.wait_for (Python 3.11) used to be lost,
        # leaving the listener running after shutdown; try every point of its start-up.
        lookup = KeyLookup(session_factory, redis_client)
        for steps in range(40):
            task = asyncio.create_task(lookup.listen())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1.5)
            assert task in done, f"still running after cancel at step {steps}"


async def _until_listening(listener: KeyLookup, publisher: KeyLookup, lookups: list[bytes]) -> None:
    """Wait until `listener` acts on invalidations: an evicted probe costs a lookup again."""
    probe = keys.generate(keys.KeyKind.ORG)
    deadline = time.monotonic() + 2.0
    while True:
        await listener.find(probe, now=NOW)
        before = len(lookups)
        await publisher.publish_invalidation([keys.digest(probe)])
        await asyncio.sleep(0.02)
        await listener.find(probe, now=NOW)
        if len(lookups) > before:
            return
        assert time.monotonic() < deadline, "the listener never subscribed"


class TestLastUsedBatching:
    async def _last_used(self, session: AsyncSession, tenant: Tenant, key_id: str) -> Any:
        await as_org(session, tenant.org_id)
        return await session.scalar(
            text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": key_id}
        )

    @pytest.fixture
    def touches(self, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, datetime]]:
        seen: list[dict[str, datetime]] = []
        original = GlobalKeyRepository.touch

        async def counting(self: GlobalKeyRepository, used: dict[str, datetime]) -> None:
            seen.append(dict(used))
            await original(self, used)

        monkeypatch.setattr(GlobalKeyRepository, "touch", counting)
        return seen

    async def test_using_a_key_writes_nothing_to_postgresql(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        db_session: AsyncSession,
        touches: list[dict[str, datetime]],
    ) -> None:
        created = await org_key(client, owner)
        for _ in range(3):
            await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(created["key"]))
        assert touches == []
        assert await self._last_used(db_session, owner, created["id"]) is None

    async def test_flushed_uses_reach_postgresql_in_one_batch(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        resources: Resources,
        redis_client: aioredis.Redis,
        db_session: AsyncSession,
        touches: list[dict[str, datetime]],
    ) -> None:
        first = await org_key(client, owner)
        second = await org_key(client, owner)
        before = datetime.now(UTC)
        for created in (first, second, first):
            await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(created["key"]))
        await resources.key_lookup.flush_usage()
        batched = await redis_client.hgetall(USAGE_KEY)
        assert {k.decode() for k in batched} == {first["id"], second["id"]}
        assert await persist_usage(redis_client, db_session) == 2
        assert len(touches) == 1
        for created in (first, second):
            used = await self._last_used(db_session, owner, created["id"])
            assert used is not None
            assert before - timedelta(seconds=1) <= used <= datetime.now(UTC)
        listed = await client.get(f"/v1/orgs/{owner.org_id}/keys", headers=owner.auth)
        assert all(k["last_used_at"] for k in listed.json()["items"])

    async def test_last_used_never_moves_back(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        redis_client: aioredis.Redis,
        db_session: AsyncSession,
    ) -> None:
        created = await org_key(client, owner)
        late = datetime(2031, 1, 1, tzinfo=UTC)
        for at in (late, late - timedelta(days=1)):
            await redis_client.hset(USAGE_KEY, created["id"], at.isoformat())
            await persist_usage(redis_client, db_session)
            await redis_client.delete(USAGE_PROCESSING_KEY)
        assert await self._last_used(db_session, owner, created["id"]) == late

    async def test_a_batch_left_by_a_crash_is_written_by_the_next_run(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        redis_client: aioredis.Redis,
        db_session: AsyncSession,
    ) -> None:
        created = await org_key(client, owner)
        at = datetime(2031, 1, 1, tzinfo=UTC)
        await redis_client.hset(USAGE_KEY, created["id"], at.isoformat())
        await redis_client.rename(USAGE_KEY, USAGE_PROCESSING_KEY)  # taken, never finished
        assert await persist_usage(redis_client, db_session) == 1
        assert await self._last_used(db_session, owner, created["id"]) == at

    @pytest.mark.usefixtures("actors_in_test_transaction")
    async def test_the_flush_actor_persists_and_clears_the_batch(
        self,
        client: httpx.AsyncClient,
        owner: Tenant,
        resources: Resources,
        redis_client: aioredis.Redis,
        db_session: AsyncSession,
    ) -> None:
        created = await org_key(client, owner)
        await client.get(f"/v1/orgs/{owner.org_id}", headers=bearer(created["key"]))
        await resources.key_lookup.flush_usage()
        await run_inline("tenancy.flush_key_usage", time.time())
        assert await redis_client.exists(USAGE_KEY, USAGE_PROCESSING_KEY) == 0
        assert await self._last_used(db_session, owner, created["id"]) is not None


@pytest.fixture
def actors_in_test_transaction(
    session_factory: async_sessionmaker[AsyncSession],
) -> Iterator[None]:
    """Actors run inline, in the test's transaction."""
    runtime.use_session_factory(session_factory)
    yield
    runtime.use_session_factory(None)


class TestRevocationAcrossProcesses:
    """A real API process caches keys in memory; this process changes them in the database.

    The other process runs with a 300 s cache TTL: only the Redis invalidation, published after
    the change commits, can make it refuse the old secret within the 5 s the contract allows.
    """

    @pytest.fixture
    async def other(self, other_process: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
        await wait_healthy(other_process)
        async with httpx.AsyncClient(base_url=other_process.base_url, timeout=10.0) as client:
            yield client

    @pytest.fixture
    async def here(self, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        """The in-process app on real, committed sessions (the other process must see them)."""
        async with app_client(create_app(resources=Resources.open(settings))) as client:
            yield client

    async def _refused_within(
        self, client: httpx.AsyncClient, path: str, secret: str, seconds: float
    ) -> None:
        started = time.monotonic()
        while (status := (await client.get(path, headers=bearer(secret))).status_code) != 401:
            assert status in (200, 403), status
            elapsed = time.monotonic() - started
            assert elapsed < seconds, f"the other process still accepted it after {elapsed:.1f} s"
            await asyncio.sleep(0.05)

    async def test_a_revoked_key_is_refused_by_another_process_within_5_s(
        self, other: httpx.AsyncClient, here: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(other, "crossproc")
        created = await org_key(other, tenant, ["org:admin"])
        path = f"/v1/orgs/{tenant.org_id}"
        for _ in range(2):  # the other process now serves the key from memory
            assert (await other.get(path, headers=bearer(created["key"]))).status_code == 200
        revoked = await here.delete(f"{path}/keys/{created['id']}", headers=tenant.auth)
        assert revoked.status_code == 204
        await self._refused_within(other, path, created["key"], seconds=5.0)

    async def test_a_rotation_without_grace_retires_the_old_secret_everywhere(
        self, other: httpx.AsyncClient, here: httpx.AsyncClient
    ) -> None:
        tenant = await sign_up(other, "rotproc")
        key = await project_key(other, tenant, scopes=["metrics:write"])
        probe = f"/v1/projects/{tenant.project_id}"  # 403 for a known project key, 401 unknown
        assert (await other.get(probe, headers=bearer(key["key"]))).status_code == 403
        rotated = await here.post(
            f"{probe}/keys/{key['id']}/rotate",
            json={"grace_period_seconds": 0},
            headers=tenant.auth,
        )
        assert rotated.status_code == 200
        await self._refused_within(other, probe, key["key"], seconds=5.0)
        assert (await other.get(probe, headers=bearer(rotated.json()["key"]))).status_code == 403


@pytest.fixture(scope="module", autouse=True)
def other_process(migrated_database: str) -> Iterator[ApiProcess]:
    """Started with the module so that it boots while the tests before it run."""
    api = start_api(KEY_CACHE_TTL_SECONDS="300")
    try:
        yield api
    finally:
        api.stop()
