"""One contract, two backends: every test runs against PostgreSQL and OpenSearch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from msgspec.structs import replace

from infra.settings import Tier
from telemetry.search import QuerySyntaxError, parse
from telemetry.stores import (
    InvalidCursorError,
    LogSearch,
    Scope,
    TelemetryStore,
    TraceSearch,
)
from tests.telemetry.stores.conftest import NOW, log, span

HOUR = timedelta(hours=1)


def window(**extra: object) -> LogSearch:
    """The last hour (and a minute of the future), newest first."""
    return LogSearch(start=NOW - HOUR, end=NOW + timedelta(minutes=1), **extra)  # type: ignore[arg-type]


async def ids(
    store: TelemetryStore, scope: Scope, query: str | None = None, **extra: object
) -> list[str]:
    page = await store.search_logs(
        scope, window(query=parse(query) if query else None, limit=1000, **extra)
    )
    return [record.id for record in page.items]


class TestLogSearch:
    async def test_term_matches_whole_words_case_insensitively(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope,
            [
                log(1, "Connection TIMEOUT after 30s"),
                log(2, "timeouts pile up"),
                log(3, "all good"),
            ],
        )
        assert await ids(store, scope, "timeout") == ["r0001"]
        assert await ids(store, scope, "connection after") == ["r0001"]

    async def test_phrase_needs_the_words_together_in_order(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope, [log(1, "connection reset by peer"), log(2, "reset the connection")]
        )
        assert await ids(store, scope, '"connection reset"') == ["r0001"]
        assert await ids(store, scope, 'body:"the connection"') == ["r0002"]

    async def test_known_fields_match_exactly(self, store: TelemetryStore, scope: Scope) -> None:
        await store.write_logs(
            scope,
            [
                log(1, "a", level="ERROR", service="checkout"),
                log(2, "b", level="INFO", service="checkout"),
                log(3, "c", level="ERROR", service="cart", trace_id="ab" * 16, span_id="cd" * 8),
            ],
        )
        assert await ids(store, scope, "level:error") == ["r0001", "r0003"]
        assert await ids(store, scope, "service:checkout") == ["r0001", "r0002"]
        assert await ids(store, scope, f"trace_id:{'AB' * 16}") == ["r0003"]
        assert await ids(store, scope, f"span_id:{'cd' * 8}") == ["r0003"]
        assert await ids(store, scope, "message:b") == ["r0002"]

    async def test_attribute_fields_match_strings_numbers_and_lists(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope,
            [
                log(1, attributes={"http.method": "GET", "user_id": 123, "tags": ["x", "y"]}),
                log(2, attributes={"http.method": "POST", "user_id": "124", "ok": True}),
                log(3, resource={"host.name": "node-1"}),
            ],
        )
        assert await ids(store, scope, "attributes.http.method:GET") == ["r0001"]
        assert await ids(store, scope, "user_id:123") == ["r0001"]
        assert await ids(store, scope, "user_id:124") == ["r0002"]
        assert await ids(store, scope, "tags:y") == ["r0001"]
        assert await ids(store, scope, "ok:true") == ["r0002"]
        assert await ids(store, scope, "resource.host.name:node-1") == ["r0003"]
        assert await ids(store, scope, 'http.method:"get"') == []

    async def test_boolean_operators_with_precedence(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope,
            [
                log(1, "alpha beta"),
                log(2, "alpha gamma"),
                log(3, "beta gamma"),
                log(4, "delta"),
            ],
        )
        assert await ids(store, scope, "alpha AND beta") == ["r0001"]
        assert await ids(store, scope, "alpha OR delta") == ["r0001", "r0002", "r0004"]
        assert await ids(store, scope, "NOT alpha") == ["r0003", "r0004"]
        assert await ids(store, scope, "gamma -alpha") == ["r0003"]
        # NOT > AND > OR: (delta) OR (alpha AND NOT beta)
        assert await ids(store, scope, "delta OR alpha NOT beta") == ["r0002", "r0004"]
        assert await ids(store, scope, "(delta OR alpha) NOT beta") == ["r0002", "r0004"]
        assert await ids(store, scope, "beta (alpha OR gamma)") == ["r0001", "r0003"]

    async def test_not_of_a_missing_field_keeps_the_record(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(scope, [log(1, trace_id="ab" * 16), log(2)])
        assert await ids(store, scope, f"-trace_id:{'ab' * 16}") == ["r0002"]

    async def test_level_service_and_trace_filters(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope,
            [
                log(1, level="ERROR", service="a", trace_id="01" * 16),
                log(2, level="WARN", service="b"),
                log(3, level="INFO", service="a"),
            ],
        )
        assert await ids(store, scope, levels=("ERROR", "WARN")) == ["r0001", "r0002"]
        assert await ids(store, scope, services=("a",)) == ["r0001", "r0003"]
        assert await ids(store, scope, trace_id="01" * 16) == ["r0001"]
        assert await ids(store, scope, "record", levels=("INFO",), services=("a",)) == ["r0003"]

    async def test_time_range_is_start_inclusive_end_exclusive(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        records = [log(n) for n in range(1, 6)]
        await store.write_logs(scope, records)
        page = await store.search_logs(scope, LogSearch(start=records[3].time, end=records[0].time))
        assert [r.id for r in page.items] == ["r0002", "r0003", "r0004"]

    async def test_newest_first_with_ties_broken_by_id(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        same = NOW - timedelta(minutes=3)
        tied = [replace(log(n), time=same) for n in (7, 9, 8)]
        await store.write_logs(scope, [log(1), log(500), *tied])
        assert await ids(store, scope) == ["r0001", "r0009", "r0008", "r0007", "r0500"]

    async def test_cursor_pages_return_every_record_exactly_once(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        same = NOW - timedelta(minutes=2)
        records = [log(n) for n in range(25)]
        records += [replace(log(n), time=same) for n in range(100, 110)]
        await store.write_logs(scope, records)
        seen: list[str] = []
        cursor = None
        for _ in range(20):
            page = await store.search_logs(scope, window(limit=7, cursor=cursor))
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(records, key=lambda r: (r.time, r.id), reverse=True)
        assert seen == [r.id for r in expected]

    async def test_a_foreign_cursor_is_refused(self, store: TelemetryStore, scope: Scope) -> None:
        with pytest.raises(InvalidCursorError):
            await store.search_logs(scope, window(cursor="not-a-cursor"))

    async def test_records_come_back_as_written(self, store: TelemetryStore, scope: Scope) -> None:
        record = log(
            1,
            "payment failed",
            level="ERROR",
            severity_number=17,
            service="checkout",
            trace_id="ab" * 16,
            span_id="cd" * 8,
            attributes={"amount": 12.5, "retry": False, "codes": [1, 2]},
            resource={"service.name": "checkout"},
            scope="io.opentelemetry.test",
            observed_time=NOW,
        )
        await store.write_logs(scope, [record])
        page = await store.search_logs(scope, window())
        assert page.items == [replace(record, tenant=scope.org_id, project=scope.project_id)]

    async def test_writing_a_batch_twice_stores_it_once(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        batch = [log(1), log(2)]
        await store.write_logs(scope, batch)
        await store.write_logs(scope, batch)
        assert await ids(store, scope) == ["r0001", "r0002"]

    async def test_a_write_returns_only_the_records_it_stored(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        first, overlapping = [log(1), log(2)], [log(2), log(3), log(3)]
        assert await store.write_logs(scope, first) == first
        assert await store.write_logs(scope, first) == []
        # Stored before, then new once: a repeat inside the batch is not new either.
        assert await store.write_logs(scope, overlapping) == [log(3)]
        assert await ids(store, scope) == ["r0001", "r0002", "r0003"]

    async def test_stats_count_per_bucket_level_and_service(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        base = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
        records = [
            replace(log(1, level="ERROR", service="a"), time=base + timedelta(minutes=1)),
            replace(log(2, level="ERROR", service="a"), time=base + timedelta(minutes=2)),
            replace(log(3, level="INFO", service="b"), time=base + timedelta(minutes=3)),
            replace(log(4, "boom", service="a"), time=base + timedelta(minutes=11)),
        ]
        await store.write_logs(scope, records)
        stats = await store.log_stats(scope, base, base + HOUR, 600)
        assert [(s.bucket_start - base, s.level, s.service, s.count) for s in stats] == [
            (timedelta(0), "ERROR", "a", 2),
            (timedelta(0), "INFO", "b", 1),
            (timedelta(minutes=10), "INFO", "a", 1),
        ]
        filtered = await store.log_stats(scope, base, base + HOUR, 600, parse("boom"))
        assert [(s.level, s.service, s.count) for s in filtered] == [("INFO", "a", 1)]


class TestTenantIsolation:
    async def test_another_org_or_project_sees_nothing(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(scope, [log(1, "secret")])
        await store.write_spans(scope, [span("ab" * 16, "s1")])
        other_org = Scope("org_other", scope.project_id, scope.tier)
        other_project = Scope(scope.org_id, "prj_other", scope.tier)
        for other in (other_org, other_project):
            assert await ids(store, other) == []
            assert await ids(store, other, "secret") == []
            assert await store.get_trace(other, "ab" * 16) == []
            traces = await store.find_traces(other, TraceSearch(start=NOW - HOUR, end=NOW))
            assert traces.items == []
            assert await store.services(other, NOW - HOUR, NOW) == []

    async def test_documents_are_stored_under_the_scope_whatever_they_claim(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        victim = Scope("org_victim", "prj_victim", scope.tier)
        forged = replace(log(1, "forged"), tenant=victim.org_id, project="prj_victim")
        await store.write_logs(scope, [forged])
        assert await ids(store, victim) == []
        page = await store.search_logs(scope, window())
        assert (page.items[0].tenant, page.items[0].project) == (scope.org_id, scope.project_id)

    async def test_a_query_cannot_name_the_tenant_or_project(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        victim = Scope("org_victim", "prj_victim", scope.tier)
        await store.write_logs(victim, [log(1, "victim data", attributes={"tenant": scope.org_id})])
        for query in (f"tenant:{victim.org_id}", "project:prj_victim", "TENANT:x OR a"):
            with pytest.raises(QuerySyntaxError):
                parse(query)
        # An attribute that happens to be called `tenant` only narrows this scope's records.
        assert await ids(store, scope, f"attributes.tenant:{scope.org_id} OR victim") == []

    async def test_tiers_are_separate_stores(self, store: TelemetryStore, scope: Scope) -> None:
        await store.write_logs(scope, [log(1)])
        long_tier = Scope(scope.org_id, scope.project_id, Tier.LONG)
        assert await ids(store, long_tier) == []


class TestTraces:
    async def _checkout(self, store: TelemetryStore, scope: Scope) -> None:
        t1, t2, t3 = "a1" * 16, "b2" * 16, "c3" * 16
        err = "error"
        await store.write_spans(
            scope,
            [
                span(t1, "s1", service="web", name="GET /cart", duration_ms=120),
                span(t1, "s2", parent="s1", service="cart", name="load", start_ms=5,
                     duration_ms=40),
                span(t1, "s3", parent="s2", service="db", name="SELECT", start_ms=9, duration_ms=30,
                     status=err),
                span(t2, "s1", service="web", name="GET /pay", start_ms=1000, duration_ms=800),
                span(t2, "s2", parent="s1", service="payments", name="charge", start_ms=1010,
                     duration_ms=700, status=err),
                span(t3, "s9", parent="s8", service="cart", name="load", start_ms=2000,
                     duration_ms=5),
            ],
        )  # fmt: skip

    async def test_a_write_returns_only_the_spans_it_stored(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        t1, t2 = "a1" * 16, "b2" * 16
        first = [span(t1, "s1"), span(t1, "s2", parent="s1")]
        again = [*first, span(t1, "s3", parent="s2"), span(t2, "s1"), span(t2, "s1")]
        assert await store.write_spans(scope, first) == first
        assert await store.write_spans(scope, first) == []
        assert await store.write_spans(scope, again) == again[2:4]
        assert [s.span_id for s in await store.get_trace(scope, t1)] == ["s1", "s2", "s3"]
        assert len(await store.get_trace(scope, t2)) == 1

    async def test_get_trace_returns_its_spans_by_start(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await self._checkout(store, scope)
        trace = await store.get_trace(scope, "A1" * 16)
        assert [(s.span_id, s.service, s.tenant) for s in trace] == [
            ("s1", "web", scope.org_id),
            ("s2", "cart", scope.org_id),
            ("s3", "db", scope.org_id),
        ]
        assert trace[2].status == "error"
        assert trace[0].duration_ns == 120_000_000
        assert await store.get_trace(scope, "ff" * 16) == []

    async def test_find_traces_summarizes_newest_first(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await self._checkout(store, scope)
        page = await store.find_traces(scope, TraceSearch(start=NOW - HOUR, end=NOW))
        assert [(t.trace_id[:2], t.root_service, t.root_name, t.span_count, t.error_count)
                for t in page.items] == [
            ("c3", "cart", "load", 1, 0),
            ("b2", "web", "GET /pay", 2, 1),
            ("a1", "web", "GET /cart", 3, 1),
        ]  # fmt: skip
        a1 = page.items[2]
        assert a1.duration_ns == 120_000_000
        assert a1.start == NOW - timedelta(minutes=5)

    async def test_find_traces_filters(self, store: TelemetryStore, scope: Scope) -> None:
        await self._checkout(store, scope)

        async def found(**filters: object) -> list[str]:
            search = TraceSearch(start=NOW - HOUR, end=NOW, **filters)  # type: ignore[arg-type]
            return [t.trace_id[:2] for t in (await store.find_traces(scope, search)).items]

        assert await found(service="db") == ["a1"]
        assert await found(service="cart") == ["c3", "a1"]
        assert await found(service="cart", operation="load", min_duration_ns=10**6 * 10) == ["a1"]
        assert await found(min_duration_ns=500 * 10**6) == ["b2"]
        assert await found(max_duration_ns=6 * 10**6) == ["c3"]
        assert await found(status="error") == ["b2", "a1"]
        assert await found(service="web", status="error") == []

    async def test_find_traces_pages_with_a_cursor(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        spans = [span(f"{n:032x}", "s1", start_ms=n % 3) for n in range(7)]
        await store.write_spans(scope, spans)
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            search = TraceSearch(start=NOW - HOUR, end=NOW, limit=3, cursor=cursor)
            page = await store.find_traces(scope, search)
            seen += [t.trace_id for t in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(spans, key=lambda s: (s.start_time, s.trace_id), reverse=True)
        assert seen == [s.trace_id for s in expected]

    async def test_services_count_spans_errors_and_durations(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await self._checkout(store, scope)
        services = {s.name: s for s in await store.services(scope, NOW - HOUR, NOW)}
        assert sorted(services) == ["cart", "db", "payments", "web"]
        web = services["web"]
        assert (web.span_count, web.error_count) == (2, 0)
        assert 120e6 <= web.p50_duration_ns <= 800e6
        assert web.p50_duration_ns <= web.p95_duration_ns <= 800e6
        assert (services["db"].span_count, services["db"].error_count) == (1, 1)
        assert services["db"].p95_duration_ns == pytest.approx(30e6)

    async def test_service_edges_link_parent_and_child_services(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await self._checkout(store, scope)
        edges = await store.service_edges(scope, NOW - HOUR, NOW)
        assert [(e.parent_service, e.child_service, e.calls, e.errors) for e in edges] == [
            ("cart", "db", 1, 1),
            ("web", "cart", 1, 0),
            ("web", "payments", 1, 1),
        ]
        assert edges[0].p50_duration_ns == 30_000_000

    async def test_spans_for_topology_are_the_newest_in_the_window(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await self._checkout(store, scope)
        spans = await store.spans_for_topology(scope, NOW - HOUR, NOW, limit=4)
        assert [(s.trace_id[:2], s.span_id) for s in spans] == [
            ("c3", "s9"),
            ("b2", "s2"),
            ("b2", "s1"),
            ("a1", "s3"),
        ]
        assert {s.tenant for s in spans} == {scope.org_id}

    async def test_service_edges_find_parents_that_started_before_the_window(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        trace = "d4" * 16
        await store.write_spans(
            scope,
            [
                span(trace, "p", service="batch", duration_ms=3_600_000, ago=3 * HOUR),
                span(trace, "c", parent="p", service="db", ago=timedelta(minutes=1)),
            ],
        )
        edges = await store.service_edges(scope, NOW - HOUR, NOW)
        assert [(e.parent_service, e.child_service) for e in edges] == [("batch", "db")]


class TestLifecycle:
    async def test_delete_tenant_removes_every_project_or_just_one(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        second = Scope(scope.org_id, "prj_second", scope.tier)
        bystander = Scope("org_bystander", scope.project_id, scope.tier)
        for s in (scope, second, bystander):
            await store.write_logs(s, [log(1)])
            await store.write_spans(s, [span("ab" * 16, "s1")])
        await store.delete_tenant(scope.org_id, second.project_id)
        assert await ids(store, second) == []
        assert await ids(store, scope) == ["r0001"]
        await store.delete_tenant(scope.org_id)
        assert await ids(store, scope) == []
        assert await store.get_trace(scope, "ab" * 16) == []
        assert await ids(store, bystander) == ["r0001"]
        assert len(await store.get_trace(bystander, "ab" * 16)) == 1

    async def test_queries_never_reach_past_the_tier_retention(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        await store.write_logs(
            scope, [log(1, ago=timedelta(days=8)), log(2, ago=timedelta(days=6))]
        )
        await store.write_spans(scope, [span("ab" * 16, "s1", ago=timedelta(days=8))])
        page = await store.search_logs(
            scope, LogSearch(start=NOW - timedelta(days=30), end=NOW, limit=10)
        )
        assert [r.id for r in page.items] == ["r0002"]
        assert await store.get_trace(scope, "ab" * 16) == []
        standard = Scope(scope.org_id, scope.project_id, Tier.STANDARD)
        await store.write_logs(standard, [log(1, ago=timedelta(days=8))])
        page = await store.search_logs(
            standard, LogSearch(start=NOW - timedelta(days=30), end=NOW, limit=10)
        )
        assert [r.id for r in page.items] == ["r0001"]

    async def test_drop_expired_drops_whole_days_past_retention(
        self, store: TelemetryStore, scope: Scope
    ) -> None:
        old, kept = NOW - timedelta(days=9), NOW - timedelta(days=6)
        await store.write_logs(scope, [replace(log(1), time=old)])
        await store.write_logs(scope, [replace(log(2), time=kept)])
        await store.write_spans(scope, [span("ab" * 16, "s1", ago=timedelta(days=9))])
        dropped = await store.drop_expired(Tier.SHORT, NOW)
        day = f"{old:%Y%m%d}"
        assert {name.replace(".", "")[-8:] for name in dropped} == {day}
        assert {"log" if "log" in name else "span" for name in dropped} == {"log", "span"}
        assert await store.drop_expired(Tier.SHORT, NOW) == []
        page = await store.search_logs(scope, LogSearch(start=NOW - timedelta(days=7), end=NOW))
        assert [r.id for r in page.items] == ["r0002"]
        await store.write_logs(scope, [log(3)])  # writes still work after the drop

    async def test_ping_answers(self, store: TelemetryStore) -> None:
        await store.ping()
