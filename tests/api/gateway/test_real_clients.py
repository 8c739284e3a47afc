"""Real clients against a real server: the OpenTelemetry SDK's OTLP/HTTP exporter and vmagent's
remote write, both talking to the API under uvicorn, the data then read through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from infra.local.victoriametrics import VmInstance
from tests.support import gateway as gw
from tests.support import processes
from tests.support.tenants import project_key, sign_up

WAIT_SECONDS = 15.0


@pytest.fixture(scope="module")
def api_url(
    vm_stores: list[VmInstance], migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API under uvicorn on a free port, with this test session's environment."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("uvicorn") / "api.log"
    with processes.running(processes.uvicorn_command(port), f"{url}/health", log):
        yield url


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture
async def writer(api: httpx.AsyncClient) -> gw.Writer:
    """A tenant and key made through the subprocess's API (committed for real)."""
    tenant = await sign_up(api, "realclient")
    return gw.Writer(tenant, (await project_key(api, tenant))["key"])


async def poll(
    api: httpx.AsyncClient, w: gw.Writer, promql: str, vm_stores: list[VmInstance], count: int
) -> list[dict[str, object]]:
    """Flush the stores and query until `count` series show up (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        await gw.flush(vm_stores)
        result = await gw.query(api, w, promql)
        if len(result) >= count or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


def export_with_sdk(endpoint: str, key: str, metric: str) -> MetricExportResult:
    """Record a counter and a gauge with the SDK and export them once over OTLP/HTTP."""
    exporter = OTLPMetricExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {key}"})
    results: list[MetricExportResult] = []
    export = exporter.export

    def recording_export(*args: object, **kwargs: object) -> MetricExportResult:
        result = export(*args, **kwargs)  # type: ignore[arg-type]
        results.append(result)
        return result

    exporter.export = recording_export  # type: ignore[method-assign]
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "checkout", "tenant": "someone-else"}),
        metric_readers=[reader],
    )
    meter = provider.get_meter("tollgate.tests")
    meter.create_counter(f"{metric}_requests").add(5, {"route": "/cart"})
    meter.create_up_down_counter(f"{metric}_inflight").add(3)
    provider.force_flush(timeout_millis=10_000)
    provider.shutdown(timeout_millis=10_000)
    assert results, "the SDK exported nothing"
    return results[0]


class TestOpenTelemetrySdk:
    async def test_otlp_http_exporter_writes_queryable_metrics(
        self,
        api: httpx.AsyncClient,
        api_url: str,
        writer: gw.Writer,
        vm_stores: list[VmInstance],
    ) -> None:
        metric = gw.unique_metric("otelsdk")
        endpoint = f"{api_url}/p/{writer.project_id}/otlp/v1/metrics"

        result = await asyncio.to_thread(export_with_sdk, endpoint, writer.key, metric)

        assert result is MetricExportResult.SUCCESS
        series = await poll(api, writer, f'{{__name__=~"{metric}_.*"}}', vm_stores, 2)
        by_name = {s["metric"]["__name__"]: s for s in series}  # type: ignore[index]
        assert set(by_name) == {f"{metric}_requests_total", f"{metric}_inflight"}
        requests = by_name[f"{metric}_requests_total"]
        assert requests["value"][1] == "5"  # type: ignore[index]
        labels = requests["metric"]
        assert labels["route"] == "/cart"  # type: ignore[index]
        assert labels["job"] == "checkout"  # type: ignore[index]
        assert labels["tenant"] == writer.org_id  # type: ignore[index]
        assert labels["project"] == writer.project_id  # type: ignore[index]
        usage = await gw.usage(api, writer.tenant)
        assert usage["accepted"] >= 2
        assert set(usage) == {"accepted"}

    async def test_exporter_with_an_unknown_key_fails(
        self, api: httpx.AsyncClient, api_url: str, writer: gw.Writer
    ) -> None:
        endpoint = f"{api_url}/p/{writer.project_id}/otlp/v1/metrics"

        result = await asyncio.to_thread(export_with_sdk, endpoint, "tgp_not_a_key", "never")

        assert result is MetricExportResult.FAILURE


class TestVmagentRemoteWrite:
    async def test_pushed_and_scraped_samples_are_forwarded_and_queryable(
        self,
        api: httpx.AsyncClient,
        api_url: str,
        writer: gw.Writer,
        vm_stores: list[VmInstance],
        tmp_path: Path,
    ) -> None:
        port = processes.free_port()
        metric = gw.unique_metric("vmagent")
        scrape = tmp_path / "scrape.yml"
        scrape.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: self\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        )
        command = processes.vmagent_command(
            port,
            f"{api_url}/p/{writer.project_id}/prometheus/api/v1/write",
            writer.key,
            tmp_path / "vmagent-data",
            scrape,
        )
        agent = f"http://127.0.0.1:{port}"

        with processes.running(command, f"{agent}/health", tmp_path / "vmagent.log"):
            pushed = await api.post(
                f"{agent}/api/v1/import/prometheus",
                content=gw.prom_text(metric, 5, tenant="someone-else"),
            )
            assert pushed.status_code == 204, pushed.text
            imported = await poll(api, writer, metric, vm_stores, 5)
            scraped = await poll(api, writer, 'up{job="self"}', vm_stores, 1)

        assert sorted(s["metric"]["i"] for s in imported) == ["0", "1", "2", "3", "4"]  # type: ignore[index]
        assert {s["metric"]["tenant"] for s in imported} == {writer.org_id}  # type: ignore[index]
        assert scraped[0]["value"][1] == "1"  # type: ignore[index]
        assert scraped[0]["metric"]["project"] == writer.project_id  # type: ignore[index]
        usage = await gw.usage(api, writer.tenant)
        assert usage["accepted"] >= 5 + 1
        assert set(usage) == {"accepted"}
