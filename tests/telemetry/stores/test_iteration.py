"""Reading a project's whole telemetry (the export): both backends, every page, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from telemetry.stores import Scope, TelemetryStore
from tests.telemetry.stores.conftest import log, span


class TestIterLogs:
    async def test_every_record_oldest_first_across_pages(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(scope, [log(n) for n in range(1, 8)])
        batches = [batch async for batch in store.iter_logs(scope, batch_size=3)]
        assert [len(batch) for batch in batches] == [3, 3, 1]
        ids = [record.id for batch in batches for record in batch]
        assert ids == [f"r{n:04d}" for n in range(7, 0, -1)]
        assert {(r.tenant, r.project) for b in batches for r in b} == {
            (scope.org_id, scope.project_id)
        }

    async def test_only_the_scope_and_only_within_retention(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(scope, [log(1), log(2, ago=timedelta(days=8))])
        await store.write_logs(replace(scope, project_id="prj_other"), [log(3)])
        await store.write_logs(replace(scope, org_id="org_other"), [log(4)])
        found = [r.id async for batch in store.iter_logs(scope) for r in batch]
        assert found == ["r0001"]

    async def test_an_empty_scope_yields_nothing(self, store: TelemetryStore, scope: Scope) -> None:
        assert [batch async for batch in store.iter_logs(scope)] == []


class TestIterSpans:
    async def test_every_span_oldest_first_across_pages(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        trace = "ab" * 16
        await store.write_spans(
            scope,
            [span(trace, f"{n:016x}", start_ms=n) for n in range(5)]
            + [span(trace, "f" * 16, start_ms=1, ago=timedelta(days=8))],
        )
        await store.write_spans(replace(scope, project_id="prj_other"), [span(trace, "e" * 16)])
        batches = [batch async for batch in store.iter_spans(scope, batch_size=2)]
        assert [len(batch) for batch in batches] == [2, 2, 1]
        assert [s.span_id for b in batches for s in b] == [f"{n:016x}" for n in range(5)]
