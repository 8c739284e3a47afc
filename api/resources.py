"""Process-wide resources of the API, opened in the lifespan and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing.admission import AdmissionService
from billing.quotas.redis import RedisQuotaBackend
from infra.crypto import SecretBox, load_secret_box
from infra.db import create_engine, create_session_factory
from infra.domain_proof import parse_nameservers
from infra.http import create_http_client
from infra.mail import mailer_from_settings
from infra.oidc import OidcClient
from infra.outbound import OutboundClient
from infra.redis import create_redis
from infra.settings import Settings
from infra.stripe import StripeGateway
from telemetry.search.backend import open_telemetry_store
from telemetry.stores import TelemetryStore
from tenancy.key_lookup import KeyLookup
from tenancy.throttle import LoginThrottle


@dataclass
class Resources:
    """Engine, sessions, Redis and the HTTP client; injected whole in tests."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    http: httpx.AsyncClient
    owned: bool = field(default=True)
    key_lookup: KeyLookup = field(init=False)
    login_throttle: LoginThrottle = field(init=False)
    quotas: RedisQuotaBackend = field(init=False)
    admission: AdmissionService = field(init=False)
    secret_box: SecretBox = field(init=False)
    outbound: OutboundClient = field(init=False)
    oidc: OidcClient = field(init=False)
    stripe: StripeGateway | None = field(init=False)
    telemetry: TelemetryStore = field(init=False)

    def __post_init__(self) -> None:
        self.key_lookup = KeyLookup(
            self.session_factory, self.redis, self.settings.key_cache_ttl_seconds
        )
        self.login_throttle = LoginThrottle(self.redis)
        self.quotas = RedisQuotaBackend(self.redis)
        self.admission = AdmissionService(self.session_factory, self.quotas, self.redis)
        self.secret_box = load_secret_box(self.settings)  # prod refuses to start without a key
        mailer_from_settings(self.settings)  # a bad SMTP_URL, or none in prod, stops the start
        # Tenant-aimed calls (SSO) go through the guarded client, in every environment; a bad
        # OUTBOUND_ALLOW_CIDRS or DOMAIN_VERIFY_NAMESERVERS stops the process here.
        parse_nameservers(self.settings.domain_verify_nameservers)
        self.outbound = OutboundClient.from_cidrs(self.settings.outbound_allow_cidrs)
        self.oidc = OidcClient(self.outbound, require_https=self.settings.env == "prod")
        self.stripe = StripeGateway.from_settings(self.settings)  # None: no collection
        self.telemetry = open_telemetry_store(self.settings, self.session_factory)

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """Create every resource from settings."""
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=create_redis(settings),
            http=create_http_client(settings.vm_timeout_seconds),
        )

    async def close(self) -> None:
        """Release what this process opened."""
        if self.stripe is not None:
            await self.stripe.close()
        await self.telemetry.close()
        await self.outbound.aclose()
        if not self.owned:
            return
        await self.http.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
