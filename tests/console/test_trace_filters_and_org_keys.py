"""The console in chromium: a shared, filtered trace list (service, errors only, duration, time
range in the URL) answered by the API's filters; an org admin key created with its secret shown
once, working, then revoked; the org exported and deleted after typing its slug."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Browser, expect

from tests.console.browser import SEARCH_SECONDS, log_in, open_console
from tests.console.conftest import Stack
from tests.support.tenants import project_key, sign_up


def _span(service: str, name: str, ms: int, status: str, start: datetime) -> dict[str, object]:
    return {
        "trace_id": secrets.token_hex(16),
        "span_id": secrets.token_hex(8),
        "name": name,
        "service_id": service,
        "start_time": start.isoformat(),
        "duration_ms": ms,
        "status": status,
    }


async def _searchable(api: httpx.AsyncClient, path: str, auth: dict[str, str], n: int) -> None:
    """Wait (bounded) until the store answers `n` traces: spans are queryable within seconds."""
    deadline = time.monotonic() + SEARCH_SECONDS
    while time.monotonic() < deadline:
        found = await api.get(path, headers=auth)
        if found.status_code == 200 and len(found.json()["items"]) >= n:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never answered {n} traces")


class TestTraceFiltersAndOrgKeys:
    async def test_filtered_traces_url_and_an_org_key_shown_once(
        self, browser: Browser, stack: Stack, api: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(api, "filters")
        secret = (await project_key(api, owner, scopes=["traces:write", "traces:read"]))["key"]
        auth = {"Authorization": f"Bearer {secret}"}
        start = datetime.now(UTC) - timedelta(seconds=5)
        spans = [
            _span("checkout", "GET /pay", 300, "error", start),
            _span("checkout", "GET /cart", 10, "ok", start),
            _span("search", "GET /find", 20, "ok", start),
        ]
        sent = await api.post(f"/p/{owner.project_id}/ingest/spans", json=spans, headers=auth)
        assert sent.status_code in (200, 202), sent.text
        await _searchable(api, f"/p/{owner.project_id}/traces", auth, 3)

        console = await open_console(browser, stack.url)
        page = console.page
        await log_in(console, owner.email, owner.password)

        # a shared link: the filters come from the URL and reach the API
        traces = f"/orgs/{owner.org_slug}/projects/{owner.project_id}/traces"
        await console.goto(f"{traces}?service=checkout&status=error&min_duration_ms=100&range=1h")
        await page.get_by_label("Project key").fill(secret)
        await page.get_by_role("button", name="Use this key").click()
        await expect(page.get_by_role("link", name="checkout: GET /pay")).to_be_visible()
        await expect(page.get_by_role("link", name="checkout: GET /cart")).to_have_count(0)
        await expect(page.get_by_role("link", name="search: GET /find")).to_have_count(0)
        await expect(page.get_by_label("Service")).to_have_value("checkout")
        await expect(page.get_by_label("Errors only")).to_be_checked()

        # changing the filters in the form rewrites the URL (shareable) and the list
        await page.get_by_label("Errors only").uncheck()
        await page.get_by_label("Min duration (ms)").fill("")
        await page.get_by_role("button", name="Filter").click()
        await expect(page).to_have_url(re.compile(r"\?service=checkout&range=1h$"))
        await expect(page.get_by_role("link", name="checkout: GET /cart")).to_be_visible()
        await expect(page.get_by_role("link", name="checkout: GET /pay")).to_be_visible()
        await expect(page.get_by_role("link", name="search: GET /find")).to_have_count(0)
        await console.snapshot("traces-filtered")

        # an org admin key: the secret once, usable, then revoked
        await console.goto(f"/orgs/{owner.org_slug}/settings")
        await page.get_by_role("link", name="Org admin keys").click()
        await page.get_by_label("Key name").fill("terraform")
        await page.get_by_role("button", name="Create org key").click()
        org_secret = await page.get_by_test_id("org-key-secret").inner_text()
        assert org_secret.startswith("tgo_")
        org_auth = {"Authorization": f"Bearer {org_secret}"}
        listed = await api.get(f"/v1/orgs/{owner.org_id}/projects", headers=org_auth)
        assert listed.status_code == 200, listed.text
        await page.get_by_role("button", name="I have stored it").click()
        await expect(page.get_by_test_id("org-key-secret")).to_have_count(0)
        row = page.get_by_role("row", name=re.compile("^terraform"))
        await expect(row).to_contain_text("org:admin")
        assert org_secret not in await page.content()
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await row.get_by_role("button", name="Revoke terraform").click()
        await expect(row).to_contain_text("revoked")
        refused = await api.get(f"/v1/orgs/{owner.org_id}/projects", headers=org_auth)
        assert refused.status_code == 401, refused.text

        # export (a download with the session cookie) and deletion after typing the slug
        await console.goto(f"/orgs/{owner.org_slug}/settings")
        href = await page.get_by_role("link", name="Download the export").get_attribute("href")
        assert href == f"/v1/orgs/{owner.org_id}/export"
        exported = await page.request.get(stack.url + href)
        assert exported.status == 200
        last = json.loads((await exported.text()).strip().splitlines()[-1])
        assert last["type"] == "end"
        delete = page.get_by_role("button", name=re.compile("^Delete "))
        await expect(delete).to_be_disabled()
        await page.get_by_label(re.compile("^Type the slug")).fill(owner.org_slug)
        await delete.click()
        await expect(page.get_by_text("You are not in any organization yet.")).to_be_visible()
        gone = await api.get(f"/v1/orgs/{owner.org_id}", headers=owner.auth)
        assert gone.status_code in (403, 404), gone.text
        assert console.errors == []
