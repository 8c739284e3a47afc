"""Feature limits of the org's plan that are not metered units (alert rules)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from billing.repository import PlanRepository, SubscriptionRepository
from billing.subscriptions import ALERT_RULES_OVERRIDE, current_subscription
from tenancy.context import TenantContext


@dataclass(frozen=True)
class AlertRuleLimit:
    """How many alert rules the org may have (None: unlimited), and the plan that says so."""

    limit: int | None
    plan: str


async def alert_rule_limit(session: AsyncSession, context: TenantContext) -> AlertRuleLimit:
    """The plan's alert-rule limit, or the operator's override of it."""
    subscription = await current_subscription(session, context)
    plan = await PlanRepository(session).by_id(subscription.plan_id)
    overrides = await SubscriptionRepository(session, context).overrides()
    if overrides is not None and ALERT_RULES_OVERRIDE in overrides.included:
        return AlertRuleLimit(int(overrides.included[ALERT_RULES_OVERRIDE]), plan.code.value)
    return AlertRuleLimit(plan.alerts, plan.code.value)
