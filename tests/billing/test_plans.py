"""The plan catalog as migrated equals §4, and billing periods tile time from the anchor."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import PlanRow
from billing.plans import Plan, PlanCode, add_months, period_at, plan_from_row
from billing.quotas.base import Category, RateLimit, check_id
from billing.repository import PlanRepository
from infra.settings import TIER_RETENTION_DAYS
from tests.billing.section4 import (
    FREE,
    GB,
    LOGS_PER_BYTE,
    METRICS_PER_POINT,
    PLANS,
    PRO,
    RETENTION_DAYS,
    SCALE,
    TRACES_PER_ROOT_SPAN,
)

M, L, T, S = Category.METRICS, Category.LOGS, Category.TRACES, Category.SPANS


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class TestMigratedCatalogIsSection4:
    async def test_the_active_plans_are_free_pro_scale_cheapest_first(
        self, db_session: AsyncSession
    ) -> None:
        current = await PlanRepository(db_session).current()
        assert [(plan_id, plan.code) for plan_id, plan in current] == [
            ("plan_free_v1", PlanCode.FREE),
            ("plan_pro_v1", PlanCode.PRO),
            ("plan_scale_v1", PlanCode.SCALE),
        ]

    async def test_every_plan_equals_section_4(self, db_session: AsyncSession) -> None:
        current = dict(await PlanRepository(db_session).current())
        assert {plan.code: plan for plan in current.values()} == PLANS

    async def test_current_by_code_finds_version_1(self, db_session: AsyncSession) -> None:
        for code, expected in PLANS.items():
            assert await PlanRepository(db_session).current_by_code(code) == (
                f"plan_{code}_v1",
                expected,
            )

    async def test_prices_are_stored_in_usd_to_the_cent(self, db_session: AsyncSession) -> None:
        rows = (await db_session.scalars(select(PlanRow).order_by(PlanRow.price))).all()
        assert [(r.price, r.currency, r.active) for r in rows] == [
            (Decimal("0.00"), "usd", True),
            (Decimal("50.00"), "usd", True),
            (Decimal("200.00"), "usd", True),
        ]

    async def test_by_id_of_an_unknown_version_raises(self, db_session: AsyncSession) -> None:
        with pytest.raises(LookupError):
            await PlanRepository(db_session).by_id("plan_gold_v1")


class TestSection4Units:
    """The written-out catalog against §4's own wording, so a typo in either shows."""

    def test_included_units(self) -> None:
        assert (FREE.included[M], FREE.included[L], FREE.included[T]) == (
            1_000_000,
            1_000_000_000,
            100_000,
        )
        assert (PRO.included[M], PRO.included[L], PRO.included[T]) == (
            10_000_000,
            10 * 10**9,
            1_000_000,
        )
        assert (SCALE.included[M], SCALE.included[L], SCALE.included[T]) == (
            100_000_000,
            100 * 10**9,
            10_000_000,
        )

    @pytest.mark.parametrize("plan", [FREE, PRO, SCALE], ids=lambda p: p.code)
    def test_spans_fair_use_is_200_times_traces(self, plan: Plan) -> None:
        assert plan.included[S] == 200 * plan.included[T]
        assert plan.overage[S] is None

    @pytest.mark.parametrize("plan", [PRO, SCALE], ids=lambda p: p.code)
    def test_overage_prices_are_exact_per_unit(self, plan: Plan) -> None:
        assert plan.overage[M] * 1_000_000 == Decimal("0.10")
        assert plan.overage[L] * GB == Decimal("0.50")
        assert plan.overage[T] * 1_000 == Decimal("0.01")
        assert (plan.overage[M], plan.overage[L], plan.overage[T]) == (
            Decimal("0.0000001"),
            Decimal("0.0000000005"),
            Decimal("0.00001"),
        )
        assert {type(p) for p in plan.overage.values() if p is not None} == {Decimal}
        assert (
            plan.overage[M],
            plan.overage[L],
            plan.overage[T],
        ) == (METRICS_PER_POINT, LOGS_PER_BYTE, TRACES_PER_ROOT_SPAN)

    def test_free_is_hard_capped_and_paid_plans_are_not(self) -> None:
        assert FREE.hard_capped
        assert all(price is None for price in FREE.overage.values())
        assert not PRO.hard_capped
        assert not SCALE.hard_capped

    def test_prices_and_alerts(self) -> None:
        assert [(p.price, p.alerts) for p in (FREE, PRO, SCALE)] == [
            (Decimal(0), 10),
            (Decimal(50), 100),
            (Decimal(200), None),
        ]

    @pytest.mark.parametrize(
        ("plan", "points", "log_bytes", "spans"),
        [
            (FREE, 5_000, 10**6, 1_000),
            (PRO, 50_000, 5 * 10**6, 10_000),
            (SCALE, 200_000, 20 * 10**6, 50_000),
        ],
        ids=["free", "pro", "scale"],
    )
    def test_rate_limits_have_a_burst_of_ten_seconds(
        self, plan: Plan, points: int, log_bytes: int, spans: int
    ) -> None:
        assert plan.rate_limit(M) == RateLimit(rate=points, burst=10 * points)
        assert plan.rate_limit(L) == RateLimit(rate=log_bytes, burst=10 * log_bytes)
        assert plan.rate_limit(S) == RateLimit(rate=spans, burst=10 * spans)
        assert plan.rate_limit(T) == RateLimit(rate=spans, burst=10 * spans)

    @pytest.mark.parametrize("plan", [FREE, PRO, SCALE], ids=lambda p: p.code)
    def test_retention_follows_the_tier(self, plan: Plan) -> None:
        assert TIER_RETENTION_DAYS[plan.tier] == RETENTION_DAYS[plan.code]


class TestPlanValue:
    ROW: dict[str, object] = {
        "code": "pro",
        "version": 1,
        "name": "Pro",
        "price": "50",
        "tier": "standard",
        "alerts": 100,
        "included": {
            "metrics": 10_000_000, "logs": 10 * GB, "traces": 1_000_000, "spans": 200_000_000,
        },
        "overage": {
            "metrics": "0.0000001", "logs": "0.0000000005", "traces": "0.00001", "spans": None,
        },
        "rates": {"metrics": 50_000, "logs": 5_000_000, "traces": 10_000, "spans": 10_000},
    }  # fmt: skip

    def test_a_row_as_stored_reads_back_exactly(self) -> None:
        assert plan_from_row(self.ROW) == PRO

    def test_a_row_without_json_objects_is_refused(self) -> None:
        with pytest.raises(TypeError):
            plan_from_row(self.ROW | {"rates": [1, 2]})

    def test_a_negative_price_is_refused(self) -> None:
        with pytest.raises(ValueError, match="never negative"):
            plan_from_row(self.ROW | {"price": "-1"})
        with pytest.raises(ValueError, match="never negative"):
            plan_from_row(self.ROW | {"overage": self.ROW["overage"] | {"logs": "-0.1"}})  # type: ignore[operator]

    def test_a_plan_names_every_category(self) -> None:
        included = dict(PRO.included)
        del included[S]
        with pytest.raises(ValueError, match="every category"):
            dataclasses.replace(PRO, included=MappingProxyType(included))


class TestAddMonths:
    @pytest.mark.parametrize(
        ("anchor", "months", "expected"),
        [
            (utc(2024, 1, 31, 12), 1, utc(2024, 2, 29, 12)),
            (utc(2023, 1, 31, 12), 1, utc(2023, 2, 28, 12)),
            (utc(2024, 1, 30), 1, utc(2024, 2, 29)),
            (utc(2023, 1, 29), 1, utc(2023, 2, 28)),
            (utc(2024, 1, 29), 1, utc(2024, 2, 29)),
            (utc(2024, 3, 31), 1, utc(2024, 4, 30)),
            (utc(2024, 12, 31, 23, 59, 59), 1, utc(2025, 1, 31, 23, 59, 59)),
            (utc(2024, 11, 30), 3, utc(2025, 2, 28)),
            (utc(2024, 2, 29), 12, utc(2025, 2, 28)),
            (utc(2024, 2, 29), 48, utc(2028, 2, 29)),
            (utc(2025, 1, 15), -1, utc(2024, 12, 15)),
            (utc(2025, 3, 31), -1, utc(2025, 2, 28)),
        ],
    )
    def test_the_day_is_clamped_to_the_month(
        self, anchor: datetime, months: int, expected: datetime
    ) -> None:
        assert add_months(anchor, months) == expected


class TestPeriodAt:
    def test_a_31st_anchor_follows_february_in_a_leap_year_and_comes_back(self) -> None:
        anchor = utc(2024, 1, 31, 9, 30)
        starts = [period_at(anchor, utc(2024, m, 15)).start for m in (2, 3, 4, 5)]
        assert starts == [
            utc(2024, 1, 31, 9, 30),
            utc(2024, 2, 29, 9, 30),
            utc(2024, 3, 31, 9, 30),
            utc(2024, 4, 30, 9, 30),
        ]

    def test_a_31st_anchor_in_a_non_leap_year(self) -> None:
        anchor = utc(2023, 1, 31)
        period = period_at(anchor, utc(2023, 3, 1))
        assert (period.start, period.end, period.index) == (utc(2023, 2, 28), utc(2023, 3, 31), 1)

    @pytest.mark.parametrize(
        ("anchor_day", "year", "february_end"),
        [(29, 2023, 28), (29, 2024, 29), (30, 2023, 28), (30, 2024, 29), (31, 2100, 28)],
    )
    def test_late_anchors_across_february(
        self, anchor_day: int, year: int, february_end: int
    ) -> None:
        anchor = utc(year, 1, anchor_day)
        february = period_at(anchor, utc(year, 3, 1))
        assert february.start == utc(year, 2, february_end)
        assert february.end == utc(year, 3, anchor_day)

    def test_year_end(self) -> None:
        anchor = utc(2025, 12, 31, 23)
        january = period_at(anchor, utc(2026, 1, 1, 5))
        assert (january.start, january.end) == (utc(2025, 12, 31, 23), utc(2026, 1, 31, 23))
        february = period_at(anchor, utc(2026, 2, 28, 23))
        assert (february.start, february.end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 23))

    def test_periods_are_half_open(self) -> None:
        anchor = utc(2026, 1, 10, 8)
        assert period_at(anchor, utc(2026, 2, 10, 8)).index == 1
        assert period_at(anchor, utc(2026, 2, 10, 8) - timedelta(microseconds=1)).index == 0

    def test_the_index_never_drifts(self) -> None:
        anchor = utc(2023, 1, 31, 12)
        period = period_at(anchor, utc(2033, 1, 31, 12))
        assert period.index == 120
        assert period.start == add_months(anchor, 120) == utc(2033, 1, 31, 12)

    def test_a_non_utc_anchor_is_the_same_instant(self) -> None:
        eastern = timezone(timedelta(hours=-5))
        anchor = datetime(2024, 1, 31, 23, 30, tzinfo=eastern)  # 2024-02-01T04:30Z
        period = period_at(anchor, utc(2024, 3, 15))
        assert (period.start, period.end) == (utc(2024, 3, 1, 4, 30), utc(2024, 4, 1, 4, 30))
        assert period.start.tzinfo is UTC

    def test_the_id_is_the_utc_start_and_a_safe_redis_name(self) -> None:
        period = period_at(utc(2026, 1, 31, 7, 5, 9), utc(2026, 2, 28, 8))
        assert period.id == "20260228T070509"
        assert check_id(period.id, "period_id") == period.id

    @pytest.mark.parametrize(
        ("anchor", "at"),
        [
            (datetime(2026, 1, 1), utc(2026, 1, 2)),  # noqa: DTZ001
            (utc(2026, 1, 1), datetime(2026, 1, 2)),  # noqa: DTZ001
        ],
    )
    def test_naive_datetimes_are_refused(self, anchor: datetime, at: datetime) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            period_at(anchor, at)


ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
)


class TestPeriodsTileTime:
    @settings(deadline=None)
    @given(
        anchor=st.datetimes(
            min_value=datetime(1971, 1, 1),  # noqa: DTZ001
            max_value=datetime(2150, 12, 31),  # noqa: DTZ001
            timezones=ZONES,
        ),
        offset=st.integers(min_value=0, max_value=60 * 366 * 24 * 3600),
    )
    def test_the_period_contains_the_instant_and_its_neighbours_touch(
        self, anchor: datetime, offset: int
    ) -> None:
        at = anchor + timedelta(seconds=offset)
        period = period_at(anchor, at)
        assert period.start <= at < period.end
        base = anchor.astimezone(UTC)
        assert period.start == add_months(base, period.index)
        assert period.end == add_months(base, period.index + 1)
        assert timedelta(days=28) <= period.end - period.start <= timedelta(days=31)
        following = period_at(anchor, period.end)
        assert (following.start, following.index) == (period.end, period.index + 1)
        if period.index > 0:
            before = period_at(anchor, period.start - timedelta(microseconds=1))
            assert (before.end, before.index) == (period.start, period.index - 1)
