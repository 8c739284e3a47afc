"""Real servers in subprocesses for black-box tests: the API under uvicorn, vmagent."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VM_BIN = ROOT / ".cache" / "vm" / "usr" / "bin"
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL; always reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def running(
    command: Sequence[str],
    health_url: str,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process, wait (bounded) until `health_url` answers 200, stop it on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env or dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited ({process.returncode}):\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=1.0, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not healthy after {timeout}s:\n{_tail(log)}")
            time.sleep(0.1)
        yield process
    finally:
        stop(process)


def uvicorn_command(port: int, workers: int = 1) -> list[str]:
    """The API as it runs in production, on loopback."""
    command = [
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
        "--no-proxy-headers",
        "--log-level",
        "warning",
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    return command


def vmagent_command(
    port: int, remote_write_url: str, bearer: str, data_dir: Path, scrape_config: Path | None
) -> list[str]:
    """vmagent pushing by remote write to `remote_write_url` with a bearer token."""
    command = [
        str(VM_BIN / "vmagent"),
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-remoteWrite.url={remote_write_url}",
        f"-remoteWrite.bearerToken={bearer}",
        f"-remoteWrite.tmpDataPath={data_dir}",
        "-remoteWrite.flushInterval=200ms",
        "-loggerLevel=WARN",
    ]
    if scrape_config is not None:
        command.append(f"-promscrape.config={scrape_config}")
    return command
