"""Rating is exact: per-unit Decimal prices, each line rounded to the cent once, total = sum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.entitlements import Entitlements
from billing.money import cents, money, plain, to_cents
from billing.plans import Period, period_at
from billing.quotas.base import Category
from billing.rating import (
    Line,
    LineKind,
    Upgrade,
    overage_lines,
    proration_line,
    rate,
    remaining_seconds,
)
from tests.billing.catalog import FREE, PRO, SCALE

GB = 10**9
CENT = Decimal("0.01")


def included(plan: object) -> dict[Category, int]:
    return dict(plan.included)  # type: ignore[attr-defined]


class TestCents:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("0.005", "0.01"),
            ("0.004999999999999999999999999999999", "0.00"),
            ("0.015", "0.02"),
            ("2.675", "2.68"),
            ("-0.005", "-0.01"),
            ("0", "0.00"),
            ("49.999", "50.00"),
        ],
    )
    def test_half_a_cent_rounds_up(self, value: str, expected: str) -> None:
        assert cents(Decimal(value)) == Decimal(expected)

    @given(
        st.decimals(
            min_value=Decimal("-1e12"),
            max_value=Decimal("1e12"),
            places=6,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    def test_matches_decimal_round_half_up(self, value: Decimal) -> None:
        with localcontext(prec=60):
            expected = value.quantize(CENT, rounding=ROUND_HALF_UP)
        assert cents(value) == expected
        assert abs(cents(value) - value) <= Decimal("0.005")

    @given(st.integers(min_value=0, max_value=10**12), st.sampled_from([0, 1, 4, 5, 6, 9]))
    def test_exactly_half_a_cent_always_rounds_up(self, whole_cents: int, last: int) -> None:
        # amount = whole_cents/100 + last/1000: the thousandths digit decides alone
        value = Decimal(whole_cents).scaleb(-2) + Decimal(last).scaleb(-3)
        expected = Decimal(whole_cents + (1 if last >= 5 else 0)).scaleb(-2)
        assert cents(value) == expected

    def test_fractions_are_rounded_without_a_decimal_context(self) -> None:
        # 1/200 is exactly half a cent; 1/3 dollar is 33.33 cents
        assert cents(Fraction(1, 200)) == Decimal("0.01")
        assert cents(Fraction(1, 3)) == Decimal("0.33")
        assert cents(Fraction(10**40 - 1, 2 * 10**42)) == Decimal("0.00")

    def test_to_cents_refuses_unrounded_amounts(self) -> None:
        assert to_cents(Decimal("12.34")) == 1234
        with pytest.raises(ValueError, match="cent"):
            to_cents(Decimal("0.001"))

    def test_strings(self) -> None:
        assert money(Decimal("5")) == "5.00"
        assert plain(Decimal("5E-10")) == "0.0000000005"
        assert plain(Decimal("1.2E+7")) == "12000000"
        assert plain(Decimal("50.00")) == "50"


class TestOverage:
    def test_free_plan_has_no_overage_lines(self) -> None:
        assert overage_lines(FREE, included(FREE), {c: 10**12 for c in Category}) == []

    def test_one_line_per_priced_category_even_when_nothing_is_over(self) -> None:
        lines = overage_lines(PRO, included(PRO), {})
        assert [line.category for line in lines] == [
            Category.METRICS,
            Category.LOGS,
            Category.TRACES,
        ]
        assert all(line.amount == 0 and line.quantity == 0 for line in lines)

    @pytest.mark.parametrize(
        ("category", "over", "amount"),
        [
            (Category.METRICS, 1_000_000, "0.10"),  # $0.10 per 1M data points
            (Category.METRICS, 50_000, "0.01"),  # exactly half a cent
            (Category.METRICS, 49_999, "0.00"),
            (Category.METRICS, 1, "0.00"),
            (Category.LOGS, GB, "0.50"),  # $0.50 per GB
            (Category.LOGS, 10_000_000, "0.01"),  # 0.005 exactly
            (Category.LOGS, 9_999_999, "0.00"),
            (Category.TRACES, 1_000, "0.01"),  # $0.01 per 1K root spans
            (Category.TRACES, 500, "0.01"),
            (Category.TRACES, 499, "0.00"),
            (Category.METRICS, 123_456_789_012, "12345.68"),
        ],
    )
    def test_overage_is_exact_and_rounded_once(
        self, category: Category, over: int, amount: str
    ) -> None:
        used = {category: PRO.included[category] + over}
        (line,) = [x for x in overage_lines(PRO, included(PRO), used) if x.category is category]
        assert line.quantity == over
        assert line.amount == Decimal(amount)
        assert line.unit_price == PRO.overage[category]

    @given(
        st.integers(min_value=0, max_value=2**53),
        st.integers(min_value=0, max_value=2**53),
        st.integers(min_value=0, max_value=2**53),
    )
    def test_every_category_is_exact_for_any_usage(
        self, metrics: int, logs: int, traces: int
    ) -> None:
        used = {Category.METRICS: metrics, Category.LOGS: logs, Category.TRACES: traces}
        for line in overage_lines(SCALE, included(SCALE), used):
            assert line.category is not None
            over = max(used[line.category] - SCALE.included[line.category], 0)
            exact = Fraction(over) * Fraction(SCALE.overage[line.category])  # type: ignore[arg-type]
            assert line.amount == cents(exact)
            assert abs(Fraction(line.amount) - exact) <= Fraction(1, 200)

    def test_overrides_of_included_units_count(self) -> None:
        more = included(PRO) | {Category.METRICS: 20_000_000}
        (metrics, *_) = overage_lines(PRO, more, {Category.METRICS: 21_000_000})
        assert metrics.quantity == 1_000_000
        assert metrics.amount == Decimal("0.10")


class TestProration:
    period = Period(datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))

    def test_upgrade_half_way_costs_half_the_difference(self) -> None:
        middle = self.period.start + (self.period.end - self.period.start) / 2
        line = proration_line(self.period, Upgrade(middle, PRO, SCALE))
        assert line.kind is LineKind.PRORATION
        assert line.amount == Decimal("75.00")
        assert line.unit_price == Decimal(150)
        assert line.details["remaining_seconds"] == str(31 * 86400 // 2)

    def test_prorated_to_the_second_and_rounded_once(self) -> None:
        at = self.period.end - timedelta(seconds=1000, microseconds=999_999)
        line = proration_line(self.period, Upgrade(at, FREE, PRO))
        # 50 x 1000 / 2678400 = 0.018667... -> 0.02; the partial second is not billed
        assert remaining_seconds(self.period, at) == 1000
        assert line.amount == Decimal("0.02")

    @given(st.integers(min_value=0, max_value=31 * 86400 - 1))
    def test_amount_is_the_exact_share_rounded(self, elapsed: int) -> None:
        at = self.period.start + timedelta(seconds=elapsed)
        line = proration_line(self.period, Upgrade(at, FREE, SCALE))
        exact = Fraction(200) * Fraction(31 * 86400 - elapsed, 31 * 86400)
        assert line.amount == cents(exact)

    def test_upgrade_at_the_start_costs_the_whole_difference(self) -> None:
        line = proration_line(self.period, Upgrade(self.period.start, FREE, PRO))
        assert line.amount == Decimal("50.00")

    def test_an_instant_outside_the_period_is_refused(self) -> None:
        with pytest.raises(ValueError, match="outside"):
            proration_line(self.period, Upgrade(self.period.end, FREE, PRO))

    def test_february_is_a_shorter_period(self) -> None:
        feb = period_at(datetime(2027, 1, 31, tzinfo=UTC), datetime(2027, 2, 28, tzinfo=UTC))
        assert (feb.start.day, feb.end.month, feb.end.day) == (28, 3, 31)
        march = period_at(datetime(2027, 1, 31, tzinfo=UTC), datetime(2027, 3, 15, tzinfo=UTC))
        assert march.start == datetime(2027, 2, 28, tzinfo=UTC)
        line = proration_line(march, Upgrade(march.start + timedelta(days=10), PRO, SCALE))
        days = (march.end - march.start).days
        assert line.amount == cents(Fraction(150) * Fraction(days - 10, days))


class TestRate:
    period = Period(datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))

    def test_total_is_the_sum_of_rounded_lines(self) -> None:
        # each overage line is exactly half a cent: three roundings up, not one rounding of 0.015
        used = {
            Category.METRICS: PRO.included[Category.METRICS] + 50_000,
            Category.LOGS: PRO.included[Category.LOGS] + 10_000_000,
            Category.TRACES: PRO.included[Category.TRACES] + 500,
        }
        rating = rate(self.period, base_plan=PRO, plan=PRO, included=included(PRO), used=used)
        assert [line.amount for line in rating.lines] == [
            Decimal(x) for x in ("50", ".01", ".01", ".01")
        ]
        assert rating.total == Decimal("50.03")

    def test_upgrade_mid_period_bills_old_base_plus_proration_and_new_overage(self) -> None:
        at = datetime(2027, 3, 17, 12, tzinfo=UTC)
        used = {Category.METRICS: SCALE.included[Category.METRICS] + 2_000_000}
        rating = rate(
            self.period,
            base_plan=PRO,
            plan=SCALE,
            included=included(SCALE),
            used=used,
            upgrades=[Upgrade(at, PRO, SCALE)],
        )
        kinds = [line.kind for line in rating.lines]
        assert kinds[:2] == [LineKind.BASE, LineKind.PRORATION]
        assert rating.lines[0].amount == Decimal("50.00")
        remaining = (self.period.end - at).total_seconds()
        assert rating.lines[1].amount == cents(Fraction(150) * Fraction(int(remaining), 31 * 86400))
        assert rating.lines[2].amount == Decimal("0.20")
        assert rating.total == sum(line.amount for line in rating.lines)

    def test_free_period_costs_nothing(self) -> None:
        rating = rate(self.period, base_plan=FREE, plan=FREE, included=included(FREE), used={})
        assert rating.total == Decimal("0.00")
        assert [line.kind for line in rating.lines] == [LineKind.BASE]

    def test_a_line_must_be_rounded(self) -> None:
        with pytest.raises(ValueError, match="cent"):
            Line(LineKind.BASE, "x", Decimal(1), Decimal("0.001"), Decimal("0.001"))


def _entitlements(cap: str) -> Entitlements:
    return Entitlements(
        org_id="org_x",
        plan_id="plan_pro_v1",
        plan=PRO,
        status="active",
        anchor=datetime(2027, 3, 1, tzinfo=UTC),
        spend_cap=Decimal(cap),
    )


class TestSpendCap:
    @given(
        st.integers(min_value=0, max_value=3000).map(lambda c: Decimal(c).scaleb(-2)),
        st.sampled_from([Category.METRICS, Category.LOGS, Category.TRACES]),
        st.integers(min_value=0, max_value=10**10),
    )
    def test_usage_admitted_up_to_the_cap_is_invoiced_within_the_cap(
        self, cap: Decimal, first: Category, first_over: int
    ) -> None:
        ent = _entitlements(str(cap))
        used: dict[Category, int] = {c: 0 for c in Category}
        # one category consumes some budget, then every other category fills up to its limit
        first_limit = ent.period_limit(first, used).limit
        assert first_limit is not None
        used[first] = min(PRO.included[first] + first_over, first_limit)
        for category in (Category.METRICS, Category.LOGS, Category.TRACES):
            if category is first:
                continue
            limit = ent.period_limit(category, used).limit
            assert limit is not None
            used[category] = limit
        rating = rate(self.period(), base_plan=PRO, plan=PRO, included=included(PRO), used=used)
        overage = sum(line.amount for line in rating.lines if line.kind is LineKind.OVERAGE)
        assert overage <= cap

    def test_half_cent_costs_in_two_categories_stay_within_the_cap(self) -> None:
        ent = _entitlements("1.00")
        used = {c: 0 for c in Category}
        used[Category.METRICS] = PRO.included[Category.METRICS] + 50_000  # $0.005 -> 0.01
        logs_limit = ent.period_limit(Category.LOGS, used).limit
        assert logs_limit is not None
        used[Category.LOGS] = logs_limit
        rating = rate(self.period(), base_plan=PRO, plan=PRO, included=included(PRO), used=used)
        overage = sum(line.amount for line in rating.lines if line.kind is LineKind.OVERAGE)
        assert overage == Decimal("1.00")

    @staticmethod
    def period() -> Period:
        return Period(datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))

    def test_one_more_unit_than_the_cap_allows_would_pass_it(self) -> None:
        ent = _entitlements("1.00")
        limit = ent.period_limit(Category.METRICS, {}).limit
        # 10,049,999 points cost $1.0049999, invoiced as $1.00; one more would be $1.01
        assert limit == PRO.included[Category.METRICS] + 10_049_999
        (at_limit, *_) = overage_lines(PRO, included(PRO), {Category.METRICS: limit})
        assert at_limit.amount == Decimal("1.00")
        (past, *_) = overage_lines(PRO, included(PRO), {Category.METRICS: limit + 1})
        assert past.amount == Decimal("1.01")

    def test_a_zero_cap_allows_no_overage_at_all(self) -> None:
        ent = _entitlements("0.00")
        assert ent.period_limit(Category.LOGS, {}).limit == PRO.included[Category.LOGS]
