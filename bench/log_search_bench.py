"""Log search on PostgreSQL at 1,000,000 records: load rate, store insert rate, query latency.

Run: `.venv/bin/python bench/log_search_bench.py [records]` (default 1,000,000). Builds its own
database `tollgate_bench` with the migrations (dropped and recreated on each run), bulk-loads
the records with COPY as the owner, ANALYZEs, then measures through the real store as the app
role: insert rate of `write_logs` against raw COPY, and p50/p99 of ~100 representative searches
(terms, phrases, fields, attributes, level filters, time ranges; always tenant-scoped).
Takes about three minutes on two cores.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from infra.bootstrap import migrate
from infra.db import create_engine, create_session_factory
from infra.pg_stores import LOG_COLUMNS, PgTelemetryStorage
from infra.settings import Settings, Tier, get_settings
from telemetry.documents import LogRecord
from telemetry.search import parse
from telemetry.search.postgres import PostgresTelemetryStore
from telemetry.stores import LogSearch, Scope

DATABASE = "tollgate_bench"
RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DAYS = 3
SERVICES = [f"svc-{n}" for n in range(12)]
LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "INFO", "INFO", "WARN", "ERROR"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
NOW = datetime.now(UTC)
rng = random.Random(7)
WORDS = [
    "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
    for _ in range(3000)
]
CUM_WEIGHTS = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WORDS))))  # Zipf
TEMPLATES = [
    "request {w} {w} completed in {n}ms",
    "connection reset by peer while talking to {w}",
    "timeout after {n}ms waiting for {w} {w}",
    "user {n} logged in from {w}",
    "cache miss for key {w}:{n}",
    "payment {w} failed with code {n}",
    "retrying {w} attempt {n} of 5",
]
# Tenants: one large (about a third of the data), the rest spread evenly.
ORGS = [f"org_{n:02d}" for n in range(20)]
ORG_WEIGHTS = [30.0] + [70 / 19] * 19


def body() -> str:
    text = rng.choice(TEMPLATES).replace("{n}", str(rng.randint(1, 5000)))
    while "{w}" in text:
        text = text.replace("{w}", rng.choices(WORDS, cum_weights=CUM_WEIGHTS)[0], 1)
    return text + " " + " ".join(rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=rng.randint(2, 8)))


def record_rows(count: int, *, start: int = 0) -> list[tuple[Any, ...]]:
    """Rows in LOG_COLUMNS order, spread over the last DAYS days."""
    rows = []
    span = DAYS * 86_400 - 120
    for n in range(start, start + count):
        org = rng.choices(ORGS, ORG_WEIGHTS)[0]
        level = rng.choice(LEVELS)
        attributes = {
            "http.method": rng.choice(METHODS),
            "http.status_code": rng.choice([200, 200, 200, 201, 404, 500]),
            "user_id": rng.randint(1, 20_000),
        }
        trace = f"{rng.getrandbits(128):032x}" if rng.random() < 0.3 else None
        text = body()
        rows.append(
            (
                "short",
                org,
                "prj_main",
                NOW - timedelta(seconds=rng.uniform(60, span)),
                f"r{n:09d}",
                None,
                rng.choice(SERVICES),
                level,
                {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}[level],
                text,
                trace,
                None,
                json.dumps(attributes),
                '{"host.name": "node-1"}',
                None,
                len(text) + 180,
            )
        )
    return rows


def as_records(rows: list[tuple[Any, ...]], org: str) -> list[LogRecord]:
    names = list(LOG_COLUMNS)
    out = []
    for row in rows:
        data = dict(zip(names, row, strict=True))
        out.append(
            LogRecord(
                id=data["id"],
                tenant=org,
                project="prj_main",
                time=data["time"],
                service=data["service"],
                level=data["level"],
                severity_number=data["severity_number"],
                body=data["body"],
                trace_id=data["trace_id"],
                attributes=json.loads(data["attributes"]),
                resource={"host.name": "node-1"},
            )
        )
    return out


def bench_settings() -> Settings:
    base = get_settings()
    admin = make_url(base.database_admin_url).set(database=DATABASE)
    app = make_url(base.database_url).set(database=DATABASE)
    return Settings(
        DATABASE_URL=app.render_as_string(hide_password=False),
        DATABASE_ADMIN_URL=admin.render_as_string(hide_password=False),
    )


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def reset_database(settings: Settings) -> None:
    server = make_url(settings.database_admin_url).set(database="postgres")
    conn = await asyncpg.connect(dsn(server.render_as_string(hide_password=False)))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(admin: asyncpg.Connection) -> float:
    """COPY RECORDS rows as the owner; records per second."""
    for day in range(DAYS + 1):
        await admin.execute(
            "SELECT tg_ensure_telemetry_partitions('short', $1)",
            (NOW - timedelta(days=day)).date(),
        )
    columns = list(LOG_COLUMNS)
    loaded, copy_seconds, chunk = 0, 0.0, 50_000
    while loaded < RECORDS:
        rows = record_rows(min(chunk, RECORDS - loaded), start=loaded)
        started = time.perf_counter()
        await admin.copy_records_to_table("log_records", records=rows, columns=columns)
        copy_seconds += time.perf_counter() - started
        loaded += len(rows)
        print(f"  loaded {loaded:>9,} ({loaded / copy_seconds:,.0f} records/s in COPY)", end="\r")
    print()
    return loaded / copy_seconds


def recent_rows(count: int, org: str, start: int) -> list[tuple[Any, ...]]:
    """Rows as ingestion sees them: times a millisecond apart, ending now."""
    rows = record_rows(count, start=start)
    return [
        (row[0], org, row[2], NOW - timedelta(milliseconds=count - n), *row[4:])
        for n, row in enumerate(rows)
    ]


async def insert_rates(store: PostgresTelemetryStore, admin: asyncpg.Connection) -> None:
    total = 100_000
    for writers, batch in ((1, 1000), (1, 5000), (2, 5000)):
        orgs = [f"org_insert_{writers}_{batch}_{k}" for k in range(writers)]
        work = [
            (Scope(orgs[k % writers], "prj_main", Tier.SHORT), records)
            for k, start in enumerate(range(0, total, batch))
            for records in [as_records(recent_rows(batch, orgs[k % writers], 10**7 + start), "")]
        ]

        async def writer(
            k: int, work: list[tuple[Scope, list[LogRecord]]] = work, step: int = writers
        ) -> None:
            for scope, records in work[k::step]:
                await store.write_logs(scope, records)

        begun = time.perf_counter()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        rate = total / (time.perf_counter() - begun)
        print(
            f"  store.write_logs, {writers} writer(s), batches of {batch:>5}: {rate:>9,.0f} rec/s"
        )
    rows = recent_rows(total, "org_copy", 2 * 10**7)
    begun = time.perf_counter()
    for start in range(0, total, 5000):
        await admin.copy_records_to_table(
            "log_records", records=rows[start : start + 5000], columns=list(LOG_COLUMNS)
        )
    rate = total / (time.perf_counter() - begun)
    print(f"  raw COPY as the owner, 1 writer, batches of  5000: {rate:>9,.0f} rec/s")


def queries() -> list[tuple[str, Callable[[str], LogSearch]]]:
    """About a hundred searches of the kinds users run, each for one org."""
    common, mid, rare = WORDS[0], WORDS[40], WORDS[2500]
    hour, day = timedelta(hours=1), timedelta(days=1)
    full = NOW - timedelta(days=DAYS + 1)

    def q(
        text: str | None, since: timedelta | datetime = day, **extra: Any
    ) -> Callable[[str], LogSearch]:
        start = since if isinstance(since, datetime) else NOW - since
        return lambda _org: LogSearch(
            start=start, end=NOW, query=parse(text) if text else None, limit=100, **extra
        )

    kinds: list[tuple[str, Callable[[str], LogSearch]]] = [
        ("latest (no query), 1 h", q(None, hour)),
        ("latest (no query), 3 d", q(None, full)),
        ("common term, 1 d", q(common)),
        ("common term, 3 d", q(common, full)),
        ("mid term, 3 d", q(mid, full)),
        ("rare term, 3 d", q(rare, full)),
        ("absent term, 3 d", q("zzzznotthere", full)),
        ("two terms, 3 d", q(f"{mid} {WORDS[41]}", full)),
        ("phrase, 3 d", q('"connection reset"', full)),
        ("rare phrase, 3 d", q(f'"{rare} {WORDS[2501]}"', full)),
        ("term OR term, 1 d", q(f"{rare} OR {WORDS[2600]}")),
        ("term NOT term, 1 d", q(f"timeout -{common}")),
        ("level:error, 3 d", q("level:error", full)),
        ("service:x, 1 d", q("service:svc-3")),
        ("attribute string, 1 d", q("http.method:DELETE")),
        ("attribute number, 3 d", q("user_id:4242", full)),
        ("attribute + term, 3 d", q("http.status_code:500 payment", full)),
        ("levels filter ERROR, 1 d", q(None, levels=("ERROR",))),
        ("levels + services filter, 3 d", q(None, full, levels=("WARN",), services=("svc-1",))),
        ("term + level filter, 3 d", q("timeout", full, levels=("ERROR",))),
        ("range 15 min, term", q("timeout", timedelta(minutes=15))),
        ("range 6 h, rare term", q(rare, timedelta(hours=6))),
    ]
    return kinds


async def search_latency(store: PostgresTelemetryStore) -> None:
    kinds = queries()
    orgs = [ORGS[0], ORGS[5], ORGS[11], ORGS[17], ORGS[0]]  # the big org twice
    samples: list[float] = []
    per_kind: dict[str, list[float]] = {}
    for _warm in range(2):  # first pass warms the cache, second is measured
        samples.clear()
        per_kind.clear()
        for name, build in kinds:
            for org in orgs:
                scope = Scope(org, "prj_main", Tier.SHORT)
                begun = time.perf_counter()
                await store.search_logs(scope, build(org))
                elapsed = (time.perf_counter() - begun) * 1000
                samples.append(elapsed)
                per_kind.setdefault(name, []).append(elapsed)
    p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
    print(
        f"  {len(samples)} searches: p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
        f" max {max(samples):.1f} ms, mean {statistics.fmean(samples):.1f} ms"
    )
    for name, values in per_kind.items():
        print(f"    {name:<32} p50 {pct(values, 0.5):7.1f} ms   max {max(values):7.1f} ms")
    scope = Scope(ORGS[0], "prj_main", Tier.SHORT)
    begun = time.perf_counter()
    await store.log_stats(scope, NOW - timedelta(days=1), NOW, 3600)
    print(f"  log_stats, big org, 1 d by hour: {(time.perf_counter() - begun) * 1000:.0f} ms")


async def main(settings: Settings) -> None:
    admin = await asyncpg.connect(dsn(settings.database_admin_url))
    engine = create_engine(settings)
    store = PostgresTelemetryStore(PgTelemetryStorage(create_session_factory(engine)))
    try:
        print(f"Loading {RECORDS:,} log records (20 orgs, {DAYS} days) with COPY as the owner")
        begun = time.perf_counter()
        await load(admin)
        await admin.execute("ANALYZE log_records")
        size = await admin.fetchval(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))"
            " FROM pg_class c WHERE c.relname LIKE 'log_records_short_p%'"
        )
        print(f"  load + ANALYZE: {time.perf_counter() - begun:.0f} s, tables + indexes: {size}")
        print("Insert rate")
        await insert_rates(store, admin)
        print("Search latency through the store (app role, RLS, tenant filter, limit 100)")
        await search_latency(store)
    finally:
        await admin.close()
        await engine.dispose()


if __name__ == "__main__":
    bench = bench_settings()
    asyncio.run(reset_database(bench))
    migrate(bench)
    asyncio.run(main(bench))
