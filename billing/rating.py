"""Rating: a period's invoice lines from its plan, its upgrades and its accepted usage.

Everything here is pure and exact. A line's amount is its exact value rounded to the cent once
(ROUND_HALF_UP); the total is the sum of the rounded lines, never a rounded sum.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from billing.money import CENT, cents, plain
from billing.plans import Period, Plan
from billing.quotas.base import Category

PRORATION_QUANTITY_PLACES = Decimal("0.000001")


class LineKind(enum.StrEnum):
    """What an invoice line bills."""

    BASE = "base"
    OVERAGE = "overage"
    PRORATION = "proration"
    SIBLING = "sibling"


@dataclass(frozen=True)
class Line:
    """One invoice line; `amount` is already rounded to the cent."""

    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    category: Category | None = None
    details: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.amount != self.amount.quantize(CENT):
            raise ValueError(f"a line amount is rounded to the cent, got {self.amount}")
        if self.kind is LineKind.OVERAGE and self.category is None:
            raise ValueError("an overage line names its category")


@dataclass(frozen=True)
class Upgrade:
    """A plan change that took effect inside a period (downgrades only happen at period ends)."""

    at: datetime
    from_plan: Plan
    to_plan: Plan


@dataclass(frozen=True)
class Rating:
    """A period's lines and totals."""

    period: Period
    lines: tuple[Line, ...]

    @property
    def subtotal(self) -> Decimal:
        """The sum of the rounded lines."""
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        """What is owed (no tax or discounts yet: the subtotal)."""
        return self.subtotal


def base_line(plan: Plan) -> Line:
    """The plan's monthly fee (the plan in effect when the period started)."""
    return Line(
        kind=LineKind.BASE,
        description=f"{plan.name} plan",
        quantity=Decimal(1),
        unit_price=plan.price,
        amount=cents(plan.price),
        details=MappingProxyType({"plan": plan.code.value}),
    )


def overage_lines(
    plan: Plan, included: Mapping[Category, int], used: Mapping[Category, int]
) -> list[Line]:
    """One line per category that has an overage price: units past the included ones."""
    lines = []
    for category in Category:
        price = plan.overage[category]
        if price is None:
            continue
        over = max(used.get(category, 0) - included[category], 0)
        lines.append(
            Line(
                kind=LineKind.OVERAGE,
                description=f"{category.value} over the {included[category]} included units",
                quantity=Decimal(over),
                unit_price=price,
                amount=cents(Fraction(over) * Fraction(price)),
                category=category,
                details=MappingProxyType({"included": str(included[category])}),
            )
        )
    return lines


def remaining_seconds(period: Period, at: datetime) -> int:
    """Whole seconds left in the period at `at` (the partial second is not billed)."""
    if not period.start <= at < period.end:
        raise ValueError(f"{at} is outside the period {period.start} .. {period.end}")
    return int((period.end - at).total_seconds())


def period_seconds(period: Period) -> int:
    """The period's length in seconds (anchored months: always whole seconds)."""
    return int((period.end - period.start).total_seconds())


def proration_line(period: Period, upgrade: Upgrade) -> Line:
    """The base-fee difference for the rest of the period: (new - old) x remaining / length."""
    remaining, length = remaining_seconds(period, upgrade.at), period_seconds(period)
    delta = upgrade.to_plan.price - upgrade.from_plan.price
    share = Fraction(remaining, length)
    return Line(
        kind=LineKind.PRORATION,
        description=(
            f"{upgrade.from_plan.name} to {upgrade.to_plan.name} for the remaining "
            f"{remaining} of {length} seconds"
        ),
        quantity=(Decimal(remaining) / Decimal(length)).quantize(PRORATION_QUANTITY_PLACES),
        unit_price=delta,
        amount=cents(Fraction(delta) * share),
        details=MappingProxyType(
            {
                "from_plan": upgrade.from_plan.code.value,
                "to_plan": upgrade.to_plan.code.value,
                "at": upgrade.at.isoformat(),
                "remaining_seconds": str(remaining),
                "period_seconds": str(length),
            }
        ),
    )


def rate(
    period: Period,
    *,
    base_plan: Plan,
    plan: Plan,
    included: Mapping[Category, int],
    used: Mapping[Category, int],
    upgrades: Iterable[Upgrade] = (),
    extra: Sequence[Line] = (),
) -> Rating:
    """A period's invoice: the starting plan's fee, prorated upgrades, then overage at the
    final plan's prices past the final plan's included units (an upgrade grants its included
    units for the whole period)."""
    lines = [base_line(base_plan)]
    lines += [proration_line(period, u) for u in sorted(upgrades, key=lambda u: u.at)]
    lines += overage_lines(plan, included, used)
    lines += extra
    return Rating(period, tuple(lines))


def describe(value: Decimal) -> str:
    """A quantity or unit price as the API writes it."""
    return plain(value)
