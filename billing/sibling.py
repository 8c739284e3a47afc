"""Sibling-product usage: events a hub product reports for an org it provisioned, the operator's
price table, and the `sibling` invoice lines rated from them.

An event is stored once per (product, event_id), for as long as its org exists (they are the
ledger of what a sibling bills; far beyond the 35 days a product may retry in). Each event is
accepted, counted as a duplicate, or rejected with a reason: never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import HubProductPrice
from billing.money import cents, plain
from billing.plans import Period, Plan
from billing.rating import Line, LineKind
from billing.repository import SubscriptionRepository
from billing.sibling_repository import GlobalHubPriceRepository, HubUsageRepository
from billing.sibling_schemas import PriceIn, UsageEventIn
from billing.subscriptions import current_subscription
from infra.errors import NotFoundError, ValidationError
from tenancy.context import TenantContext

FUTURE_SKEW = timedelta(minutes=5)
MAX_PROPERTIES_BYTES = 4096
MAX_QUANTITY = Decimal(10) ** 18
QUANTITY_PLACES = 10


@dataclass(frozen=True)
class Rejection:
    """Why one event of a batch was refused (its index in the batch)."""

    index: int
    event_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class BatchResult:
    """What became of a batch: new events, replays, and refusals."""

    inserted: int
    duplicates: int
    rejected: tuple[Rejection, ...]


def _check(
    event: UsageEventIn,
    product: str,
    metrics: frozenset[str],
    open_from: datetime,
    now: datetime,
) -> tuple[str, str] | None:
    """The (reason, detail) refusing an event, or None when it may be stored."""
    if event.product != product:
        return "product_mismatch", f"this hub key reports for {product!r} only"
    if event.metric not in metrics:
        return "unknown_metric", f"{event.metric!r} has no price for {product!r}"
    quantity = event.quantity
    if (
        not quantity.is_finite()
        or quantity < 0
        or quantity >= MAX_QUANTITY
        or -quantity.as_tuple().exponent > QUANTITY_PLACES  # type: ignore[operator]
    ):
        return (
            "invalid_quantity",
            f"a number from 0 below 1e18 with at most {QUANTITY_PLACES} decimals",
        )
    at = event.timestamp
    if at.tzinfo is None or at.utcoffset() is None:
        return "invalid_timestamp", "the timestamp must carry a timezone (e.g. 'Z')"
    if at < open_from:
        return (
            "outside_open_period",
            f"before the open billing period (from {open_from.isoformat()})",
        )
    if at > now + FUTURE_SKEW:
        return "in_the_future", "more than 5 minutes ahead of the server clock"
    if len(json.dumps(event.properties, separators=(",", ":"))) > MAX_PROPERTIES_BYTES:
        return "properties_too_large", f"properties hold at most {MAX_PROPERTIES_BYTES} bytes"
    return None


async def record_events(
    session: AsyncSession,
    context: TenantContext,
    product: str,
    events: Sequence[UsageEventIn],
    now: datetime | None = None,
) -> BatchResult:
    """Store a batch of a product's usage events for the context org, once each.

    The subscription row is locked first, so a period close (which locks it too) never rates a
    period while events for it are still being accepted: an event lands in the open period or
    is refused, never in an invoiced one.
    """
    now = now or datetime.now(UTC)
    await current_subscription(session, context, now)  # made on first use
    subscription = await SubscriptionRepository(session, context).get(for_update=True)
    if subscription is None:
        raise NotFoundError("Organization not found")
    prices = await GlobalHubPriceRepository(session).of_product(product)
    metrics = frozenset(p.metric for p in prices)
    rejected: list[Rejection] = []
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    repeats = 0
    for index, event in enumerate(events):
        refusal = _check(event, product, metrics, subscription.current_period_start, now)
        if refusal is not None:
            rejected.append(Rejection(index, event.event_id, *refusal))
            continue
        if event.event_id in seen:
            repeats += 1  # the same event twice in one batch is a replay too
            continue
        seen.add(event.event_id)
        rows.append(
            {
                "product": product,
                "event_id": event.event_id,
                "metric": event.metric,
                "quantity": event.quantity,
                "at": event.timestamp.astimezone(UTC),
                "properties": event.properties,
            }
        )
    inserted = await HubUsageRepository(session, context).insert_new(rows)
    return BatchResult(len(inserted), len(rows) - len(inserted) + repeats, tuple(rejected))


async def get_prices(session: AsyncSession, product: str) -> Sequence[HubProductPrice]:
    """A product's price table (empty when the operator set none)."""
    return await GlobalHubPriceRepository(session).of_product(product)


async def set_prices(
    session: AsyncSession, product: str, prices: Sequence[PriceIn]
) -> Sequence[HubProductPrice]:
    """Replace a product's price table; later closes rate at these prices."""
    metrics = [p.metric for p in prices]
    if len(set(metrics)) != len(metrics):
        raise ValidationError("prices: each metric once", field="prices")
    now = datetime.now(UTC)
    rows = [
        HubProductPrice(
            product=product,
            metric=p.metric,
            unit_price=Decimal(p.unit_price),
            included={str(plan): n for plan, n in p.included.items()},
            updated_at=now,
        )
        for p in prices
    ]
    await GlobalHubPriceRepository(session).replace(product, rows)
    return rows


async def lines(
    session: AsyncSession, context: TenantContext, period: Period, plan: Plan
) -> list[Line]:
    """One `sibling` line per (product, metric) with events in the period: units past what the
    plan includes, at the operator's unit price, rounded to the cent once."""
    totals = await HubUsageRepository(session, context).totals(period.start, period.end)
    if not totals:
        return []
    products = sorted({product for product, _ in totals})
    prices = {
        (p.product, p.metric): p
        for p in await GlobalHubPriceRepository(session).of_products(products)
    }
    out = []
    for (product, metric), used in sorted(totals.items()):
        price = prices.get((product, metric))
        unit_price = price.unit_price if price else Decimal(0)
        included = Decimal(int((price.included if price else {}).get(plan.code.value, 0)))
        over = max(used - included, Decimal(0))
        out.append(
            Line(
                kind=LineKind.SIBLING,
                description=f"{product} {metric} over the {plain(included)} included",
                quantity=over,
                unit_price=unit_price,
                amount=cents(Fraction(over) * Fraction(unit_price)),
                details=MappingProxyType(
                    {
                        "product": product,
                        "metric": metric,
                        "used": plain(used),
                        "included": plain(included),
                        "priced": "true" if price else "false",
                    }
                ),
            )
        )
    return out


async def usage(
    session: AsyncSession, context: TenantContext, start: datetime, end: datetime, granularity: str
) -> list[dict[str, object]]:
    """Sibling units per hour or day, product and metric, in [start, end) (exact decimals)."""
    buckets = await HubUsageRepository(session, context).buckets(start, end, granularity)
    return [
        {"start": at, "product": product, "metric": metric, "quantity": plain(quantity)}
        for at, product, metric, quantity in buckets
    ]


def included_of(prices: Sequence[HubProductPrice], plan: Plan) -> dict[str, dict[str, int]]:
    """Each priced metric of a product and the units a plan includes of it per period."""
    return {p.metric: {"included": int(p.included.get(plan.code.value, 0))} for p in prices}
