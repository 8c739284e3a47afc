"""Settings come from the environment, with working local defaults."""

from __future__ import annotations

import pytest

from infra.settings import Settings, Tier


class TestSettings:
    def test_defaults_work_locally(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("DATABASE_URL", "API_PORT", "VM_LONG_READ_URL", "OPENSEARCH_URL"):
            monkeypatch.delenv(name, raising=False)
        settings = Settings()
        assert settings.base_url == "http://127.0.0.1:8000"
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.vm_read_url(Tier.LONG) == "http://127.0.0.1:8430"
        assert settings.log_store_backend == "postgres"

    def test_environment_overrides(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("API_PORT", "9000")
        monkeypatch.setenv("OPENSEARCH_URL", "http://os:9200")
        monkeypatch.setenv("VM_SHORT_READ_URL", "http://vmselect:8481/select/0/prometheus")
        settings = Settings()
        assert settings.api_port == 9000
        assert settings.log_store_backend == "opensearch"
        assert settings.vm_read_url(Tier.SHORT).endswith("/select/0/prometheus")

    def test_secrets_do_not_print(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("STRIPE_API_KEY", "sk_test_secret")
        assert "sk_test_secret" not in repr(Settings())
