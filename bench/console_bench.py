"""The web console in chromium with 1,000,000 log records in the store: first-load JavaScript
(gzipped) and how soon the usage and log pages are interactive (Playwright timings).

Run: `.venv/bin/python bench/console_bench.py [records]` (default 1,000,000; needs a built
console, `make console`, and /usr/bin/chromium). Builds its own database `tollgate_bench_console`
with the migrations, signs a tenant up over HTTP, bulk-loads its log records with COPY as the
owner (as bench/log_search_bench.py does) and three days of hourly usage, ANALYZEs, then drives
the console through the API under uvicorn. Each page is loaded cold (new browser context, empty
cache) `RUNS` times; the median and worst are reported. The budget of issue 11: ≤ 300 KB of
JavaScript gzipped on first load, usage and log pages interactive within 1.5 s.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.async_api import Browser, Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.bootstrap import migrate
from infra.pg_stores import LOG_COLUMNS
from infra.settings import PROJECT_ROOT, Settings, Tier
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from tests.support import processes

DB_NAME = "tollgate_bench_console"
RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
RUNS = 5
DAYS = 3
PASSWORD = "correct horse battery"  # noqa: S105 (the bench account)
BUDGET_JS_GZIP = 300 * 1024
BUDGET_SECONDS = 1.5
SERVICES = [f"svc-{n}" for n in range(12)]
LEVELS = [("DEBUG", 5), ("INFO", 9), ("INFO", 9), ("INFO", 9), ("WARN", 13), ("ERROR", 17)]
WORDS = ["request", "completed", "timeout", "payment", "cache", "miss", "retry", "database"]
USAGE_COLUMNS = [
    "org_id",
    "hour",
    "project_id",
    "key_id",
    "category",
    "outcome",
    "generation",
    "quantity",
]
NOW = datetime.now(UTC)
rng = random.Random(5)


def bench_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENSEARCH_URL", None)
    dead = f"http://127.0.0.1:{processes.free_port()}"  # metrics are not read here
    env.update(
        {
            "TOLLGATE_ENV": "dev",
            "DATABASE_URL": f"postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/{DB_NAME}",
            "DATABASE_ADMIN_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "TOLLGATE_DATA_DIR": str(data_dir),
            "TOLLGATE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "LOG_LEVEL": "WARNING",
            **{f"VM_{t.value.upper()}_{m}_URL": dead for t in Tier for m in ("WRITE", "READ")},
        }
    )
    return env


def admin_dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


async def reset_database() -> None:
    conn = await asyncpg.connect(admin_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await conn.close()


def rows(org: str, project: str, count: int, start: int) -> list[tuple[Any, ...]]:
    """Log rows in LOG_COLUMNS order over the last DAYS days."""
    out = []
    span = DAYS * 86_400 - 120
    for n in range(start, start + count):
        level, severity = rng.choice(LEVELS)
        body = " ".join(rng.choices(WORDS, k=6)) + f" {n}"
        attributes = json.dumps({"user_id": rng.randint(1, 20_000), "http.status_code": 200})
        out.append(
            (
                "short",
                org,
                project,
                NOW - timedelta(seconds=rng.uniform(60, span)),
                f"r{n:09d}",
                None,
                rng.choice(SERVICES),
                level,
                severity,
                body,
                None,
                None,
                attributes,
                '{"host.name": "node-1"}',
                None,
                len(body) + 120,
            )
        )
    return out


async def seed(org: str, project: str) -> float:
    """COPY RECORDS log rows and hourly usage for the tenant; seconds taken."""
    began = time.perf_counter()
    admin = await asyncpg.connect(admin_dsn(DB_NAME))
    try:
        for day in range(DAYS + 1):
            await admin.execute(
                "SELECT tg_ensure_telemetry_partitions('short', $1)",
                (NOW - timedelta(days=day)).date(),
            )
        loaded, chunk = 0, 50_000
        while loaded < RECORDS:
            batch = rows(org, project, min(chunk, RECORDS - loaded), loaded)
            await admin.copy_records_to_table(
                "log_records", records=batch, columns=list(LOG_COLUMNS)
            )
            loaded += len(batch)
            print(f"  loaded {loaded:>9,} log records", end="\r")
        print()
        hour = NOW.replace(minute=0, second=0, microsecond=0)
        per_hour = RECORDS * 170 // (DAYS * 24)
        usage = [
            (org, hour - timedelta(hours=h), project, "key_bench", "logs", outcome, "", quantity)
            for h in range(DAYS * 24)
            for outcome, quantity in (("accepted", per_hour), ("rate_limited", per_hour // 50))
        ]
        await admin.copy_records_to_table(
            "usage_hourly",
            records=usage,
            columns=list(USAGE_COLUMNS),
        )
        await admin.execute("ANALYZE log_records")
        await admin.execute("ANALYZE usage_hourly")
    finally:
        await admin.close()
    return time.perf_counter() - began


async def tenant(api: httpx.AsyncClient) -> tuple[str, str, str, str, str]:
    """Sign up over HTTP and make a read key: (email, org id, org slug, project, key)."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    signup = await api.post(
        "/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Bench", "org_name": "Bench"},
    )
    signup.raise_for_status()
    data = signup.json()
    key = await api.post(
        f"/v1/projects/{data['project']['id']}/keys",
        json={"name": "bench read", "scopes": ["logs:read"]},
        headers={"Authorization": f"Bearer {data['token']}"},
    )
    key.raise_for_status()
    org = data["org"]
    return email, org["id"], org["slug"], data["project"]["id"], key.json()["key"]


async def cold_page(browser: Browser, url: str, email: str) -> tuple[Page, list[bytes]]:
    """A new context (empty cache) logged in with the cookie; the scripts it then loads."""
    context = await browser.new_context(viewport=DESKTOP, base_url=url)
    login = await context.request.post(
        "/v1/auth/login", data={"email": email, "password": PASSWORD, "cookie": True}
    )
    assert login.ok, await login.text()
    page = await context.new_page()
    scripts: list[bytes] = []

    async def keep(response: Any) -> None:
        if response.request.resource_type == "script":
            scripts.append(await response.body())

    page.on("response", keep)
    return page, scripts


async def usage_once(browser: Browser, url: str, email: str, org: str) -> tuple[float, int]:
    """Seconds from navigation to the usage page showing its quotas and chart; JS gzip bytes."""
    page, scripts = await cold_page(browser, url, email)
    began = time.perf_counter()
    await page.goto(f"{url}/orgs/{org}/usage", wait_until="commit")
    await page.locator(".quotas li").first.wait_for()
    await page.locator(".uplot canvas").first.wait_for()
    await page.get_by_label("Category").wait_for()
    taken = time.perf_counter() - began
    js = sum(len(gzip.compress(body, 9)) for body in scripts)
    await page.context.close()
    return taken, js


async def logs_once(
    browser: Browser, url: str, email: str, org: str, project: str, key: str
) -> tuple[float, float, float]:
    """Seconds to an interactive log page, then to the newest 100 records (3 days) and to a
    term search, each after the click."""
    page, _ = await cold_page(browser, url, email)
    began = time.perf_counter()
    await page.goto(f"{url}/orgs/{org}/projects/{project}/logs", wait_until="commit")
    await page.get_by_label("Project key").wait_for()
    interactive = time.perf_counter() - began
    await page.get_by_label("Project key").fill(key)
    await page.get_by_role("button", name="Use this key").click()
    await page.get_by_label("Time range").select_option(label="Last 7 days")
    newest = await timed_search(page, " ")
    await page.get_by_label("Query").fill("timeout payment")
    term = await timed_search(page, "timeout")
    await page.context.close()
    return interactive, newest, term


async def timed_search(page: Page, word: str) -> float:
    """Seconds from clicking Search to its answer drawn (the first record shows `word`)."""
    clicked = time.perf_counter()
    async with page.expect_response(lambda r: r.url.endswith("/logs/search")) as answer:
        await page.get_by_role("button", name="Search", exact=True).click()
    assert (await answer.value).ok
    await page.wait_for_function(
        "w => document.querySelector('[data-testid=log-results] li .body')"
        "?.textContent.includes(w)",
        arg=word,
    )
    return time.perf_counter() - clicked


def line(name: str, samples: list[float], budget: float | None = None) -> str:
    verdict = ""
    if budget is not None:
        verdict = "  ok" if max(samples) <= budget else f"  OVER {budget:.1f} s"
    return (
        f"  {name:<52} median {statistics.median(samples) * 1000:>6.0f} ms"
        f"  worst {max(samples) * 1000:>6.0f} ms{verdict}"
    )


async def measure(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as api:
        email, org_id, org, project, key = await tenant(api)
    print(f"seeding {RECORDS:,} log records for org {org} ...")
    seconds = await seed(org_id, project)
    print(f"  seeded in {seconds:.1f} s")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            await usage_once(browser, url, email, org)  # warm the API's pools and caches
            usage: list[float] = []
            js = 0
            for _ in range(RUNS):
                taken, js = await usage_once(browser, url, email, org)
                usage.append(taken)
            logs = [await logs_once(browser, url, email, org, project, key) for _ in range(RUNS)]
        finally:
            await browser.close()
    print()
    verdict = "ok" if js <= BUDGET_JS_GZIP else "OVER"
    print(
        f"  first-load JavaScript, gzip -9: {js:,} B ({js / 1024:.0f} KiB)  budget 300 KB {verdict}"
    )
    print(line("usage page: navigation -> quotas + chart drawn", usage, BUDGET_SECONDS))
    print(line("log page: navigation -> search form ready", [x[0] for x in logs], BUDGET_SECONDS))
    print(line("log search: click -> newest page of 1 M (7 d range)", [x[1] for x in logs]))
    print(line("log search: click -> 'timeout payment' results", [x[2] for x in logs]))


def main() -> None:
    if not (PROJECT_ROOT / "console" / "dist" / "index.html").is_file():
        raise SystemExit("console/dist is missing: run `make console` first")
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-console-bench-"))
    env = bench_env(tmp / "data")
    os.environ.update(env)
    asyncio.run(reset_database())
    migrate(Settings())
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env["PUBLIC_URL"] = url
    command = processes.uvicorn_command(port)
    with processes.running(command, f"{url}/health", tmp / "api.log", env=env, timeout=120):
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
