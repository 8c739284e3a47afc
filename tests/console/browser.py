"""Driving the console in chromium: a page with the console errors it logged, snapshots at both
viewport sizes (checked for horizontal scrolling), keyboard login, and waiting for mail."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, expect

from infra.settings import PROJECT_ROOT
from tests.support.smtp import ReceivedMail, SmtpServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DIST = PROJECT_ROOT / "console" / "dist"
ARTIFACTS = PROJECT_ROOT / ".cache" / "artifacts" / "console"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"
SEARCH_SECONDS = 15.0
MAIL_SECONDS = 20.0
# The last elements sticking out of the viewport, or whose text overflows them (for the
# failure message).
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')
  .slice(-5)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


class Console:
    """A page of the console with the console errors it logged."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def expected_failures(self, status: int) -> None:
        """Drop the browser's own "failed to load" lines for responses the step expects."""
        self.errors = [e for e in self.errors if f"status of {status}" not in e]

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def snapshot(self, name: str) -> None:
        """Screenshots at both sizes, each checked for horizontal scrolling."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await self.page.set_viewport_size(size)
            # let resize observers (the chart) lay out again
            await self.page.evaluate(
                "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
            )
            overflow = await self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                wide = await self.page.evaluate(WIDEST)
                pytest.fail(f"{name} scrolls horizontally by {overflow}px at {label}: {wide}")
            await self.page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        await self.page.set_viewport_size(DESKTOP)


async def open_console(browser: Browser, base_url: str) -> Console:
    context = await browser.new_context(viewport=DESKTOP, base_url=base_url)
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    return Console(await context.new_page(), base_url)


async def log_in(console: Console, email: str, password: str = PASSWORD) -> None:
    """Log in through the form."""
    page = console.page
    await console.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def log_in_with_the_keyboard(console: Console, email: str) -> None:
    """Tab through the login form and submit with Enter; the focused field shows an outline."""
    page = console.page
    await console.goto("/")
    await expect(page).to_have_url(re.compile(r"/login"))
    await expect(page.get_by_label("Email")).to_be_visible()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.type") == "email"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def mail_to(smtp: SmtpServer, address: str, subject: str) -> ReceivedMail:
    """The newest mail for an address whose subject has `subject`, as the worker sent it."""
    deadline = time.monotonic() + MAIL_SECONDS
    while True:
        found = [m for m in smtp.to(address) if subject.lower() in m.subject.lower()]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no {subject!r} mail for {address}"
        await asyncio.sleep(0.1)


def mailed_link(mail: ReceivedMail, path: str) -> str:
    """The console link of a mail (`<PUBLIC_URL><path>#token=…`)."""
    found = re.search(rf"(https?://\S+{re.escape(path)}#token=[A-Za-z0-9_]+)", mail.text)
    assert found, mail.text
    return found.group(1)
