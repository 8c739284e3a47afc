"""Liveness, readiness, metrics and OpenAPI."""

from __future__ import annotations

from dataclasses import replace

import httpx

from api.app import create_app
from api.resources import Resources
from tests.support.asgi import app_client


class TestHealth:
    async def test_health_answers_without_dependencies(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReady:
    async def test_ready_lists_every_dependency(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ready")
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
        assert set(checks) == {
            "postgres",
            "redis",
            "victoriametrics_short",
            "victoriametrics_standard",
            "victoriametrics_long",
            "log_store",
        }
        assert all(check["ok"] for check in checks.values())
        assert response.json()["log_store_backend"] == "postgres"

    async def test_ready_names_a_tier_that_is_down(self, resources: Resources) -> None:
        dead = "http://127.0.0.1:9"  # discard port: nothing listens
        settings = resources.settings.model_copy(
            update={"vm_long_read_url": dead, "vm_long_write_url": dead}
        )
        app = create_app(resources=replace(resources, settings=settings))
        async with app_client(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["down"] == ["victoriametrics_long"]
        assert response.json()["checks"]["victoriametrics_short"]["ok"] is True


class TestMetrics:
    async def test_metrics_count_requests_by_route_and_status(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/health")
        body = (await client.get("/metrics")).text
        assert 'tollgate_requests_total{app_name="tollgate",method="GET",path="/health"' in body
        assert "tollgate_request_duration_seconds_bucket" in body
        assert "process_resident_memory_bytes" in body
        assert 'tollgate_queue_depth{queue="default"}' in body


class TestOpenApi:
    async def test_schema_is_served_as_json(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/schema/openapi.json")
        assert response.status_code == 200
        assert "/ready" in response.json()["paths"]
