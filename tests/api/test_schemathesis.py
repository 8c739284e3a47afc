"""The whole OpenAPI fuzzed by schemathesis: no input, however odd, may get a 5xx.

The app runs in-process on its own event loop in a background thread (schemathesis' tests are
synchronous), on a database migrated for the run and dropped after it, with real Redis and
VictoriaMetrics. Each case is sent as a session token or as a project key (every scope), and path
ids are often the tenant's own so that cases get past the 404 into the handlers.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from api.resources import Resources
from infra.bootstrap import migrate
from infra.local.victoriametrics import VmInstance
from infra.settings import Settings
from tenancy.roles import Scope
from tests.support.asgi import app_client
from tests.support.tenants import Tenant, project_key, sign_up

T = TypeVar("T")
BASE_URL = "http://testserver"
# A handful of examples per operation keeps the run near a minute on two cores; raise it
# locally (TOLLGATE_FUZZ_EXAMPLES=200) to hunt.
MAX_EXAMPLES = int(os.environ.get("TOLLGATE_FUZZ_EXAMPLES", "20"))
# These would end the tenant's own session or delete what the rest of the run relies on.
NO_REAL_IDS = {("DELETE", "/v1/orgs/{org}"), ("DELETE", "/v1/projects/{project}")}
NO_AUTH = {("POST", "/v1/auth/logout")}
PROJECT_SCOPES = (
    Scope.METRICS_WRITE,
    Scope.LOGS_WRITE,
    Scope.TRACES_WRITE,
    Scope.METRICS_READ,
    Scope.LOGS_READ,
    Scope.TRACES_READ,
)

CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_dict(create_app().openapi_schema.to_schema(), config=CONFIG)


@dataclass
class LiveApp:
    """The app on a loop of its own, and the credentials of one tenant."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    tenant: Tenant
    key: str
    admin_token: str
    hub_key: str

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the app's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)


async def _open(
    settings: Settings, stack: AsyncExitStack
) -> tuple[httpx.AsyncClient, Tenant, str, str, str]:
    # A pool of its own, on a database of its own: Litestar resolves dependencies
    # concurrently, which one shared test connection can't serve once a request is refused
    # half-way (a cancelled query leaves that connection unusable for every later case).
    resources = Resources.open(settings)
    stack.push_async_callback(resources.close)
    client = await stack.enter_async_context(app_client(create_app(resources=resources)))
    tenant = await sign_up(client, "fuzz")
    key = await project_key(client, tenant, scopes=[scope.value for scope in PROJECT_SCOPES])
    admin = settings.admin_token.get_secret_value()
    hub = await client.post(
        "/v1/admin/hub-keys",
        json={"name": "fuzz hub", "product": "fuzzer"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert hub.status_code == 201, hub.text
    return client, tenant, key["key"], admin, hub.json()["key"]


def _fuzz_settings(settings: Settings) -> Settings:
    """The worker's settings pointed at a database of the fuzz run's own."""

    def renamed(url: str) -> str:
        return f"{url}_fuzz"

    return settings.model_copy(
        update={
            "database_url": renamed(settings.database_url),
            "database_admin_url": renamed(settings.database_admin_url),
        }
    )


async def _drop_database(admin_url: str) -> None:
    base, name = admin_url.rsplit("/", 1)
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="module")
def live_app(
    settings: Settings, migrated_database: str, vm_stores: list[VmInstance]
) -> Iterator[LiveApp]:
    """The app served from a background thread's event loop, on a fresh migrated database."""
    fuzz = _fuzz_settings(settings)
    asyncio.run(_drop_database(fuzz.database_admin_url))
    migrate(fuzz)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-app", daemon=True)
    thread.start()
    stack = AsyncExitStack()
    try:
        opened = asyncio.run_coroutine_threadsafe(_open(fuzz, stack), loop).result(120)
        yield LiveApp(loop, *opened)
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        asyncio.run(_drop_database(fuzz.database_admin_url))


def _real_ids(tenant: Tenant) -> dict[str, str]:
    return {
        "org": tenant.org_slug,
        "org_id": tenant.org_id,
        "org_slug": tenant.org_slug,
        "project": tenant.project_id,
        "project_id": tenant.project_id,
        "user_id": tenant.user_id,
    }


def _send(live: LiveApp, case: schemathesis.Case) -> httpx.Response:
    """Send a case through httpx to the in-process app (cookies are not used by the API)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    kwargs.pop("cookies", None)
    prepared = requests.Request(**kwargs).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return live.run(
        live.client.request(
            str(prepared.method),
            str(prepared.url),
            headers=dict(prepared.headers),
            content=body,
            timeout=30,
        )
    )


@schema.parametrize()
@schema.given(auth=st.sampled_from(["session", "key"]), own_ids=st.booleans())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize="TOLLGATE_FUZZ_EXAMPLES" not in os.environ,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_server_error(
    case: schemathesis.Case, auth: str, own_ids: bool, live_app: LiveApp
) -> None:
    operation = (case.method.upper(), case.path)
    if own_ids and operation not in NO_REAL_IDS and case.path_parameters:
        ids = _real_ids(live_app.tenant)
        for name in list(case.path_parameters):
            if name in ids:
                case.path_parameters[name] = ids[name]
    headers = dict(case.headers or {})
    if operation not in NO_AUTH:
        secret = live_app.tenant.token if auth == "session" else live_app.key
        if case.path.startswith("/v1/admin/"):
            secret = live_app.admin_token
        elif case.path.startswith("/v1/hub/"):
            secret = live_app.hub_key
        headers.pop("X-API-Key", None)
        headers["Authorization"] = f"Bearer {secret}"
    case.headers = headers
    response = _send(live_app, case)
    case.validate_response(response, checks=[not_a_server_error])
