"""Request and response bodies of the billing API; money is a decimal string."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

CategoryName = Literal["metrics", "logs", "traces", "spans"]
Money = Annotated[str, msgspec.Meta(pattern=r"^\d{1,10}(\.\d{1,2})?$", max_length=13)]


class PlanOut(msgspec.Struct):
    id: str
    code: str
    version: int
    name: str
    price: str
    currency: str
    included: dict[str, int]
    overage_unit_prices: dict[str, str | None]
    rate_limits: dict[str, dict[str, float]]
    retention_days: int
    tier: str
    alerts: int | None


class SubscriptionOut(msgspec.Struct):
    plan: str
    plan_version: int
    status: str
    period_start: datetime
    period_end: datetime
    spend_cap: str | None
    scheduled_plan: str | None = None
    """A downgrade that takes effect at `period_end`."""


class SubscriptionIn(msgspec.Struct, forbid_unknown_fields=True):
    plan: Literal["free", "pro", "scale"]
    spend_cap: Money | None = None


class CategoryQuotaOut(msgspec.Struct):
    included: int
    used: int
    remaining: int
    overage: int
    hard_cap: bool


class QuotasOut(msgspec.Struct):
    period_start: datetime
    period_end: datetime
    categories: dict[str, CategoryQuotaOut]


class RateLimitBody(msgspec.Struct, forbid_unknown_fields=True):
    rate: Annotated[float, msgspec.Meta(gt=0)]
    burst: Annotated[int, msgspec.Meta(ge=1)]


# `alerts` overrides the plan's alert-rule limit (rules per org), not a metered unit.
IncludedName = Literal["metrics", "logs", "traces", "spans", "alerts"]


class OverridesBody(msgspec.Struct, forbid_unknown_fields=True):
    included: dict[IncludedName, Annotated[int, msgspec.Meta(ge=0)]] = {}
    rate_limits: dict[CategoryName, RateLimitBody] = {}


class UsageOut(msgspec.Struct):
    items: list[dict[str, object]]
    granularity: str
    next_cursor: str | None = None
    sibling: list[dict[str, object]] = []
    """Units hub products reported: {start, product, metric, quantity (a decimal string)}."""


LineKindName = Literal["base", "overage", "proration", "sibling"]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$", max_length=2000)]


class InvoiceLineOut(msgspec.Struct):
    kind: LineKindName
    category: str | None
    description: str
    quantity: str
    unit_price: str
    amount: str
    details: dict[str, str]
    product: str | None = None
    """Sibling lines: the hub product they bill."""
    metric: str | None = None
    """Sibling lines: the product's metric."""


class InvoiceOut(msgspec.Struct):
    id: str | None
    period_start: datetime
    period_end: datetime
    status: str
    currency: str
    plan: str
    lines: list[InvoiceLineOut]
    subtotal: str
    total: str
    issued_at: datetime | None = None
    paid_at: datetime | None = None


class PlanChangePreviewOut(msgspec.Struct):
    plan: str
    change: str  # upgrade, downgrade or none
    effective_at: datetime
    payment_method_required: bool
    added: str
    upcoming_before: InvoiceOut
    upcoming_after: InvoiceOut


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    success_url: HttpUrl | None = None
    cancel_url: HttpUrl | None = None


class PortalIn(msgspec.Struct, forbid_unknown_fields=True):
    return_url: HttpUrl | None = None


class UrlOut(msgspec.Struct):
    url: str
    id: str | None = None


class HubQuotaOut(msgspec.Struct):
    included: int
    used: int
    remaining: int


class HubProductFeaturesOut(msgspec.Struct):
    enabled: bool
    metrics: dict[str, dict[str, int]]
    """Each priced metric of the product and the units the org's plan includes per period."""


class HubFeaturesOut(msgspec.Struct):
    """Limits (None: unlimited) and flags of the org's plan, overrides applied."""

    alert_rules: int | None
    slos: int | None
    retention_days: int
    sso: bool
    products: dict[str, HubProductFeaturesOut]


class EntitlementsOut(msgspec.Struct):
    """What a sibling product may know of an org's plan (hub API)."""

    plan: str
    status: str
    period_start: datetime
    period_end: datetime
    quotas: dict[str, HubQuotaOut]
    retention_days: int
    features: HubFeaturesOut | None = None
