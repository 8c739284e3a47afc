"""Period close: one invoice per period, at the period end, idempotent and resumable, across
month lengths, leap years, year ends and anchors on the 29th-31st."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from api.resources import Resources
from billing import invoices, metering, subscriptions
from billing.admission import CHANNEL
from billing.plans import PlanCode, add_months, period_at
from billing.quotas.base import Category
from tenancy.models import AuditEvent
from tests.billing.conftest import RecordingSender
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
from workers.actor import run_inline

M, L, T = Category.METRICS, Category.LOGS, Category.TRACES
ANCHOR = datetime(2027, 1, 15, 10, 30, 15, tzinfo=UTC)


class TestClose:
    async def test_an_ended_period_closes_into_one_open_invoice(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        pro = await subscription_of(resources, tenant.org_id)
        period = period_at(ANCHOR, ANCHOR)
        await put_usage(resources, tenant, datetime(2027, 1, 20, 3, tzinfo=UTC), {M: 7_000_000})
        await put_usage(resources, tenant, datetime(2027, 2, 1, 8, tzinfo=UTC), {M: 4_000_000})
        await put_usage(resources, tenant, datetime(2027, 2, 2, tzinfo=UTC), {L: 10**9 * 12})
        await put_usage(resources, tenant, datetime(2027, 2, 2, tzinfo=UTC), {T: 1}, "rate_limited")

        (invoice,) = await close(resources, tenant.org_id, period.end + timedelta(minutes=10))

        assert (invoice.period_start, invoice.period_end) == (period.start, period.end)
        assert invoice.status == "open"
        assert invoice.paid_at is None
        ((stored, lines),) = await all_invoices(resources, tenant.org_id)
        assert stored.id == invoice.id
        assert [(line.kind, line.category, line.amount) for line in lines] == [
            ("base", None, Decimal("50.00")),
            ("overage", "metrics", Decimal("0.10")),  # 1M points over 10M included
            ("overage", "logs", Decimal("1.00")),  # 2 GB over 10 GB
            ("overage", "traces", Decimal("0.00")),  # refused units are never billed
        ]
        assert stored.total == stored.subtotal == Decimal("51.10")
        after = await subscription_of(resources, tenant.org_id)
        assert after.current_period_start == period.end
        assert after.current_period_end == add_months(ANCHOR, 2)
        assert after.plan_id == pro.plan_id

    async def test_closing_twice_gives_one_invoice(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        end = period_at(ANCHOR, ANCHOR).end
        assert len(await close(resources, tenant.org_id, end + timedelta(hours=1))) == 1
        assert await close(resources, tenant.org_id, end + timedelta(hours=1)) == []
        assert await close(resources, tenant.org_id, end + timedelta(hours=2)) == []
        assert len(await all_invoices(resources, tenant.org_id)) == 1

    async def test_nothing_closes_before_the_period_has_settled(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        end = period_at(ANCHOR, ANCHOR).end
        assert await close(resources, tenant.org_id, end - timedelta(microseconds=1)) == []
        settle = timedelta(minutes=5)
        assert (
            await close(resources, tenant.org_id, end + timedelta(minutes=4), settle=settle) == []
        )
        assert len(await close(resources, tenant.org_id, end + settle, settle=settle)) == 1

    async def test_a_crash_half_way_leaves_nothing_and_the_rerun_closes_once(
        self, client: httpx.AsyncClient, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        await put_usage(resources, tenant, datetime(2027, 1, 20, tzinfo=UTC), {M: 11_000_000})
        end = period_at(ANCHOR, ANCHOR).end

        async def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("worker killed after the invoice insert")

        original = invoices._advance
        monkeypatch.setattr(invoices, "_advance", crash)
        with pytest.raises(RuntimeError, match="worker killed"):
            await close(resources, tenant.org_id, end + timedelta(hours=1))
        assert await all_invoices(resources, tenant.org_id) == []
        assert (await subscription_of(resources, tenant.org_id)).current_period_start == ANCHOR

        monkeypatch.setattr(invoices, "_advance", original)
        (invoice,) = await close(resources, tenant.org_id, end + timedelta(hours=1))
        assert invoice.total == Decimal("50.10")
        assert await close(resources, tenant.org_id, end + timedelta(hours=1)) == []
        assert len(await all_invoices(resources, tenant.org_id)) == 1

    async def test_an_invoice_left_by_an_interrupted_close_is_reused(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        # a close that inserted the invoice but never moved the period (e.g. an older release)
        tenant = await org_on(client, resources, ANCHOR)
        end = period_at(ANCHOR, ANCHOR).end
        (first,) = await close(resources, tenant.org_id, end + timedelta(hours=1))
        async with org_session(resources, tenant.org_id) as (session, context):
            sub = await subscriptions.current_subscription(session, context)
            sub.current_period_start, sub.current_period_end = ANCHOR, end
        (again,) = await close(resources, tenant.org_id, end + timedelta(hours=2))
        assert again.id == first.id
        assert len(await all_invoices(resources, tenant.org_id)) == 1

    async def test_a_free_period_is_invoiced_at_zero_and_paid_at_once(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.FREE)
        await put_usage(resources, tenant, datetime(2027, 1, 20, tzinfo=UTC), {M: 1_000_000})
        end = period_at(ANCHOR, ANCHOR).end
        (invoice,) = await close(resources, tenant.org_id, end + timedelta(hours=1))
        assert invoice.status == "paid"
        assert invoice.total == Decimal("0.00")
        assert invoice.paid_at == end + timedelta(hours=1)

    async def test_usage_is_billed_in_the_period_whose_hours_hold_it(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        anchor = datetime(2027, 3, 1, tzinfo=UTC)
        tenant = await org_on(client, resources, anchor)
        last_hour = datetime(2027, 3, 31, 23, tzinfo=UTC)
        await put_usage(resources, tenant, last_hour, {T: 1_000_000 + 1_000})
        await put_usage(resources, tenant, datetime(2027, 4, 1, tzinfo=UTC), {T: 1_000_000 + 2_000})
        first, second = await close(resources, tenant.org_id, datetime(2027, 5, 2, tzinfo=UTC))
        assert first.total == Decimal("50.01")
        assert second.total == Decimal("50.02")


def _months(anchor: datetime, count: int) -> list[tuple[datetime, datetime]]:
    return [(add_months(anchor, n), add_months(anchor, n + 1)) for n in range(count)]


class TestPeriodBoundaries:
    @pytest.mark.parametrize(
        ("anchor", "expected_days"),
        [
            # anchored on the 31st: Feb is clamped to the 28th, later months go back to the 31st
            (datetime(2027, 1, 31, 12, tzinfo=UTC), [28, 31, 30, 31, 30]),
            # leap year: the 29th exists in February 2028
            (datetime(2028, 1, 29, tzinfo=UTC), [31, 29, 31, 30, 31]),
            # the 30th comes back after February (Mar 30, not Mar 29: no drift)
            (datetime(2028, 1, 30, 23, 59, 59, tzinfo=UTC), [30, 30, 31, 30, 31]),
            # across a year end
            (datetime(2026, 11, 30, 6, tzinfo=UTC), [30, 31, 29, 30, 31]),
            (datetime(2027, 12, 31, tzinfo=UTC), [31, 29, 31, 30, 31]),
        ],
    )
    async def test_periods_follow_the_anchor_without_drifting(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        anchor: datetime,
        expected_days: list[int],
    ) -> None:
        tenant = await org_on(client, resources, anchor)
        closed = []
        for start, end in _months(anchor, 5):
            found = await close(resources, tenant.org_id, end + timedelta(seconds=1))
            assert [(i.period_start, i.period_end) for i in found] == [(start, end)]
            closed.append(found[0])
        days = [(i.period_end - i.period_start) / timedelta(days=1) for i in closed]
        assert days == expected_days
        for before, after in itertools.pairwise(closed):
            assert before.period_end == after.period_start

    async def test_a_closer_that_was_down_catches_up_period_by_period(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        anchor = datetime(2027, 10, 31, 8, tzinfo=UTC)
        tenant = await org_on(client, resources, anchor)
        found = await close(resources, tenant.org_id, datetime(2028, 3, 1, tzinfo=UTC))
        assert [(i.period_start, i.period_end) for i in found] == _months(anchor, 4)
        assert found[-1].period_end == datetime(2028, 2, 29, 8, tzinfo=UTC)
        sub = await subscription_of(resources, tenant.org_id)
        assert sub.current_period_start == datetime(2028, 2, 29, 8, tzinfo=UTC)
        assert sub.current_period_end == datetime(2028, 3, 31, 8, tzinfo=UTC)

    async def test_the_clock_s_time_zone_changes_nothing(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tokyo = timezone(timedelta(hours=9))
        anchor = datetime(2027, 3, 1, 8, 30, tzinfo=tokyo)  # 2027-02-28T23:30Z
        tenant = await org_on(client, resources, anchor)
        end = datetime(2027, 3, 28, 23, 30, tzinfo=UTC)  # Feb 28 + 1 month, clamped in UTC
        assert (
            await close(resources, tenant.org_id, end.astimezone(tokyo) - timedelta(seconds=1))
            == []
        )
        (invoice,) = await close(
            resources, tenant.org_id, end.astimezone(timezone(timedelta(hours=-7)))
        )
        assert invoice.period_start == datetime(2027, 2, 28, 23, 30, tzinfo=UTC)
        assert invoice.period_end == end


class TestAfterTheClose:
    async def test_quota_counters_start_over_in_the_new_period(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        end = period_at(ANCHOR, ANCHOR).end
        await put_usage(resources, tenant, end - timedelta(hours=1), {M: 3_000})
        await put_usage(resources, tenant, end, {M: 5})
        await close(resources, tenant.org_id, end + timedelta(minutes=1))
        async with org_session(resources, tenant.org_id) as (session, context):
            ent = await subscriptions.entitlements(session, context)
            before, old = await metering.quotas(
                session, context, resources.quotas, ent, end - timedelta(seconds=1)
            )
            after, new = await metering.quotas(session, context, resources.quotas, ent, end)
        assert before.id != after.id
        assert old[M].used == 3_000
        assert new[M].used == 5

    async def test_entitlements_are_evicted_after_the_commit(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        notified = Notified([])
        end = period_at(ANCHOR, ANCHOR).end
        await close(resources, tenant.org_id, end + timedelta(hours=1), notify=notified)
        assert notified.orgs == [tenant.org_id]

    async def test_a_scheduled_downgrade_applies_at_the_period_end(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR, PlanCode.SCALE)
        async with org_session(resources, tenant.org_id) as (session, context):
            await subscriptions.change_subscription(
                session, context, "pro", None, now=ANCHOR + timedelta(days=3)
            )
        end = period_at(ANCHOR, ANCHOR).end
        (scale_invoice,) = await close(resources, tenant.org_id, end + timedelta(hours=1))
        assert scale_invoice.total == Decimal("200.00")
        sub = await subscription_of(resources, tenant.org_id)
        assert await plan_code(resources, sub.plan_id) == "pro"
        assert sub.scheduled_plan_id is None
        (pro_invoice,) = await close(
            resources, tenant.org_id, add_months(ANCHOR, 2) + timedelta(hours=1)
        )
        assert pro_invoice.total == Decimal("50.00")

    async def test_the_close_is_audited(
        self, client: httpx.AsyncClient, resources: Resources
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        (invoice,) = await close(resources, tenant.org_id, add_months(ANCHOR, 1))
        async with org_session(resources, tenant.org_id) as (session, _):
            events = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "invoice.finalized")
                )
            ).all()
        assert [(e.target_id, e.actor_type, e.data["total"]) for e in events] == [
            (invoice.id, "system", "50.00")
        ]


class TestActor:
    async def test_the_periodic_run_queues_one_close_per_due_org(
        self, client: httpx.AsyncClient, resources: Resources, recording: RecordingSender
    ) -> None:
        due = await org_on(client, resources, ANCHOR, name="due")
        later = await org_on(client, resources, ANCHOR + timedelta(days=3), name="later")
        now = period_at(ANCHOR, ANCHOR).end + timedelta(hours=1)
        await run_inline("billing.close_period", now.timestamp())
        queued = [job for job in recording.sent if job.actor == "billing.close_period"]
        orgs = [job.args[1] for job in queued]
        assert due.org_id in orgs
        assert later.org_id not in orgs

    async def test_the_per_org_run_closes_publishes_and_is_idempotent(
        self,
        client: httpx.AsyncClient,
        resources: Resources,
        recording: RecordingSender,
        redis_client: aioredis.Redis,
    ) -> None:
        tenant = await org_on(client, resources, ANCHOR)
        now = period_at(ANCHOR, ANCHOR).end + timedelta(hours=1)
        pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CHANNEL)
        try:
            await run_inline("billing.close_period", now.timestamp(), tenant.org_id)
            await run_inline("billing.close_period", now.timestamp(), tenant.org_id)
            messages = [await pubsub.get_message(timeout=0.5) for _ in range(4)]
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        published = [m["data"] for m in messages if m is not None]
        assert published == [tenant.org_id.encode()]
        assert len(await all_invoices(resources, tenant.org_id)) == 1
        # without Stripe nothing is queued for collection
        assert [job for job in recording.sent if job.actor == "billing.sync_invoice"] == []
