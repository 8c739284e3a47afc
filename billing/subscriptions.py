"""Subscriptions, plan changes, spend caps and operator overrides.

Upgrades take effect at once (the rating prorates the base fee for the rest of the period and
grants the new plan's included units for the whole period); downgrades wait for the period end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.entitlements import Entitlements
from billing.errors import PaymentMethodRequiredError, UnknownPlanError
from billing.events import subscription_event
from billing.models import OrgOverrides, PlanChange, Subscription
from billing.plans import Plan, PlanCode, period_at
from billing.quotas.base import Category, RateLimit, hour_start
from billing.repository import BillingAccountRepository, PlanRepository, SubscriptionRepository
from infra import jobs
from infra.errors import NotFoundError, ValidationError
from infra.ids import new_id
from infra.settings import Tier
from tenancy import audit, webhooks
from tenancy.context import TenantContext
from tenancy.orgs import get_org

UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
MOVE_TIER_ACTOR = "telemetry.move_tier"
ALERT_LIMIT_ACTOR = "alerting.enforce_rule_limit"
ALERT_RULES_OVERRIDE = "alerts"  # the `included` override key of the alert-rule limit


async def current_subscription(
    session: AsyncSession, context: TenantContext, now: datetime | None = None
) -> Subscription:
    """The org's subscription; an org without one is on Free, anchored at its creation."""
    repo = SubscriptionRepository(session, context)
    subscription = await repo.get()
    if subscription is not None:
        return subscription
    org = await get_org(session, context)
    found = await PlanRepository(session).current_by_code(PlanCode.FREE)
    if found is None:
        raise NotFoundError("The plan catalog has no free plan")
    # Periods start on a whole UTC hour, so each hour of the ledger lies in exactly one period
    # (rebuilding the period counters from usage_hourly must not miss the org's first hour).
    anchor = hour_start(org.created_at)
    period = period_at(anchor, max(now or datetime.now(UTC), anchor))
    subscription = Subscription(
        plan_id=found[0],
        status="active",
        anchor=anchor,
        current_period_start=period.start,
        current_period_end=period.end,
    )
    return await repo.add(subscription)


async def current_tier(session: AsyncSession, context: TenantContext) -> Tier:
    """The storage tier of the plan the org is on now."""
    subscription = await current_subscription(session, context)
    return (await PlanRepository(session).by_id(subscription.plan_id)).tier


def queue_tier_move(
    session: AsyncSession, context: TenantContext, before: Plan, after: Plan
) -> None:
    """When a plan change moves the org to another storage tier, queue the move of its
    telemetry there (it leaves after the commit); when it changes the alert-rule limit, queue
    the disabling (or re-enabling) of rules beyond it."""
    if before.tier is not after.tier:
        jobs.enqueue(session, MOVE_TIER_ACTOR, context.org_id, before.tier.value, after.tier.value)
    if before.alerts != after.alerts or before.tier is not after.tier:
        jobs.enqueue(session, ALERT_LIMIT_ACTOR, context.org_id)


async def entitlements(session: AsyncSession, context: TenantContext) -> Entitlements:
    """The org's plan version, overrides, status, anchor and spend cap."""
    subscription = await current_subscription(session, context)
    plan = await PlanRepository(session).by_id(subscription.plan_id)
    overrides = await SubscriptionRepository(session, context).overrides()
    included: dict[Category, int] = {}
    rates: dict[Category, RateLimit] = {}
    if overrides is not None:
        included = {
            Category(k): int(v)
            for k, v in overrides.included.items()
            if k in Category.__members__.values()  # "alerts" is a rule limit, not a unit
        }
        rates = {
            Category(k): RateLimit(rate=float(v["rate"]), burst=int(v["burst"]))
            for k, v in overrides.rate_limits.items()
        }
    return Entitlements(
        org_id=context.org_id,
        plan_id=subscription.plan_id,
        plan=plan,
        status=subscription.status,
        anchor=subscription.anchor,
        spend_cap=subscription.spend_cap,
        included_overrides=MappingProxyType(included),
        rate_overrides=MappingProxyType(rates),
    )


def _spend_cap(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        cap = Decimal(value)
    except ArithmeticError:
        raise ValidationError(
            'spend_cap: a decimal amount like "25.00"', field="spend_cap"
        ) from None
    if not cap.is_finite() or cap < 0 or cap != cap.quantize(Decimal("0.01")):
        raise ValidationError("spend_cap: a non-negative amount in cents", field="spend_cap")
    return cap


def _event(subscription: Subscription, current: Plan, target: tuple[str, Plan]) -> dict[str, Any]:
    """The plan is now `target` (applied) or `current` (kept, or `target` scheduled)."""
    target_id, plan = target
    scheduled = plan if subscription.scheduled_plan_id == target_id else None
    return subscription_event(
        subscription, plan if subscription.plan_id == target_id else current, scheduled
    )


async def target_plan(session: AsyncSession, plan_code: str) -> tuple[str, Plan]:
    """The current version of the plan a change asks for; 422 naming `plan` otherwise."""
    try:
        code = PlanCode(plan_code)
    except ValueError:
        raise UnknownPlanError(f"plan: one of {', '.join(PlanCode)}", field="plan") from None
    found = await PlanRepository(session).current_by_code(code)
    if found is None:
        raise UnknownPlanError(f"plan {plan_code} is not offered", field="plan")
    return found


def change_kind(current_id: str, current: Plan, target_id: str, target: Plan) -> str | None:
    """What moving from `current` to `target` is: None (the same plan version), an upgrade
    (a pricier plan, or a new version of the same plan: at once) or a downgrade (period end)."""
    if target_id == current_id:
        return None
    if target.code == current.code or target.price > current.price:
        return UPGRADE
    return DOWNGRADE


async def change_subscription(
    session: AsyncSession,
    context: TenantContext,
    plan_code: str,
    spend_cap: str | None,
    on_change: jobs.AfterCommit | None = None,
    *,
    payment_method_required: bool = False,
    now: datetime | None = None,
) -> Subscription:
    """Move to a plan and set the spend cap; audited.

    A pricier plan applies at once; a cheaper one is scheduled for the period end; asking for
    the current plan cancels a scheduled change. With `payment_method_required` (Stripe
    collects payments), a paid plan needs a payment method on file.
    """
    now = now or datetime.now(UTC)
    found = await target_plan(session, plan_code)
    cap = _spend_cap(spend_cap)
    plans = PlanRepository(session)
    target_id, target = found
    await current_subscription(session, context, now)
    repo = SubscriptionRepository(session, context)
    subscription = await repo.get(for_update=True)
    assert subscription is not None  # noqa: S101 (created just above)
    current = await plans.by_id(subscription.plan_id)
    before = {
        "plan_id": subscription.plan_id,
        "scheduled_plan_id": subscription.scheduled_plan_id,
        "spend_cap": str(subscription.spend_cap),
    }
    kind = change_kind(subscription.plan_id, current, target_id, target)
    if kind is None:
        subscription.scheduled_plan_id = None
    elif kind == UPGRADE:
        if payment_method_required and target.price > 0:
            account = await BillingAccountRepository(session, context).get()
            if account is None or account.payment_method_id is None:
                raise PaymentMethodRequiredError(
                    f"Add a payment method before moving to {target.name}",
                    checkout=f"/v1/orgs/{context.org_id}/billing/checkout",
                )
        await repo.add_change(
            PlanChange(
                id=new_id("pch"),
                kind=UPGRADE,
                at=now,
                from_plan_id=subscription.plan_id,
                to_plan_id=target_id,
            )
        )
        subscription.plan_id = target_id
        subscription.scheduled_plan_id = None
        queue_tier_move(session, context, current, target)
    else:
        subscription.scheduled_plan_id = target_id
    subscription.spend_cap = cap
    subscription.updated_at = now
    await session.flush()
    after = {
        "plan_id": subscription.plan_id,
        "scheduled_plan_id": subscription.scheduled_plan_id,
        "spend_cap": str(cap),
    }
    if after != before:
        await audit.record(
            session,
            context,
            "subscription.changed",
            "subscription",
            context.org_id,
            before=before,
            after=after,
        )
        await webhooks.emit(
            session, context, "subscription.changed", _event(subscription, current, found)
        )
        if on_change is not None:
            jobs.after_commit(session, on_change)
    return subscription


async def cancel_scheduled_change(
    session: AsyncSession, context: TenantContext, now: datetime | None = None
) -> Subscription:
    """Drop a downgrade waiting for the period end (nothing to do if none); audited."""
    await current_subscription(session, context, now)
    subscription = await SubscriptionRepository(session, context).get(for_update=True)
    assert subscription is not None  # noqa: S101 (created just above)
    if subscription.scheduled_plan_id is not None:
        canceled = subscription.scheduled_plan_id
        subscription.scheduled_plan_id = None
        subscription.updated_at = now or datetime.now(UTC)
        await session.flush()
        await audit.record(
            session,
            context,
            "subscription.scheduled_change_canceled",
            "subscription",
            context.org_id,
            plan_id=canceled,
        )
    return subscription


def plan_id_at(changes: Sequence[PlanChange], current_plan_id: str, at: datetime) -> str:
    """The plan in effect at instant `at`, given every change after it (oldest first) and the
    plan in effect now: a change at exactly `at` is already in effect."""
    for change in changes:
        if change.at > at:
            return change.from_plan_id
    return current_plan_id


def _check_overrides(included: dict[str, Any], rate_limits: dict[str, Any]) -> None:
    for name, value in included.items():
        if name == ALERT_RULES_OVERRIDE and isinstance(value, int) and value >= 0:
            continue  # alert rules per org, not a unit
        if name not in Category.__members__.values() or not isinstance(value, int) or value < 0:
            raise ValidationError(f"included.{name}: a category and a whole number of units")
    for name, value in rate_limits.items():
        if name not in Category.__members__.values():
            raise ValidationError(f"rate_limits.{name}: not a category")
        try:
            RateLimit(rate=float(value["rate"]), burst=int(value["burst"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"rate_limits.{name}: {exc}") from None


async def get_overrides(session: AsyncSession, context: TenantContext) -> OrgOverrides:
    """The org's overrides (empty when none were set)."""
    found = await SubscriptionRepository(session, context).overrides()
    return found or OrgOverrides(org_id=context.org_id, included={}, rate_limits={})


async def set_overrides(
    session: AsyncSession,
    context: TenantContext,
    included: dict[str, Any],
    rate_limits: dict[str, Any],
    on_change: jobs.AfterCommit | None = None,
) -> OrgOverrides:
    """Replace the org's overrides; audited as the operator."""
    _check_overrides(included, rate_limits)
    await get_org(session, context)
    repo = SubscriptionRepository(session, context)
    overrides = await repo.overrides() or OrgOverrides(org_id=context.org_id)
    overrides.included = dict(included)
    overrides.rate_limits = {
        k: {"rate": float(v["rate"]), "burst": int(v["burst"])} for k, v in rate_limits.items()
    }
    overrides.updated_at = datetime.now(UTC)
    await repo.save_overrides(overrides)
    jobs.enqueue(session, ALERT_LIMIT_ACTOR, context.org_id)
    if on_change is not None:
        jobs.after_commit(session, on_change)
    await audit.record(
        session,
        context,
        "overrides.updated",
        "org",
        context.org_id,
        included=overrides.included,
        rate_limits=overrides.rate_limits,
    )
    return overrides
