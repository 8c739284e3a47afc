"""Ingestion endpoints: authenticate, decode and count, admit, forward, answer (thin)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import FromPath

from api.deps import AppResources
from api.gateway.admit import (
    PayloadProblem,
    admit_or_refuse,
    count_accepted,
    record_invalid,
    store_failed,
)
from api.gateway.protocol import key_from, rate_limit_headers
from billing.quotas.base import Category
from infra import victoriametrics as vm
from telemetry.decode.errors import PayloadError
from telemetry.metrics_ingest import (
    PreparedMetrics,
    Route,
    Window,
    prepare_otlp,
    prepare_prom_text,
    prepare_remote_write,
    prepare_simple_json,
)
from tenancy.authz import authenticate_ingest
from tenancy.roles import Scope


async def _ingest(
    request: Request[Any, Any, Any],
    resources: AppResources,
    project_id: str,
    prepare: Callable[[bytes, Window], PreparedMetrics],
    ok_status: int,
) -> Response[bytes]:
    now = datetime.now(UTC)
    key = await authenticate_ingest(
        resources.key_lookup, key_from(request), project_id, Scope.METRICS_WRITE, now
    )
    # The tier decides which timestamps are stored; the admission below reads the same entry.
    tier = (await resources.admission.entitlements(key.org_id, now)).plan.tier
    try:
        prepared = prepare(await request.body(), Window.of(tier, now))
    except PayloadError as exc:
        raise PayloadProblem(exc) from None
    await record_invalid(resources, key, project_id, Category.METRICS, prepared.rejected, now)
    # A body with something to report (OTLP partial success, samples left out) answers 200.
    status = 200 if prepared.answer else ok_status
    if prepared.points == 0:
        return Response(
            prepared.answer, status_code=status, media_type=prepared.answer_type or "text/plain"
        )
    units = {Category.METRICS: prepared.points}
    admitted = await admit_or_refuse(resources, key, project_id, units, now)
    write_url = resources.settings.vm_write_url(admitted.entitlements.plan.tier)
    labels = vm.tenant_labels(key.org_id, project_id)
    try:
        if prepared.route is Route.REMOTE_WRITE:
            await vm.remote_write(resources.http, write_url, prepared.body, labels)
        else:
            await vm.import_prometheus(
                resources.http, write_url, prepared.body, labels, prepared.content_encoding
            )
    except vm.StoreUnavailableError as exc:
        raise await store_failed(resources, admitted, "metrics", exc) from None
    except vm.StoreRejectedError as exc:
        await resources.admission.refund(admitted.admission)
        await record_invalid(resources, key, project_id, Category.METRICS, prepared.points, now)
        detail = f"the metrics store refused the payload: {exc.detail}"
        raise PayloadProblem(PayloadError(detail)) from None
    count_accepted(units)
    return Response(
        prepared.answer,
        status_code=status,
        media_type=prepared.answer_type or "text/plain",
        headers=rate_limit_headers(admitted.decision, units),
    )


class MetricsIngestController(Controller):
    """Metrics in: remote write, Prometheus text, OTLP/HTTP and simple JSON."""

    path = "/p/{project_id:str}"
    tags = ["data plane"]

    @post("/prometheus/api/v1/write", operation_id="remote_write", status_code=200)
    async def remote_write(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """Prometheus remote write (snappy protobuf), forwarded unchanged."""
        encoding = request.headers.get("content-encoding")
        return await _ingest(
            request, resources, project_id, lambda b, w: prepare_remote_write(b, encoding, w), 204
        )

    @post("/prometheus/api/v1/import/prometheus", operation_id="import_prometheus", status_code=200)
    async def import_prometheus(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """Prometheus text exposition, checked strictly; the samples that will be stored are
        forwarded (gzip as sent when that is its one encoding, else decompressed)."""
        encoding = request.headers.get("content-encoding")
        return await _ingest(
            request, resources, project_id, lambda b, w: prepare_prom_text(b, encoding, w), 204
        )

    @post("/otlp/v1/metrics", operation_id="otlp_metrics", status_code=200)
    async def otlp_metrics(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """OTLP/HTTP metrics, protobuf or JSON, gzip or deflate."""
        content_type = request.headers.get("content-type")
        encoding = request.headers.get("content-encoding")
        return await _ingest(
            request,
            resources,
            project_id,
            lambda b, w: prepare_otlp(b, content_type, encoding, w),
            200,
        )

    @post("/ingest/metrics", operation_id="ingest_metrics", status_code=200)
    async def ingest_metrics(
        self, request: Request[Any, Any, Any], project_id: FromPath[str], resources: AppResources
    ) -> Response[bytes]:
        """Simple JSON: one `{metric_name, value, metric_type, labels, service_id}` or an array."""
        encoding = request.headers.get("content-encoding")
        return await _ingest(
            request, resources, project_id, lambda b, w: prepare_simple_json(b, encoding, w), 200
        )
