"""`tollgate run --demo` prints curl lines that work as printed against the running API."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.demo import demo_banner
from infra.local.victoriametrics import VmInstance
from infra.settings import PROJECT_ROOT, Settings
from tests.support import processes

BUILT = (PROJECT_ROOT / "console" / "dist" / "index.html").is_file()


@pytest.fixture(scope="module")
def api_port(
    vm_stores: list[VmInstance], migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The API under uvicorn on a free port, with this test session's environment."""
    port = processes.free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "api.log"
    with processes.running(processes.uvicorn_command(port), f"http://127.0.0.1:{port}/health", log):
        yield port


def test_every_printed_curl_line_succeeds(
    settings: Settings, api_port: int, tmp_path: Path
) -> None:
    lines = demo_banner(settings.model_copy(update={"api_port": api_port}))
    curls = [line.strip() for line in lines if line.strip().startswith("curl ")]
    assert len(curls) >= 5
    answers: dict[str, Any] = {}
    for curl in curls:
        # -w appends the status code on its own line after the body.
        command = [*shlex.split(curl), "-w", "\n%{http_code}", "--max-time", "10"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (curl, result.stderr)
        body, _, status = result.stdout.rpartition("\n")
        assert status.startswith("2"), (curl, status, body)
        answers[curl] = json.loads(body) if body else None  # every answer is JSON
    [search] = [answer for curl, answer in answers.items() if "logs/search" in curl]
    assert search["items"][0]["body"] == "Database timeout"


def test_a_second_run_reuses_the_demo_org(settings: Settings, api_port: int) -> None:
    first = demo_banner(settings.model_copy(update={"api_port": api_port}))
    again = demo_banner(settings.model_copy(update={"api_port": api_port}))
    org_line = next(line for line in first if line.startswith("Demo org"))
    assert org_line in again
    assert any("(existing)" in line for line in again)


def test_the_console_line_opens_the_console(settings: Settings, api_port: int) -> None:
    running = settings.model_copy(update={"api_port": api_port})
    lines = demo_banner(running)
    [line] = [line for line in lines if line.startswith("Console: ")]
    urls = re.findall(r"https?://\S+[^)\s]", line)
    assert urls[0] == f"{running.base_url}/"
    assert urls[1].startswith(f"{running.base_url}/orgs/")
    assert "/projects/prj_" in urls[1]
    for url in urls:  # the console's page (or, without a build, the page saying how to build it)
        answer = httpx.get(url, headers={"accept": "text/html"}, trust_env=False, timeout=10)
        assert answer.headers["content-type"].startswith("text/html"), url
        assert answer.status_code == (200 if BUILT else 404), url
