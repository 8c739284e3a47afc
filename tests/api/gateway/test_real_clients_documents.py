"""The unmodified OpenTelemetry SDK's OTLP/HTTP log and span exporters against the API under
uvicorn, on each log/trace store: PostgreSQL (the default) and OpenSearch (osmem-server)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support import gateway as gw
from tests.support import processes
from tests.support.osmem import opensearch_url
from tests.support.tenants import project_key, sign_up

__all__ = ["opensearch_url"]

WAIT_SECONDS = 15.0


@pytest.fixture(scope="module", params=["postgres", "opensearch"])
def backend(request: pytest.FixtureRequest) -> str:
    """The log/trace store the API under test is configured with."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def api_url(
    request: pytest.FixtureRequest,
    backend: str,
    migrated_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The API under uvicorn with logs and spans in PostgreSQL, then in OpenSearch (osmem)."""
    env = dict(os.environ)
    env.pop("OPENSEARCH_URL", None)
    if backend == "opensearch":
        env["OPENSEARCH_URL"] = request.getfixturevalue("opensearch_url")
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp(f"uvicorn-{backend}") / "api.log"
    with processes.running(processes.uvicorn_command(port), f"{url}/health", log, env=env):
        ready = httpx.get(f"{url}/ready", timeout=10.0, trust_env=False).json()
        assert ready["log_store_backend"] == backend, ready
        yield url


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture
async def writer(api: httpx.AsyncClient) -> gw.Writer:
    """A tenant and key made through the subprocess's API (committed for real)."""
    tenant = await sign_up(api, "otelsdk")
    return gw.Writer(tenant, (await project_key(api, tenant))["key"])


@dataclass(frozen=True)
class Emitted:
    """What the SDK sent: ids as the API shows them (lower-case hex)."""

    trace_id: str
    root_span_id: str
    child_span_id: str
    grandchild_span_id: str
    message: str
    results: list[str]


def recording(exporter: Any, results: list[str]) -> Any:
    """The exporter, with each export's result appended to `results` (the SDK drops them)."""
    export = exporter.export

    def recorded(*args: Any, **kwargs: Any) -> Any:
        result = export(*args, **kwargs)
        results.append(result.name)
        return result

    exporter.export = recorded
    return exporter


def emit_with_sdk(api_url: str, w: gw.Writer, word: str) -> Emitted:
    """Nested spans of two services and a stdlib log line inside the inner one, exported by the
    SDK's OTLP/HTTP exporters (protobuf) as soon as each ends."""
    headers = {"Authorization": f"Bearer {w.key}"}
    base = f"{api_url}/p/{w.project_id}/otlp/v1"
    results: list[str] = []

    def tracer_provider(service: str) -> TracerProvider:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=f"{base}/traces", headers=headers, timeout=10)
        provider.add_span_processor(SimpleSpanProcessor(recording(exporter, results)))
        return provider

    frontend, checkout = tracer_provider("frontend"), tracer_provider("checkout")
    log_provider = LoggerProvider(
        resource=Resource.create({"service.name": "checkout", "tenant": "someone-else"})
    )
    log_exporter = OTLPLogExporter(endpoint=f"{base}/logs", headers=headers, timeout=10)
    log_provider.add_log_record_processor(
        SimpleLogRecordProcessor(recording(log_exporter, results))
    )
    with warnings.catch_warnings():
        # Deprecated in favour of opentelemetry-instrumentation-logging; still the SDK's own.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.INFO, logger_provider=log_provider)
    logger = logging.getLogger(f"tollgate.tests.otel.{word}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    message = f"payment declined for order {word}"
    try:
        with (
            frontend.get_tracer("web").start_as_current_span("GET /checkout") as root,
            checkout.get_tracer("shop").start_as_current_span("place order") as child,
        ):
            logger.warning(message, extra={"order_id": word})
            with checkout.get_tracer("shop").start_as_current_span("charge") as grandchild:
                time.sleep(0.005)
    finally:
        logger.removeHandler(handler)
        for provider in (frontend, checkout):
            provider.shutdown()
        log_provider.shutdown()
    return Emitted(
        trace_id=f"{root.get_span_context().trace_id:032x}",
        root_span_id=f"{root.get_span_context().span_id:016x}",
        child_span_id=f"{child.get_span_context().span_id:016x}",
        grandchild_span_id=f"{grandchild.get_span_context().span_id:016x}",
        message=message,
        results=results,
    )


async def eventually(
    read: Callable[[], Awaitable[httpx.Response]], done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """Read until `done` (OpenSearch makes writes searchable at its next refresh); bounded."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = await read()
        if done(response) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.25)


def items(response: httpx.Response) -> list[dict[str, Any]]:
    if response.status_code != 200:
        return []
    found: list[dict[str, Any]] = response.json()["items"]
    return found


class TestOpenTelemetrySdkDocuments:
    async def test_sdk_logs_and_spans_are_searchable_and_browsable(
        self,
        request: pytest.FixtureRequest,
        api: httpx.AsyncClient,
        api_url: str,
        backend: str,
        writer: gw.Writer,
    ) -> None:
        word = f"w{secrets.token_hex(5)}"

        sent = await asyncio.to_thread(emit_with_sdk, api_url, writer, word)

        assert sent.results == ["SUCCESS"] * 4  # 3 spans, each ended alone, and 1 log record
        found = await eventually(
            lambda: api.post(writer.path("logs/search"), json={"query": word}, headers=writer.auth),
            lambda r: bool(items(r)),
        )
        assert found.status_code == 200, found.text
        [record] = items(found)
        assert record["body"] == sent.message
        assert record["level"] == "WARN"
        assert record["service"] == "checkout"
        assert record["trace_id"] == sent.trace_id
        assert record["span_id"] == sent.child_span_id
        assert record["attributes"]["order_id"] == word
        assert record["project"] == writer.project_id
        by_trace = await api.post(
            writer.path("logs/search"), json={"trace_id": sent.trace_id}, headers=writer.auth
        )
        assert [r["body"] for r in items(by_trace)] == [sent.message]

        tree_response = await eventually(
            lambda: api.get(writer.path(f"traces/{sent.trace_id}"), headers=writer.auth),
            lambda r: r.status_code == 200 and r.json()["span_count"] == 3,
        )
        assert tree_response.status_code == 200, tree_response.text
        tree = tree_response.json()
        assert tree["span_count"] == 3
        [root] = tree["roots"]
        assert (root["span_id"], root["service"], root["name"]) == (
            sent.root_span_id,
            "frontend",
            "GET /checkout",
        )
        [child] = root["children"]
        assert (child["span_id"], child["service"], child["name"]) == (
            sent.child_span_id,
            "checkout",
            "place order",
        )
        [grandchild] = child["children"]
        assert (grandchild["span_id"], grandchild["name"]) == (sent.grandchild_span_id, "charge")
        assert grandchild["children"] == []

        logs = await api.get(writer.path(f"traces/{sent.trace_id}/logs"), headers=writer.auth)
        assert logs.status_code == 200, logs.text
        assert [(r["body"], r["span_id"]) for r in items(logs)] == [
            (sent.message, sent.child_span_id)
        ]
        units = {c: await gw.usage(api, writer, c) for c in ("logs", "traces", "spans")}
        assert units["traces"] == {"accepted": 1}
        assert units["spans"] == {"accepted": 3}
        assert set(units["logs"]) == {"accepted"}
        if backend == "opensearch":
            # The documents are in the cluster itself, not in PostgreSQL behind its back.
            url = request.getfixturevalue("opensearch_url")
            count = await api.post(
                f"{url}/logs-*,spans-*/_count",
                json={"query": {"term": {"trace_id": sent.trace_id}}},
            )
            assert count.json()["count"] == 1 + 3, count.text

    async def test_another_tenant_sees_none_of_it(
        self, api: httpx.AsyncClient, api_url: str, writer: gw.Writer
    ) -> None:
        word = f"w{secrets.token_hex(5)}"
        sent = await asyncio.to_thread(emit_with_sdk, api_url, writer, word)
        assert sent.results == ["SUCCESS"] * 4
        other = await sign_up(api, "nosy")
        nosy = gw.Writer(other, (await project_key(api, other))["key"])
        # Wait until the owner can see it, so that "nothing" below is not just "not yet".
        own = await eventually(
            lambda: api.get(writer.path(f"traces/{sent.trace_id}/logs"), headers=writer.auth),
            lambda r: bool(items(r)),
        )
        assert items(own)

        search = await api.post(
            nosy.path("logs/search"),
            json={"query": f"{word} OR tenant:{writer.org_id}", "trace_id": sent.trace_id},
            headers=nosy.auth,
        )
        assert search.status_code in (200, 400), search.text
        assert items(search) == []
        trace = await api.get(nosy.path(f"traces/{sent.trace_id}"), headers=nosy.auth)
        assert trace.status_code == 404
        foreign = await api.get(writer.path(f"traces/{sent.trace_id}"), headers=nosy.auth)
        assert foreign.status_code == 404
