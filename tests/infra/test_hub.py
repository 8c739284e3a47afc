"""Tollgate registers with the hub, heartbeats and deregisters; a hub that fails or is gone
never blocks start-up or readiness. Every test talks to a real local hub server."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
from pydantic import SecretStr

from api.app import create_app
from api.resources import Resources
from infra import hub
from infra.settings import Settings
from tests.support.asgi import app_client
from tests.support.hub_server import hub_server
from workers.scheduler import SCHEDULE

HUB_KEY = "hub-secret-of-the-operator"


def with_hub(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "hub_url": url,
            "hub_api_key": SecretStr(HUB_KEY),
            "public_url": "https://tollgate.example.com",
        }
    )


async def until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds * 50)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


class TestClient:
    async def test_registration_carries_the_documented_body(self, resources: Resources) -> None:
        with hub_server() as server:
            settings = with_hub(resources.settings, server.url)
            client = hub.HubClient.of(settings, resources.http)
            assert client is not None
            await client.register(hub.registration(settings))
        (call,) = server.of("POST", "/register")
        assert call.headers["authorization"] == f"Bearer {HUB_KEY}"
        assert call.body == {
            "product_id": "tollgate",
            "name": "Tollgate",
            "version": hub.version(),
            "base_url": "https://tollgate.example.com",
            "health_url": "https://tollgate.example.com/health",
            "ready_url": "https://tollgate.example.com/ready",
            "capabilities": list(hub.CAPABILITIES),
        }

    async def test_no_hub_without_both_settings(self, resources: Resources) -> None:
        only_url = resources.settings.model_copy(update={"hub_url": "http://127.0.0.1:9"})
        assert hub.HubClient.of(only_url, resources.http) is None
        assert hub.HubClient.of(resources.settings, resources.http) is None

    async def test_registration_retries_with_backoff(self, resources: Resources) -> None:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        with hub_server() as server:
            server.fail_next(3)
            settings = with_hub(resources.settings, server.url)
            client = hub.HubClient.of(settings, resources.http)
            assert client is not None
            await hub.register_until_done(client, settings, resources.redis, sleep=sleep)
        assert waits == [1.0, 2.0, 4.0]
        assert len(server.of("POST", "/register")) == 4
        assert "tollgate" in server.registered

    async def test_a_heartbeat_the_hub_does_not_know_registers_again(
        self, resources: Resources
    ) -> None:
        with hub_server() as server:
            settings = with_hub(resources.settings, server.url)
            client = hub.HubClient.of(settings, resources.http)
            assert client is not None
            assert await hub.heartbeat_once(client, settings, resources.redis) is True
            assert "tollgate" in server.registered
            assert await hub.heartbeat_once(client, settings, resources.redis) is True
            assert await hub.status(settings, resources.redis) == "up"
            server.fail_next(1, 500)
            assert await hub.heartbeat_once(client, settings, resources.redis) is False
            assert await hub.status(settings, resources.redis) == "down"
        beats = server.of("POST", "/heartbeat")
        assert [c.path for c in beats] == ["/v1/products/tollgate/heartbeat"] * 3
        assert beats[0].body["product_id"] == "tollgate"
        assert len(server.of("POST", "/register")) == 1

    def test_the_scheduler_heartbeats_every_30_seconds(self) -> None:
        assert [p.every for p in SCHEDULE if p.actor == "hub.heartbeat"] == [30.0]


class TestLifecycle:
    async def test_the_api_registers_at_start_and_deregisters_at_shutdown(
        self, resources: Resources
    ) -> None:
        await resources.redis.delete(hub.STATUS_KEY)
        with hub_server() as server:
            app = create_app(
                resources=replace(resources, settings=with_hub(resources.settings, server.url))
            )
            async with app_client(app) as client:
                await until(lambda: "tollgate" in server.registered)
                ready = await client.get("/ready")
                assert (ready.status_code, ready.json()["hub"]) == (200, "up")
            assert server.of("DELETE", "/v1/products/tollgate")
            assert server.registered == {}

    async def test_a_failing_hub_blocks_neither_start_up_nor_readiness(
        self, resources: Resources
    ) -> None:
        await resources.redis.delete(hub.STATUS_KEY)
        with hub_server() as server:
            server.fail_next(1000)
            app = create_app(
                resources=replace(resources, settings=with_hub(resources.settings, server.url))
            )
            async with app_client(app) as client:
                await until(lambda: len(server.calls) >= 1)
                ready = await client.get("/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["hub"] == "down"
                assert (await client.get("/health")).status_code == 200

    async def test_a_hub_that_is_gone_is_down_and_shutdown_is_quick(
        self, resources: Resources
    ) -> None:
        await resources.redis.delete(hub.STATUS_KEY)
        settings = with_hub(resources.settings, "http://127.0.0.1:9")  # nothing listens
        app = create_app(resources=replace(resources, settings=settings))
        started = asyncio.get_running_loop().time()
        async with app_client(app) as client:
            ready = await client.get("/ready")
            assert (ready.status_code, ready.json()["hub"]) == (200, "down")
        assert asyncio.get_running_loop().time() - started < 5

    async def test_without_a_hub_ready_says_disabled(self, client: httpx.AsyncClient) -> None:
        ready = await client.get("/ready")
        assert ready.json()["hub"] == "disabled"
