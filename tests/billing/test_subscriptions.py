"""Subscriptions: Free by default from the org's creation, plan changes, spend caps, overrides."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.resources import Resources
from billing import subscriptions
from billing.errors import UnknownPlanError
from billing.models import Subscription
from billing.quotas.base import Category, PeriodLimit, RateLimit, hour_start
from infra.db import create_session_factory, unit_of_work
from infra.errors import ValidationError
from infra.settings import Settings
from tenancy.authz import operator_context
from tenancy.orgs import get_org
from tenancy.repository import OrgRepository
from tests.billing.conftest import RecordingSender
from tests.billing.section4 import FREE, PRO
from tests.billing.support import new_tenant, org_session
from tests.support.tenants import Tenant

M, L, T = Category.METRICS, Category.LOGS, Category.TRACES


@pytest.fixture
async def tenant(resources: Resources) -> Tenant:
    return await new_tenant(resources)


async def subscription(resources: Resources, tenant: Tenant) -> Subscription:
    async with org_session(resources, tenant.org_id) as (session, context):
        return await subscriptions.current_subscription(session, context)


async def audit_events(resources: Resources, tenant: Tenant, action: str) -> list[Any]:
    async with org_session(resources, tenant.org_id) as (session, context):
        events = await OrgRepository(session, context).audit_page(None, 100)
    return [event for event in events if event.action == action]


def recorder() -> tuple[list[str], Callable[[], Awaitable[None]]]:
    calls: list[str] = []

    async def on_change() -> None:
        calls.append("changed")

    return calls, on_change


class TestEveryOrgStartsOnFree:
    async def test_free_is_anchored_at_the_org_s_creation_hour(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            created = (await get_org(session, context)).created_at
            found = await subscriptions.current_subscription(session, context)
        assert (found.plan_id, found.status, found.spend_cap) == ("plan_free_v1", "active", None)
        assert found.anchor == hour_start(created)

    async def test_the_org_s_first_hour_of_usage_is_in_its_first_period(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            created = (await get_org(session, context)).created_at
            ent = await subscriptions.entitlements(session, context)
        first = ent.period(created)
        assert first.index == 0
        assert first.start <= hour_start(created) < first.end

    async def test_it_is_created_once(self, resources: Resources, tenant: Tenant) -> None:
        first = await subscription(resources, tenant)
        again = await subscription(resources, tenant)
        assert (again.plan_id, again.anchor, again.created_at) == (
            first.plan_id,
            first.anchor,
            first.created_at,
        )

    async def test_free_entitlements_are_the_free_plan(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
        assert ent.plan == FREE
        assert (ent.org_id, ent.status, ent.spend_cap) == (tenant.org_id, "active", None)
        assert ent.period_limit(M, {}) == PeriodLimit.hard_cap(1_000_000)


class TestChangeSubscription:
    @pytest.fixture(autouse=True)
    def jobs(self, recording: RecordingSender) -> RecordingSender:
        """Plan changes queue jobs (the tier move) after their commit."""
        return recording

    async def test_an_upgrade_to_another_tier_queues_the_move_of_the_org_s_telemetry(
        self, resources: Resources, tenant: Tenant, jobs: RecordingSender
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "pro", None)
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "free", None)  # scheduled
        moves = [job.args for job in jobs.named(subscriptions.MOVE_TIER_ACTOR)]
        assert moves == [(tenant.org_id, "short", "standard")]

    async def test_an_upgrade_applies_at_once_and_keeps_the_anchor(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        anchor = (await subscription(resources, tenant)).anchor
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "pro", "25.00")
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
        assert (ent.plan, ent.spend_cap, ent.anchor) == (PRO, Decimal("25.00"), anchor)
        assert ent.period_limit(M, {}).limit == 10_000_000 + 250_049_999

    @pytest.mark.parametrize("plan", ["gold", "", "FREE", "pro "])
    async def test_an_unknown_plan_is_refused(
        self, resources: Resources, tenant: Tenant, plan: str
    ) -> None:
        with pytest.raises(UnknownPlanError):
            async with org_session(resources, tenant.org_id) as (session, context):
                await subscriptions.change_subscription(session, context, plan, None)
        assert (await subscription(resources, tenant)).plan_id == "plan_free_v1"

    @pytest.mark.parametrize(
        "cap", ["-1", "-0.01", "1.234", "abc", "", "NaN", "sNaN", "Infinity", "1,00"]
    )
    async def test_a_bad_spend_cap_is_refused_and_nothing_changes(
        self, resources: Resources, tenant: Tenant, cap: str
    ) -> None:
        with pytest.raises(ValidationError) as refused:
            async with org_session(resources, tenant.org_id) as (session, context):
                await subscriptions.change_subscription(session, context, "pro", cap)
        assert refused.value.extra == {"field": "spend_cap"}
        found = await subscription(resources, tenant)
        assert (found.plan_id, found.spend_cap) == ("plan_free_v1", None)
        assert await audit_events(resources, tenant, "subscription.changed") == []

    @pytest.mark.parametrize(
        ("cap", "stored"),
        [("0", "0.00"), ("0.5", "0.50"), ("12.30", "12.30"), ("1e2", "100.00"), (None, None)],
    )
    async def test_a_cap_in_cents_is_kept_exactly(
        self, resources: Resources, tenant: Tenant, cap: str | None, stored: str | None
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "pro", cap)
        found = await subscription(resources, tenant)
        assert found.spend_cap == (Decimal(stored) if stored else None)

    async def test_the_change_is_audited(self, resources: Resources, tenant: Tenant) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "scale", "10.00")
        (event,) = await audit_events(resources, tenant, "subscription.changed")
        assert (event.actor_type, event.target_type, event.target_id) == (
            "system",
            "subscription",
            tenant.org_id,
        )
        assert event.data["before"]["plan_id"] == "plan_free_v1"
        assert event.data["after"]["plan_id"] == "plan_scale_v1"
        assert event.data["after"]["spend_cap"] == "10.00"

    async def test_on_change_runs_only_after_the_commit(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        calls, on_change = recorder()
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(session, context, "pro", None, on_change)
            assert calls == []
        assert calls == ["changed"]

    async def test_on_change_never_runs_when_the_change_rolls_back(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        calls, on_change = recorder()
        with pytest.raises(RuntimeError):
            async with org_session(resources, tenant.org_id) as (session, context):
                await subscriptions.change_subscription(session, context, "pro", None, on_change)
                raise RuntimeError("request failed after the change")
        assert calls == []
        assert (await subscription(resources, tenant)).plan_id == "plan_free_v1"


class TestOverrides:
    async def test_an_org_without_overrides_has_empty_ones(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        async with org_session(resources, tenant.org_id) as (session, context):
            found = await subscriptions.get_overrides(session, context)
        assert (found.included, found.rate_limits) == ({}, {})

    async def test_overrides_win_over_the_plan(self, resources: Resources, tenant: Tenant) -> None:
        async with unit_of_work(resources.session_factory) as session:
            context = await operator_context(session, tenant.org_slug, "198.51.100.1")
            await subscriptions.set_overrides(
                session,
                context,
                {"metrics": 1_234, "logs": 0},
                {"traces": {"rate": 2.5, "burst": 25}},
            )
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
            found = await subscriptions.get_overrides(session, context)
        assert (found.included, found.rate_limits) == (
            {"metrics": 1_234, "logs": 0},
            {"traces": {"rate": 2.5, "burst": 25}},
        )
        assert ent.period_limit(M, {}) == PeriodLimit.hard_cap(1_234)
        assert ent.period_limit(L, {}) == PeriodLimit.hard_cap(0)
        assert ent.rate_limit(T) == RateLimit(rate=2.5, burst=25)
        assert ent.rate_limit(M) == FREE.rate_limit(M)

    async def test_setting_overrides_replaces_them(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        for included in ({"metrics": 5}, {"traces": 7}):
            async with unit_of_work(resources.session_factory) as session:
                context = await operator_context(session, tenant.org_id, None)
                await subscriptions.set_overrides(session, context, included, {})
        async with org_session(resources, tenant.org_id) as (session, context):
            found = await subscriptions.get_overrides(session, context)
        assert found.included == {"traces": 7}

    async def test_overrides_are_audited_as_the_operator(
        self, resources: Resources, tenant: Tenant
    ) -> None:
        calls, on_change = recorder()
        async with unit_of_work(resources.session_factory) as session:
            context = await operator_context(session, tenant.org_id, "198.51.100.1")
            await subscriptions.set_overrides(session, context, {"metrics": 5}, {}, on_change)
            assert calls == []
        assert calls == ["changed"]
        (event,) = await audit_events(resources, tenant, "overrides.updated")
        assert (event.actor_type, event.ip, event.target_id) == (
            "operator",
            "198.51.100.1",
            tenant.org_id,
        )
        assert event.data == {"included": {"metrics": 5}, "rate_limits": {}}

    @pytest.mark.parametrize(
        ("included", "rate_limits"),
        [
            ({"metrics": -1}, {}),
            ({"widgets": 5}, {}),
            ({"logs": 1.5}, {}),
            ({}, {"widgets": {"rate": 1, "burst": 1}}),
            ({}, {"metrics": {"rate": 10, "burst": 0}}),
            ({}, {"metrics": {"rate": 0, "burst": 10}}),
            ({}, {"metrics": {"rate": "fast", "burst": 10}}),
            ({}, {"metrics": {"rate": 10}}),
        ],
    )
    async def test_invalid_overrides_are_refused(
        self,
        resources: Resources,
        tenant: Tenant,
        included: dict[str, Any],
        rate_limits: dict[str, Any],
    ) -> None:
        with pytest.raises(ValidationError):
            async with unit_of_work(resources.session_factory) as session:
                context = await operator_context(session, tenant.org_id, None)
                await subscriptions.set_overrides(session, context, included, rate_limits)
        async with org_session(resources, tenant.org_id) as (session, context):
            found = await subscriptions.get_overrides(session, context)
        assert (found.included, found.rate_limits) == ({}, {})


class TestConcurrentFirstRequests:
    async def test_they_all_find_the_one_subscription_opened(
        self, app_engine: AsyncEngine, settings: Settings
    ) -> None:
        # Committed sessions on separate connections: the inserts really race.
        committed = SimpleNamespace(session_factory=create_session_factory(app_engine))
        tenant = await new_tenant(committed)  # type: ignore[arg-type]

        async def first_read() -> tuple[str, object]:
            async with org_session(committed, tenant.org_id) as (session, context):  # type: ignore[arg-type]
                found = await subscriptions.current_subscription(session, context)
                return found.plan_id, found.anchor

        try:
            seen = await asyncio.gather(*(first_read() for _ in range(6)))
            assert len(set(seen)) == 1
        finally:
            admin = create_async_engine(settings.database_admin_url)
            async with admin.begin() as conn:
                await conn.execute(text("DELETE FROM orgs WHERE id = :id"), {"id": tenant.org_id})
            await admin.dispose()
