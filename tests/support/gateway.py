"""Data-plane helpers: tenants with keys, payloads in every metrics format, PromQL reads, usage."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cramjam
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from infra.local.victoriametrics import VmInstance
from tests.support.tenants import Tenant, project_key, sign_up
from tests.telemetry.decode.builders import rw_request, rw_series

OPERATOR = {"Authorization": "Bearer tga_test_operator_token"}
PROTOBUF = "application/x-protobuf"
QUERY_WAIT_SECONDS = 8.0
Params = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class Writer:
    """A tenant and a key of one of its projects (the default one unless `project` is set)."""

    tenant: Tenant
    key: str
    project: str | None = None

    @property
    def org_id(self) -> str:
        """The org id VictoriaMetrics stores as the `tenant` label."""
        return self.tenant.org_id

    @property
    def project_id(self) -> str:
        """The project id, also the `project` label."""
        return self.project or self.tenant.project_id

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate with the project key."""
        return {"Authorization": f"Bearer {self.key}"}

    def path(self, rest: str) -> str:
        """A data-plane path of this project."""
        return f"/p/{self.project_id}/{rest.lstrip('/')}"


async def writer(client: httpx.AsyncClient, name: str = "acme", **key: Any) -> Writer:
    """Sign up a tenant and make a project key (extra arguments go to the key's body)."""
    tenant = await sign_up(client, name)
    created = await project_key(client, tenant, **key)
    return Writer(tenant, created["key"])


NewWriter = Callable[..., Awaitable[Writer]]


async def project_writer(client: httpx.AsyncClient, tenant: Tenant, **key: Any) -> Writer:
    """A new project of the tenant's org and a key of it: cheaper than a new tenant."""
    created = await client.post(
        f"/v1/orgs/{tenant.org_id}/projects",
        json={"name": f"p-{secrets.token_hex(3)}"},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    project = created.json()["id"]
    response = await client.post(
        f"/v1/projects/{project}/keys", json={"name": "test key"} | key, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    return Writer(tenant, response.json()["key"], project)


async def org_key(client: httpx.AsyncClient, tenant: Tenant, scopes: Sequence[str]) -> str:
    """An org key (`tgo_…`) with the given scopes."""
    response = await client.post(
        f"/v1/orgs/{tenant.org_id}/keys",
        json={"name": "org key", "scopes": list(scopes)},
        headers=tenant.auth,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def set_overrides(
    client: httpx.AsyncClient,
    org_id: str,
    *,
    included: int | None = None,
    rate: float | None = None,
    burst: int | None = None,
) -> None:
    """Operator overrides of the org's metrics quota and rate limit."""
    body: dict[str, Any] = {"included": {}, "rate_limits": {}}
    if included is not None:
        body["included"]["metrics"] = included
    if rate is not None:
        body["rate_limits"]["metrics"] = {"rate": rate, "burst": burst or int(rate * 10)}
    response = await client.put(f"/v1/admin/orgs/{org_id}/overrides", json=body, headers=OPERATOR)
    assert response.status_code == 200, response.text


async def usage(
    client: httpx.AsyncClient, who: Tenant | Writer, category: str = "metrics"
) -> dict[str, int]:
    """Units of a category by outcome, summed over hours, of an org or of one writer's project."""
    tenant = who.tenant if isinstance(who, Writer) else who
    response = await client.get(
        f"/v1/orgs/{tenant.org_id}/usage",
        params={"group_by": "project,category,outcome"},
        headers=tenant.auth,
    )
    assert response.status_code == 200, response.text
    totals: dict[str, int] = defaultdict(int)
    for item in response.json()["items"]:
        if item["category"] != category:
            continue
        if isinstance(who, Writer) and item["project_id"] != who.project_id:
            continue
        totals[item["outcome"]] += item["quantity"]
    return totals


# --- payloads ---------------------------------------------------------------------------------


def now_ms(offset_seconds: float = -5.0) -> int:
    """A timestamp a few seconds in the past: visible to instant queries once flushed."""
    return int((time.time() + offset_seconds) * 1000)


def unique_metric(prefix: str = "tg_test") -> str:
    """A metric name no other test uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


def prom_text(metric: str, count: int = 1, ages: Sequence[float] = (5.0,), **labels: str) -> bytes:
    """`count` series of one metric (label `i`), one sample per age (seconds in the past)."""
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return "".join(
        f'{metric}{{i="{i}"{extra}}} {i + 1} {now_ms(-age)}\n'
        for age in sorted(ages, reverse=True)
        for i in range(count)
    ).encode()


def remote_write(metric: str, count: int = 1, **labels: str) -> bytes:
    """A snappy remote-write body: `count` series of one recent sample each."""
    ts = now_ms()
    raw = rw_request(
        rw_series({"__name__": metric, "i": str(i), **labels}, [(float(i + 1), ts)])
        for i in range(count)
    )
    return bytes(cramjam.snappy.compress_raw(raw))


def _any(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def otlp_gauge(
    metric: str,
    count: int = 1,
    resource: Mapping[str, str] | None = None,
    **attributes: str,
) -> ExportMetricsServiceRequest:
    """An OTLP request with one gauge of `count` points (attribute `i` tells them apart)."""
    ts = now_ms() * 1_000_000
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        KeyValue(key=k, value=_any(v)) for k, v in (resource or {}).items()
    )
    points = []
    for i in range(count):
        attrs = [KeyValue(key="i", value=_any(str(i)))]
        attrs += [KeyValue(key=k, value=_any(v)) for k, v in attributes.items()]
        points.append(
            metrics_pb2.NumberDataPoint(time_unix_nano=ts, as_double=i + 1, attributes=attrs)
        )
    resource_metrics.scope_metrics.add().metrics.append(
        metrics_pb2.Metric(name=metric, gauge=metrics_pb2.Gauge(data_points=points))
    )
    return request


def otlp_json(request: ExportMetricsServiceRequest) -> bytes:
    """The OTLP/JSON encoding of a request (camelCase, int64 as strings)."""
    from google.protobuf import json_format

    return json_format.MessageToJson(request, indent=None).encode()


def simple_json(metric: str, count: int = 1, **labels: str) -> list[dict[str, Any]]:
    """A simple JSON array of `count` gauge values."""
    return [
        {
            "metric_name": metric,
            "value": i + 1,
            "metric_type": "gauge",
            "labels": {"i": str(i), **labels},
            "timestamp": now_ms(),
        }
        for i in range(count)
    ]


def gzipped(body: bytes) -> bytes:
    """gzip of a body."""
    return gzip.compress(body)


# --- reads -------------------------------------------------------------------------------------


async def flush(vm_stores: Iterable[VmInstance]) -> None:
    """Make fresh series searchable now (instead of after VictoriaMetrics' index flush)."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        for instance in vm_stores:
            (await http.get(f"{instance.url}/internal/force_flush")).raise_for_status()


async def query(
    client: httpx.AsyncClient, writer: Writer, promql: str, **params: str
) -> list[dict[str, Any]]:
    """An instant query through the gateway; the result vector."""
    response = await client.get(
        writer.path("prometheus/api/v1/query"),
        params={"query": promql, **params},
        headers=writer.auth,
    )
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


async def wait_for(
    client: httpx.AsyncClient,
    writer: Writer,
    promql: str,
    vm_stores: Iterable[VmInstance],
    count: int = 1,
) -> list[dict[str, Any]]:
    """Flush, then poll an instant query until it returns `count` series (bounded)."""
    await flush(vm_stores)
    deadline = time.monotonic() + QUERY_WAIT_SECONDS
    while True:
        result = await query(client, writer, promql)
        if len(result) >= count or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


FORMATS = ("text", "remote_write", "otlp", "simple_json")


def payload(fmt: str, metric: str, count: int) -> tuple[str, str, bytes]:
    """(path under /p/{project}, content type, body) of `count` samples in one ingest format."""
    if fmt == "text":
        return "prometheus/api/v1/import/prometheus", "text/plain", prom_text(metric, count)
    if fmt == "remote_write":
        return "prometheus/api/v1/write", PROTOBUF, remote_write(metric, count)
    if fmt == "otlp":
        return "otlp/v1/metrics", PROTOBUF, otlp_gauge(metric, count).SerializeToString()
    body = json.dumps(simple_json(metric, count)).encode()
    return "ingest/metrics", "application/json", body
