"""Every setting comes from an environment variable; the defaults work on a developer machine."""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Tier(enum.StrEnum):
    """A storage tier: a retention period with its own stores."""

    SHORT = "short"
    STANDARD = "standard"
    LONG = "long"


TIER_RETENTION_DAYS: dict[Tier, int] = {Tier.SHORT: 7, Tier.STANDARD: 30, Tier.LONG: 90}


class Settings(BaseSettings):
    """Tollgate's configuration, read once per process."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    env: Literal["dev", "test", "prod"] = Field("dev", alias="TOLLGATE_ENV")
    api_host: str = Field("127.0.0.1", alias="API_HOST")
    api_port: int = Field(8000, alias="API_PORT")
    api_workers: int = Field(1, alias="API_WORKERS", ge=1)
    public_url: str = Field("", alias="PUBLIC_URL")
    log_level: str = Field("INFO", alias="LOG_LEVEL")

    database_url: str = Field(
        "postgresql+asyncpg://tollgate_app:tollgate_app@127.0.0.1:5432/tollgate",
        alias="DATABASE_URL",
    )
    database_admin_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/tollgate", alias="DATABASE_ADMIN_URL"
    )
    database_pool_size: int = Field(10, alias="DATABASE_POOL_SIZE", ge=1)
    redis_url: str = Field("redis://127.0.0.1:6379/0", alias="REDIS_URL")

    vm_short_write_url: str = Field("http://127.0.0.1:8428", alias="VM_SHORT_WRITE_URL")
    vm_short_read_url: str = Field("http://127.0.0.1:8428", alias="VM_SHORT_READ_URL")
    vm_standard_write_url: str = Field("http://127.0.0.1:8429", alias="VM_STANDARD_WRITE_URL")
    vm_standard_read_url: str = Field("http://127.0.0.1:8429", alias="VM_STANDARD_READ_URL")
    vm_long_write_url: str = Field("http://127.0.0.1:8430", alias="VM_LONG_WRITE_URL")
    vm_long_read_url: str = Field("http://127.0.0.1:8430", alias="VM_LONG_READ_URL")
    vm_timeout_seconds: float = Field(5.0, alias="VM_TIMEOUT_SECONDS", gt=0)

    opensearch_url: str = Field("", alias="OPENSEARCH_URL")

    stripe_api_key: SecretStr = Field(SecretStr(""), alias="STRIPE_API_KEY")
    stripe_webhook_secret: SecretStr = Field(SecretStr(""), alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_base: str = Field("", alias="STRIPE_API_BASE")
    billing_grace_days: float = Field(7.0, alias="BILLING_GRACE_DAYS", ge=0)
    billing_close_delay_seconds: float = Field(300.0, alias="BILLING_CLOSE_DELAY_SECONDS", ge=0)

    admin_token: SecretStr = Field(SecretStr(""), alias="TOLLGATE_ADMIN_TOKEN")
    secret_key: SecretStr = Field(SecretStr(""), alias="TOLLGATE_SECRET_KEY")
    hub_url: str = Field("", alias="HUB_URL")
    hub_api_key: SecretStr = Field(SecretStr(""), alias="HUB_API_KEY")
    # Comma-separated CIDRs that tenant-aimed outbound calls may reach besides public addresses
    # (e.g. 127.0.0.0/8 for local development and tests); empty in every environment by default.
    outbound_allow_cidrs: str = Field("", alias="OUTBOUND_ALLOW_CIDRS")
    # Comma-separated ip[:port] of the nameservers SSO domain proofs ask; empty = the system's.
    domain_verify_nameservers: str = Field("", alias="DOMAIN_VERIFY_NAMESERVERS")
    # smtp://[user:password@]host[:port] or smtps://…; empty = print mails to stderr (not in prod).
    smtp_url: SecretStr = Field(SecretStr(""), alias="SMTP_URL")
    mail_from: str = Field("Tollgate <no-reply@tollgate.localhost>", alias="MAIL_FROM")
    # Alert notification providers (channels carry their own keys; these are the base URLs).
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", alias="PAGERDUTY_EVENTS_URL"
    )
    sms_api_url: str = Field("", alias="SMS_API_URL")  # empty: sms channels cannot be created
    # vmalert: processes per storage tier (projects hashed stably across them), the first
    # local port (tier-major, then shard), and the secret its notifier sends to our receiver
    # (empty: a fixed development value outside prod; prod refuses every notification).
    vmalert_shards: int = Field(1, alias="VMALERT_SHARDS", ge=1, le=64)
    vmalert_base_port: int = Field(8880, alias="VMALERT_BASE_PORT", ge=1, le=65000)
    vmalert_notifier_secret: SecretStr = Field(SecretStr(""), alias="VMALERT_NOTIFIER_SECRET")
    # Where vmalert sends alerts: this API's base URL unless set (e.g. behind a load balancer).
    vmalert_notifier_url: str = Field("", alias="VMALERT_NOTIFIER_URL")
    # Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed; empty = none.
    trusted_proxies: str = Field("", alias="TRUSTED_PROXIES")

    data_dir: Path = Field(PROJECT_ROOT / ".cache" / "tollgate", alias="TOLLGATE_DATA_DIR")
    # The web console's built assets (`npm run build` in console/); absent: no console at `/`.
    console_dist: Path = Field(PROJECT_ROOT / "console" / "dist", alias="CONSOLE_DIST")
    key_cache_ttl_seconds: float = Field(5.0, alias="KEY_CACHE_TTL_SECONDS", gt=0)
    scheduler_tick_seconds: float = Field(10.0, alias="SCHEDULER_TICK_SECONDS", gt=0)

    @property
    def base_url(self) -> str:
        """The URL clients use to reach the API."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def log_store_backend(self) -> Literal["postgres", "opensearch"]:
        """Logs and spans go to OpenSearch when it is configured, else to PostgreSQL."""
        return "opensearch" if self.opensearch_url else "postgres"

    def vm_write_url(self, tier: Tier) -> str:
        """Base URL that accepts writes for a tier."""
        return str(getattr(self, f"vm_{tier.value}_write_url"))

    def vm_read_url(self, tier: Tier) -> str:
        """Base URL that answers queries for a tier."""
        return str(getattr(self, f"vm_{tier.value}_read_url"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
