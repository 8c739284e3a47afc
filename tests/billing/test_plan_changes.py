"""Plan changes: upgrades at once with a proration line to the second and the new included
units for the whole period; downgrades at the period end, cancelable; a payment method first
when Stripe collects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from sqlalchemy import select

from api.resources import Resources
from billing import invoices, subscriptions
from billing.errors import PaymentMethodRequiredError
from billing.models import BillingAccount
from billing.money import cents
from billing.plans import PlanCode, add_months
from billing.quotas.base import Category
from billing.repository import BillingAccountRepository
from tenancy.models import AuditEvent
from tests.billing.invoicing import (
    Notified,
    all_invoices,
    close,
    org_on,
    plan_code,
    put_usage,
    subscription_of,
)
from tests.billing.support import org_session

M = Category.METRICS
ANCHOR = datetime(2027, 3, 1, tzinfo=UTC)  # a 31-day period
PERIOD = 31 * 86400


async def change(
    resources: Resources, org_id: str, plan: str, at: datetime, **kwargs: object
) -> None:
    async with org_session(resources, org_id) as (session, context):
        await subscriptions.change_subscription(session, context, plan, None, now=at, **kwargs)  # type: ignore[arg-type]


def lines_of(found: list[tuple[object, list[object]]]) -> list[tuple[str, str]]:
    (_, lines), *_ = found
    return [(line.kind, f"{line.amount:f}") for line in lines]  # type: ignore[attr-defined]


class TestUpgrade:
    async def test_an_upgrade_mid_period_is_prorated_to_the_second(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        at = datetime(2027, 3, 17, 12, 0, 7, 250_000, tzinfo=UTC)
        await change(resources, tenant.org_id, "scale", at)
        await put_usage(resources, tenant, datetime(2027, 3, 20, tzinfo=UTC), {M: 105_000_000})
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        remaining = int((add_months(ANCHOR, 1) - at).total_seconds())  # the partial second is free
        proration = cents(Fraction(150) * Fraction(remaining, PERIOD))
        assert proration == Decimal("70.16")
        # the base is the plan the period started on; overage past scale's 100M included units
        assert lines_of(await all_invoices(resources, tenant.org_id)) == [
            ("base", "50.00"),
            ("proration", f"{proration:f}"),
            ("overage", "0.50"),
            ("overage", "0.00"),
            ("overage", "0.00"),
        ]
        assert invoice.total == Decimal("50.00") + proration + Decimal("0.50")
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "scale"
        assert await plan_code(resources, invoice.plan_id) == "scale"

    async def test_free_to_pro_half_way_costs_half_the_fee(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.FREE)
        await change(resources, tenant.org_id, "pro", ANCHOR + timedelta(seconds=PERIOD // 2))
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        assert lines_of(await all_invoices(resources, tenant.org_id))[:2] == [
            ("base", "0.00"),
            ("proration", "25.00"),
        ]
        assert invoice.total == Decimal("25.00")
        # the next period is a full pro period
        (next_invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 2))
        assert next_invoice.total == Decimal("50.00")

    async def test_two_upgrades_make_two_proration_lines(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.FREE)
        await change(resources, tenant.org_id, "pro", ANCHOR + timedelta(days=10))
        await change(resources, tenant.org_id, "scale", ANCHOR + timedelta(days=20))
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        first = cents(Fraction(50) * Fraction(21, 31))
        second = cents(Fraction(150) * Fraction(11, 31))
        assert lines_of(await all_invoices(resources, tenant.org_id))[:3] == [
            ("base", "0.00"),
            ("proration", f"{first:f}"),
            ("proration", f"{second:f}"),
        ]
        assert invoice.total == first + second

    async def test_the_new_included_units_apply_to_the_whole_period_at_once(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        await put_usage(resources, tenant, datetime(2027, 3, 2, tzinfo=UTC), {M: 50_000_000})
        await change(resources, tenant.org_id, "scale", datetime(2027, 3, 30, tzinfo=UTC))
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
        assert ent.included(M) == 100_000_000
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        overage = [
            line
            for _, lines in await all_invoices(resources, tenant.org_id)
            for line in lines
            if line.kind == "overage"
        ]
        assert all(line.amount == 0 for line in overage)  # 50M was over pro's 10M, not scale's 100M
        assert invoice.total == Decimal("50.00") + cents(Fraction(150) * Fraction(2, 31))

    async def test_an_upgrade_evicts_entitlements_after_commit_and_is_audited(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        notified = Notified([])
        await change(
            resources,
            tenant.org_id,
            "scale",
            ANCHOR + timedelta(days=1),
            on_change=lambda: notified(tenant.org_id),
        )
        assert notified.orgs == [tenant.org_id]
        async with org_session(resources, tenant.org_id) as (session, _):
            events = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "subscription.changed")
                )
            ).all()
        assert [e.data["after"]["plan_id"] for e in events] == ["plan_scale_v1"]

    async def test_an_upgrade_before_a_late_close_belongs_to_the_new_period(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        end = add_months(ANCHOR, 1)
        await change(resources, tenant.org_id, "scale", end + timedelta(minutes=2))
        (old,) = await close(resources, tenant.org_id, end + timedelta(minutes=5))
        assert old.total == Decimal("50.00")
        assert await plan_code(resources, old.plan_id) == "pro"
        (new,) = await close(resources, tenant.org_id, add_months(ANCHOR, 2))
        length = int((add_months(ANCHOR, 2) - end).total_seconds())
        assert new.total == Decimal("50.00") + cents(Fraction(150) * Fraction(length - 120, length))


class TestDowngrade:
    async def test_a_downgrade_waits_for_the_period_end(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.SCALE)
        await change(resources, tenant.org_id, "free", ANCHOR + timedelta(days=5))
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "scale"
        assert sub.scheduled_plan_id == "plan_free_v1"
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
        assert ent.included(M) == 100_000_000  # still scale until the period ends
        (scale,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        assert scale.total == Decimal("200.00")
        assert lines_of(await all_invoices(resources, tenant.org_id))[0] == ("base", "200.00")
        (free,) = await close(resources, tenant.org_id, add_months(ANCHOR, 2))
        assert free.total == Decimal("0.00")
        assert free.status == "paid"

    async def test_asking_for_the_current_plan_cancels_the_downgrade(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.SCALE)
        await change(resources, tenant.org_id, "pro", ANCHOR + timedelta(days=5))
        await change(resources, tenant.org_id, "scale", ANCHOR + timedelta(days=6))
        assert (await subscription_of(resources, tenant.org_id)).scheduled_plan_id is None
        await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "scale"

    async def test_cancel_scheduled_change(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        await change(resources, tenant.org_id, "free", ANCHOR + timedelta(days=5))
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.cancel_scheduled_change(session, context)
            again = await subscriptions.cancel_scheduled_change(session, context)
        assert again.scheduled_plan_id is None
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        (after,) = await close(resources, tenant.org_id, add_months(ANCHOR, 2))
        assert (invoice.total, after.total) == (Decimal("50.00"), Decimal("50.00"))

    async def test_an_upgrade_replaces_a_scheduled_downgrade(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.PRO)
        await change(resources, tenant.org_id, "free", ANCHOR + timedelta(days=5))
        await change(resources, tenant.org_id, "scale", ANCHOR + timedelta(days=30, hours=12))
        sub = await subscription_of(resources, tenant.org_id)
        assert (await plan_code(resources, sub.plan_id), sub.scheduled_plan_id) == ("scale", None)


class TestPaymentMethod:
    async def test_a_paid_plan_needs_a_payment_method_when_stripe_collects(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.FREE)
        with pytest.raises(PaymentMethodRequiredError) as refused:
            await change(
                resources,
                tenant.org_id,
                "pro",
                ANCHOR + timedelta(days=1),
                payment_method_required=True,
            )
        assert refused.value.status_code == 402
        assert refused.value.extra["checkout"] == f"/v1/orgs/{tenant.org_id}/billing/checkout"
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "free"
        # a downgrade to free never needs one; with a method on file the upgrade goes through
        async with org_session(resources, tenant.org_id) as (session, context):
            account: BillingAccount = await BillingAccountRepository(
                session, context
            ).get_or_create()
            account.payment_method_id = "pm_card_visa"
        await change(
            resources,
            tenant.org_id,
            "pro",
            ANCHOR + timedelta(days=1),
            payment_method_required=True,
        )
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "pro"

    async def test_without_stripe_no_payment_method_is_needed(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.FREE)
        await change(resources, tenant.org_id, "scale", ANCHOR + timedelta(days=1))
        async with org_session(resources, tenant.org_id) as (session, context):
            preview = await invoices.upcoming(session, context, resources.quotas)
        assert preview.plan.code is PlanCode.SCALE
