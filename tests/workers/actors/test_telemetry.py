"""The daily retention actor, and the worker resources it uses (one store per process)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import structlog
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.middleware.asyncio import AsyncIO
from msgspec.structs import replace
from structlog.testing import capture_logs

from infra.settings import Settings, Tier
from telemetry import retention
from telemetry.stores import LogSearch, Scope, TelemetryStore, expired_before
from tests.telemetry.stores.conftest import NOW, log, span
from workers import runtime
from workers.actor import run_inline
from workers.broker import broker
from workers.runtime import ReleaseResources
from workers.scheduler import SCHEDULE

DAY = timedelta(days=1)


@contextmanager
def retention_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """What the retention module logs meanwhile.

    The module's logger may already be cached with the app's processors (structlog caches a
    logger on first use), so a fresh one is swapped in under the capturing configuration.
    """
    with capture_logs() as logs:
        monkeypatch.setattr(retention, "log", structlog.get_logger(retention.__name__))
        yield logs


async def visible_ids(store: TelemetryStore, scope: Scope) -> list[str]:
    """Every log record of the scope from 100 days back."""
    page = await store.search_logs(
        scope, LogSearch(start=NOW - 100 * DAY, end=NOW + DAY, limit=1000)
    )
    return sorted(record.id for record in page.items)


class TestDropExpired:
    async def test_drops_only_days_past_each_tiers_retention(
        self, worker_runtime: TelemetryStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store, org = worker_runtime, f"org_{secrets.token_hex(6)}"
        short, standard = Scope(org, "prj_a", Tier.SHORT), Scope(org, "prj_a", Tier.STANDARD)
        # short keeps 7 days, standard 30: only the 9-day-old short day and the 33-day-old
        # standard day are past retention.
        await store.write_logs(short, [replace(log(1), time=NOW - 9 * DAY), log(2, ago=6 * DAY)])
        await store.write_spans(short, [span("ab" * 16, "s1", ago=9 * DAY)])
        await store.write_logs(
            standard, [replace(log(3), time=NOW - 33 * DAY), log(4, ago=9 * DAY)]
        )

        with retention_logs(monkeypatch) as logs:
            await run_inline("telemetry.drop_expired", NOW.timestamp())

        dropped = {
            entry["tier"]: entry["dropped"]
            for entry in logs
            if entry["event"] == "telemetry.expired_dropped"
        }
        assert set(dropped) == {"short", "standard", "long"}
        days = {tier: {_day(name) for name in names} for tier, names in dropped.items()}
        assert f"{NOW - 9 * DAY:%Y%m%d}" in days["short"]
        assert f"{NOW - 33 * DAY:%Y%m%d}" in days["standard"]
        for tier in Tier:  # nothing inside retention, whatever else the database held
            assert all(day < f"{expired_before(tier, NOW):%Y%m%d}" for day in days[tier.value])
        assert {"log" if "log" in n else "span" for n in dropped["short"]} == {"log", "span"}
        assert await visible_ids(store, short) == ["r0002"]
        assert await visible_ids(store, standard) == ["r0004"]

    async def test_running_it_again_drops_nothing_more(
        self, worker_runtime: TelemetryStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        scope = Scope(f"org_{secrets.token_hex(6)}", "prj_a", Tier.SHORT)
        await worker_runtime.write_logs(scope, [replace(log(1), time=NOW - 8 * DAY), log(2)])
        await run_inline("telemetry.drop_expired", NOW.timestamp())
        with retention_logs(monkeypatch) as logs:
            await run_inline("telemetry.drop_expired", NOW.timestamp())
        assert [entry["dropped"] for entry in logs if "dropped" in entry] == [[], [], []]
        assert await visible_ids(worker_runtime, scope) == ["r0002"]

    def test_it_is_scheduled_daily(self) -> None:
        assert [job.every for job in SCHEDULE if job.actor == "telemetry.drop_expired"] == [
            86_400.0
        ]


def _day(name: str) -> str:
    """The YYYYMMDD a partition or index name ends with (logs_short_20260101, …-2026.01.01)."""
    return name.replace(".", "")[-8:]


class RecordingStore:
    """Stands in for the store `open_telemetry_store` would build; records its closing."""

    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


class TestWorkerResources:
    def test_the_store_is_opened_once_per_process_and_closed_at_worker_shutdown(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        opened: list[RecordingStore] = []

        def open_store(*_: object) -> RecordingStore:
            opened.append(RecordingStore())
            return opened[-1]

        monkeypatch.setattr(runtime, "open_telemetry_store", open_store)
        runtime.use_session_factory(None)
        loop_thread = EventLoopThread(logging.getLogger(__name__))
        loop_thread.start(timeout=1.0)
        set_event_loop_thread(loop_thread)
        try:

            async def two_messages() -> tuple[object, object]:
                return runtime.telemetry_store(), runtime.telemetry_store()

            first, second = loop_thread.run_coroutine(two_messages())
            ReleaseResources().after_worker_shutdown(broker, None)  # type: ignore[arg-type]
        finally:
            loop_thread.stop()
            loop_thread.join()
            set_event_loop_thread(None)
            runtime.use_session_factory(None)
        assert first is second is opened[0]
        assert len(opened) == 1
        assert opened[0].closed == 1

    def test_resources_are_released_before_the_event_loop_stops(self) -> None:
        kinds = [type(middleware) for middleware in broker.middleware]
        # after_* hooks run in reverse order of the middleware list.
        assert kinds.index(ReleaseResources) > kinds.index(AsyncIO)
