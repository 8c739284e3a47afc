"""Plans, the org's subscription, usage and quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, get, put
from litestar.params import FromQuery, JSONBody, QueryParameter

from api.auth import Ctx, org_permission
from api.deps import AppResources, DbSession
from api.routes.invoices import rated_out
from billing import metering, preview, sibling, subscriptions
from billing.money import money
from billing.plans import Plan
from billing.repository import PlanRepository
from billing.schemas import (
    CategoryQuotaOut,
    PlanChangePreviewOut,
    PlanOut,
    QuotasOut,
    SubscriptionIn,
    SubscriptionOut,
    UsageOut,
)
from infra.errors import AppError
from infra.settings import TIER_RETENTION_DAYS
from infra.timeparse import utc_instant
from tenancy.roles import Permission

DIMENSIONS = {
    "project": "project_id",
    "category": "category",
    "outcome": "outcome",
    "key": "key_id",
}
MAX_USAGE_RANGE = timedelta(days=93)


class InvalidQueryError(AppError):
    """A malformed query parameter: 400, like the parameters Litestar validates itself."""

    code = "invalid_request"
    title = "Invalid request"


def plan_out(plan_id: str, plan: Plan) -> PlanOut:
    """The public description of a plan version."""
    return PlanOut(
        id=plan_id,
        code=plan.code.value,
        version=plan.version,
        name=plan.name,
        price=f"{plan.price:.2f}",
        currency="usd",
        included={c.value: n for c, n in plan.included.items()},
        overage_unit_prices={
            c.value: (f"{p:f}" if p is not None else None) for c, p in plan.overage.items()
        },
        rate_limits={
            c.value: {"rate": r.rate, "burst": r.burst}
            for c in plan.rates
            for r in [plan.rate_limit(c)]
        },
        retention_days=TIER_RETENTION_DAYS[plan.tier],
        tier=plan.tier.value,
        alerts=plan.alerts,
    )


class PlanController(Controller):
    """The public plan catalog."""

    path = "/v1/plans"
    tags = ["billing"]

    @get("/", operation_id="list_plans")
    async def list_plans(self, db_session: DbSession) -> list[PlanOut]:
        """The current version of every plan, cheapest first."""
        return [plan_out(pid, plan) for pid, plan in await PlanRepository(db_session).current()]


class SubscriptionController(Controller):
    """An org's plan, usage and quotas."""

    path = "/v1/orgs/{org:str}"
    tags = ["billing"]

    async def _out(self, db_session: DbSession, ctx: Ctx) -> SubscriptionOut:
        ent = await subscriptions.entitlements(db_session, ctx)
        period = ent.period(datetime.now(UTC))
        scheduled = (await subscriptions.current_subscription(db_session, ctx)).scheduled_plan_id
        return SubscriptionOut(
            plan=ent.plan.code.value,
            plan_version=ent.plan.version,
            status=ent.status,
            period_start=period.start,
            period_end=period.end,
            spend_cap=f"{ent.spend_cap:.2f}" if ent.spend_cap is not None else None,
            scheduled_plan=(
                (await PlanRepository(db_session).by_id(scheduled)).code.value
                if scheduled
                else None
            ),
        )

    @get(
        "/subscription",
        operation_id="get_subscription",
        dependencies={"ctx": org_permission(Permission.USAGE_READ)},
    )
    async def get_subscription(self, db_session: DbSession, ctx: Ctx) -> SubscriptionOut:
        """Plan, status, current period and spend cap."""
        return await self._out(db_session, ctx)

    @put(
        "/subscription",
        operation_id="update_subscription",
        dependencies={"ctx": org_permission(Permission.BILLING_WRITE)},
    )
    async def update_subscription(
        self,
        data: JSONBody[SubscriptionIn],
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
    ) -> SubscriptionOut:
        """Change plan and spend cap (`null` removes it): an upgrade applies at once (prorated),
        a downgrade at the period end (`scheduled_plan`); the current plan cancels a scheduled
        change. With Stripe, a paid plan needs a payment method first (402 with a checkout hint).
        """
        await subscriptions.change_subscription(
            db_session,
            ctx,
            data.plan,
            data.spend_cap,
            on_change=lambda: resources.admission.publish_invalidation(ctx.org_id),
            payment_method_required=resources.stripe is not None,
        )
        return await self._out(db_session, ctx)

    @get(
        "/subscription/preview",
        operation_id="preview_subscription_change",
        dependencies={"ctx": org_permission(Permission.BILLING_READ)},
    )
    async def preview_subscription_change(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        plan: Annotated[str, QueryParameter(max_length=32)],
    ) -> PlanChangePreviewOut:
        """The upcoming invoice before and after moving to `plan` now, rated by the same code as
        the change itself; nothing is changed. A downgrade applies at the period end
        (`effective_at`) and leaves this period's invoice as it is."""
        found = await preview.preview_change(
            db_session, ctx, resources.quotas, plan, collects_payments=resources.stripe is not None
        )
        before, after = found.before.rating.total, found.after.rating.total
        return PlanChangePreviewOut(
            plan=found.plan.code.value,
            change=found.kind or "none",
            effective_at=found.effective_at,
            payment_method_required=found.payment_method_required,
            added=money(after - before),
            upcoming_before=rated_out(found.before),
            upcoming_after=rated_out(found.after),
        )

    @get(
        "/quotas",
        operation_id="get_quotas",
        dependencies={"ctx": org_permission(Permission.USAGE_READ)},
    )
    async def get_quotas(
        self, db_session: DbSession, ctx: Ctx, resources: AppResources
    ) -> QuotasOut:
        """Included, used, remaining and overage units of every category this period."""
        ent = await subscriptions.entitlements(db_session, ctx)
        period, quotas = await metering.quotas(db_session, ctx, resources.quotas, ent)
        return QuotasOut(
            period_start=period.start,
            period_end=period.end,
            categories={
                c.value: CategoryQuotaOut(q.included, q.used, q.remaining, q.overage, q.hard_cap)
                for c, q in quotas.items()
            },
        )

    @get(
        "/usage",
        operation_id="get_usage",
        dependencies={"ctx": org_permission(Permission.USAGE_READ)},
    )
    async def get_usage(
        self,
        db_session: DbSession,
        ctx: Ctx,
        resources: AppResources,
        from_: Annotated[datetime | None, QueryParameter(name="from")] = None,
        to: FromQuery[datetime | None] = None,
        granularity: Annotated[str, QueryParameter(pattern="^(hour|day)$")] = "hour",
        group_by: FromQuery[str] = "project,category,outcome",
    ) -> UsageOut:
        """Units by hour or day, grouped by project, category, outcome (and key), exact."""
        dims = [d.strip() for d in group_by.split(",") if d.strip()]
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown:
            raise InvalidQueryError(f"group_by: unknown {', '.join(unknown)}", field="group_by")
        now = datetime.now(UTC)
        end = _aware(to, "to") if to else now + timedelta(hours=1)
        start = _aware(from_, "from") if from_ else end - timedelta(days=31)
        if start >= end or end - start > MAX_USAGE_RANGE:
            raise InvalidQueryError("from/to: a range of at most 93 days, from before to")
        rows = await metering.merged_rows(db_session, ctx, resources.quotas, start, end)
        items = metering.aggregate(rows, granularity, [DIMENSIONS[d] for d in dims])
        siblings = await sibling.usage(db_session, ctx, start, end, granularity)
        return UsageOut(items=items, granularity=granularity, sibling=siblings)


def _aware(value: datetime, name: str) -> datetime:
    return utc_instant(value, name)  # aware and within range, or a 422 naming the field
