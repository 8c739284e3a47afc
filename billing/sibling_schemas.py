"""Request and response bodies of sibling-product usage and prices (hub and operator API)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

NO_NUL = r"^[^\x00]*$"
MAX_BATCH = 1000
PRODUCT_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
Product = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=PRODUCT_PATTERN)]
Metric = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
UnitPrice = Annotated[str, msgspec.Meta(pattern=r"^\d{1,12}(\.\d{1,12})?$", max_length=25)]
PlanName = Literal["free", "pro", "scale"]


class UsageEventIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    event_id: EventId
    product: Product
    metric: Metric
    quantity: Decimal
    timestamp: datetime
    properties: dict[str, Any] = {}


class UsageBatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    events: Annotated[list[UsageEventIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class RejectedOut(msgspec.Struct):
    index: int
    event_id: str
    reason: str
    detail: str


class UsageBatchOut(msgspec.Struct):
    inserted: int
    duplicates: int
    rejected: list[RejectedOut]


class PriceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    metric: Metric
    unit_price: UnitPrice
    included: dict[PlanName, Annotated[int, msgspec.Meta(ge=0, le=10**15)]] = {}


class PricesIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prices: Annotated[list[PriceIn], msgspec.Meta(max_length=100)]


class PriceOut(msgspec.Struct):
    metric: str
    unit_price: str
    included: dict[str, int]


class PricesOut(msgspec.Struct):
    product: str
    prices: list[PriceOut]
    updated_at: datetime | None = None
