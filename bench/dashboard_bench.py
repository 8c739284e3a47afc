"""Dashboard data in one call vs the same PromQL sent straight to VictoriaMetrics.

Run: `.venv/bin/python -m bench.dashboard_bench [--runs 30] [--hosts 20]`.
Starts its own VictoriaMetrics (temp dir), migrates the `tollgate_bench_dashboard` database, runs
the API under uvicorn (one worker), signs a tenant up over HTTP, lifts its limits with the
operator API and imports 24 h of node-exporter-like series at a 60 s scrape interval through the
gateway. Then, for dashboards of 6 and 20 PromQL panels over 1 h and 24 h, it times
`GET …/dashboards/{id}/data` (variables resolved, every panel's queries at once) against the
same range queries sent directly to VictoriaMetrics, concurrently, with the same step and the
same extra_label pinning. Calls alternate (direct, dashboard) against drift. Issue 14's target:
a 6-panel dashboard over 24 h answers p95 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway_ingest_bench import ADMIN_TOKEN, DB_NAME, bench_env, dict_of, percentile
from infra.bootstrap import migrate
from infra.local import victoriametrics as vmlocal
from infra.settings import TIER_RETENTION_DAYS, Settings, Tier
from telemetry.dashboards.data import choose_step
from tests.support import processes

BENCH_DB = "tollgate_bench_dashboard"
SCRAPE_SECONDS = 60
SEL = 'job="node",instance=~"$instance"'
PANELS = [
    f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle",{SEL}}}[5m])))',
    f"avg by (instance) (node_load1{{{SEL}}})",
    f"100 * (1 - node_memory_MemAvailable_bytes{{{SEL}}} / node_memory_MemTotal_bytes{{{SEL}}})",
    f"sum by (instance) (rate(node_network_receive_bytes_total{{{SEL}}}[5m])) * 8",
    f"sum by (instance) (rate(node_network_transmit_bytes_total{{{SEL}}}[5m])) * 8",
    f"sum by (mode) (rate(node_cpu_seconds_total{{{SEL}}}[5m]))",
    f"max by (instance) (node_load5{{{SEL}}})",
    f"avg(node_load15{{{SEL}}})",
    f"sum(node_memory_MemTotal_bytes{{{SEL}}})",
    f"count(node_load1{{{SEL}}})",
    f'sum by (instance, cpu) (rate(node_cpu_seconds_total{{mode="user",{SEL}}}[5m]))',
    f'sum by (instance, cpu) (rate(node_cpu_seconds_total{{mode="system",{SEL}}}[5m]))',
    f'sum by (instance) (rate(node_cpu_seconds_total{{mode="iowait",{SEL}}}[5m]))',
    f"topk(5, avg by (instance) (node_load1{{{SEL}}}))",
    f"sum by (device) (rate(node_network_receive_bytes_total{{{SEL}}}[5m]))",
    f"sum by (device) (rate(node_network_transmit_bytes_total{{{SEL}}}[5m]))",
    f"min by (instance) (node_memory_MemAvailable_bytes{{{SEL}}})",
    f"stddev(node_load1{{{SEL}}})",
    f"quantile(0.9, node_load1{{{SEL}}})",
    f"sum(rate(node_cpu_seconds_total{{{SEL}}}[5m]))",
]


def series_lines(hosts: int, ts_ms: int, step_index: int) -> list[str]:
    """One scrape of every host."""
    lines = []
    for h in range(hosts):
        base = f'job="node",instance="host-{h}:9100"'
        for cpu in range(2):
            for mode, share in (("idle", 0.7), ("user", 0.2), ("system", 0.07), ("iowait", 0.03)):
                value = step_index * SCRAPE_SECONDS * share
                lines.append(
                    f'node_cpu_seconds_total{{{base},cpu="{cpu}",mode="{mode}"}} {value} {ts_ms}'
                )
        load = 1 + (h % 5) * 0.3 + (step_index % 60) / 100
        for name, factor in (("node_load1", 1.0), ("node_load5", 0.9), ("node_load15", 0.8)):
            lines.append(f"{name}{{{base}}} {load * factor:.3f} {ts_ms}")
        lines.append(f"node_memory_MemTotal_bytes{{{base}}} 16e9 {ts_ms}")
        lines.append(
            f"node_memory_MemAvailable_bytes{{{base}}} {8e9 + (step_index % 100) * 1e7} {ts_ms}"
        )
        for device in ("eth0", "lo"):
            for direction in ("receive", "transmit"):
                value = step_index * SCRAPE_SECONDS * 1e5
                name = f"node_network_{direction}_bytes_total"
                lines.append(f'{name}{{{base},device="{device}"}} {value} {ts_ms}')
    return lines


def dashboard(panels: int) -> dict[str, Any]:
    """A node-exporter-like dashboard with $job and $instance query variables."""
    return {
        "title": f"Bench {panels} panels",
        "variables": [
            {
                "name": "instance",
                "kind": "query",
                "query": 'label_values(node_load1{job="node"}, instance)',
                "multi": True,
                "include_all": True,
            }
        ],
        "panels": [
            {
                "id": n + 1,
                "type": "timeseries",
                "title": f"panel {n + 1}",
                "grid": {"x": (n % 2) * 12, "y": (n // 2) * 8, "w": 12, "h": 8},
                "queries": [{"ref": "A", "expr": expr}],
            }
            for n, expr in enumerate(PANELS[:panels])
        ],
    }


async def setup(api: httpx.AsyncClient, hosts: int) -> tuple[str, str, str]:
    """Tenant, limits lifted, 24 h of data; (org, project, session token)."""
    signup = await api.post(
        "/v1/auth/signup",
        json={
            "email": f"dash-bench-{secrets.token_hex(4)}@example.com",
            "password": "correct horse battery",
            "name": "Bench",
            "org_name": "Bench",
        },
    )
    signup.raise_for_status()
    data = signup.json()
    org, project, token = data["org"]["id"], data["project"]["id"], data["token"]
    auth = {"Authorization": f"Bearer {token}"}
    key = await api.post(f"/v1/projects/{project}/keys", json={"name": "bench"}, headers=auth)
    key.raise_for_status()
    overrides = await api.put(
        f"/v1/admin/orgs/{org}/overrides",
        json={
            "included": {"metrics": 10**15},
            "rate_limits": {"metrics": {"rate": 1e9, "burst": 10**12}},
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    overrides.raise_for_status()
    now_ms = int(time.time() * 1000)
    steps = 24 * 3600 // SCRAPE_SECONDS
    chunk: list[str] = []
    sent = 0
    for i in range(steps + 1):
        chunk += series_lines(hosts, now_ms - (steps - i) * SCRAPE_SECONDS * 1000, i)
        if len(chunk) > 50_000 or i == steps:
            response = await api.post(
                f"/p/{project}/prometheus/api/v1/import/prometheus",
                content=("\n".join(chunk) + "\n").encode(),
                headers={"Authorization": f"Bearer {key.json()['key']}"},
            )
            response.raise_for_status()
            sent += len(chunk)
            chunk = []
    print(f"imported {sent:,} samples ({hosts} hosts, 24 h at {SCRAPE_SECONDS} s)")
    return org, project, token


async def direct(
    api: httpx.AsyncClient, vm_url: str, exprs: list[str], args: list[tuple[str, Any]]
) -> None:
    """The same range queries straight to VictoriaMetrics, concurrently."""
    answers = await asyncio.gather(
        *(
            api.post(f"{vm_url}/api/v1/query_range", data=dict_of([("query", e), *args]))
            for e in exprs
        )
    )
    for answer in answers:
        answer.raise_for_status()


async def measure(
    api: httpx.AsyncClient, vm_url: str, org: str, project: str, token: str, runs: int
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    labels = [("extra_label", f"tenant={org}"), ("extra_label", f"project={project}")]
    rows = []
    for panels in (6, 20):
        created = await api.post(
            f"/v1/projects/{project}/dashboards", json=dashboard(panels), headers=auth
        )
        created.raise_for_status()
        url = f"/v1/projects/{project}/dashboards/{created.json()['id']}/data"
        for hours in (1, 24):
            end = int(time.time())
            start = end - hours * 3600
            step = choose_step_seconds(hours)
            exprs = [e.replace('=~"$instance"', '=~".*"') for e in PANELS[:panels]]

            timings: dict[str, list[float]] = {"direct": [], "dashboard": []}
            points = 0
            for _ in range(runs):
                began = time.perf_counter()
                await direct(
                    api,
                    vm_url,
                    exprs,
                    [("start", start), ("end", end), ("step", f"{step}s"), *labels],
                )
                timings["direct"].append(time.perf_counter() - began)
                began = time.perf_counter()
                answer = await api.get(
                    url, params={"from": str(start), "to": str(end)}, headers=auth
                )
                timings["dashboard"].append(time.perf_counter() - began)
                answer.raise_for_status()
                body = answer.json()
                points = sum(
                    len(s["points"])
                    for p in body["panels"]
                    for q in p["queries"]
                    for s in q.get("series", [])
                )
                failed = [q for p in body["panels"] for q in p["queries"] if q["status"] != "ok"]
                if failed:
                    raise RuntimeError(f"panel query failed: {failed[0]}")
            rows.append((panels, hours, step, points, timings))
    print()
    print("panels  range  step   points | dashboard p50 / p95 ms | direct p50 / p95 ms")
    for panels, hours, step, points, timings in rows:
        d, v = timings["dashboard"], timings["direct"]
        print(
            f"{panels:>6}  {hours:>3} h  {step:>4}s {points:>8,} | "
            f"{statistics.median(d) * 1000:>8.1f} / {percentile(d, 0.95) * 1000:>6.1f}      | "
            f"{statistics.median(v) * 1000:>6.1f} / {percentile(v, 0.95) * 1000:>6.1f}"
        )


def choose_step_seconds(hours: int) -> int:
    """The step the data call picks for the range with the default 600 points."""
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC)
    return choose_step(end - timedelta(hours=hours), end, 600, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="calls per case")
    parser.add_argument("--hosts", type=int, default=20, help="node-exporter-like hosts")
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-dash-bench-"))
    vm_port, api_port = processes.free_port(), processes.free_port()
    instance = vmlocal.VmInstance(
        Tier.SHORT, "127.0.0.1", vm_port, TIER_RETENTION_DAYS[Tier.SHORT], tmp / "vm"
    )
    env = {
        k: v.replace(DB_NAME, BENCH_DB) for k, v in bench_env(instance.url, tmp / "data").items()
    }
    try:
        binary = vmlocal.ensure_binary(processes.ROOT / ".cache")
        vmlocal.start(instance, binary, memory_allowed_bytes=1 << 30)
        os.environ.update(
            {k: v for k, v in env.items() if k.startswith(("DATABASE_", "TOLLGATE_"))}
        )
        migrate(Settings())
        api_url = f"http://127.0.0.1:{api_port}"
        command = processes.uvicorn_command(api_port, workers=1)
        with processes.running(command, f"{api_url}/health", tmp / "api.log", env=env):

            async def go() -> None:
                async with httpx.AsyncClient(
                    base_url=api_url, timeout=60.0, trust_env=False
                ) as api:
                    org, project, token = await setup(api, args.hosts)
                    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as flush:
                        (await flush.get(f"{instance.url}/internal/force_flush")).raise_for_status()
                    await asyncio.sleep(1.5)
                    await measure(api, instance.url, org, project, token, args.runs)

            asyncio.run(go())
    finally:
        vmlocal.stop(instance)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
