"""The local VictoriaMetrics launcher, against the real binary from the Debian package."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.victoriametrics import (
    VmInstance,
    VmLaunchError,
    ensure_binary,
    flush,
    instances_from_settings,
    is_healthy,
    start,
    start_all,
    status,
    stop,
    stop_all,
)
from infra.settings import PROJECT_ROOT, TIER_RETENTION_DAYS, Settings, Tier

CACHE_ROOT = PROJECT_ROOT / ".cache"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_with(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **urls: str) -> Settings:
    """Settings whose tier write URLs are `urls` (tier name -> URL), data under data_dir."""
    monkeypatch.setenv("TOLLGATE_DATA_DIR", str(data_dir))
    for tier in Tier:
        monkeypatch.setenv(f"VM_{tier.value.upper()}_WRITE_URL", urls[tier.value])
    return Settings()


def pid_of(instance: VmInstance) -> int:
    return int(instance.pid_file.read_text())


def process_exists(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def binary() -> Path:
    return ensure_binary(CACHE_ROOT)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[VmInstance]:
    vm = VmInstance(Tier.SHORT, "127.0.0.1", free_port(), 7, tmp_path / "vm" / "short")
    yield vm
    stop(vm)


class TestInstancesFromSettings:
    def test_one_instance_per_loopback_tier(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        settings = settings_with(
            monkeypatch,
            tmp_path,
            short="http://127.0.0.1:18428",
            standard="http://localhost:18429/",
            long="http://[::1]:18430",
        )
        instances = instances_from_settings(settings)
        assert [(i.tier, i.host, i.port) for i in instances] == [
            (Tier.SHORT, "127.0.0.1", 18428),
            (Tier.STANDARD, "127.0.0.1", 18429),
            (Tier.LONG, "::1", 18430),
        ]
        assert [i.retention_days for i in instances] == [7, 30, 90]
        assert instances[0].data_dir == tmp_path / "vm" / "short"
        assert instances[2].url == "http://[::1]:18430"

    def test_remote_and_cluster_urls_are_not_launched(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        settings = settings_with(
            monkeypatch,
            tmp_path,
            short="http://127.0.0.1:18428",
            standard="http://vm.internal:8428",
            long="http://127.0.0.1:8480/insert/0/prometheus",
        )
        assert [i.tier for i in instances_from_settings(settings)] == [Tier.SHORT]
        assert status(settings)["standard"].startswith("remote http://vm.internal:8428")

    def test_tiers_sharing_an_address_are_refused(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        url = "http://127.0.0.1:18428"
        settings = settings_with(monkeypatch, tmp_path, short=url, standard=url, long=url)
        with pytest.raises(VmLaunchError, match="share"):
            instances_from_settings(settings)


class TestEnsureBinary:
    def test_reuses_the_unpacked_binary(self, binary: Path) -> None:
        started = time.monotonic()
        assert ensure_binary(CACHE_ROOT) == binary
        assert time.monotonic() - started < 2
        assert binary.is_file()
        assert os.access(binary, os.X_OK)


class TestStart:
    def test_written_sample_is_queryable_by_tenant(
        self, binary: Path, instance: VmInstance
    ) -> None:
        start(instance, binary)
        with httpx.Client(base_url=instance.url, timeout=5, trust_env=False) as client:
            written = client.post(
                "/api/v1/import/prometheus",
                params={"extra_label": "tenant=t1"},
                content=b'tollgate_probe{job="x",tenant="forged"} 42\n',
            )
            assert written.status_code == 204
            flush(instance)
            deadline = time.monotonic() + 10
            result: list[dict[str, object]] = []
            while not result and time.monotonic() < deadline:
                time.sleep(0.2)
                answer = client.get("/api/v1/query", params={"query": "tollgate_probe"})
                result = answer.json()["data"]["result"]
            other = client.get(
                "/api/v1/query", params={"query": "tollgate_probe", "extra_label": "tenant=t2"}
            )
        assert len(result) == 1
        assert result[0]["metric"] == {"__name__": "tollgate_probe", "job": "x", "tenant": "t1"}
        assert result[0]["value"][1] == "42"  # type: ignore[index]
        assert other.json()["data"]["result"] == []

    def test_starting_twice_reuses_the_process(self, binary: Path, instance: VmInstance) -> None:
        start(instance, binary)
        first = pid_of(instance)
        start(instance, binary)
        assert pid_of(instance) == first
        assert is_healthy(instance)

    def test_changed_flags_restart_the_process(self, binary: Path, instance: VmInstance) -> None:
        start(instance, binary)
        first = pid_of(instance)
        start(instance, binary, memory_allowed_bytes=128 * 1024 * 1024)
        assert pid_of(instance) != first
        assert not process_exists(first)
        flags = httpx.get(f"{instance.url}/flags", trust_env=False).text
        assert '-memory.allowedBytes="134217728"' in flags

    def test_stale_pid_file_is_replaced(self, binary: Path, instance: VmInstance) -> None:
        gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
        instance.data_dir.mkdir(parents=True)
        instance.pid_file.write_text(gone.stdout)
        start(instance, binary)
        assert pid_of(instance) != int(gone.stdout)
        assert is_healthy(instance)

    def test_retention_is_the_tiers(self, binary: Path, tmp_path: Path) -> None:
        vm = VmInstance(Tier.LONG, "127.0.0.1", free_port(), 90, tmp_path / "long")
        start(vm, binary)
        try:
            flags = httpx.get(f"{vm.url}/flags", trust_env=False).text
        finally:
            stop(vm)
        assert '-retentionPeriod="90d"' in flags
        assert '-search.latencyOffset="1s"' in flags

    def test_occupied_port_is_refused(self, binary: Path, instance: VmInstance) -> None:
        with socket.socket() as squatter:
            squatter.bind((instance.host, instance.port))
            squatter.listen()
            with pytest.raises(VmLaunchError, match="taken by another process"):
                start(instance, binary)
        assert not instance.pid_file.exists()

    def test_failed_start_reports_the_log(self, tmp_path: Path, instance: VmInstance) -> None:
        broken = tmp_path / "broken-vm"
        broken.write_text("#!/bin/sh\necho 'cannot open storage: boom' >&2\nexit 1\n")
        broken.chmod(0o755)
        with pytest.raises(VmLaunchError, match="exited") as failure:
            start(instance, broken)
        assert "cannot open storage: boom" in str(failure.value)
        assert not instance.pid_file.exists()


class TestStop:
    def test_stop_ends_the_process(self, binary: Path, instance: VmInstance) -> None:
        start(instance, binary)
        pid = pid_of(instance)
        assert stop(instance)
        assert not is_healthy(instance)
        assert not process_exists(pid)
        assert not instance.pid_file.exists()
        assert not stop(instance)

    def test_stop_without_start_is_a_no_op(self, instance: VmInstance) -> None:
        assert not stop(instance)


class TestAll:
    def test_start_all_status_stop_all(
        self, binary: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        urls = {tier.value: f"http://127.0.0.1:{free_port()}" for tier in Tier}
        settings = settings_with(monkeypatch, tmp_path / "tollgate", **urls)
        try:
            instances = start_all(settings, cache_root=CACHE_ROOT)
            assert all(is_healthy(i) for i in instances)
            assert [i.retention_days for i in instances] == [TIER_RETENTION_DAYS[t] for t in Tier]
            states = status(settings)
            assert all(states[t.value].startswith("running pid=") for t in Tier)
        finally:
            stopped = stop_all(settings)
        assert len(stopped) == 3
        assert all(state.startswith("stopped") for state in status(settings).values())
