"""`tollgate run` brings API, worker and scheduler up together and stops them together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from infra.local.victoriametrics import VmInstance


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TestRun:
    def test_run_serves_ready_and_stops_cleanly_on_sigterm(
        self, migrated_database: str, vm_stores: list[VmInstance]
    ) -> None:
        port = _free_port()
        env = dict(os.environ, API_PORT=str(port), LOG_LEVEL="WARNING")
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            banner = ""
            deadline = time.monotonic() + 60
            while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    break
                banner += line
            assert f"http://127.0.0.1:{port}" in banner, banner
            ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
            assert ready.status_code == 200, ready.text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the API outlived its supervisor"
