"""Local VictoriaMetrics: one process per retention tier, run from the Debian package's binary."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from infra.local import process
from infra.settings import TIER_RETENTION_DAYS, Settings, Tier

PACKAGE = "victoria-metrics"
DEFAULT_MEMORY_ALLOWED_BYTES = 256 * 1024 * 1024
START_TIMEOUT_SECONDS = 15.0


VmLaunchError = process.LaunchError  # a local VictoriaMetrics could not be fetched or started


@dataclass(frozen=True)
class VmInstance:
    """The local process that serves one tier."""

    tier: Tier
    host: str
    port: int
    retention_days: int
    data_dir: Path

    @property
    def address(self) -> str:
        """host:port as Go and URLs spell it (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL for reads and writes."""
        return f"http://{self.address}"

    @property
    def storage_path(self) -> Path:
        """The -storageDataPath directory."""
        return self.data_dir / "storage"

    @property
    def pid_file(self) -> Path:
        """Where the running process's id is kept."""
        return self.data_dir / "victoria-metrics.pid"

    @property
    def log_file(self) -> Path:
        """stdout and stderr of the current process."""
        return self.data_dir / "victoria-metrics.log"

    def command(self, binary: Path, memory_allowed_bytes: int) -> list[str]:
        """The command line that runs this instance."""
        return [
            str(binary),
            f"-httpListenAddr={self.address}",
            f"-storageDataPath={self.storage_path}",
            f"-retentionPeriod={self.retention_days}d",  # a bare number would mean months
            f"-memory.allowedBytes={memory_allowed_bytes}",
            "-search.latencyOffset=1s",  # the default 30 s hides fresh samples from instant queries
            "-search.disableCache",
            # Samples of the same series and timestamp are kept once: a retried tier move
            # (native export/import) must not store them twice.
            "-dedup.minScrapeInterval=1ms",
        ]


def instances_from_settings(settings: Settings) -> list[VmInstance]:
    """One instance per tier whose write URL is a single node on loopback; others are remote."""
    instances: dict[tuple[str, int], VmInstance] = {}
    for tier in Tier:
        parts = urlsplit(settings.vm_write_url(tier))
        host = parts.hostname or ""
        if parts.scheme != "http" or parts.path.strip("/") or not _is_loopback(host):
            continue  # a remote node, TLS, or a cluster path such as /insert/0/prometheus
        host = "127.0.0.1" if host == "localhost" else host
        key = (host, parts.port or 80)
        if key in instances:
            other = instances[key].tier.value
            raise VmLaunchError(
                f"tiers {other} and {tier.value} share {parts.netloc}: each needs its own"
            )
        instances[key] = VmInstance(
            tier, host, key[1], TIER_RETENTION_DAYS[tier], settings.data_dir / "vm" / tier.value
        )
    return list(instances.values())


def ensure_binary(cache_root: Path) -> Path:
    """The victoria-metrics binary, downloaded and unpacked under cache_root on first use."""
    binary = cache_root / "vm" / "usr" / "bin" / "victoria-metrics"
    if not os.access(binary, os.X_OK):
        cache_root.mkdir(parents=True, exist_ok=True)
        with process.locked(cache_root / "vm.lock"):  # parallel test workers share the cache
            if not os.access(binary, os.X_OK):
                _unpack(_download(cache_root / "debs"), cache_root / "vm")
    probe = _run([str(binary), "-version"])
    if probe.returncode != 0 and "libzstd" in probe.stderr:
        _apt("install", "-y", "-q", "--no-install-recommends", "libzstd1")
        probe = _run([str(binary), "-version"])
    if probe.returncode != 0:
        raise VmLaunchError(f"{binary} does not run: {probe.stderr.strip()}")
    return binary


def start(
    instance: VmInstance, binary: Path, memory_allowed_bytes: int = DEFAULT_MEMORY_ALLOWED_BYTES
) -> None:
    """Start the instance; reuse a live one with the same flags, restart one with other flags."""
    instance.storage_path.mkdir(parents=True, exist_ok=True)
    with process.locked(instance.data_dir / "launch.lock"):
        pid = _running_pid(instance)
        wanted = instance.command(binary, memory_allowed_bytes)
        if pid is not None and process.argv(pid)[1:] == wanted[1:]:
            _wait_healthy(instance, pid)
            return
        if pid is not None:  # running with other flags (retention, port, memory): restart it
            process.terminate(pid, timeout=10)
            instance.pid_file.unlink(missing_ok=True)
        if process.port_taken(instance.host, instance.port):
            raise VmLaunchError(
                f"{instance.address} ({instance.tier.value} tier) is taken by another process: "
                f"stop it or set VM_{instance.tier.value.upper()}_WRITE_URL/READ_URL to a free port"
            )
        pid = process.spawn(binary, wanted, instance.log_file, instance.pid_file)
        try:
            _wait_healthy(instance, pid)
        except VmLaunchError:
            process.terminate(pid, timeout=5)
            instance.pid_file.unlink(missing_ok=True)
            raise


def stop(instance: VmInstance, timeout: float = 10) -> bool:
    """Stop the instance; False when it was not running."""
    if not instance.data_dir.is_dir():
        return False
    with process.locked(instance.data_dir / "launch.lock"):
        pid = _running_pid(instance)
        if pid is not None:
            process.terminate(pid, timeout)
        instance.pid_file.unlink(missing_ok=True)
        return pid is not None


def is_healthy(instance: VmInstance) -> bool:
    """Whether /health answers OK."""
    try:
        response = httpx.get(f"{instance.url}/health", timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == "OK"


def flush(instance: VmInstance) -> None:
    """Make just-written new series searchable now instead of after the index flush (tests)."""
    response = httpx.get(f"{instance.url}/internal/force_flush", timeout=5.0, trust_env=False)
    response.raise_for_status()


def start_all(settings: Settings, cache_root: Path | None = None) -> list[VmInstance]:
    """Start (or reuse) every loopback tier; cache_root defaults to data_dir's parent."""
    instances = instances_from_settings(settings)
    if instances:
        binary = ensure_binary(cache_root or settings.data_dir.parent)
        for instance in instances:
            start(instance, binary)
    return instances


def stop_all(settings: Settings) -> list[VmInstance]:
    """Stop every loopback tier; returns those that were running."""
    return [instance for instance in instances_from_settings(settings) if stop(instance)]


def status(settings: Settings) -> dict[str, str]:
    """A one-line state per tier."""
    local = {instance.tier: instance for instance in instances_from_settings(settings)}
    states: dict[str, str] = {}
    for tier in Tier:
        instance = local.get(tier)
        if instance is None:
            states[tier.value] = f"remote {settings.vm_write_url(tier)} (not managed here)"
            continue
        pid = _running_pid(instance)
        if pid is None:
            states[tier.value] = f"stopped ({instance.url})"
        else:
            health = "running" if is_healthy(instance) else "unhealthy"
            states[tier.value] = f"{health} pid={pid} {instance.url}"
    return states


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except FileNotFoundError as exc:
        raise VmLaunchError(
            f"{command[0]} not found: local stores need Debian's apt-get/dpkg, "
            "or point VM_<TIER>_WRITE_URL/READ_URL at a running VictoriaMetrics"
        ) from exc


def _apt(*args: str, cwd: Path | None = None) -> None:
    """Run apt-get; when it fails as root, refresh the package lists once and retry."""
    result = _run(["apt-get", *args], cwd)
    if result.returncode != 0 and os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])
        result = _run(["apt-get", *args], cwd)
    if result.returncode != 0:
        hint = "" if os.geteuid() == 0 else " (as root: apt-get update, then retry)"
        raise VmLaunchError(f"apt-get {' '.join(args)} failed{hint}: {result.stderr.strip()}")


def _download(debs: Path) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{PACKAGE}_*.deb")):
        _apt("download", "-q", PACKAGE, cwd=debs)
    return sorted(debs.glob(f"{PACKAGE}_*.deb"))[-1]


def _unpack(deb: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix="vm.unpack-", dir=target.parent))
    result = _run(["dpkg", "-x", str(deb), str(staging)])
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        deb.unlink(missing_ok=True)  # likely a truncated download: fetch it again next time
        raise VmLaunchError(f"dpkg -x {deb} failed: {result.stderr.strip()}")
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)


def _running_pid(instance: VmInstance) -> int | None:
    """The live pid of this instance, from its pid file."""
    return process.running_pid(instance.pid_file, f"-storageDataPath={instance.storage_path}")


def _wait_healthy(instance: VmInstance, pid: int) -> None:
    process.wait_healthy(
        pid,
        lambda: is_healthy(instance),
        f"victoria-metrics ({instance.tier.value}, {instance.url})",
        instance.log_file,
        START_TIMEOUT_SECONDS,
    )
