"""The plan catalog (§4) and monthly billing periods anchored at signup."""

from __future__ import annotations

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

from billing.quotas.base import Category, RateLimit
from infra.settings import Tier


class PlanCode(enum.StrEnum):
    """The plans a subscription can be on."""

    FREE = "free"
    PRO = "pro"
    SCALE = "scale"


@dataclass(frozen=True)
class Plan:
    """One version of a plan: price, included units, overage prices, rate limits, retention.

    Overage prices are exact Decimals per unit (a data point, a byte, a root span); `None` means
    the category has no overage: it is hard-capped at its included units.
    """

    code: PlanCode
    version: int
    name: str
    price: Decimal
    included: Mapping[Category, int]
    overage: Mapping[Category, Decimal | None]
    rates: Mapping[Category, float]
    tier: Tier
    alerts: int | None

    def __post_init__(self) -> None:
        if self.price < 0 or any(p is not None and p < 0 for p in self.overage.values()):
            raise ValueError("prices are never negative")
        if set(self.included) != set(Category) or set(self.rates) != set(Category):
            raise ValueError("a plan names every category")

    @property
    def hard_capped(self) -> bool:
        """Whether every category stops at its included units (no overage at all)."""
        return all(price is None for price in self.overage.values())

    def rate_limit(self, category: Category) -> RateLimit:
        """The per-project token bucket of a category (burst = 10 s worth)."""
        return RateLimit.per_second(self.rates[category])


SPANS_PER_TRACE_FAIR_USE = 200


def plan_from_row(row: Mapping[str, object]) -> Plan:
    """A plan version as stored in the `plans` table (prices are decimal strings there)."""
    included = row["included"]
    overage = row["overage"]
    rates = row["rates"]
    if not (isinstance(included, dict) and isinstance(overage, dict) and isinstance(rates, dict)):
        raise TypeError("a plan row's included, overage and rates are JSON objects")
    return Plan(
        code=PlanCode(str(row["code"])),
        version=int(str(row["version"])),
        name=str(row["name"]),
        price=Decimal(str(row["price"])),
        included=MappingProxyType({Category(k): int(v) for k, v in included.items()}),
        overage=MappingProxyType(
            {Category(k): (Decimal(v) if v is not None else None) for k, v in overage.items()}
        ),
        rates=MappingProxyType({Category(k): float(v) for k, v in rates.items()}),
        tier=Tier(str(row["tier"])),
        alerts=int(str(row["alerts"])) if row["alerts"] is not None else None,
    )


def add_months(anchor: datetime, months: int) -> datetime:
    """The anchor moved by whole months, the day clamped to the month's length (Jan 31 → Feb 28)."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Period:
    """One monthly billing period: [start, end)."""

    start: datetime
    end: datetime
    index: int = field(default=0)

    @property
    def id(self) -> str:
        """A stable name for the period (its start, UTC, to the second)."""
        return self.start.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def period_at(anchor: datetime, at: datetime) -> Period:
    """The period that contains `at`, counting whole months from the anchor (never drifting)."""
    if anchor.tzinfo is None or at.tzinfo is None:
        raise ValueError("periods are computed on timezone-aware times")
    anchor, at = anchor.astimezone(UTC), at.astimezone(UTC)
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    months = max(months, 0)
    while months > 0 and add_months(anchor, months) > at:
        months -= 1
    while add_months(anchor, months + 1) <= at:
        months += 1
    return Period(add_months(anchor, months), add_months(anchor, months + 1), months)


@dataclass(frozen=True)
class PlanFeatures:
    """Per-org limits and flags of a plan beyond its units (§12, §13); a limit of None is
    unlimited. Alert rules come from the plan version's `alerts` column (the catalogue)."""

    alert_rules: int | None
    slos: int | None
    sso: bool


# SLO limits are not a column of the plans table: they are part of the catalogue here (§13).
SLO_LIMITS: Mapping[PlanCode, int | None] = MappingProxyType(
    {PlanCode.FREE: 5, PlanCode.PRO: 50, PlanCode.SCALE: None}
)
# Per-org OIDC SSO is offered on every plan today.
SSO_PLANS: frozenset[PlanCode] = frozenset(PlanCode)


def plan_features(plan: Plan) -> PlanFeatures:
    """The limits and flags a plan version grants (operator overrides are applied on top)."""
    return PlanFeatures(
        alert_rules=plan.alerts, slos=SLO_LIMITS[plan.code], sso=plan.code in SSO_PLANS
    )
