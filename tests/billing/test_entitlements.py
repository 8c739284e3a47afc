"""Entitlements: hard caps, unlimited overage, the spend-cap formula, overrides, key rate limits.

The spend cap is compared with overage as the invoice rates it: each category's line is the
exact per-unit Decimal price times the units, rounded to the cent once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.entitlements import Entitlements
from billing.plans import Plan, period_at
from billing.quotas.base import Category, PeriodLimit, RateLimit, Reason
from tests.billing.section4 import FREE, GB, PRO, SCALE

M, L, T, S = Category.METRICS, Category.LOGS, Category.TRACES, Category.SPANS
PRICED = (M, L, T)
ANCHOR = datetime(2026, 1, 31, 9, tzinfo=UTC)


def entitlements(
    plan: Plan,
    spend_cap: str | None = None,
    *,
    included: Mapping[Category, int] | None = None,
    rates: Mapping[Category, RateLimit] | None = None,
) -> Entitlements:
    return Entitlements(
        org_id="org_test",
        plan_id=f"plan_{plan.code}_v1",
        plan=plan,
        status="active",
        anchor=ANCHOR,
        spend_cap=Decimal(spend_cap) if spend_cap is not None else None,
        included_overrides=included or {},
        rate_overrides=rates or {},
    )


def over(plan: Plan, **extra: int) -> dict[Category, int]:
    """Usage of each named category this many units past the plan's included units."""
    return {Category(name): plan.included[Category(name)] + n for name, n in extra.items()}


class TestFreeIsHardCapped:
    @pytest.mark.parametrize("category", list(Category))
    def test_every_category_stops_at_its_included_units(self, category: Category) -> None:
        ent = entitlements(FREE)
        limit = ent.period_limit(category, {})
        assert limit == PeriodLimit.hard_cap(FREE.included[category])
        assert limit.reason is Reason.QUOTA_EXCEEDED
        assert ent.hard_capped(category)

    def test_a_spend_cap_changes_nothing_on_free(self) -> None:
        ent = entitlements(FREE, "100.00")
        assert ent.period_limit(M, over(FREE, logs=10 * GB)) == PeriodLimit.hard_cap(1_000_000)

    def test_free_usage_costs_nothing(self) -> None:
        assert entitlements(FREE).overage_cost(over(FREE, metrics=10**9)) == 0


class TestPaidPlansWithoutACap:
    @pytest.mark.parametrize("plan", [PRO, SCALE], ids=lambda p: p.code)
    @pytest.mark.parametrize("category", PRICED)
    def test_priced_categories_are_unlimited(self, plan: Plan, category: Category) -> None:
        ent = entitlements(plan)
        assert ent.period_limit(category, over(plan, metrics=10**12)) == PeriodLimit.unlimited()
        assert not ent.hard_capped(category)

    @pytest.mark.parametrize("plan", [PRO, SCALE], ids=lambda p: p.code)
    def test_spans_keep_their_fair_use_cap(self, plan: Plan) -> None:
        ent = entitlements(plan, "5.00")
        assert ent.period_limit(S, {}) == PeriodLimit.hard_cap(200 * plan.included[T])
        assert ent.hard_capped(S)

    def test_overage_is_rated_per_category_and_rounded_to_the_cent(self) -> None:
        ent = entitlements(PRO)
        used = over(PRO, metrics=12_345_678, logs=3 * GB + 1, traces=1_001)
        # $1.2345678 -> 1.23, $1.5000000005 -> 1.50, $0.01001 -> 0.01
        assert ent.overage_cost(used) == Decimal("2.74")


class TestSpendCap:
    def test_one_dollar_on_pro_pays_for_ten_million_points_as_invoiced(self) -> None:
        ent = entitlements(PRO, "1.00")
        limit = ent.period_limit(M, {})
        assert limit.reason is Reason.SPEND_CAP
        # 10,000,000 extra points cost exactly $1.00; up to 10,049,999 still invoice as $1.00
        assert limit.limit == 10_000_000 + 10_049_999
        assert ent.overage_cost({M: limit.limit}) == Decimal("1.00")
        assert ent.overage_cost({M: limit.limit + 1}) == Decimal("1.01")

    @pytest.mark.parametrize(
        ("cap", "category", "extra"),
        [
            ("0.01", L, 29_999_999),  # bytes at $0.50 / GB: 29,999,999 B = $0.0149999995
            ("0.01", T, 1_499),  # root spans at $0.01 / 1K
            ("25.00", L, 50_009_999_999),
            ("0.03", M, 349_999),  # a float would get 0.03 / 1e-7 wrong
        ],
    )
    def test_the_limit_is_exact(self, cap: str, category: Category, extra: int) -> None:
        limit = entitlements(PRO, cap).period_limit(category, {})
        assert limit == PeriodLimit.spend_cap(PRO.included[category] + extra)

    def test_overage_of_another_category_reduces_it(self) -> None:
        ent = entitlements(PRO, "1.00")
        used = over(PRO, logs=GB)  # $0.50 of logs
        assert ent.period_limit(M, used).limit == 10_000_000 + 5_049_999
        used = over(PRO, logs=GB, traces=30_000)  # $0.50 + $0.30
        assert ent.period_limit(M, used).limit == 10_000_000 + 2_049_999

    def test_another_category_within_its_included_units_costs_nothing(self) -> None:
        ent = entitlements(PRO, "1.00")
        assert ent.period_limit(M, {L: PRO.included[L], T: 5}) == ent.period_limit(M, {})

    def test_a_category_s_own_usage_does_not_move_its_limit(self) -> None:
        ent = entitlements(PRO, "1.00")
        assert ent.period_limit(M, over(PRO, metrics=9_000_000)) == ent.period_limit(M, {})

    def test_when_the_others_used_the_whole_cap_only_included_units_remain(self) -> None:
        ent = entitlements(PRO, "1.00")
        for used in (over(PRO, traces=100_000), over(PRO, traces=400_000)):  # $1.00, $4.00
            assert ent.period_limit(M, used) == PeriodLimit.spend_cap(PRO.included[M])

    def test_a_zero_cap_allows_no_overage(self) -> None:
        ent = entitlements(SCALE, "0.00")
        for category in PRICED:
            assert ent.period_limit(category, {}) == PeriodLimit.spend_cap(SCALE.included[category])

    @settings(deadline=None)
    @given(
        cap_cents=st.integers(min_value=0, max_value=10**8),
        category=st.sampled_from(PRICED),
        others=st.fixed_dictionaries(
            {c: st.integers(min_value=0, max_value=10**13) for c in PRICED}
        ),
    )
    def test_the_limit_is_the_most_units_the_cap_pays_for(
        self, cap_cents: int, category: Category, others: dict[Category, int]
    ) -> None:
        cap = Decimal(cap_cents).scaleb(-2)
        ent = entitlements(PRO, str(cap))
        used = {c: PRO.included[c] + n for c, n in others.items() if c is not category}
        limit = ent.period_limit(category, used).limit
        assert isinstance(limit, int)
        if ent.overage_cost(used) >= cap:
            assert limit == PRO.included[category]
        else:
            assert ent.overage_cost(used | {category: limit}) <= cap
            assert ent.overage_cost(used | {category: limit + 1}) > cap


class TestOverridesWin:
    def test_an_included_override_moves_a_hard_cap(self) -> None:
        ent = entitlements(FREE, included={M: 5})
        assert ent.included(M) == 5
        assert ent.period_limit(M, {}) == PeriodLimit.hard_cap(5)
        assert ent.period_limit(L, {}) == PeriodLimit.hard_cap(GB)

    def test_an_included_override_is_the_base_of_the_spend_cap(self) -> None:
        ent = entitlements(PRO, "1.00", included={M: 1_000, L: 0})
        assert ent.period_limit(M, {}).limit == 1_000 + 10_049_999
        # 1 GB of logs is now all overage: $0.50
        assert ent.period_limit(M, {L: GB}).limit == 1_000 + 5_049_999

    def test_an_override_may_raise_the_plan(self) -> None:
        ent = entitlements(FREE, included={T: 10**9}, rates={M: RateLimit(rate=10**6, burst=10**7)})
        assert ent.period_limit(T, {}) == PeriodLimit.hard_cap(10**9)
        assert ent.rate_limit(M) == RateLimit(rate=10**6, burst=10**7)

    def test_a_rate_override_replaces_the_plan_bucket(self) -> None:
        ent = entitlements(PRO, rates={L: RateLimit(rate=10, burst=100)})
        policies = ent.policies({})
        assert policies[L].rate_limit == RateLimit(rate=10, burst=100)
        assert policies[M].rate_limit == RateLimit(rate=50_000, burst=500_000)

    def test_overrides_leave_the_plan_s_prices(self) -> None:
        ent = entitlements(FREE, "10.00", included={M: 5})
        assert ent.hard_capped(M)
        assert entitlements(PRO, included={M: 5}).period_limit(M, {}) == PeriodLimit.unlimited()


class TestKeyRateLimits:
    @pytest.mark.parametrize(
        "key_limit",
        [RateLimit(rate=10, burst=100), RateLimit(rate=5_000, burst=50_000)],
        ids=["lower", "equal"],
    )
    def test_a_key_may_lower_the_project_limit(self, key_limit: RateLimit) -> None:
        policies = entitlements(FREE).policies({}, {M: key_limit})
        assert policies[M].key_rate_limit == key_limit
        assert policies[M].rate_limit == FREE.rate_limit(M)
        assert policies[L].key_rate_limit is None

    @pytest.mark.parametrize(
        "key_limit",
        [
            RateLimit(rate=5_001, burst=100),
            RateLimit(rate=10, burst=50_001),
            RateLimit(rate=10**6, burst=10**7),
        ],
        ids=["higher-rate", "higher-burst", "higher-both"],
    )
    def test_a_higher_key_limit_is_ignored(self, key_limit: RateLimit) -> None:
        policies = entitlements(FREE).policies({}, {M: key_limit})
        assert policies[M].key_rate_limit is None
        assert policies[M].rate_limit == FREE.rate_limit(M)

    def test_a_key_limit_is_compared_with_the_overridden_project_limit(self) -> None:
        ent = entitlements(FREE, rates={M: RateLimit(rate=100, burst=1_000)})
        assert ent.policies({}, {M: RateLimit(rate=1_000, burst=1_000)})[M].key_rate_limit is None
        kept = RateLimit(rate=50, burst=500)
        assert ent.policies({}, {M: kept})[M].key_rate_limit == kept


class TestPolicies:
    def test_there_is_a_policy_for_every_category(self) -> None:
        policies = entitlements(PRO, "2.00").policies(over(PRO, logs=GB))
        assert set(policies) == set(Category)
        assert policies[S].period_limit == PeriodLimit.hard_cap(200_000_000)
        assert policies[M].period_limit == entitlements(PRO, "2.00").period_limit(
            M, over(PRO, logs=GB)
        )

    def test_the_period_counts_from_the_anchor(self) -> None:
        at = datetime(2026, 3, 1, tzinfo=UTC)
        assert entitlements(FREE).period(at) == period_at(ANCHOR, at)
        assert entitlements(FREE).period(at).start == datetime(2026, 2, 28, 9, tzinfo=UTC)
