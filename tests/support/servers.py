"""The real API in subprocesses (uvicorn), sharing the test process's database and Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ApiProcess:
    """One `uvicorn api.app:create_app --factory` process and where it listens."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def output(self) -> str:
        """What the process printed so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Terminate gracefully (lifespan shutdown), kill if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log_path.unlink(missing_ok=True)


def start_api(**env: str) -> ApiProcess:
    """Start an API process with this process's environment (plus `env`); it boots in the
    background while the caller goes on (see `wait_healthy`)."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix="tollgate-api-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=os.environ | env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ApiProcess(process, f"http://127.0.0.1:{port}", Path(name))


async def wait_healthy(api: ApiProcess) -> None:
    """Return once the process answers /health; raise with its output if it dies or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=api.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if api.process.poll() is not None:
                raise RuntimeError(f"API exited with {api.process.returncode}:\n{api.output()}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"API did not become healthy:\n{api.output()}")
