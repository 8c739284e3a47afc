"""Detached local processes for the store launchers: spawn, pid files, liveness, stop, locks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class LaunchError(RuntimeError):
    """A local process could not be fetched, started or stopped."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive file lock, so two launchers never start the same instance at once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def alive(pid: int) -> bool:
    """Whether the process runs (an exited child of ours is reaped, a zombie is not alive)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an unreaped zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False  # it exited between the two checks


def argv(pid: int) -> list[str]:
    """The process's command line ([] when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in the file if that process is alive and its argv holds `marker`; else None.

    The marker guards against a pid reused by an unrelated process since; a stale file is removed.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if alive(pid) and marker in argv(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def port_taken(host: str, port: int) -> bool:
    """Whether something else listens on the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go does
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def spawn(binary: Path, command: list[str], log_file: Path, pid_file: Path) -> int:
    """Start a detached process (its own session, so it survives the launching shell and its
    Ctrl-C) with output to the log, and write its pid file atomically."""
    with log_file.open("wb") as log:
        pid = os.posix_spawn(
            binary,
            command,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
            ],
            setsid=True,
        )
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)
    return pid


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout`; raise if it survives both."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)
    raise LaunchError(f"pid {pid} survived SIGKILL")


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(
    pid: int, healthy: Callable[[], bool], what: str, log_file: Path, timeout: float
) -> None:
    """Wait until `healthy()`; raise with the log's tail if the process exits or times out."""
    deadline = time.monotonic() + timeout
    while not healthy():
        if not alive(pid) or time.monotonic() > deadline:
            state = "exited" if not alive(pid) else f"not healthy after {timeout}s"
            raise LaunchError(f"{what} {state}; {log_file} ends with:\n{tail(log_file)}")
        time.sleep(0.1)
