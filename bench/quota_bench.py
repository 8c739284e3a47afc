"""Admission throughput and latency of the Redis quota script against a local Redis.

Run: `.venv/bin/python bench/quota_bench.py [redis_url]` (default DB 14; only the bench's own
keys are touched and removed). Takes about 10 seconds.
The Python client, not Redis, bounds one process; the multi-process runs show what one Redis
sustains for several gateway processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from billing.quotas.base import Admission, Category, CategoryPolicy, PeriodLimit, RateLimit
from billing.quotas.redis import PENDING_ORGS_KEY, RedisQuotaBackend

REDIS_URL = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/14"
SECONDS_PER_RUN = 1.5
ORGS = 50
PERIOD_ID = "bench"
# Every category evaluated on every request, as the gateway does to report blocked categories.
POLICIES = {
    Category.METRICS: CategoryPolicy(
        rate_limit=RateLimit.per_second(1e9),
        key_rate_limit=RateLimit.per_second(1e8),
        period_limit=PeriodLimit.hard_cap(10**15),
    ),
    Category.LOGS: CategoryPolicy(
        rate_limit=RateLimit.per_second(1e9), period_limit=PeriodLimit.unlimited()
    ),
    Category.TRACES: CategoryPolicy(
        rate_limit=RateLimit.per_second(1e9), period_limit=PeriodLimit.hard_cap(10**15)
    ),
    Category.SPANS: CategoryPolicy(
        rate_limit=RateLimit.per_second(1e9), period_limit=PeriodLimit.hard_cap(10**15)
    ),
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, latencies: list[float], elapsed: float) -> None:
    ms = [x * 1000 for x in latencies]
    print(
        f"{name:<28} {len(ms) / elapsed:>9,.0f} calls/s   p50 {statistics.median(ms):.3f} ms"
        f"   p99 {percentile(ms, 0.99):.3f} ms   p99.9 {percentile(ms, 0.999):.3f} ms"
    )


async def drive(quotas: RedisQuotaBackend, orgs: list[str], clients: int) -> list[float]:
    """Admit from `clients` concurrent tasks for SECONDS_PER_RUN; returns every latency."""
    period_end = datetime.now(UTC) + timedelta(days=30)
    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS_PER_RUN

    async def client(index: int) -> None:
        n = index
        while time.perf_counter() < deadline:
            n += clients
            admission = Admission(
                org_id=orgs[n % len(orgs)],
                project_id=f"prj_{n % 7}",
                key_id=f"key_{n % 3}",
                period_id=PERIOD_ID,
                period_end=period_end,
                units={Category.METRICS: 120, Category.LOGS: 4_096},
                at=datetime.now(UTC),
            )
            start = time.perf_counter()
            decision = await quotas.admit(admission, POLICIES)
            latencies.append(time.perf_counter() - start)
            assert decision.accepted

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def new_backend() -> tuple[aioredis.Redis, RedisQuotaBackend]:
    pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=64, timeout=10)
    client = aioredis.Redis.from_pool(pool)
    return client, RedisQuotaBackend(client)


def process_main(orgs: list[str], clients: int) -> list[float]:
    """One gateway-like process of the multi-process run."""

    async def go() -> list[float]:
        client, quotas = new_backend()
        try:
            return await drive(quotas, orgs, clients)
        finally:
            await client.aclose()

    return asyncio.run(go())


async def run(quotas: RedisQuotaBackend, orgs: list[str], clients: int) -> None:
    started = time.perf_counter()
    latencies = await drive(quotas, orgs, clients)
    report(f"admit, {clients} concurrent", latencies, time.perf_counter() - started)


def run_processes(orgs: list[str], processes: int, clients: int) -> None:
    """The Python client is the bottleneck of one process; several show what Redis sustains."""
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(len, [[]] * processes))  # start the workers before the clock
        started = time.perf_counter()
        results = list(pool.map(process_main, [orgs] * processes, [clients] * processes))
        elapsed = time.perf_counter() - started
    latencies = [x for r in results for x in r]
    report(f"admit, {processes} proc x {clients}", latencies, elapsed)


async def ping_baseline(client: aioredis.Redis) -> None:
    latencies: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < 1.0:
        start = time.perf_counter()
        await client.ping()
        latencies.append(time.perf_counter() - start)
    report("PING (baseline)", latencies, time.perf_counter() - started)


async def main() -> list[str]:
    client, quotas = new_backend()
    tag = uuid.uuid4().hex[:8]
    orgs = [f"bench_{tag}_{i}" for i in range(ORGS)]
    period_end = datetime.now(UTC) + timedelta(days=30)
    try:
        for org in orgs:
            await quotas.seed_period(org, PERIOD_ID, {}, period_end=period_end)
        print(f"Redis {REDIS_URL}, {ORGS} orgs, 2 categories per request, 4 policies each")
        await ping_baseline(client)
        for clients in (1, 1, 16):  # the first sequential run warms up
            await run(quotas, orgs, clients)
    finally:
        await client.aclose()
    return orgs


async def cleanup(orgs: list[str]) -> None:
    client, _ = new_backend()
    try:
        for org in orgs:
            keys = [k async for k in client.scan_iter(match=f"tg:{{{org}}}:*", count=1000)]
            if keys:
                await client.delete(*keys)
        await client.srem(PENDING_ORGS_KEY, *orgs)
    finally:
        await client.aclose()


if __name__ == "__main__":
    bench_orgs = asyncio.run(main())
    try:
        run_processes(bench_orgs, processes=2, clients=16)
        run_processes(bench_orgs, processes=4, clients=16)
    finally:
        asyncio.run(cleanup(bench_orgs))
