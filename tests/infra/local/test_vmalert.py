"""The local vmalert launcher: one process per (tier, shard), pid files, reuse, clean stop."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from infra.local import vmalert
from infra.local.victoriametrics import VmInstance, ensure_binary
from infra.settings import PROJECT_ROOT, Settings, Tier
from tests.support.servers import free_port


def test_every_tier_gets_its_shards_on_distinct_ports_and_directories(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "vmalert_shards", 3)
    monkeypatch.setattr(settings, "vmalert_base_port", 19000)
    found = vmalert.instances_from_settings(settings)
    assert len(found) == 9
    assert len({i.port for i in found}) == len({i.rules_dir for i in found}) == 9
    short = [i for i in found if i.tier is Tier.SHORT]
    assert {i.datasource_url for i in short} == {settings.vm_read_url(Tier.SHORT)}
    assert {i.remote_url for i in short} == {settings.vm_write_url(Tier.SHORT)}
    assert all(i.notifier_url.endswith("/internal/alertmanager") for i in found)
    # the secret is in a file vmalert reads, never on its command line
    command = " ".join(found[0].command(Path("vmalert")))
    assert vmalert.notifier_secret(settings) not in command
    assert "-notifier.bearerTokenFile=" in command


def test_start_reuses_a_live_process_and_stop_is_clean(
    settings: Settings, vm_stores: list[VmInstance], tmp_path: Path
) -> None:
    binary = ensure_binary(PROJECT_ROOT / ".cache").parent / "vmalert"
    instance = vmalert.VmalertInstance(
        tier=Tier.SHORT,
        shard=0,
        port=free_port(),
        rules_dir=tmp_path / "shard-0",
        datasource_url=settings.vm_read_url(Tier.SHORT),
        remote_url=settings.vm_write_url(Tier.SHORT),
        notifier_url="http://127.0.0.1:9/internal/alertmanager",
        secret="s3cret",
    )
    vmalert.start(instance, binary)
    try:
        pid = int(instance.pid_file.read_text())
        assert vmalert.is_healthy(instance)
        assert instance.secret_file.read_text() == "s3cret"
        assert oct(instance.secret_file.stat().st_mode & 0o777) == "0o600"
        vmalert.start(instance, binary)  # the same flags: the same process
        assert int(instance.pid_file.read_text()) == pid
        vmalert.reload(instance.url)
        answer = httpx.get(f"{instance.url}/api/v1/rules", timeout=2.0).json()
        assert not answer["data"]["groups"]  # only the placeholder file
    finally:
        assert vmalert.stop(instance) is True
    assert not instance.pid_file.exists()
    assert vmalert.stop(instance) is False
