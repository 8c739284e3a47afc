"""An OpenSearch for tests: osmem-server (in-memory, OpenSearch-compatible) on loopback.

`opensearch_url` is a session fixture: the URL of a real cluster when `OPENSEARCH_URL` is set,
else of an osmem-server this session starts (and stops). Tests isolate themselves with an index
prefix of their own rather than a server each.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator

import pytest

STARTUP_TIMEOUT = 20.0


class OsmemProcess:
    """One osmem-server process; `url` is set once it has said it is ready."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start on a free loopback port and wait for the ready line (JSON with the URL)."""
        binary = subprocess.run(
            [sys.executable, "-c", "import osmem_server; print(osmem_server.resolve_binary())"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        self._process = subprocess.Popen(
            [
                binary,
                "--addr",
                "127.0.0.1:0",
                "--no-stdin-watch",
                "--no-ja",
                "--parent-pid",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], STARTUP_TIMEOUT)
        line = self._process.stdout.readline() if ready else ""
        try:
            self.url = str(json.loads(line)["url"])
        except (ValueError, KeyError) as exc:
            self.stop()
            raise RuntimeError(f"osmem-server did not start: {line!r}") from exc
        return self.url

    def stop(self) -> None:
        """Terminate the process and wait for it."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """A real cluster's URL (`OPENSEARCH_URL`) or this session's own osmem-server."""
    configured = os.environ.get("OPENSEARCH_URL")
    if configured:
        yield configured
        return
    server = OsmemProcess()
    yield server.start()
    server.stop()
