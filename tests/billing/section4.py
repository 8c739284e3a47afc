"""§4 of ARCHITECTURE.md written out in the units it uses, independently of the migration."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

from billing.plans import Plan, PlanCode
from billing.quotas.base import Category
from infra.settings import Tier

GB = 10**9
MB = 10**6
M, L, T, S = Category.METRICS, Category.LOGS, Category.TRACES, Category.SPANS

METRICS_PER_POINT = Decimal("0.10") / 10**6
LOGS_PER_BYTE = Decimal("0.50") / GB
TRACES_PER_ROOT_SPAN = Decimal("0.01") / 1_000
OVERAGE = {M: METRICS_PER_POINT, L: LOGS_PER_BYTE, T: TRACES_PER_ROOT_SPAN, S: None}
"""Pro and scale; spans have no price, only the fair-use cap of 200 x traces."""


def _plan(
    code: PlanCode,
    price: int,
    included: tuple[int, int, int],
    rates: tuple[int, int, int],
    tier: Tier,
    alerts: int | None,
) -> Plan:
    metrics, logs, traces = included
    points, log_bytes, spans = rates
    overage = dict.fromkeys(Category, None) if code is PlanCode.FREE else OVERAGE
    return Plan(
        code=code,
        version=1,
        name=code.value.title(),
        price=Decimal(price),
        included=MappingProxyType({M: metrics, L: logs, T: traces, S: 200 * traces}),
        overage=MappingProxyType(overage),
        rates=MappingProxyType({M: points, L: log_bytes, T: spans, S: spans}),
        tier=tier,
        alerts=alerts,
    )


FREE = _plan(PlanCode.FREE, 0, (1_000_000, GB, 100_000), (5_000, MB, 1_000), Tier.SHORT, 10)
PRO = _plan(
    PlanCode.PRO, 50, (10_000_000, 10 * GB, 1_000_000), (50_000, 5 * MB, 10_000), Tier.STANDARD, 100
)
SCALE = _plan(
    PlanCode.SCALE,
    200,
    (100_000_000, 100 * GB, 10_000_000),
    (200_000, 20 * MB, 50_000),
    Tier.LONG,
    None,
)
PLANS = {plan.code: plan for plan in (FREE, PRO, SCALE)}
RETENTION_DAYS = {PlanCode.FREE: 7, PlanCode.PRO: 30, PlanCode.SCALE: 90}
