"""Per-process resources of a worker, made lazily and released once at worker shutdown.

They are made on first use, inside the worker's event-loop thread (Dramatiq runs every coroutine
actor on that one loop), and closed on the same loop by `ReleaseResources` before the AsyncIO
middleware stops it.
"""

from __future__ import annotations

import dramatiq
import httpx
from dramatiq.asyncio import get_event_loop_thread
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from infra.db import create_engine, create_session_factory
from infra.http import create_http_client
from infra.logging import get_logger
from infra.outbound import OutboundClient
from infra.redis import create_redis
from infra.settings import get_settings
from telemetry.search.backend import open_telemetry_store
from telemetry.stores import TelemetryStore

log = get_logger(__name__)

_engine: AsyncEngine | None = None
_factory: async_sessionmaker[AsyncSession] | None = None
_telemetry: TelemetryStore | None = None
_telemetry_owned = False
_http: httpx.AsyncClient | None = None
_outbound: OutboundClient | None = None


def session_factory() -> async_sessionmaker[AsyncSession]:
    """The worker's session factory."""
    global _engine, _factory
    if _factory is None:
        _engine = create_engine(get_settings())
        _factory = create_session_factory(_engine)
    return _factory


def use_session_factory(factory: async_sessionmaker[AsyncSession] | None) -> None:
    """Swap the session factory (tests bind it to a rolled-back connection)."""
    global _factory, _telemetry, _telemetry_owned
    _factory = factory
    if _telemetry_owned:  # it was built on the previous factory's sessions
        _telemetry, _telemetry_owned = None, False


def telemetry_store() -> TelemetryStore:
    """The worker's log/trace store (one per process, not per message)."""
    global _telemetry, _telemetry_owned
    if _telemetry is None:
        _telemetry = open_telemetry_store(get_settings(), session_factory())
        _telemetry_owned = True
    return _telemetry


def use_telemetry_store(store: TelemetryStore | None) -> None:
    """Swap the log/trace store (tests pass one of their own and close it themselves)."""
    global _telemetry, _telemetry_owned
    _telemetry, _telemetry_owned = store, False


def http_client() -> httpx.AsyncClient:
    """The worker's outbound HTTP client (VictoriaMetrics)."""
    global _http
    if _http is None:
        _http = create_http_client(get_settings().vm_timeout_seconds)
    return _http


def outbound_client() -> OutboundClient:
    """The worker's guarded client for addresses a tenant names (webhooks, channels)."""
    global _outbound
    if _outbound is None:
        _outbound = OutboundClient.from_cidrs(get_settings().outbound_allow_cidrs)
    return _outbound


async def close() -> None:
    """Release what this process opened itself; injected resources belong to their owner."""
    global _engine, _factory, _telemetry, _telemetry_owned, _http, _outbound
    if _telemetry is not None and _telemetry_owned:
        await _telemetry.close()
        _telemetry, _telemetry_owned = None, False
    if _http is not None:
        await _http.aclose()
        _http = None
    if _outbound is not None:
        await _outbound.aclose()
        _outbound = None
    if _engine is not None:
        await _engine.dispose()
        _engine = _factory = None


class ReleaseResources(dramatiq.Middleware):
    """Closes the process resources on the event loop that made them, at worker shutdown.

    Add it after `AsyncIO`: `after_*` hooks run in reverse order, so it runs before the loop stops.
    """

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Run `close()` on the worker's event-loop thread."""
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return
        try:
            loop_thread.run_coroutine(close())
        except Exception:
            log.exception("worker.resources_close_failed")


__all__ = [
    "ReleaseResources",
    "close",
    "create_redis",
    "http_client",
    "outbound_client",
    "session_factory",
    "telemetry_store",
    "use_session_factory",
    "use_telemetry_store",
]
