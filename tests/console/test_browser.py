"""The web console in a real browser (Debian's chromium driven by Playwright) against the API under
uvicorn serving the built console, with a worker sending real mail: sign up and verify the address
from the mailed link, create a key, send logs with the snippet the page shows, find them in the log
search, the trace waterfall (critical path, the trace's logs), the services page and the metrics
chart; preview a plan change before confirming it; a viewer sees no create-key button; another
tenant's project is not found; no console errors; no horizontal scroll at 1280x800 and 390x844."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Browser, expect

from infra.local.victoriametrics import VmInstance
from tests.console.browser import (
    PASSWORD,
    SEARCH_SECONDS,
    Console,
    log_in_with_the_keyboard,
    mail_to,
    mailed_link,
    open_console,
)
from tests.console.conftest import Stack
from tests.support import gateway as gw
from tests.support.tenants import sign_up


async def search_until_found(console: Console, query: str, text: str) -> None:
    """Search (again) until the record shows up: stores make data queryable within seconds."""
    page = console.page
    results = page.get_by_test_id("log-results")
    deadline = time.monotonic() + SEARCH_SECONDS
    while True:
        await page.get_by_label("Query").fill(query)
        await page.get_by_role("button", name="Search", exact=True).click()
        await expect(page.get_by_text(re.compile(r"\d+ records?"))).to_be_visible()
        if await results.get_by_text(text).count() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await expect(results.get_by_text(text).first).to_be_visible()


class TestNewcomer:
    async def test_signup_key_snippet_logs_traces_metrics(
        self,
        browser: Browser,
        console_url: str,
        stack: Stack,
        api: httpx.AsyncClient,
        vm_stores: list[VmInstance],
    ) -> None:
        console = await open_console(browser, console_url)
        page = console.page
        email = f"newcomer-{secrets.token_hex(4)}@example.com"

        await console.goto("/")
        await expect(page).to_have_url(re.compile(r"/login"))
        await console.snapshot("login")
        await page.get_by_role("link", name="Create an account").click()
        await page.get_by_label("Your name").fill("Ada")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_label("Organization name").fill(f"Analytical {secrets.token_hex(3)}")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        # the session is the HttpOnly cookie: nothing in web storage, the cookie out of JS' reach
        assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert "tg_session" not in await page.evaluate("document.cookie")
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["tg_session"]["httpOnly"] is True
        assert cookies["tg_session"]["sameSite"] == "Lax"

        # the address is not verified yet: a banner says so; the worker mailed the link, whose
        # token is in the fragment; the page posts it and the banner is gone
        banner = page.get_by_role("region", name="Email verification")
        await expect(banner).to_contain_text(email)
        project_path = page.url.removeprefix(console_url)
        mail = await mail_to(stack.smtp, email, "Confirm your email")
        link = mailed_link(mail, "/verify-email")
        assert link.startswith(f"{console_url}/verify-email#token=tgv_")
        await page.goto(link)
        await expect(page.get_by_text(f"{email} is verified")).to_be_visible()
        assert "#token" not in page.url  # dropped from the address bar and history
        await console.goto(project_path)
        await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        assert await banner.count() == 0

        await page.get_by_label("Key name").fill("browser key")
        await page.get_by_role("button", name="Create key").click()
        secret = await page.get_by_test_id("key-secret").inner_text()
        assert secret.startswith("tgp_")
        project_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        otel = await page.get_by_test_id("snippet-otel").inner_text()
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={console_url}/p/{project_id}/otlp" in otel
        assert f"Authorization=Bearer {secret}" in otel
        await page.get_by_role("button", name="Copy key").click()
        assert await page.evaluate("navigator.clipboard.readText()") == secret
        await console.snapshot("key-created")

        # the curl snippet, run exactly as shown, sends a log line through the real gateway
        curl = await page.get_by_test_id("snippet-curl-logs").inner_text()
        shell = await asyncio.create_subprocess_exec(
            "bash", "-c", curl, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(shell.communicate(), timeout=20)
        assert shell.returncode == 0, err
        assert b'"accepted":1' in out.replace(b" ", b""), out + err

        await page.get_by_role("button", name="I have stored it").click()
        await expect(page.get_by_role("cell", name="browser key", exact=True)).to_be_visible()
        await page.get_by_role("link", name="Search logs").click()
        await expect(page.get_by_text(re.compile("Reading with key .browser key."))).to_be_visible()
        await search_until_found(console, "timeout service:checkout", "Database timeout")
        await console.snapshot("logs")

        # a query that does not parse: the problem detail, with the position marked
        await page.get_by_label("Query").fill("(timeout")
        await page.get_by_role("button", name="Search", exact=True).click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text(re.compile(r"\)|parenthes", re.IGNORECASE))
        await expect(alert.get_by_label(re.compile(r"Error at position \d+"))).to_be_visible()
        console.expected_failures(400)

        # a trace sent with the same key (and a log of it): listed, and its waterfall with the
        # failing span marked, the critical path and the trace's logs
        trace_id = secrets.token_hex(16)
        auth = {"Authorization": f"Bearer {secret}"}
        logged = await api.post(
            f"/p/{project_id}/ingest/logs",
            json={"service_id": "checkout", "level": "ERROR", "message": "Order query failed"}
            | {"trace_id": trace_id},
            headers=auth,
        )
        assert logged.status_code == 200, logged.text
        start = datetime.now(UTC) - timedelta(seconds=5)
        spans = [
            span(trace_id, "a" * 16, None, "GET /checkout", start, 120, "ok"),
            span(trace_id, "b" * 16, "a" * 16, "SELECT orders", start, 80, "error"),
        ]
        sent_spans = await api.post(
            f"/p/{project_id}/ingest/spans",
            json=spans,
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert sent_spans.status_code in (200, 202), sent_spans.text
        await trace_logs_searchable(api, project_id, trace_id, auth)
        await page.get_by_role("link", name="Default", exact=True).click()
        await page.get_by_role("link", name="Traces").first.click()
        await page.get_by_role("link", name="checkout: GET /checkout").click()
        waterfall = page.get_by_role("list", name="Spans by start time")
        await expect(waterfall.get_by_role("listitem")).to_have_count(2)
        await expect(waterfall.locator(".error-span")).to_contain_text("SELECT orders")
        await expect(waterfall.locator(".critical")).not_to_have_count(0)
        await expect(page.get_by_test_id("critical-path")).to_contain_text("GET /checkout")
        await expect(page.get_by_test_id("trace-logs")).to_contain_text("Order query failed")
        await console.snapshot("trace")

        # the services page: the checkout service with its spans and errors
        await page.get_by_role("link", name="Default", exact=True).click()
        await page.get_by_role("link", name="Services", exact=True).click()
        row = page.get_by_role("row", name=re.compile("^checkout"))
        await expect(row).to_contain_text("2")

        # a metric sent with the same key, charted by the explorer's PromQL range query
        # a minute old: VictoriaMetrics leaves the last 30 s out of range queries (latency offset)
        metric = {
            "metric_name": "checkout_orders_total",
            "value": 7,
            "metric_type": "counter",
            "timestamp": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        }
        sent_metric = await api.post(
            f"/p/{project_id}/ingest/metrics",
            json=metric | {"labels": {"region": "eu"}},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert sent_metric.status_code in (200, 202, 204), sent_metric.text
        await metric_queryable(api, vm_stores, project_id, secret, "checkout_orders_total")
        await page.get_by_role("link", name="Default", exact=True).click()
        await page.get_by_role("link", name="Metrics", exact=True).click()
        await page.get_by_label("PromQL").fill("checkout_orders_total")
        await page.get_by_role("button", name="Run query").click()
        chart = page.get_by_role("img", name="Result of checkout_orders_total")
        await expect(chart).to_be_visible()
        await expect(page.locator(".u-legend")).to_contain_text('region="eu"')
        await console.snapshot("metrics")

        # usage: the accepted log bytes are counted at once, on the chart and in the quota
        await page.get_by_role("link", name="Usage & quotas").click()
        await expect(page.get_by_role("img", name=re.compile("logs by outcome"))).to_be_visible()
        await expect(page.locator(".uplot canvas").first).to_be_visible()
        await expect(page.get_by_text(re.compile(r"^logs: \d+B of 1.00GB"))).to_be_visible()
        await console.snapshot("usage")

        # billing: the upcoming invoice; an upgrade is previewed (priced by the API, nothing
        # changed yet) and applied only on confirmation; without Stripe the payment buttons
        # explain the local flow
        await page.get_by_role("link", name="Billing").click()
        await expect(page.get_by_test_id("invoice-total")).to_have_text("$0.00")
        await page.get_by_role("combobox", name=re.compile("^Plan")).select_option("pro")
        await page.get_by_role("button", name="Preview the change").click()
        preview = page.get_by_role("region", name="Plan change preview")
        await expect(preview.get_by_test_id("preview-summary")).to_contain_text(
            re.compile(r"pro applies now: the upcoming invoice goes from \$0\.00 to \$\d+\.\d\d")
        )
        await expect(preview.get_by_test_id("preview-total")).not_to_have_text("$0.00")
        previewed = await preview.get_by_test_id("preview-total").inner_text()
        org_slug = page.url.split("/orgs/")[1].split("/")[0]
        await expect(page.get_by_text(re.compile(r"^Plan free \(active\)"))).to_be_visible()
        await console.snapshot("billing-preview")
        await preview.get_by_role("button", name="Confirm the change").click()
        await expect(page.get_by_text(re.compile(r"^Plan pro \(active\)"))).to_be_visible()
        await expect(page.get_by_test_id("invoice-total")).not_to_have_text("$0.00")
        total = await page.get_by_test_id("invoice-total").inner_text()
        assert abs(float(total[1:]) - float(previewed[1:])) <= 0.01, (total, previewed)
        await page.get_by_role("button", name="Add a payment method").click()
        await expect(page.get_by_text("not collected through Stripe")).to_be_visible()
        console.expected_failures(409)
        await console.snapshot("billing")

        # the audit log shows the key this owner created, and filters to key events
        await page.get_by_role("link", name="Audit log").click()
        await expect(page.get_by_text("key.created")).to_be_visible()
        await page.get_by_label("Show").select_option("key")
        await expect(page.get_by_text("org.created")).to_have_count(0)
        await expect(page.get_by_text("key.created")).to_be_visible()

        # another tenant's project id in this tenant's URL: not found, nothing of it shown
        other = await sign_up(api, "othertenant")
        await console.goto(f"/orgs/{org_slug}/projects/{other.project_id}")
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        await expect(page.get_by_text("Project not found")).to_be_visible()
        await console.goto(f"/orgs/{org_slug}/projects/{other.project_id}/logs")
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert await page.get_by_label("Query").count() == 0
        console.expected_failures(404)

        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile(r"/login$"))
        assert console.errors == []
        await page.context.close()


async def metric_queryable(
    api: httpx.AsyncClient, vm_stores: list[VmInstance], project_id: str, key: str, name: str
) -> None:
    """Wait (bounded) until the gateway answers the series: VictoriaMetrics indexes in seconds."""
    deadline = time.monotonic() + SEARCH_SECONDS
    while True:
        await gw.flush(vm_stores)
        answer = await api.get(
            f"/p/{project_id}/prometheus/api/v1/query",
            params={"query": name},
            headers={"Authorization": f"Bearer {key}"},
        )
        if answer.json()["data"]["result"] or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.3)


async def trace_logs_searchable(
    api: httpx.AsyncClient, project_id: str, trace_id: str, auth: dict[str, str]
) -> None:
    """Wait (bounded) until the trace's log is found: stores make data queryable in seconds."""
    deadline = time.monotonic() + SEARCH_SECONDS
    while time.monotonic() < deadline:
        found = await api.get(f"/p/{project_id}/traces/{trace_id}/logs", headers=auth)
        if found.status_code == 200 and found.json()["items"]:
            return
        await asyncio.sleep(0.3)


def span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    start: datetime,
    duration_ms: int,
    status: str,
) -> dict[str, object]:
    """A span as the simple ingest API takes it."""
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service_id": "checkout",
        "start_time": start.isoformat(),
        "duration_ms": duration_ms,
        "status": status,
    }


class TestRoles:
    async def test_an_invited_viewer_sees_no_create_key_button(
        self, browser: Browser, console_url: str, api: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(api, "rolesowner")
        assert owner.password == PASSWORD
        admin = await open_console(browser, console_url)
        await log_in_with_the_keyboard(admin, owner.email)
        await admin.goto(f"/orgs/{owner.org_slug}/members")
        email = f"viewer-{secrets.token_hex(4)}@example.com"
        invite = admin.page.get_by_role("form", name="Invite someone")
        await invite.get_by_label("Email").fill(email)
        await invite.get_by_label("Role").select_option("viewer")
        await invite.get_by_role("button", name="Invite").click()
        link = await admin.page.get_by_test_id("invite-link").inner_text()
        assert link.startswith(f"{console_url}/invites/")
        await expect(admin.page.get_by_text(f"{email} as viewer")).to_be_visible()

        console = await open_console(browser, console_url)
        page = console.page
        await page.goto(link)
        await page.get_by_label("Your name").fill("Vera")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Accept the invite").click()
        await expect(page.get_by_role("heading", name=re.compile("^Projects of"))).to_be_visible()
        assert await page.get_by_role("button", name="Create project").count() == 0
        await console.snapshot("viewer-project-list")
        await console.goto(f"/orgs/{owner.org_slug}/projects/{owner.project_id}")
        await expect(page.get_by_text("Your role (viewer) cannot see or create")).to_be_visible()
        assert await page.get_by_role("button", name="Create key").count() == 0
        assert await page.get_by_label("Key name").count() == 0
        # and the API refuses the viewer anyway, whatever a page shows
        login = await api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        viewer = {"Authorization": f"Bearer {login.json()['token']}"}
        refused = await api.post(
            f"/v1/projects/{owner.project_id}/keys", json={"name": "x"}, headers=viewer
        )
        assert refused.status_code == 403, refused.text
        await console.goto(f"/orgs/{owner.org_slug}/members")
        await expect(page.get_by_role("cell", name=email, exact=True)).to_be_visible()
        await expect(page.get_by_role("cell", name="viewer", exact=True)).to_be_visible()
        assert await page.get_by_role("button", name="Invite").count() == 0
        assert await page.get_by_role("link", name="Audit log").count() == 0
        assert console.errors == []
        assert admin.errors == []
        await page.context.close()
        await admin.page.context.close()
