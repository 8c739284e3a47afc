"""Local vmalert: one process per (storage tier, shard), run from the Debian package's binary.

Each process reads the rule files of its shard (`<data_dir>/vmalert/<tier>/shard-<n>/*.yml`,
one file per project, written by the alerting renderer), queries its tier's VictoriaMetrics,
writes alert state back to it (so `for` survives a restart), and notifies Tollgate's internal
Alertmanager-compatible receiver with a shared bearer secret.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.local import process
from infra.local.victoriametrics import START_TIMEOUT_SECONDS, VmLaunchError, ensure_binary
from infra.settings import PROJECT_ROOT, Settings, Tier

DEV_NOTIFIER_SECRET = "tollgate-dev-vmalert-notifier"  # noqa: S105 (dev/test only, never prod)
PLACEHOLDER = "_empty.yml"
RECEIVER_PATH = "/internal/alertmanager"


def notifier_secret(settings: Settings) -> str:
    """The bearer secret vmalert sends; empty in prod when unset (the receiver refuses all)."""
    secret = settings.vmalert_notifier_secret.get_secret_value()
    if secret or settings.env == "prod":
        return secret
    return DEV_NOTIFIER_SECRET


def find_binary(settings: Settings) -> Path | None:
    """The unpacked vmalert binary (where `stores start` put it), or one on PATH."""
    for candidate in (
        settings.data_dir.parent / "vm" / "usr" / "bin" / "vmalert",
        PROJECT_ROOT / ".cache" / "vm" / "usr" / "bin" / "vmalert",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("vmalert")
    return Path(found) if found else None


def shard_dir(settings: Settings, tier: Tier, shard: int) -> Path:
    """The directory holding one shard's rule files."""
    return settings.data_dir / "vmalert" / tier.value / f"shard-{shard}"


def shard_port(settings: Settings, tier: Tier, shard: int) -> int:
    """The loopback port of one (tier, shard) process."""
    return settings.vmalert_base_port + list(Tier).index(tier) * settings.vmalert_shards + shard


@dataclass(frozen=True)
class VmalertInstance:
    """One vmalert process: its tier, shard, port, rule directory and upstreams."""

    tier: Tier
    shard: int
    port: int
    rules_dir: Path
    datasource_url: str
    remote_url: str
    notifier_url: str
    secret: str
    interval_seconds: int = 60
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """Base URL of its HTTP API (`/-/reload`, `/api/v1/rules`)."""
        return f"http://{self.host}:{self.port}"

    @staticmethod
    def url_of(settings: Settings, tier: Tier, shard: int) -> str:
        """The base URL of the (tier, shard) process."""
        return f"http://127.0.0.1:{shard_port(settings, tier, shard)}"

    @property
    def pid_file(self) -> Path:
        """Where the running process's id is kept."""
        return self.rules_dir / "vmalert.pid"

    @property
    def log_file(self) -> Path:
        """stdout and stderr of the current process."""
        return self.rules_dir / "vmalert.log"

    @property
    def secret_file(self) -> Path:
        """The notifier bearer secret (a file: it must not appear in `ps`)."""
        return self.rules_dir / "notifier.secret"

    def command(self, binary: Path) -> list[str]:
        """The command line that runs this instance."""
        return [
            str(binary),
            f"-httpListenAddr={self.host}:{self.port}",
            f"-rule={self.rules_dir}/*.yml",
            f"-datasource.url={self.datasource_url}",
            f"-remoteWrite.url={self.remote_url}",
            f"-remoteRead.url={self.remote_url}",
            f"-notifier.url={self.notifier_url}",
            f"-notifier.bearerTokenFile={self.secret_file}",
            f"-evaluationInterval={self.interval_seconds}s",
            "-remoteWrite.flushInterval=1s",
            "-loggerLevel=WARN",
        ]


def instances_from_settings(settings: Settings) -> list[VmalertInstance]:
    """Every (tier, shard) process this machine runs, aimed at the tiers' stores."""
    notifier = (settings.vmalert_notifier_url or settings.base_url).rstrip("/") + RECEIVER_PATH
    return [
        VmalertInstance(
            tier=tier,
            shard=shard,
            port=shard_port(settings, tier, shard),
            rules_dir=shard_dir(settings, tier, shard),
            datasource_url=settings.vm_read_url(tier),
            remote_url=settings.vm_write_url(tier),
            notifier_url=notifier,
            secret=notifier_secret(settings),
        )
        for tier in Tier
        for shard in range(settings.vmalert_shards)
    ]


def _running_pid(instance: VmalertInstance) -> int | None:
    """The live pid of this shard's vmalert, from its pid file."""
    return process.running_pid(instance.pid_file, f"-rule={instance.rules_dir}/*.yml")


def is_healthy(instance: VmalertInstance) -> bool:
    """Whether /health answers OK."""
    try:
        response = httpx.get(f"{instance.url}/health", timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start(instance: VmalertInstance, binary: Path) -> None:
    """Start the instance; reuse a live one with the same flags, restart one with other flags."""
    instance.rules_dir.mkdir(parents=True, exist_ok=True)
    placeholder = instance.rules_dir / PLACEHOLDER
    if not placeholder.exists():  # vmalert refuses a -rule glob that matches nothing
        placeholder.write_text("groups: []\n")
    with process.locked(instance.rules_dir / "launch.lock"):
        secret_tmp = instance.secret_file.with_suffix(".tmp")
        secret_tmp.write_text(instance.secret)
        secret_tmp.chmod(0o600)
        secret_tmp.replace(instance.secret_file)
        pid = _running_pid(instance)
        wanted = instance.command(binary)
        if pid is not None and process.argv(pid)[1:] == wanted[1:]:
            _wait_healthy(instance, pid)
            return
        if pid is not None:
            process.terminate(pid, timeout=10)
            instance.pid_file.unlink(missing_ok=True)
        if process.port_taken(instance.host, instance.port):
            raise VmLaunchError(
                f"{instance.host}:{instance.port} (vmalert {instance.tier.value}/{instance.shard})"
                " is taken by another process: stop it or set VMALERT_BASE_PORT"
            )
        pid = process.spawn(binary, wanted, instance.log_file, instance.pid_file)
        try:
            _wait_healthy(instance, pid)
        except VmLaunchError:
            process.terminate(pid, timeout=5)
            instance.pid_file.unlink(missing_ok=True)
            raise


def stop(instance: VmalertInstance, timeout: float = 10) -> bool:
    """Stop the instance; False when it was not running."""
    if not instance.rules_dir.is_dir():
        return False
    with process.locked(instance.rules_dir / "launch.lock"):
        pid = _running_pid(instance)
        if pid is not None:
            process.terminate(pid, timeout)
        instance.pid_file.unlink(missing_ok=True)
        return pid is not None


def start_all(settings: Settings, cache_root: Path | None = None) -> list[VmalertInstance]:
    """Start (or reuse) every (tier, shard) vmalert."""
    instances = instances_from_settings(settings)
    vm_binary = ensure_binary(cache_root or settings.data_dir.parent)
    for instance in instances:
        start(instance, vm_binary.parent / "vmalert")
    return instances


def stop_all(settings: Settings) -> list[VmalertInstance]:
    """Stop every (tier, shard) vmalert; returns those that were running."""
    return [instance for instance in instances_from_settings(settings) if stop(instance)]


def status(settings: Settings) -> dict[str, str]:
    """A one-line state per (tier, shard)."""
    states: dict[str, str] = {}
    for instance in instances_from_settings(settings):
        pid = _running_pid(instance)
        name = f"vmalert {instance.tier.value}/{instance.shard}"
        if pid is None:
            states[name] = f"stopped ({instance.url})"
        else:
            health = "running" if is_healthy(instance) else "unhealthy"
            states[name] = f"{health} pid={pid} {instance.url}"
    return states


def reload(instance_url: str, timeout: float = 5.0) -> None:
    """Ask a vmalert to re-read its rule files (it keeps the old ones if the new do not load)."""
    response = httpx.get(f"{instance_url}/-/reload", timeout=timeout, trust_env=False)
    response.raise_for_status()


def _wait_healthy(instance: VmalertInstance, pid: int) -> None:
    process.wait_healthy(
        pid,
        lambda: is_healthy(instance),
        f"vmalert ({instance.tier.value}/{instance.shard}, {instance.url})",
        instance.log_file,
        START_TIMEOUT_SECONDS,
    )
