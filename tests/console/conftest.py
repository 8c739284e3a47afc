"""The console's browser tests run against real processes: the API under uvicorn serving the
built console, a Dramatiq worker (it sends the mails), an SMTP server receiving them, a DNS server
answering the SSO domain proofs, and a static OpenID discovery document for SSO set-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from infra.local.victoriametrics import VmInstance
from infra.settings import PROJECT_ROOT
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, DIST
from tests.support import processes
from tests.support.dns import DnsZone, dns_server
from tests.support.smtp import SmtpServer

WORKER = (sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "2")


@dataclass(frozen=True)
class Stack:
    """What the console tests talk to."""

    url: str
    smtp: SmtpServer
    dns: DnsZone
    issuer: str


class _Discovery(BaseHTTPRequestHandler):
    """Answers an OpenID discovery document naming itself as the issuer (no login happens)."""

    def do_GET(self) -> None:
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/auth",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "code_challenge_methods_supported": ["S256"],
            }
        ).encode()
        self.send_response(200 if self.path.endswith("/openid-configuration") else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="session")
def discovery() -> Iterator[str]:
    """The issuer URL of a static discovery document on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def stack(
    vm_stores: list[VmInstance],
    migrated_database: str,
    smtp_server: SmtpServer,
    discovery: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The API (with the console built by `make test`) and a worker mailing through SMTP, once
    for every browser test module."""
    if not (DIST / "index.html").is_file():
        pytest.fail("console/dist is missing: run `make test` (or `cd console && npm run build`)")
    if not CHROMIUM.is_file():
        pytest.fail("/usr/bin/chromium is missing: run `bash scripts/ensure-browser.sh`")
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("console-stack")
    with dns_server() as zone:
        env = os.environ | {
            "PUBLIC_URL": url,
            "SMTP_URL": smtp_server.url,
            "DOMAIN_VERIFY_NAMESERVERS": zone.nameserver,
        }
        with (logs / "worker.log").open("wb") as out:
            worker = subprocess.Popen(
                [*WORKER],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            command = processes.uvicorn_command(port)
            with processes.running(command, f"{url}/health", logs / "api.log", env=env):
                yield Stack(url=url, smtp=smtp_server, dns=zone, issuer=discovery)
        finally:
            processes.stop(worker)


@pytest.fixture(scope="session")
def console_url(stack: Stack) -> str:
    return stack.url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def api(console_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_url, timeout=10.0, trust_env=False) as client:
        yield client
