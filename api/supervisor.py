"""`tollgate run`: starts API, worker and scheduler as child processes and stops them together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from infra.settings import Settings

STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Child:
    """A supervised process."""

    name: str
    argv: list[str]


def children(settings: Settings) -> list[Child]:
    """The processes that make up the product."""
    python = sys.executable
    return [
        Child(
            "api",
            [
                python,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                "--workers",
                str(settings.api_workers),
                "--no-access-log",
                # X-Forwarded-For is applied by the app, from TRUSTED_PROXIES only.
                "--no-proxy-headers",
                "--timeout-graceful-shutdown",
                "10",
            ],
        ),
        Child(
            "worker",
            [python, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "4"],
        ),
        Child("scheduler", [python, "-m", "api.cli", "scheduler"]),
    ]


class Supervisor:
    """Runs children until one dies or we are told to stop; then stops all of them."""

    def __init__(self, specs: list[Child], env: dict[str, str]) -> None:
        self._specs = specs
        self._env = env
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False

    def start(self) -> None:
        """Start every child in its own process group."""
        for spec in self._specs:
            self._procs[spec.name] = subprocess.Popen(  # noqa: S603 (argv built above)
                spec.argv, env=self._env, start_new_session=True
            )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def wait(self, on_tick: Callable[[], None] | None = None) -> int:
        """Block until a stop signal or a child's death; return the exit code."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        code = 0
        while not self._stopping:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    print(f"tollgate: {name} exited with {proc.returncode}; stopping", flush=True)
                    code = proc.returncode or 1
                    self._stopping = True
                    break
            if on_tick and not self._stopping:
                on_tick()
            time.sleep(0.2)
        self.stop()
        return code

    def stop(self) -> None:
        """SIGTERM every child, then SIGKILL those still running after the timeout."""
        for proc in self._procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
