"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.auth import provide_principal
from api.console import console_handlers
from api.deps import close_abandoned_sessions, provide_db_session, provide_resources
from api.errors import EXCEPTION_HANDLERS
from api.gateway.alerts import prometheus_alerts, prometheus_rules
from api.gateway.ingest import MetricsIngestController
from api.gateway.ingest_documents import LogsIngestController
from api.gateway.logs import LogsController
from api.gateway.query import prometheus_label_values, prometheus_read
from api.gateway.traces import TracesController
from api.middleware import RequestIdMiddleware, before_send, client_address_middleware
from api.observability import MetricsController, prometheus_config
from api.params import NulFreeUrlMiddleware
from api.resources import Resources
from api.routes.admin import AdminController, HubKeyController, HubPriceController
from api.routes.alerting import AlertRuleController, IncidentController
from api.routes.alertmanager import AlertmanagerReceiverController
from api.routes.auth import AuthController
from api.routes.billing import PlanController, SubscriptionController
from api.routes.dashboard_share import SharedDashboardController
from api.routes.dashboards import DashboardController, DashboardTemplateController
from api.routes.export import ExportController
from api.routes.health import HealthController
from api.routes.hub import HubController
from api.routes.hub_subscriptions import HubSubscriptionController
from api.routes.invoices import (
    AdminInvoiceController,
    BillingController,
    InvoiceController,
    StripeWebhookController,
)
from api.routes.notifications import EscalationPolicyController, NotificationChannelController
from api.routes.orgs import InviteController, OrgController
from api.routes.projects import OrgProjectsController, ProjectController
from api.routes.silences import IncidentDeliveryController, SilenceController
from api.routes.sso import SsoConfigController, SsoLoginController
from api.routes.webhooks import WebhookController
from infra import hub, jobs
from infra.logging import configure_logging, get_logger
from infra.settings import Settings, get_settings

log = get_logger(__name__)


KEY_USAGE_FLUSH_SECONDS = 5.0


async def _flush_key_usage(resources: Resources) -> None:
    """Write batched key last-used times to Redis every few seconds."""
    while True:
        await asyncio.sleep(KEY_USAGE_FLUSH_SECONDS)
        try:
            await resources.key_lookup.flush_usage()
        except Exception:
            log.warning("key_usage.flush_failed", exc_info=True)


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> Litestar:
    """Build the API; tests pass their own resources (bound to a rolled-back connection)."""
    settings = settings or (resources.settings if resources else get_settings())
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        import workers.main  # noqa: F401  (declares every actor so jobs can be sent by name)
        from workers.broker import DramatiqJobSender, broker

        jobs.install_sender(DramatiqJobSender(broker))
        opened = resources or Resources.open(settings)
        app.state.resources = opened
        background = [
            asyncio.create_task(opened.key_lookup.listen(), name="key-invalidation"),
            asyncio.create_task(opened.admission.listen(), name="entitlement-invalidation"),
            asyncio.create_task(_flush_key_usage(opened), name="key-usage"),
        ]
        # Registration with the hub runs in the background: start-up never waits for the hub.
        hub_client = hub.HubClient.of(opened.settings, opened.http)
        if hub_client is not None:
            registering = hub.register_until_done(hub_client, opened.settings, opened.redis)
            background.append(asyncio.create_task(registering, name="hub-registration"))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            # redis-py can swallow a cancellation while connecting; never let that block shutdown.
            await asyncio.wait(background, timeout=2.0)
            await opened.key_lookup.flush_usage()
            if hub_client is not None:
                await hub.deregister_quietly(hub_client)
            await opened.close()

    return Litestar(
        route_handlers=[
            HealthController,
            MetricsController,
            AuthController,
            OrgController,
            ExportController,
            InviteController,
            OrgProjectsController,
            ProjectController,
            DashboardController,
            DashboardTemplateController,
            SharedDashboardController,
            SsoConfigController,
            SsoLoginController,
            WebhookController,
            AlertRuleController,
            IncidentController,
            AlertmanagerReceiverController,
            NotificationChannelController,
            EscalationPolicyController,
            SilenceController,
            IncidentDeliveryController,
            PlanController,
            SubscriptionController,
            AdminController,
            HubKeyController,
            HubPriceController,
            HubController,
            HubSubscriptionController,
            InvoiceController,
            BillingController,
            StripeWebhookController,
            AdminInvoiceController,
            MetricsIngestController,
            LogsIngestController,
            LogsController,
            TracesController,
            prometheus_read,
            prometheus_label_values,
            prometheus_rules,
            prometheus_alerts,
            *console_handlers(settings),
        ],
        dependencies={
            "resources": Provide(provide_resources, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
            "principal": Provide(provide_principal),
        },
        lifespan=[lifespan],
        middleware=[
            client_address_middleware(settings.trusted_proxies),
            RequestIdMiddleware,
            prometheus_config(settings).middleware,
            NulFreeUrlMiddleware(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        after_exception=[close_abandoned_sessions],
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        openapi_config=OpenAPIConfig(
            title="Tollgate",
            version="0.1.0",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer"),
                    "apiKey": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                }
            ),
            security=[{"bearer": []}, {"apiKey": []}],
        ),
        request_max_body_size=10 * 1024 * 1024,
        before_send=[before_send],
        logging_config=None,
        debug=False,
    )
