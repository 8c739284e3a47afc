"""Gateway overhead, end to end: the same payloads through the API and straight to VictoriaMetrics.

Run: `.venv/bin/python -m bench.gateway_ingest_bench [--seconds 6] [--clients 4] [--workers 2]`.
Starts its own VictoriaMetrics (temp dir), migrates the `tollgate_bench_gateway` database, runs
the API under uvicorn with `--workers`, makes a tenant and key over HTTP and lifts its limits
with the operator API, then measures:
  (a) ingest samples/s with concurrent keep-alive clients, 10k samples per request, for the
      Prometheus text import and remote write, gateway vs direct (direct = VictoriaMetrics with
      the same extra_label arguments the gateway adds);
  (c) instant-query latency, gateway vs direct, interleaved, and the added milliseconds.
Each ingest side runs twice (direct, gateway, gateway, direct) against drift, and the CPU time of
the API workers, VictoriaMetrics and the client per request is read from /proc: on a small machine
they share the cores, so the gateway/direct ratio is mostly the gateway's CPU per sample.
`--only text|"remote write"` measures one format; `--profile DIR` runs py-spy (pip install
py-spy) on the API workers during the gateway runs and writes collapsed stacks there.
About 45-60 s with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cramjam
import httpx

from infra.bootstrap import migrate
from infra.local import victoriametrics as vmlocal
from infra.settings import TIER_RETENTION_DAYS, Settings, Tier
from tests.support import processes
from tests.telemetry.decode.builders import rw_request, rw_series

DB_NAME = "tollgate_bench_gateway"
ADMIN_TOKEN = "tga_bench_" + secrets.token_hex(8)
SERIES = 10_000
QUERIES = 300
Params = list[tuple[str, str | int | float | bool | None]]


@dataclass
class Run:
    """One measured ingest run."""

    name: str
    samples: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group

    @property
    def rate(self) -> float:
        return self.samples / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PIDS: dict[str, list[int]] = {}  # process group -> pids, filled once the servers run


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def cpu_snapshot() -> dict[str, float]:
    snapshot = {name: cpu_seconds(pids) for name, pids in PIDS.items()}
    snapshot["client"] = time.process_time()
    return snapshot


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- payloads -----------------------------------------------------------------------------------


def text_body(ts_ms: int) -> bytes:
    """10k samples of one scrape-like family, one per series."""
    return "".join(
        f'bench_requests_total{{job="api",instance="host-{i % 50}:9100",path="/p/{i}"}} '
        f"{i} {ts_ms}\n"
        for i in range(SERIES)
    ).encode()


def remote_write_body(ts_ms: int) -> bytes:
    """The same 10k samples as snappy remote write."""
    raw = rw_request(
        rw_series(
            {
                "__name__": "bench_rw_total",
                "job": "api",
                "instance": f"host-{i % 50}:9100",
                "path": f"/p/{i}",
            },
            [(float(i), ts_ms)],
        )
        for i in range(SERIES)
    )
    return bytes(cramjam.snappy.compress_raw(raw))


# --- services -----------------------------------------------------------------------------------


def bench_env(vm_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TOLLGATE_ENV": "dev",
            "DATABASE_URL": f"postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/{DB_NAME}",
            "DATABASE_ADMIN_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "TOLLGATE_DATA_DIR": str(data_dir),
            "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "TOLLGATE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "LOG_LEVEL": "WARNING",
            **{
                f"VM_{tier.value.upper()}_{mode}_URL": vm_url
                for tier in Tier
                for mode in ("WRITE", "READ")
            },
        }
    )
    return env


async def make_tenant(api: httpx.AsyncClient) -> tuple[str, str, str]:
    """Sign up over HTTP, make a project key, lift every limit; (org, project, key)."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    signup = await api.post(
        "/v1/auth/signup",
        json={
            "email": email,
            "password": "correct horse battery",
            "name": "Bench",
            "org_name": "Bench",
        },
    )
    signup.raise_for_status()
    data = signup.json()
    org, project, token = data["org"]["id"], data["project"]["id"], data["token"]
    key = await api.post(
        f"/v1/projects/{project}/keys",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {token}"},
    )
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
    return org, project, key.json()["key"]


# --- measurements -------------------------------------------------------------------------------


async def ingest(
    client: httpx.AsyncClient,
    name: str,
    url: str,
    params: Params,
    headers: dict[str, str],
    bodies: list[bytes],
    seconds: float,
    clients: int,
) -> Run:
    """`clients` concurrent keep-alive senders cycling through `bodies` for `seconds`."""
    latencies: list[float] = []
    counters = {"requests": 0, "errors": 0}
    deadline = time.perf_counter() + seconds

    async def sender(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += clients
            start = time.perf_counter()
            response = await client.post(url, params=params, content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code >= 300:
                counters["errors"] += 1
                if counters["errors"] == 1:
                    print(f"  {name}: HTTP {response.status_code} {response.text[:200]}")
            else:
                counters["requests"] += 1

    before = cpu_snapshot()
    start = time.perf_counter()
    await asyncio.gather(*(sender(n) for n in range(clients)))
    elapsed = time.perf_counter() - start
    after = cpu_snapshot()
    return Run(
        name,
        counters["requests"] * SERIES,
        counters["requests"],
        counters["errors"],
        elapsed,
        latencies,
        {name: after[name] - before[name] for name in after},
    )


async def queries(
    client: httpx.AsyncClient,
    gateway_url: str,
    key: str,
    direct_url: str,
    labels: Params,
    promql: str,
) -> tuple[list[float], list[float]]:
    """Interleaved instant queries; per-query seconds for the gateway and for direct."""
    gateway, direct = [], []
    for _ in range(QUERIES):
        start = time.perf_counter()
        d = await client.post(direct_url, data=dict_of([("query", promql), *labels]))
        direct.append(time.perf_counter() - start)
        start = time.perf_counter()
        g = await client.get(
            gateway_url, params={"query": promql}, headers={"Authorization": f"Bearer {key}"}
        )
        gateway.append(time.perf_counter() - start)
        if d.status_code != 200 or g.status_code != 200:
            raise RuntimeError(f"query failed: direct {d.status_code}, gateway {g.text[:200]}")
        if d.json()["data"] != g.json()["data"]:
            raise RuntimeError("the gateway and the store answered differently")
    return gateway, direct


def merge(runs: list[Run]) -> Run:
    """Several runs of one side as one."""
    return Run(
        runs[0].name,
        sum(r.samples for r in runs),
        sum(r.requests for r in runs),
        sum(r.errors for r in runs),
        sum(r.seconds for r in runs),
        [x for r in runs for x in r.latencies],
        {name: sum(r.cpu.get(name, 0.0) for r in runs) for name in runs[0].cpu},
    )


def profile(args: argparse.Namespace, fmt: str) -> list[subprocess.Popen[bytes]]:
    """py-spy (collapsed stacks) on every API worker for the length of one run."""
    if not args.profile:
        return []
    args.profile.mkdir(parents=True, exist_ok=True)
    children = Path(f"/proc/{args.api_pid}/task/{args.api_pid}/children").read_text().split()
    spy = Path(sys.executable).with_name("py-spy")
    duration = str(max(1, int(args.seconds / 2)))
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "-p",
                pid,
                "-d",
                duration,
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(args.profile / f"{fmt.replace(' ', '_')}-{pid}-{time.monotonic_ns()}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in children
    ]


def dict_of(pairs: Params) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(str(v))
    return out


async def run(args: argparse.Namespace, api_url: str, vm_url: str) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=api_url, timeout=60.0, limits=limits, trust_env=False
    ) as client:
        org, project, key = await make_tenant(client)
        labels: Params = [("extra_label", f"tenant={org}"), ("extra_label", f"project={project}")]
        auth = {"Authorization": f"Bearer {key}"}
        now = int(time.time() * 1000) - 600_000
        text = [text_body(now + n * 15) for n in range(16)]
        rw = [remote_write_body(now + n * 15) for n in range(16)]
        text_headers = {"Content-Type": "text/plain"}
        rw_headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        paths = {
            "text": ("prometheus/api/v1/import/prometheus", "api/v1/import/prometheus"),
            "remote write": ("prometheus/api/v1/write", "api/v1/write"),
        }
        # Create the series and warm both workers' caches before measuring.
        for _ in range(8):
            for fmt, bodies, headers in (
                ("text", text, text_headers),
                ("remote write", rw, rw_headers),
            ):
                gw_path, vm_path = paths[fmt]
                (
                    await client.post(
                        f"{vm_url}/{vm_path}", params=labels, content=bodies[0], headers=headers
                    )
                ).raise_for_status()
                (
                    await client.post(
                        f"/p/{project}/{gw_path}", content=bodies[0], headers={**headers, **auth}
                    )
                ).raise_for_status()

        results: dict[str, tuple[Run, Run]] = {}
        formats = (("text", text, text_headers), ("remote write", rw, rw_headers))
        for fmt, bodies, headers in formats:
            if args.only and fmt != args.only:
                continue
            gw_path, vm_path = paths[fmt]
            runs: dict[str, list[Run]] = {"direct": [], "gateway": []}
            # direct, gateway, gateway, direct: drift on a shared machine hits both alike.
            for side in ("direct", "gateway", "gateway", "direct"):
                profilers = profile(args, fmt) if side == "gateway" else []
                if side == "direct":
                    url, params, hdrs = f"{vm_url}/{vm_path}", labels, headers
                else:
                    url, params, hdrs = f"/p/{project}/{gw_path}", [], {**headers, **auth}
                runs[side].append(
                    await ingest(
                        client,
                        f"{fmt} {side}",
                        url,
                        params,
                        hdrs,
                        bodies,
                        args.seconds / 2,
                        args.clients,
                    )
                )
                for profiler in profilers:
                    profiler.wait(30)
            results[fmt] = (merge(runs["gateway"]), merge(runs["direct"]))

        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as flush:
            (await flush.get(f"{vm_url}/internal/force_flush")).raise_for_status()
        await asyncio.sleep(1.5)
        small = 'bench_requests_total{path="/p/42"}'
        wide = "sum by (instance) (bench_requests_total)"
        query_results = {}
        for name, promql in (("1 series", small), ("sum over 10k series", wide)):
            query_results[name] = await queries(
                client,
                f"/p/{project}/prometheus/api/v1/query",
                key,
                f"{vm_url}/api/v1/query",
                labels,
                promql,
            )

    print()
    print(
        f"(a) ingest: {args.clients} concurrent clients, {SERIES:,} samples/request, "
        f"{args.seconds:.0f} s per run, API with {args.workers} uvicorn workers"
    )
    header = f"{'format':<14}{'path':<10}{'samples/s':>13}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
    print(f"{header}{'errors':>8}")
    for fmt, (gateway, direct) in results.items():
        for label, r in (("direct", direct), ("gateway", gateway)):
            print(
                f"{fmt:<14}{label:<10}{r.rate:>13,.0f}{r.requests / r.seconds:>8.1f}"
                f"{r.pct(0.5):>9.1f}{r.pct(0.95):>9.1f}{r.errors:>8}"
            )
    print()
    print("CPU ms per request of 10k samples (where the time goes; 2 cores shared by all)")
    print(f"{'format':<14}{'path':<10}{'API workers':>12}{'VictoriaM.':>12}{'client':>9}")
    for fmt, (gateway, direct) in results.items():
        for label, r in (("direct", direct), ("gateway", gateway)):
            per = {k: v * 1000 / max(r.requests, 1) for k, v in r.cpu.items()}
            print(
                f"{fmt:<14}{label:<10}{per.get('api', 0):>12.2f}{per.get('vm', 0):>12.2f}"
                f"{per.get('client', 0):>9.2f}"
            )
    print()
    for fmt, (gateway, direct) in results.items():
        ratio = gateway.rate / direct.rate if direct.rate else 0.0
        verdict = "aim met" if ratio >= 0.8 else ("target met" if ratio >= 0.5 else "BELOW TARGET")
        print(f"gateway/direct {fmt:<14} {ratio:5.2f}   (target >= 0.5, aim 0.8: {verdict})")
    for fmt, (gateway, _) in results.items():
        api_ms = gateway.cpu.get("api", 0.0) * 1000 / max(gateway.requests, 1)
        if api_ms:
            print(
                f"gateway capacity per API core, {fmt}: {SERIES / api_ms * 1000:,.0f} samples/s "
                "(CPU-bound, with the store on other cores)"
            )
    print()
    print(f"(c) query proxy: {QUERIES} instant queries each, interleaved, sequential")
    print(
        f"{'query':<22}{'direct p50':>11}{'p95':>8}{'gateway p50':>13}{'p95':>8}"
        f"{'added p50':>11}{'added p95':>11}{'p95 - p95':>11}"
    )
    for name, (gateway_s, direct_s) in query_results.items():
        g = [x * 1000 for x in gateway_s]
        d = [x * 1000 for x in direct_s]
        added = [a - b for a, b in zip(g, d, strict=True)]
        print(
            f"{name:<22}{statistics.median(d):>11.2f}{percentile(d, 0.95):>8.2f}"
            f"{statistics.median(g):>13.2f}{percentile(g, 0.95):>8.2f}"
            f"{statistics.median(added):>11.2f}{percentile(added, 0.95):>11.2f}"
            f"{percentile(g, 0.95) - percentile(d, 0.95):>11.2f}"
        )
    print(
        "ms; added = gateway - direct of each interleaved pair (carries the store's own jitter), "
        "p95 - p95 = difference of the p95s; target: added p95 < 5 ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per ingest run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent senders")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    parser.add_argument(
        "--only", choices=["text", "remote write"], help="measure one ingest format only"
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the API workers during gateway runs into this dir"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-gw-bench-"))
    vm_port, api_port = processes.free_port(), processes.free_port()
    instance = vmlocal.VmInstance(
        Tier.SHORT, "127.0.0.1", vm_port, TIER_RETENTION_DAYS[Tier.SHORT], tmp / "vm"
    )
    env = bench_env(instance.url, tmp / "data")
    try:
        binary = vmlocal.ensure_binary(processes.ROOT / ".cache")
        vmlocal.start(instance, binary, memory_allowed_bytes=1 << 30)
        os.environ.update(
            {k: v for k, v in env.items() if k.startswith(("DATABASE_", "TOLLGATE_"))}
        )
        migrate(Settings())
        api_url = f"http://127.0.0.1:{api_port}"
        print(
            f"setup: VictoriaMetrics {instance.url}, database {DB_NAME}, API {api_url} "
            f"({args.workers} workers) in {time.perf_counter() - started:.1f} s"
        )
        command = processes.uvicorn_command(api_port, workers=args.workers)
        with processes.running(command, f"{api_url}/health", tmp / "api.log", env=env) as api:
            args.api_pid = api.pid
            children = Path(f"/proc/{api.pid}/task/{api.pid}/children").read_text().split()
            PIDS["api"] = [int(pid) for pid in children]
            PIDS["vm"] = [int(instance.pid_file.read_text())]
            asyncio.run(run(args, api_url, instance.url))
    finally:
        vmlocal.stop(instance)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
