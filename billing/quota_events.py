"""`quota.warning` (80 % of a category's included units) and `quota.exceeded` (100 %) webhooks.

Checked after each metering flush for the orgs that just had traffic, from the exact period
usage; each threshold of each category is announced once per period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing import metering, subscriptions
from billing.quotas.base import QuotaBackend
from tenancy import webhooks
from tenancy.context import TenantContext

WARNING_PERCENT: Final = 80
THRESHOLDS: Final = (("quota.exceeded", 100), ("quota.warning", WARNING_PERCENT))


async def announce_thresholds(
    session: AsyncSession, context: TenantContext, backend: QuotaBackend, now: datetime
) -> None:
    """Emit the threshold events the org's current period has newly reached."""
    if not await webhooks.wanted(session, context, [event_type for event_type, _ in THRESHOLDS]):
        return  # the common case: nobody listens, so no usage is read
    ent = await subscriptions.entitlements(session, context)
    period, quotas = await metering.quotas(session, context, backend, ent, now)
    for category, quota in quotas.items():
        if quota.included <= 0:
            continue
        for event_type, percent in THRESHOLDS:
            if quota.used * 100 < quota.included * percent:
                continue
            key = {"category": category.value, "period_start": period.start.isoformat()}
            data = {
                "period_end": period.end.isoformat(),
                "included": str(quota.included),
                "used": str(quota.used),
                "hard_cap": "true" if quota.hard_cap else "false",
                "threshold_percent": str(percent),
            }
            await webhooks.emit_once(session, context, event_type, key, data)
