"""OTLP logs through the gateway into each log store, with the store's own insert rate beside it.

Run: `.venv/bin/python bench/logs_ingest_bench.py [--batches 160] [--clients 4] [--workers 2]`.
Migrates the `tollgate_bench_logs` database (dropped first), starts an osmem-server (in-memory,
OpenSearch-compatible), makes a tenant and key over HTTP and lifts its logs limits with the
operator API, then for each store — PostgreSQL, then OpenSearch (osmem) — measures:
  direct:  `write_logs` of the store called straight from this process with the same batches
           already decoded (`--clients` concurrent writers): the reference of the ratio;
  gateway: OTLP/HTTP protobuf, 500 records a request, from `--clients` concurrent keep-alive
           senders to the API under uvicorn (`--workers`): decode, auth, quota, units, write.
Each side sends the same number of batches, split over two runs (direct, gateway, gateway,
direct) against drift. Every record gets a fresh id at decode, so each batch is new rows. The CPU
time of the API workers, osmem and this process is read from /proc (PostgreSQL's backends are
not ours to read), and a stage breakdown times the gateway's steps one batch at a time
in-process. `--profile` adds cProfile's top functions for requests driven in-process through the
whole app. `--big` sends 5x the batches. With the defaults: ~3.5 min on a shared, busy
2-core machine (mostly osmem and API start-up); `--batches 60` keeps it near 2 min.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import os
import pstats
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/logs_ingest_bench.py` as well as `-m bench.…`
    sys.path.insert(0, str(ROOT))

from infra.bootstrap import migrate  # noqa: E402
from infra.db import create_engine, create_session_factory  # noqa: E402
from infra.opensearch import OpenSearchIndices  # noqa: E402
from infra.pg_stores import PgTelemetryStorage  # noqa: E402
from infra.settings import Settings, Tier  # noqa: E402
from telemetry.documents import LogRecord  # noqa: E402
from telemetry.documents_ingest import decode_logs, log_time, within_retention  # noqa: E402
from telemetry.search.opensearch import OpenSearchTelemetryStore  # noqa: E402
from telemetry.search.postgres import PostgresTelemetryStore  # noqa: E402
from telemetry.stores import Scope, TelemetryStore  # noqa: E402
from telemetry.units import log_units  # noqa: E402
from tests.support import processes  # noqa: E402
from tests.support.osmem import OsmemProcess  # noqa: E402

DB_NAME = "tollgate_bench_logs"
ADMIN_TOKEN = "tga_bench_" + secrets.token_hex(8)
BATCH = 500
BODIES = 24  # distinct request bodies, cycled
PROTOBUF = "application/x-protobuf"
SERVICES = ["checkout", "payments", "frontend", "search", "auth"]
LEVELS = [(5, "DEBUG"), (9, "INFO"), (9, "INFO"), (9, "INFO"), (13, "WARN"), (17, "ERROR")]
WORDS = [
    "request",
    "completed",
    "user",
    "order",
    "payment",
    "cache",
    "miss",
    "timeout",
    "retry",
    "connection",
    "reset",
    "upstream",
    "session",
    "token",
    "refresh",
    "queue",
    "consumer",
    "lag",
    "database",
    "query",
    "slow",
    "rows",
    "returned",
    "http",
    "client",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PIDS: dict[str, list[int]] = {}


# --- payloads -----------------------------------------------------------------------------------


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


_SEQUENCE = itertools.count()
# Field 1000 (varint) is unknown to ExportLogsServiceRequest: parsers skip it. Appending it makes
# every request a new one; a resent body would get the same record ids and be stored once.
_SEQUENCE_TAG = bytes([0xC0, 0x3E])


def fresh(body: bytes) -> bytes:
    """The body as a new request (not a retry of an earlier one)."""
    number, varint = next(_SEQUENCE), bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        varint.append(byte | (0x80 if number else 0))
        if not number:
            return body + _SEQUENCE_TAG + bytes(varint)


def otlp_batch(rng: random.Random, service: str, end_ns: int) -> bytes:
    """One ExportLogsServiceRequest of BATCH records as an SDK sends them: one resource, one
    scope, ~120-byte bodies, four attributes, half of them inside a span."""
    records = []
    for n in range(BATCH):
        number, text = rng.choice(LEVELS)
        in_span = rng.random() < 0.5
        records.append(
            logs_pb2.LogRecord(
                time_unix_nano=end_ns - (BATCH - n) * 1_000_000,
                observed_time_unix_nano=end_ns,
                severity_number=number,  # type: ignore[arg-type]
                severity_text=text,
                body=AnyValue(
                    string_value=" ".join(rng.choices(WORDS, k=14)) + f" id={rng.randint(1, 10**6)}"
                ),
                attributes=[
                    _kv("http.method", rng.choice(["GET", "GET", "POST", "PUT"])),
                    _kv("http.status_code", rng.choice([200, 200, 201, 404, 500])),
                    _kv("user_id", rng.randint(1, 20_000)),
                    _kv("request_id", f"{rng.getrandbits(64):016x}"),
                ],
                trace_id=rng.randbytes(16) if in_span else b"",
                span_id=rng.randbytes(8) if in_span else b"",
            )
        )
    request = ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource={
                    "attributes": [
                        _kv("service.name", service),
                        _kv("host.name", f"node-{rng.randint(1, 9)}"),
                        _kv("telemetry.sdk.language", "python"),
                    ]
                },
                scope_logs=[logs_pb2.ScopeLogs(scope={"name": "app.logger"}, log_records=records)],
            )
        ]
    )
    return request.SerializeToString()


def decoded(body: bytes, org: str, project: str) -> list[LogRecord]:
    """What the gateway stores of a body (fresh ids on every call, as on every request)."""
    now = datetime.now(UTC)
    batch = decode_logs(body, "otlp", PROTOBUF, None, tenant=org, project=project, now=now)
    return batch.documents


# --- measurement --------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured side: records sent, wall time, per-request latencies, CPU by process."""

    name: str
    records: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def add(self, other: Run) -> None:
        self.records += other.records
        self.requests += other.requests
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies += other.latencies
        for name, value in other.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + value


def cpu_seconds(pids: Sequence[int]) -> float:
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
    snapshot["bench"] = time.process_time()
    return snapshot


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def concurrently(
    name: str, jobs: int, clients: int, send: Callable[[int], Awaitable[bool]]
) -> Run:
    """`clients` workers taking job numbers 0..jobs-1 in turn; `send` says whether it went in."""
    run = Run(name)
    queue = iter(range(jobs))

    async def worker() -> None:
        for job in queue:
            begun = time.perf_counter()
            ok = await send(job)
            run.latencies.append(time.perf_counter() - begun)
            if ok:
                run.requests += 1
                run.records += BATCH
            else:
                run.errors += 1

    before = cpu_snapshot()
    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    run.seconds = time.perf_counter() - begun
    after = cpu_snapshot()
    run.cpu = {k: after[k] - before[k] for k in after}
    return run


async def gateway_run(
    client: httpx.AsyncClient, url: str, key: str, bodies: list[bytes], jobs: int, clients: int
) -> Run:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": PROTOBUF}

    async def send(job: int) -> bool:
        body = fresh(bodies[job % len(bodies)])
        response = await client.post(url, content=body, headers=headers)
        if response.status_code != 200:
            print(f"  gateway: HTTP {response.status_code} {response.text[:200]}")
            return False
        return True

    return await concurrently("gateway", jobs, clients, send)


async def direct_run(
    store: TelemetryStore, scope: Scope, batches: list[list[LogRecord]], clients: int
) -> Run:
    async def send(job: int) -> bool:
        await store.write_logs(scope, batches[job])
        return True

    return await concurrently("direct", len(batches), clients, send)


# --- services -----------------------------------------------------------------------------------


def bench_env(data_dir: Path, opensearch_url: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENSEARCH_URL", None)
    dead = f"http://127.0.0.1:{processes.free_port()}"  # metrics are not measured here
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
            **{f"VM_{t.value.upper()}_{m}_URL": dead for t in Tier for m in ("WRITE", "READ")},
        }
    )
    if opensearch_url:
        env["OPENSEARCH_URL"] = opensearch_url
    return env


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def reset_database(settings: Settings) -> None:
    server = make_url(settings.database_admin_url).set(database="postgres")
    conn = await asyncpg.connect(dsn(server.render_as_string(hide_password=False)))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await conn.close()


async def make_tenant(api: httpx.AsyncClient) -> tuple[str, str, str]:
    """Sign up over HTTP, make a project key, lift the logs limits; (org, project, key)."""
    signup = await api.post(
        "/v1/auth/signup",
        json={
            "email": f"bench-{secrets.token_hex(4)}@example.com",
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
            "included": {"logs": 10**15},
            "rate_limits": {"logs": {"rate": 1e12, "burst": 10**13}},
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    overrides.raise_for_status()
    return org, project, key.json()["key"]


# --- one store ----------------------------------------------------------------------------------


@dataclass
class StoreResult:
    name: str
    gateway: Run
    direct: Run
    stored: int
    expected: int


async def stored_count(backend: str, settings: Settings, org: str, os_url: str) -> int:
    """Records of the org in the store, read as the owner / straight from the cluster."""
    if backend == "postgres":
        conn = await asyncpg.connect(dsn(settings.database_admin_url))
        try:
            return int(
                await conn.fetchval("SELECT count(*) FROM log_records WHERE tenant = $1", org)
            )
        finally:
            await conn.close()
    async with httpx.AsyncClient(base_url=os_url, timeout=30.0, trust_env=False) as http:
        await http.post("/logs-*/_refresh")
        answer = await http.post("/logs-*/_count", json={"query": {"term": {"tenant": org}}})
        return int(answer.json()["count"])


def open_store(backend: str, settings: Settings, os_url: str) -> TelemetryStore:
    """The store as the API builds it (app role and pool; OpenSearch client defaults)."""
    if backend == "postgres":
        engine = create_engine(settings)
        return PostgresTelemetryStore(PgTelemetryStorage(create_session_factory(engine)))
    return OpenSearchTelemetryStore(OpenSearchIndices(os_url))


async def measure_store(
    args: argparse.Namespace,
    backend: str,
    api_url: str,
    settings: Settings,
    os_url: str,
    bodies: list[bytes],
) -> StoreResult:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    store = open_store(backend, settings, os_url)
    async with httpx.AsyncClient(
        base_url=api_url, timeout=120.0, limits=limits, trust_env=False
    ) as client:
        org, project, key = await make_tenant(client)
        url = f"/p/{project}/otlp/v1/logs"
        # The direct side writes under an org of its own, so the count checks the gateway alone.
        direct_scope = Scope(f"org_direct_{backend}", project, Tier.SHORT)
        # Warm up: partitions / indices and templates, the key cache, connection pools. One
        # request alone first: concurrent first requests of a new org race to create its
        # subscription (a 500 from a unique violation, see the report of issue 6).
        warm = await gateway_run(client, url, key, bodies, 1, 1)
        warm.add(await gateway_run(client, url, key, bodies, 2 * args.workers, args.workers))
        if warm.errors:
            raise RuntimeError(f"{backend}: the gateway refused the warm-up batches")
        warm_batches = [decoded(fresh(bodies[0]), "x", project) for _ in range(2)]
        await direct_run(store, direct_scope, warm_batches, 1)
        # osmem is a test server (~1 s of CPU per 500-record bulk): a quarter of the batches
        # and at most two senders keep its queue under the API's 10 s OpenSearch timeout.
        batches = args.batches if backend == "postgres" else max(args.batches // 4, 4)
        clients = args.clients if backend == "postgres" else min(args.clients, 2)
        half = batches // 2
        gateway, direct = Run("gateway"), Run("direct")
        for side in ("direct", "gateway", "gateway", "direct"):
            if side == "gateway":
                gateway.add(await gateway_run(client, url, key, bodies, half, clients))
            else:
                work = [
                    decoded(fresh(bodies[n % len(bodies)]), direct_scope.org_id, project)
                    for n in range(half)
                ]
                direct.add(await direct_run(store, direct_scope, work, clients))
                del work
    await store.close()
    expected = (gateway.requests + warm.requests) * BATCH
    return StoreResult(
        f"{backend} ({clients}x{half * 2})",
        gateway,
        direct,
        await stored_count(backend, settings, org, os_url),
        expected,
    )


# --- where the time goes ------------------------------------------------------------------------


async def stage_breakdown(
    settings: Settings, os_url: str, bodies: list[bytes], samples: int
) -> list[tuple[str, float]]:
    """Milliseconds per 500-record batch of each step of the gateway, one batch at a time."""
    now = datetime.now(UTC)
    out: list[tuple[str, float]] = []

    def timed(name: str, fn: Callable[[], object]) -> object:
        times, result = [], None
        for _ in range(samples):
            begun = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - begun)
        out.append((name, statistics.median(times) * 1000))
        return result

    body = bodies[0]
    timed("protobuf parse only", lambda: ExportLogsServiceRequest.FromString(body))
    records: Any = timed("decode (protobuf -> LogRecord)", lambda: decoded(body, "org_x", "prj"))
    kept_batch: Any = None

    def retention() -> None:
        nonlocal kept_batch
        from telemetry.documents_ingest import Decoded

        kept_batch = within_retention(Decoded(records), Tier.SHORT, now, log_time)

    timed("retention window split", retention)
    timed("units (stored JSON size)", lambda: log_units(records))
    for backend in ("postgres", "opensearch"):
        store = open_store(backend, settings, os_url)
        scope = Scope(f"org_stages_{backend}", "prj_stages", Tier.SHORT)
        times = []
        await store.write_logs(scope, decoded(body, scope.org_id, "prj_stages"))
        for _ in range(samples):
            batch = decoded(body, scope.org_id, "prj_stages")
            begun = time.perf_counter()
            await store.write_logs(scope, batch)
            times.append(time.perf_counter() - begun)
        out.append((f"store.write_logs, {backend} (1 writer)", statistics.median(times) * 1000))
        await store.close()
    return out


async def profile_app(settings: Settings, bodies: list[bytes], requests: int) -> str:
    """cProfile of OTLP log requests driven in-process through the whole app (PostgreSQL)."""
    from asgi_lifespan import LifespanManager

    from api.app import create_app

    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60
        ) as client,
    ):
        _, project, key = await make_tenant(client)
        url = f"/p/{project}/otlp/v1/logs"
        headers = {"Authorization": f"Bearer {key}", "Content-Type": PROTOBUF}
        for body in bodies[:3]:
            (await client.post(url, content=fresh(body), headers=headers)).raise_for_status()
        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(requests):
            body = fresh(bodies[n % len(bodies)])
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()
        profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(22)
    return text.getvalue()


# --- main ---------------------------------------------------------------------------------------


def report(results: list[StoreResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"OTLP/HTTP logs, protobuf, {BATCH} records/request, API with {args.workers} uvicorn "
        "workers; store (concurrent senders x batches per side)"
    )
    print(
        f"{'store':<21}{'path':<9}{'records/s':>11}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'errors':>8}{'API CPU ms/req':>16}{'osmem':>7}{'bench':>7}"
    )
    for r in results:
        for run in (r.direct, r.gateway):
            per = {k: v * 1000 / max(run.requests, 1) for k, v in run.cpu.items()}
            print(
                f"{r.name:<21}{run.name:<9}{run.rate:>11,.0f}{run.requests / run.seconds:>8.1f}"
                f"{pct(run.latencies, 0.5):>9.1f}{pct(run.latencies, 0.95):>9.1f}"
                f"{run.errors:>8}{per.get('api', 0.0):>16.1f}{per.get('osmem', 0.0):>7.1f}"
                f"{per.get('bench', 0.0):>7.1f}"
            )
    print()
    for r in results:
        ratio = r.gateway.rate / r.direct.rate if r.direct.rate else 0.0
        check = "ok" if r.stored == r.expected else f"MISMATCH (expected {r.expected:,})"
        print(
            f"gateway/direct {r.name:<20} {ratio:5.2f}   gateway {r.gateway.rate:,.0f} rec/s,"
            f" stored records of the gateway's tenant: {r.stored:,} {check}"
        )
    pg = next((r for r in results if r.name.startswith("postgres")), None)
    if pg:
        verdict = "met" if pg.gateway.rate >= 20_000 else "NOT MET"
        print(f"target >= 20,000 records/s into PostgreSQL through the gateway: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=160, help="batches of 500 per side")
    parser.add_argument("--clients", type=int, default=4, help="concurrent senders / writers")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--big", action="store_true", help="5x the batches")
    parser.add_argument("--only", choices=["postgres", "opensearch"], help="one store only")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process app")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (API logs)")
    args = parser.parse_args()
    if args.big:
        args.batches *= 5

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-logs-bench-"))
    osmem = OsmemProcess()
    results: list[StoreResult] = []
    try:
        os_url = osmem.start()
        PIDS["osmem"] = [osmem._process.pid] if osmem._process else []
        env = bench_env(tmp / "data")
        os.environ.update(env)  # this process's stores and settings: the same as the API's
        settings = Settings()
        asyncio.run(reset_database(settings))
        migrate(settings)
        rng = random.Random(11)
        end_ns = time.time_ns()
        bodies = [otlp_batch(rng, SERVICES[n % len(SERVICES)], end_ns) for n in range(BODIES)]
        size = statistics.mean(len(b) for b in bodies)
        print(
            f"setup: database {DB_NAME}, osmem {os_url}, {BODIES} bodies of {BATCH} records "
            f"({size / 1024:.0f} KiB each) in {time.perf_counter() - started:.1f} s"
        )
        for backend in ("postgres", "opensearch"):
            if args.only and backend != args.only:
                continue
            port = processes.free_port()
            api_url = f"http://127.0.0.1:{port}"
            server_env = bench_env(tmp / "data", os_url if backend == "opensearch" else "")
            command = processes.uvicorn_command(port, workers=args.workers)
            log = tmp / f"api-{backend}.log"
            with processes.running(
                command, f"{api_url}/health", log, env=server_env, timeout=120
            ) as api:
                children = Path(f"/proc/{api.pid}/task/{api.pid}/children").read_text().split()
                PIDS["api"] = [int(pid) for pid in children] or [api.pid]
                ready = httpx.get(f"{api_url}/ready", timeout=10, trust_env=False).json()
                assert ready["log_store_backend"] == backend, ready
                print(f"measuring {backend} (API {api_url}) ...")
                results.append(
                    asyncio.run(measure_store(args, backend, api_url, settings, os_url, bodies))
                )
        report(results, args)
        print()
        print("where the time goes: median ms per 500-record batch, one at a time, in-process")
        for name, ms in asyncio.run(stage_breakdown(settings, os_url, bodies, 15)):
            print(f"  {name:<40}{ms:>8.2f} ms  ({BATCH / ms * 1000:>9,.0f} records/s)")
        if args.profile:
            print()
            print("cProfile, 60 requests in-process through the app (PostgreSQL), by own time:")
            print(asyncio.run(profile_app(settings, bodies, 60)))
    finally:
        osmem.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
