"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from api.deps import AppResources
from infra import hub
from infra.health import probe_all


class HealthController(Controller):
    """`/health` says the process is up; `/ready` says whether it can serve."""

    tags = ["system"]
    include_in_schema = True

    @get("/health", operation_id="health", exclude_from_auth=True, cache_control=None)
    async def health(self) -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @get("/ready", operation_id="ready", exclude_from_auth=True)
    async def ready(self, resources: AppResources) -> Response[dict[str, Any]]:
        """Readiness: every dependency answers; 503 names the ones that do not."""
        settings = resources.settings
        probes = await probe_all(settings, resources.engine, resources.redis, resources.http)
        down = [p.name for p in probes if not p.ok]
        body: dict[str, Any] = {
            "status": "ok" if not down else "unavailable",
            "checks": {p.name: {"ok": p.ok, "detail": p.detail} for p in probes},
            "log_store_backend": settings.log_store_backend,
            # optional: the hub being away never makes Tollgate unready
            "hub": await hub.status(settings, resources.redis),
        }
        if down:
            body["down"] = down
        return Response(body, status_code=503 if down else 200)
