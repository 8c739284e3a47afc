"""What an org may ingest now: its plan, the operator's overrides, its period and spend cap."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from billing.money import cents
from billing.plans import Period, Plan, period_at
from billing.quotas.base import Category, CategoryPolicy, PeriodLimit, RateLimit


@dataclass(frozen=True)
class Entitlements:
    """One org's limits for the current period; overrides win over the plan."""

    org_id: str
    plan_id: str
    plan: Plan
    status: str
    anchor: datetime
    spend_cap: Decimal | None
    included_overrides: Mapping[Category, int] = field(default_factory=dict)
    rate_overrides: Mapping[Category, RateLimit] = field(default_factory=dict)

    def period(self, at: datetime) -> Period:
        """The billing period containing `at`."""
        return period_at(self.anchor, at)

    def included(self, category: Category) -> int:
        """Units of a category included in the period."""
        return self.included_overrides.get(category, self.plan.included[category])

    def hard_capped(self, category: Category) -> bool:
        """Whether the category stops at its included units (no overage price)."""
        return self.plan.overage[category] is None

    def rate_limit(self, category: Category) -> RateLimit:
        """The per-project token bucket of a category."""
        return self.rate_overrides.get(category) or self.plan.rate_limit(category)

    def overage_cost(self, used: Mapping[Category, int]) -> Decimal:
        """The overage cost of period usage so far, as the invoice rates it (each category
        rounded to the cent once)."""
        total = Decimal("0.00")
        for category, price in self.plan.overage.items():
            if price is not None:
                over = max(used.get(category, 0) - self.included(category), 0)
                total += cents(Fraction(over) * Fraction(price))
        return total

    def period_limit(self, category: Category, used: Mapping[Category, int]) -> PeriodLimit:
        """The period cap of a category: included units, or as many as the spend cap pays for."""
        price = self.plan.overage[category]
        if price is None:
            return PeriodLimit.hard_cap(self.included(category))
        if self.spend_cap is None:
            return PeriodLimit.unlimited()
        others = {c: n for c, n in used.items() if c is not category}
        budget = self.spend_cap - self.overage_cost(others)
        # the most units whose line, rounded to the cent, still fits: n x price < budget + 0.005
        extra = 0
        if budget > 0:
            extra = math.ceil((Fraction(budget) + Fraction(1, 200)) / Fraction(price)) - 1
        return PeriodLimit.spend_cap(self.included(category) + extra)

    def policies(
        self,
        used: Mapping[Category, int],
        key_rate_limits: Mapping[Category, RateLimit] | None = None,
    ) -> Mapping[Category, CategoryPolicy]:
        """A quota policy per category for the quota kernel."""
        key_limits = key_rate_limits or {}
        policies = {}
        for category in Category:
            project_limit = self.rate_limit(category)
            key_limit = key_limits.get(category)
            if key_limit is not None and not key_limit.allows_at_most(project_limit):
                key_limit = None  # a key override may only lower the project's limit
            policies[category] = CategoryPolicy(
                rate_limit=project_limit,
                key_rate_limit=key_limit,
                period_limit=self.period_limit(category, used),
            )
        return MappingProxyType(policies)
