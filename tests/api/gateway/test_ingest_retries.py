"""A resent log or span body is stored once and billed once, on both log/trace stores: what the
usage shows as accepted is what the store holds, and a partly new body bills only its new part."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.app import create_app
from api.resources import Resources
from infra.http import create_http_client
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings
from tests.support import gateway as gw
from tests.support.asgi import app_client
from tests.support.osmem import opensearch_url

__all__ = ["opensearch_url"]
PROTOBUF = {"content-type": "application/x-protobuf"}
START = datetime.now(UTC) - timedelta(seconds=2)  # a resent span has the same start time


@pytest.fixture(scope="module", params=["postgres", "opensearch"])
async def client(
    request: pytest.FixtureRequest,
    settings: Settings,
    app_engine: AsyncEngine,
    vm_stores: list[VmInstance],
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on each log/trace store in turn (OpenSearch: osmem-server)."""
    if request.param == "opensearch":
        settings = settings.model_copy(
            update={"opensearch_url": request.getfixturevalue("opensearch_url")}
        )
    async with app_engine.connect() as conn:
        transaction = await conn.begin()
        redis = aioredis.Redis.from_url(settings.redis_url)
        http = create_http_client()
        resources = Resources(
            settings=settings,
            engine=app_engine,
            session_factory=async_sessionmaker(
                bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
            ),
            redis=redis,
            http=http,
            owned=False,
        )
        try:
            assert resources.settings.log_store_backend == request.param
            async with app_client(create_app(resources=resources)) as client:
                yield client
        finally:
            await resources.telemetry.close()
            await http.aclose()
            await redis.aclose()
            await transaction.rollback()


async def new_writer(client: httpx.AsyncClient) -> gw.Writer:
    return await gw.writer(client, "retry")


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def logs_body(*messages: str) -> bytes:
    at = _ns(datetime.now(UTC) - timedelta(seconds=1))
    records = [
        logs_pb2.LogRecord(time_unix_nano=at, body=AnyValue(string_value=m)) for m in messages
    ]
    return ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=records)])]
    ).SerializeToString()


def spans_body(trace_id: str, *spans: tuple[str, str]) -> bytes:
    """Spans of one trace as (span id, parent id or "") pairs, all of service `web`."""
    built = [
        trace_pb2.Span(
            trace_id=bytes.fromhex(trace_id),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent),
            name="GET /",
            start_time_unix_nano=_ns(START),
            end_time_unix_nano=_ns(START + timedelta(milliseconds=5)),
        )
        for span_id, parent in spans
    ]
    service = KeyValue(key="service.name", value=AnyValue(string_value="web"))
    return ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [service]}, scope_spans=[trace_pb2.ScopeSpans(spans=built)]
            )
        ]
    ).SerializeToString()


async def send(client: httpx.AsyncClient, w: gw.Writer, what: str, body: bytes) -> None:
    response = await client.post(w.path(f"otlp/v1/{what}"), content=body, headers=w.auth | PROTOBUF)
    assert response.status_code == 200, response.text


async def stored_logs(client: httpx.AsyncClient, w: gw.Writer) -> list[str]:
    response = await client.post(w.path("logs/search"), json={"limit": 100}, headers=w.auth)
    assert response.status_code == 200, response.text
    return sorted(item["body"] for item in response.json()["items"])


async def stored_spans(client: httpx.AsyncClient, w: gw.Writer, trace_id: str) -> int:
    response = await client.get(w.path(f"traces/{trace_id}"), headers=w.auth)
    if response.status_code == 404:
        return 0
    assert response.status_code == 200, response.text
    return len(response.json()["spans"])


class TestRetriesAreBilledOnce:
    async def test_a_resent_logs_body_is_stored_and_billed_once(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await new_writer(client)
        body = logs_body("first try", "second record")
        await send(client, w, "logs", body)
        billed = await gw.usage(client, w, "logs")
        assert billed["accepted"] > 0

        await send(client, w, "logs", body)  # the exporter's retry after a lost answer

        assert await stored_logs(client, w) == ["first try", "second record"]
        assert await gw.usage(client, w, "logs") == billed  # no store_unavailable either

    async def test_a_resent_spans_body_bills_its_trace_and_spans_once(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await new_writer(client)
        trace = secrets.token_hex(16)
        root, child = secrets.token_hex(8), secrets.token_hex(8)
        body = spans_body(trace, (root, ""), (child, root))
        for _ in range(3):
            await send(client, w, "traces", body)

        assert await stored_spans(client, w, trace) == 2
        assert dict(await gw.usage(client, w, "traces")) == {"accepted": 1}
        assert dict(await gw.usage(client, w, "spans")) == {"accepted": 2}

    async def test_a_partly_new_body_bills_only_what_is_new(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await new_writer(client)
        trace, other = secrets.token_hex(16), secrets.token_hex(16)
        root, child, late = (secrets.token_hex(8) for _ in range(3))
        await send(client, w, "traces", spans_body(trace, (root, ""), (child, root)))
        # The retry carries one more child of the same trace, and a trace of its own is new.
        await send(client, w, "traces", spans_body(trace, (root, ""), (child, root), (late, root)))
        await send(client, w, "traces", spans_body(other, (root, "")))

        assert await stored_spans(client, w, trace) == 3
        assert await stored_spans(client, w, other) == 1
        assert dict(await gw.usage(client, w, "traces")) == {"accepted": 2}
        assert dict(await gw.usage(client, w, "spans")) == {"accepted": 4}

    async def test_logs_billed_equal_the_bytes_stored(self, client: httpx.AsyncClient) -> None:
        w, fresh = await new_writer(client), await new_writer(client)
        repeated = logs_body("a record sent twice")
        await send(client, w, "logs", repeated)
        await send(client, w, "logs", repeated)
        await send(client, fresh, "logs", repeated)

        # The same body once into a fresh project bills exactly what the retried one billed.
        assert await gw.usage(client, w, "logs") == await gw.usage(client, fresh, "logs")
