"""The login throttle against the API under uvicorn: parallel guesses and spoofed addresses.

A real server, because the race is between requests served concurrently (in-process tests share
one database connection and cannot send requests in parallel).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from infra.local.victoriametrics import VmInstance
from tenancy.errors import TooManyAttemptsError
from tenancy.throttle import MAX_FAILURES_PER_EMAIL, MAX_FAILURES_PER_IP, LoginThrottle
from tests.support import processes

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def api_url(
    vm_stores: list[VmInstance], migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API under uvicorn, as production runs it, with TRUSTED_PROXIES unset."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("uvicorn") / "api.log"
    env = {k: v for k, v in os.environ.items() if k != "TRUSTED_PROXIES"}
    with processes.running(processes.uvicorn_command(port), f"{url}/health", log, env=env):
        yield url


@pytest.fixture
async def api(api_url: str, redis_client: aioredis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the server, on a Redis emptied of earlier tests' counters."""
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=api_url, timeout=30.0, limits=limits) as client:
        yield client


async def _owner(api: httpx.AsyncClient) -> str:
    email = f"raced-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Raced", "org_name": "Raced"}
    assert (await api.post("/v1/auth/signup", json=body)).status_code == 201
    return email


async def _login(
    api: httpx.AsyncClient, email: str, password: str, forwarded_for: str | None = None
) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await api.post(
        "/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )
    return response.status_code


class TestParallelGuesses:
    async def test_forty_parallel_wrong_passwords_let_at_most_five_reach_the_check(
        self, api: httpx.AsyncClient
    ) -> None:
        email = await _owner(api)
        statuses = await asyncio.gather(*(_login(api, email, f"guess {i}!") for i in range(40)))
        # 401 = the password was checked; 429 = refused before it.
        assert statuses.count(401) == MAX_FAILURES_PER_EMAIL, sorted(statuses)
        assert statuses.count(429) == 40 - MAX_FAILURES_PER_EMAIL
        assert await _login(api, email, PASSWORD) == 429


class TestForwardedFor:
    async def test_a_client_cannot_pick_its_own_address_with_x_forwarded_for(
        self, api: httpx.AsyncClient
    ) -> None:
        email = f"xff-{secrets.token_hex(4)}@example.com"
        body = {"email": email, "password": PASSWORD, "name": "Xff", "org_name": "Xff"}
        signup = await api.post(
            "/v1/auth/signup", json=body, headers={"X-Forwarded-For": "198.51.100.23"}
        )
        assert signup.status_code == 201
        org, token = signup.json()["org"]["id"], signup.json()["token"]
        events = await api.get(
            f"/v1/orgs/{org}/audit-log", headers={"Authorization": f"Bearer {token}"}
        )
        assert {e["ip"] for e in events.json()["items"]} == {"127.0.0.1"}


class TestThrottleUnit:
    async def test_forty_concurrent_attempts_for_one_email_take_five_slots(
        self, redis_client: aioredis.Redis
    ) -> None:
        throttle = LoginThrottle(redis_client)
        outcomes = await asyncio.gather(
            *(throttle.acquire("one@example.com", "192.0.2.9") for _ in range(40)),
            return_exceptions=True,
        )
        assert outcomes.count(None) == MAX_FAILURES_PER_EMAIL
        assert all(isinstance(o, TooManyAttemptsError) for o in outcomes if o is not None)

    async def test_concurrent_attempts_over_many_emails_take_the_address_limit(
        self, redis_client: aioredis.Redis
    ) -> None:
        throttle = LoginThrottle(redis_client)
        outcomes = await asyncio.gather(
            *(throttle.acquire(f"spray-{i}@example.com", "192.0.2.8") for i in range(45)),
            return_exceptions=True,
        )
        assert outcomes.count(None) == MAX_FAILURES_PER_IP

    async def test_an_attempt_that_checked_no_password_is_given_back(
        self, redis_client: aioredis.Redis
    ) -> None:
        throttle = LoginThrottle(redis_client)
        for _ in range(3 * MAX_FAILURES_PER_EMAIL):
            await throttle.acquire("sso@example.com", "192.0.2.1")
            await throttle.release("sso@example.com", "192.0.2.1")
        await throttle.acquire("sso@example.com", "192.0.2.1")  # still allowed

    async def test_a_good_login_gives_the_address_its_attempt_back(
        self, redis_client: aioredis.Redis
    ) -> None:
        throttle = LoginThrottle(redis_client)
        for i in range(3 * MAX_FAILURES_PER_IP):
            await throttle.acquire(f"user-{i}@example.com", "192.0.2.2")
            await throttle.succeeded(f"user-{i}@example.com", "192.0.2.2")
        assert await redis_client.get("tg:login:ip:192.0.2.2") == b"0"


def test_the_launchers_leave_forwarded_for_to_the_app() -> None:
    """The launchers leave X-Forwarded-For to the app (uvicorn would trust loopback)."""
    from api.supervisor import children
    from infra.settings import get_settings

    (api,) = [child for child in children(get_settings()) if child.name == "api"]
    assert "--no-proxy-headers" in api.argv
    assert "--no-proxy-headers" in processes.uvicorn_command(1)
